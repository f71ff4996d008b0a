//! A tiny observable store for `useSyncExternalStore`. State is replaced, never mutated, so a
//! selector that returns a slice gets the same reference until that slice changes.

import { useCallback, useSyncExternalStore } from "react";

export class Store<S> {
  private state: S;
  private readonly listeners = new Set<() => void>();

  constructor(initial: S) {
    this.state = initial;
  }

  get = (): S => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  protected set(next: S | ((state: S) => S)): void {
    const value = typeof next === "function" ? (next as (state: S) => S)(this.state) : next;
    if (Object.is(value, this.state)) return;
    this.state = value;
    for (const listener of Array.from(this.listeners)) listener();
  }
}

/** Subscribes a component to the slice of a store that `select` returns. */
export function useStore<S, T>(store: Store<S>, select: (state: S) => T): T {
  const getSnapshot = useCallback(() => select(store.get()), [store, select]);
  return useSyncExternalStore(store.subscribe, getSnapshot, getSnapshot);
}
