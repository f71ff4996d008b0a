//! Message search as you type: debounced, and only the latest query's answer is kept.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError, SearchHit } from "../../lib/types";

export const SEARCH_DEBOUNCE_MS = 150;
const SEARCH_LIMIT = 50;

export interface SearchState {
  hits: SearchHit[];
  loading: boolean;
  error: CommandError | null;
  /** The query the hits belong to. */
  forQuery: string;
}

const IDLE: SearchState = { hits: [], loading: false, error: null, forQuery: "" };

export function useSearch(query: string): SearchState {
  const [state, setState] = useState<SearchState>(IDLE);
  const trimmed = query.trim();

  useEffect(() => {
    if (!trimmed) {
      setState(IDLE);
      return;
    }
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    const timer = setTimeout(() => {
      ipc
        .searchMessages(trimmed, SEARCH_LIMIT)
        .then((hits) => live && setState({ hits, loading: false, error: null, forQuery: trimmed }))
        .catch((e: unknown) => live && setState({ hits: [], loading: false, error: asCommandError(e), forQuery: trimmed }));
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [trimmed]);

  return state;
}
