//! App-wide keyboard shortcuts (see UI.md "Keyboard"). They are ignored while a dialog is open;
//! the dialog owns the keyboard then.

import { useEffect } from "react";
import { isMod } from "../../lib/keyboard";
import type { Session } from "../../state/session";

export function useShortcuts(session: Session): void {
  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      if (session.ui.get().dialog !== null || e.defaultPrevented) return;
      const key = e.key.toLowerCase();
      let handled = true;
      if (isMod(e) && !e.altKey && key === "k") session.ui.openDialog("switcher");
      else if (isMod(e) && !e.altKey && key === "f") session.ui.focusSearch();
      else if (isMod(e) && !e.altKey && !e.shiftKey && key === "n") session.ui.openDialog("new-chat");
      else if (isMod(e) && !e.altKey && e.shiftKey && key === "n") session.ui.openDialog("new-group");
      else if (isMod(e) && key === ",") session.ui.openDialog("settings");
      else if (e.altKey && !isMod(e) && e.key === "ArrowUp") session.moveSelection(-1);
      else if (e.altKey && !isMod(e) && e.key === "ArrowDown") session.moveSelection(1);
      else handled = false;
      if (handled) e.preventDefault();
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [session]);
}
