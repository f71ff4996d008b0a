//! What the content area shows with no conversation open.

import { modKeyLabel } from "../../lib/keyboard";
import { useSession } from "../../state/context";
import { ChatIcon, GroupIcon, LockIcon } from "../../components/icons";

export function EmptyState() {
  const session = useSession();
  return (
    <div className="empty-state" data-testid="empty-state">
      <LockIcon className="empty-state__icon" />
      <h2>Welcome to Sotto</h2>
      <p className="muted">
        Everything you send here is end-to-end encrypted: only the people in the conversation can read it.
      </p>
      <div className="empty-state__actions">
        <button type="button" className="button button--primary" onClick={() => session.ui.openDialog("new-chat")}>
          <ChatIcon /> Start a chat
        </button>
        <button type="button" className="button" onClick={() => session.ui.openDialog("new-group")}>
          <GroupIcon /> Create a group
        </button>
      </div>
    </div>
  );
}

export function NoSelection() {
  const mod = modKeyLabel();
  const shortcuts: [string, string][] = [
    ["K", "switch conversation"],
    ["F", "search messages"],
    ["N", "new chat"],
  ];
  return (
    <div className="empty-state empty-state--quiet">
      <p className="muted">Choose a conversation to read it.</p>
      <ul className="shortcut-list muted small">
        {shortcuts.map(([key, what]) => (
          <li key={key}>
            <kbd>{mod}</kbd> <kbd>{key}</kbd> {what}
          </li>
        ))}
      </ul>
    </div>
  );
}
