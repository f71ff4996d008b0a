//! All conversations, pinned first then most recent first, updated live. Archived ones are
//! listed apart: an "Archived (N)" row at the bottom opens them, and a back row returns.

import { useCallback, useEffect, useRef, useState } from "react";
import { afterNextPaint } from "../../lib/frames";
import { LIST_COMMITTED, LIST_READY, markOnce, markPainted } from "../../lib/perf";
import { useStore } from "../../lib/store";
import { parseConversationId } from "../../lib/ids";
import type { ConversationId } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { ArchiveIcon, BackIcon } from "../../components/icons";
import type { PopoverAnchor } from "../../components/Popover";
import { ConversationMenu, type OpenMenu } from "./ConversationMenu";
import { ConversationRow } from "./ConversationRow";

export function ConversationList() {
  const session = useSession();
  const all = useStore(session.conversations, (s) => s.list);
  const [showArchived, setShowArchived] = useState(false);
  const [menu, setMenu] = useState<OpenMenu | null>(null);
  const list = all.filter((c) => c.archived === showArchived);
  const archivedCount = showArchived ? list.length : all.length - list.length;
  const selectedId = useStore(session.conversations, (s) => s.selectedId);
  const loaded = useStore(session.conversations, (s) => s.loaded);
  const loadError = useStore(session.conversations, (s) => s.loadError);

  const nav = useRef<HTMLElement>(null);
  const open = useCallback((id: ConversationId) => session.openConversation(id), [session]);
  const openMenu = useCallback(
    (id: ConversationId, anchor: PopoverAnchor, returnFocus: HTMLElement | null) => {
      const conversation = session.conversations.find(id);
      if (conversation) setMenu({ conversation, anchor, returnFocus, kind: "menu" });
    },
    [session],
  );
  // The last archived one brought back: the main list again.
  useEffect(() => {
    if (showArchived && archivedCount === 0) setShowArchived(false);
  }, [showArchived, archivedCount]);

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
    <nav className="conversation-nav" aria-label={showArchived ? "Archived conversations" : "Conversation list"} ref={nav}>
      {showArchived ? (
        <button
          type="button"
          className="conversation-archived-row"
          onClick={() => setShowArchived(false)}
          data-testid="archived-back"
        >
          <BackIcon />
          <span>Archived conversations</span>
        </button>
      ) : null}
      <ul className="conversation-list" data-testid="conversation-list" data-archived={showArchived ? "true" : undefined}>
        {list.map((c) => (
          <li key={c.id}>
            <ConversationRow conversation={c} selected={c.id === selectedId} onOpen={open} onMenu={openMenu} />
          </li>
        ))}
      </ul>
      {!showArchived && archivedCount > 0 ? (
        <button
          type="button"
          className="conversation-archived-row"
          onClick={() => setShowArchived(true)}
          data-testid="archived-open"
        >
          <ArchiveIcon />
          <span>Archived ({archivedCount})</span>
        </button>
      ) : null}
      {loaded && all.length === 0 ? <p className="sidebar__note muted">No conversations yet.</p> : null}
      <ConversationMenu open={menu} onChange={setMenu} />
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
