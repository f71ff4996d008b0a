//! Renders whichever dialog the UI store says is open.

import { Suspense } from "react";
import { lazyComponent } from "../../lib/lazy";
import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import type { DialogKind } from "../../state/uiStore";

// Each dialog is loaded the first time it opens, not at start.
const NewChatDialog = lazyComponent(() => import("./NewChatDialog").then((m) => m.NewChatDialog));
const NewGroupDialog = lazyComponent(() => import("./NewGroupDialog").then((m) => m.NewGroupDialog));
const QuickSwitcher = lazyComponent(() => import("./QuickSwitcher").then((m) => m.QuickSwitcher));
const SettingsDialog = lazyComponent(() => import("./SettingsDialog").then((m) => m.SettingsDialog));

export function Dialogs() {
  const session = useSession();
  const dialog = useStore(session.ui, (s) => s.dialog);
  return dialog === null ? null : (
    <Suspense fallback={null}>
      <OpenDialog dialog={dialog} close={() => session.ui.closeDialog()} />
    </Suspense>
  );
}

function OpenDialog({ dialog, close }: { dialog: DialogKind; close: () => void }) {
  switch (dialog) {
    case "new-chat":
      return <NewChatDialog onClose={close} />;
    case "new-group":
      return <NewGroupDialog onClose={close} />;
    case "switcher":
      return <QuickSwitcher onClose={close} />;
    case "settings":
      return <SettingsDialog onClose={close} />;
  }
}
