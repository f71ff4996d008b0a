//! Runs before every test file: the IPC module and react-virtuoso are replaced (see the mocks
//! beside this file), the DOM gets the few browser APIs jsdom lacks, and state is reset.

import { cleanup } from "@testing-library/react";
import { afterEach, beforeEach, vi } from "vitest";
import { resetIpc } from "./ipcMock";

process.env.TZ = "UTC";

vi.mock("../lib/tauri", () => import("./ipcMock"));
vi.mock("react-virtuoso", () => import("./virtuosoMock"));

if (typeof window.matchMedia !== "function") {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      addListener: () => undefined,
      removeListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

beforeEach(() => {
  resetIpc();
  delete document.documentElement.dataset.theme;
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});
