//! All conversations, most recent first, updated live.

import { useEffect } from "react";
import { LIST_READY, markPainted } from "../../lib/perf";
import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { ConversationRow } from "./ConversationRow";

export function ConversationList() {
  const session = useSession();
  const list = useStore(session.conversations, (s) => s.list);
  const selectedId = useStore(session.conversations, (s) => s.selectedId);
  const loaded = useStore(session.conversations, (s) => s.loaded);
  const loadError = useStore(session.conversations, (s) => s.loadError);

  useEffect(() => {
    if (loaded) markPainted(LIST_READY);
  }, [loaded]);

  if (loadError && !loaded) {
    return (
      <div className="sidebar__section">
        <ErrorNote error={loadError} />
        <button type="button" className="button button--small" onClick={() => void session.loadConversations()}>
          Try again
        </button>
      </div>
    );
  }
  return (
    <nav className="conversation-nav" aria-label="Conversation list">
      <ul className="conversation-list" data-testid="conversation-list">
        {list.map((c) => (
          <li key={c.id}>
            <ConversationRow
              conversation={c}
              selected={c.id === selectedId}
              onOpen={() => session.openConversation(c.id)}
            />
          </li>
        ))}
      </ul>
      {loaded && list.length === 0 ? <p className="sidebar__note muted">No conversations yet.</p> : null}
    </nav>
  );
}
