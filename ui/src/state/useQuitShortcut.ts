//! Ctrl+Q (Cmd+Q on macOS) quits Sotto from every screen, also with a dialog open: closing the
//! window may only hide it (Settings → "Keep Sotto running when its window is closed").

import { useEffect } from "react";
import * as ipc from "../lib/tauri";
import { isQuitShortcut } from "../lib/keyboard";

export function useQuitShortcut(): void {
  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      if (!isQuitShortcut(e)) return;
      e.preventDefault();
      // A refusal would be Tauri's own (the app is going away); there is nothing to show.
      ipc.quit().catch(() => undefined);
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, []);
}
