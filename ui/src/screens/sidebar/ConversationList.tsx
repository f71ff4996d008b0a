//! All conversations, most recent first, updated live.

import { useCallback, useEffect, useRef } from "react";
import { afterNextPaint } from "../../lib/frames";
import { LIST_COMMITTED, LIST_READY, markOnce, markPainted } from "../../lib/perf";
import { useStore } from "../../lib/store";
import { parseConversationId } from "../../lib/ids";
import type { ConversationId } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { ConversationRow } from "./ConversationRow";

export function ConversationList() {
  const session = useSession();
  const list = useStore(session.conversations, (s) => s.list);
  const selectedId = useStore(session.conversations, (s) => s.selectedId);
  const loaded = useStore(session.conversations, (s) => s.loaded);
  const loadError = useStore(session.conversations, (s) => s.loadError);

  const nav = useRef<HTMLElement>(null);
  const open = useCallback((id: ConversationId) => session.openConversation(id), [session]);

  useEffect(() => {
    if (!loaded) return;
    markOnce(LIST_COMMITTED);
    markPainted(LIST_READY);
    // Once the list is painted: load the newest messages of the conversations whose rows are
    // on screen (or just below), so opening one of them does not wait for the database.
    const el = nav.current;
    if (!el) return;
    return afterNextPaint(() => session.prefetch(visibleRows(el)));
  }, [loaded, session]);

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
    <nav className="conversation-nav" aria-label="Conversation list" ref={nav}>
      <ul className="conversation-list" data-testid="conversation-list">
        {list.map((c) => (
          <li key={c.id}>
            <ConversationRow
              conversation={c}
              selected={c.id === selectedId}
              onOpen={open}
            />
          </li>
        ))}
      </ul>
      {loaded && list.length === 0 ? <p className="sidebar__note muted">No conversations yet.</p> : null}
    </nav>
  );
}

/**
 * The ids of the rows inside the list's visible area and one more screenful below it, top
 * first: the window may still be growing to its remembered size, and a short scroll should not
 * reach rows that wait for the database.
 */
function visibleRows(nav: HTMLElement): ConversationId[] {
  const area = nav.getBoundingClientRect();
  const bottom = area.bottom + area.height;
  const ids: ConversationId[] = [];
  for (const row of nav.querySelectorAll<HTMLElement>("[data-testid=conversation-row]")) {
    const r = row.getBoundingClientRect();
    const id = parseConversationId(row.dataset.conversationId ?? "");
    if (id && r.height > 0 && r.bottom > area.top && r.top < bottom) ids.push(id);
  }
  return ids;
}
