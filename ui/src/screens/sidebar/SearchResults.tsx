//! Search hits (newest first): conversation, snippet with the matches marked, time. Enter or a
//! click opens the conversation around the hit.

import { useClock, formatListTime, formatFull } from "../../lib/time";
import { useSession } from "../../state/context";
import { useProfiles } from "../../state/people";
import { directUserOf } from "../../lib/ids";
import { NOTE_TO_SELF } from "../../lib/people";
import { ErrorNote } from "../../components/ErrorNote";
import type { SearchState } from "./useSearch";
import { Snippet } from "./Snippet";

interface SearchResultsProps {
  query: string;
  search: SearchState;
}

export function SearchResults({ query, search }: SearchResultsProps) {
  const session = useSession();
  const clock = useClock();
  const profiles = useProfiles();
  const now = clock.now();
  // A direct conversation by the name the person chose (or Note to self).
  const titleOf = (hit: (typeof search.hits)[number]) => {
    const peer = directUserOf(hit.message.conversation_id);
    if (peer === null) return hit.conversation_title;
    if (peer === session.ownUserId) return NOTE_TO_SELF;
    return profiles.people[peer]?.name ?? hit.conversation_title;
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLUListElement>) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const items = Array.from(e.currentTarget.querySelectorAll<HTMLElement>('[data-testid="search-result"]'));
    const i = items.indexOf(document.activeElement as HTMLElement);
    const next = e.key === "ArrowDown" ? items[i + 1] : i > 0 ? items[i - 1] : document.querySelector<HTMLElement>('[data-testid="search-input"]');
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };

  if (search.error) {
    return (
      <div className="sidebar__section">
        <ErrorNote error={search.error} />
      </div>
    );
  }
  const settled = !search.loading && search.forQuery === query.trim();
  if (settled && search.hits.length === 0) {
    return <p className="sidebar__note muted">No messages match “{query.trim()}”.</p>;
  }
  return (
    <div className="sidebar__section" aria-busy={search.loading}>
      <h2 className="sidebar__heading">Messages</h2>
      <ul className="search-results" onKeyDown={onKeyDown} aria-label="Search results">
        {search.hits.map((hit) => (
          <li key={hit.message.id}>
            <button
              type="button"
              className="search-result"
              onClick={() => session.jumpTo(hit)}
              data-testid="search-result"
              data-message-id={hit.message.id}
            >
              <span className="search-result__top">
                <span className="search-result__title">{titleOf(hit)}</span>
                <time className="search-result__time" dateTime={new Date(hit.message.ts).toISOString()} title={formatFull(hit.message.ts, clock.locale)}>
                  {formatListTime(hit.message.ts, now, clock.locale)}
                </time>
              </span>
              <span className="search-result__snippet">
                {hit.message.outgoing ? <span className="muted">You: </span> : null}
                <Snippet text={hit.snippet} />
              </span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
