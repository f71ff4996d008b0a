//! Runs before every test file: the IPC module and react-virtuoso are replaced (see the mocks
//! beside this file), the DOM gets the few browser APIs jsdom lacks, the lazily loaded screens are
//! loaded, and state is reset.

import { cleanup } from "@testing-library/react";
import { afterEach, beforeAll, beforeEach, vi } from "vitest";
import { preloadAll } from "../lib/lazy";
import { resetIpc } from "./ipcMock";
import { scrolledTo } from "./virtuosoMock";

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

// jsdom lays nothing out, so it has nothing to scroll into view.
if (typeof Element.prototype.scrollIntoView !== "function") {
  Element.prototype.scrollIntoView = () => undefined;
}

// jsdom has no canvas (it would log "not implemented"): drawing code gets no context, as in a
// browser that cannot make one, and keeps its fallback.
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;

// Screens and dialogs load on first use in the app; the tests expect them at once.
beforeAll(() => preloadAll());

beforeEach(() => {
  resetIpc();
  scrolledTo.length = 0;
  delete document.documentElement.dataset.theme;
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});
