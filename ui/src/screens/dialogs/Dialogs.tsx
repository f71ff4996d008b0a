//! Renders whichever dialog the UI store says is open.

import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import { NewChatDialog } from "./NewChatDialog";
import { NewGroupDialog } from "./NewGroupDialog";
import { QuickSwitcher } from "./QuickSwitcher";
import { SettingsDialog } from "./SettingsDialog";

export function Dialogs() {
  const session = useSession();
  const dialog = useStore(session.ui, (s) => s.dialog);
  const close = () => session.ui.closeDialog();
  switch (dialog) {
    case "new-chat":
      return <NewChatDialog onClose={close} />;
    case "new-group":
      return <NewGroupDialog onClose={close} />;
    case "switcher":
      return <QuickSwitcher onClose={close} />;
    case "settings":
      return <SettingsDialog onClose={close} />;
    case null:
      return null;
  }
}
