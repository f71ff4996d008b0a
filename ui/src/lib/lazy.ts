//! Screens and dialogs loaded on first use (their own chunk, so the start does not parse them),
//! like `React.lazy`, plus `preload`: once a chunk has loaded, the component renders at once,
//! without suspending. Tests preload every chunk (`test/setup.ts`).

import { createElement, use, type ComponentType } from "react";

export interface LazyComponent<P extends object> {
  (props: P): React.ReactNode;
  preload: () => Promise<ComponentType<P>>;
}

const all: Array<() => Promise<unknown>> = [];

/** `load` imports the module and picks the component: `() => import("./X").then((m) => m.X)`. */
export function lazyComponent<P extends object>(load: () => Promise<ComponentType<P>>): LazyComponent<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<ComponentType<P>> | undefined;
  const preload = () =>
    (pending ??= load().then((component) => {
      loaded = component;
      return component;
    }));
  const Lazy = (props: P) => createElement(loaded ?? use(preload()), props);
  Lazy.preload = preload;
  all.push(preload);
  return Lazy;
}

/** Loads every lazy component's chunk (for tests, which expect screens to render at once). */
export async function preloadAll(): Promise<void> {
  await Promise.all(all.map((preload) => preload()));
}
