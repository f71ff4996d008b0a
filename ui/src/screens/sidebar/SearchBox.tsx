//! The search field. Ctrl/Cmd+F focuses it; Escape clears it; Enter opens the first hit and
//! ArrowDown moves into the results.

import { useEffect, useRef } from "react";
import { useStore } from "../../lib/store";
import type { SearchHit } from "../../lib/types";
import { useSession } from "../../state/context";
import { SearchIcon } from "../../components/icons";

interface SearchBoxProps {
  query: string;
  onQuery: (query: string) => void;
  firstHit: SearchHit | null;
}

export function SearchBox({ query, onQuery, firstHit }: SearchBoxProps) {
  const session = useSession();
  const input = useRef<HTMLInputElement>(null);
  const focusRequest = useStore(session.ui, (s) => s.searchFocusRequest);

  useEffect(() => {
    if (focusRequest > 0) {
      input.current?.focus();
      input.current?.select();
    }
  }, [focusRequest]);

  const onKeyDown = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Escape" && query) {
      e.preventDefault();
      onQuery("");
    } else if (e.key === "Enter" && firstHit) {
      e.preventDefault();
      session.jumpTo(firstHit);
    } else if (e.key === "ArrowDown") {
      const first = document.querySelector<HTMLElement>('[data-testid="search-result"]');
      if (first) {
        e.preventDefault();
        first.focus();
      }
    }
  };

  return (
    <div className="search" role="search">
      <SearchIcon className="search__icon" />
      <input
        ref={input}
        type="search"
        className="search__input"
        placeholder="Search messages"
        aria-label="Search messages"
        aria-keyshortcuts="Control+F"
        value={query}
        onChange={(e) => onQuery(e.target.value)}
        onKeyDown={onKeyDown}
        data-testid="search-input"
      />
    </div>
  );
}
