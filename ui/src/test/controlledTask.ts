//! A long task (backup, restore, export) a test drives by hand: report progress, then finish,
//! fail, or see it cancelled.

import { act } from "@testing-library/react";
import type { Progress } from "../lib/types";

/** A task the test drives: report progress, then finish or fail. */
export function controlledTask<T>() {
  let report: (p: Progress) => void = () => undefined;
  let resolve: (v: T) => void = () => undefined;
  let reject: (e: unknown) => void = () => undefined;
  let cancelled = 0;
  const start = (onProgress: (p: Progress) => void) => {
    report = onProgress;
    const result = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return {
      result,
      cancel: async () => {
        cancelled += 1;
        reject({ code: "cancelled", message: "cancelled" });
      },
    };
  };
  return {
    start,
    progress: (p: Progress) => act(() => report(p)),
    finish: (v: T) => act(async () => resolve(v)),
    fail: (e: unknown) => act(async () => reject(e)),
    cancelled: () => cancelled,
  };
}
