//! Long work (backup, restore, readable export) on screen: a progress bar that says what is
//! happening and how far it is, with a Cancel button; and the hook that runs one such task.

import { useCallback, useEffect, useRef, useState } from "react";
import { asCommandError } from "../lib/errors";
import type { RunningTask } from "../lib/tauri";
import type { CommandError, Progress } from "../lib/types";

export type TaskState<T> =
  | { kind: "idle" }
  | { kind: "running"; progress: Progress | null; cancelling: boolean }
  | { kind: "done"; result: T };

export type TaskOutcome<T> = { ok: true; result: T } | { ok: false; error: CommandError };

/**
 * Runs one long task at a time. `start` receives the progress callback and returns the running
 * task; the state follows it to `done`, or back to `idle` when it fails or is cancelled (the
 * outcome carries the error, `cancelled` for a cancel, for the caller to show). A task still
 * running when the component goes away is cancelled.
 */
export function useLongTask<T>() {
  const [state, setState] = useState<TaskState<T>>({ kind: "idle" });
  const running = useRef<RunningTask<T> | null>(null);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      void running.current?.cancel().catch(() => undefined);
    };
  }, []);

  const run = useCallback(async (start: (onProgress: (p: Progress) => void) => RunningTask<T>): Promise<TaskOutcome<T>> => {
    setState({ kind: "running", progress: null, cancelling: false });
    const task = start((progress) => {
      if (mounted.current)
        setState((s) => (s.kind === "running" ? { ...s, progress } : s));
    });
    running.current = task;
    try {
      const result = await task.result;
      if (mounted.current) setState({ kind: "done", result });
      return { ok: true, result };
    } catch (e) {
      if (mounted.current) setState({ kind: "idle" });
      return { ok: false, error: asCommandError(e) };
    } finally {
      running.current = null;
    }
  }, []);

  const cancel = useCallback(() => {
    setState((s) => (s.kind === "running" ? { ...s, cancelling: true } : s));
    void running.current?.cancel().catch(() => undefined);
  }, []);

  const reset = useCallback(() => setState({ kind: "idle" }), []);

  return { state, run, cancel, reset };
}

/** Whole percent of `progress`, or null before the first update. */
export function percent(progress: Progress | null): number | null {
  if (!progress) return null;
  if (progress.total === 0) return 100;
  return Math.min(100, Math.floor((progress.done * 100) / progress.total));
}

interface TaskProgressProps {
  /** What is happening, e.g. "Backing up". */
  label: string;
  progress: Progress | null;
  /** Shown once everything counted is done but the command has not returned yet. */
  finishing?: string;
  cancelling: boolean;
  onCancel: () => void;
  testId?: string;
}

export function TaskProgress({ label, progress, finishing, cancelling, onCancel, testId }: TaskProgressProps) {
  const pct = percent(progress);
  const text = cancelling
    ? "Stopping…"
    : pct === null
      ? `${label}…`
      : pct === 100 && finishing
        ? finishing
        : `${label}: ${pct}%`;
  return (
    <div className="task" data-testid={testId}>
      <p className="task__label" aria-live="polite">
        {text}
      </p>
      <progress
        className="task__bar"
        max={100}
        value={pct ?? undefined}
        aria-label={label}
        aria-valuetext={pct === null ? "Starting" : `${pct}%`}
      />
      <div className="modal__actions">
        <button type="button" className="button" onClick={onCancel} disabled={cancelling} data-testid="task-cancel">
          Cancel
        </button>
      </div>
    </div>
  );
}
