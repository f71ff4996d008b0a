//! The left column: who I am and the connection, search, new chat/group, and the list (or,
//! while a search is typed, its results).

import { useState } from "react";
import { useSession } from "../../state/context";
import { ChatIcon, GroupIcon } from "../../components/icons";
import { SidebarHeader } from "./SidebarHeader";
import { SearchBox } from "./SearchBox";
import { SearchResults } from "./SearchResults";
import { ConversationList } from "./ConversationList";
import { BackupReminder } from "./BackupReminder";
import { UnconfirmedBanner } from "../devices/UnconfirmedBanner";
import { useSearch } from "./useSearch";

export function Sidebar() {
  const session = useSession();
  const [query, setQuery] = useState("");
  const search = useSearch(query);
  const searching = query.trim().length > 0;

  return (
    <aside className="sidebar" aria-label="Conversations">
      <SidebarHeader />
      <UnconfirmedBanner />
      <SearchBox query={query} onQuery={setQuery} firstHit={search.hits[0] ?? null} />
      <div className="sidebar__actions">
        <button
          type="button"
          className="button button--small"
          onClick={() => session.ui.openDialog("new-chat")}
          data-testid="new-chat-button"
          aria-keyshortcuts="Control+N"
        >
          <ChatIcon /> New chat
        </button>
        <button
          type="button"
          className="button button--small"
          onClick={() => session.ui.openDialog("new-group")}
          data-testid="new-group-button"
        >
          <GroupIcon /> New group
        </button>
      </div>
      {searching ? null : <BackupReminder />}
      {searching ? <SearchResults query={query} search={search} /> : <ConversationList />}
    </aside>
  );
}
