//! Applies the theme as `data-theme="light"|"dark"` on <html>; "system" follows
//! prefers-color-scheme live.

import { useEffect } from "react";
import type { Theme } from "../lib/types";

export function useTheme(theme: Theme): void {
  useEffect(() => {
    const root = document.documentElement;
    if (theme !== "system") {
      root.dataset.theme = theme;
      return;
    }
    const query = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    const apply = () => {
      root.dataset.theme = query?.matches ? "dark" : "light";
    };
    apply();
    query?.addEventListener("change", apply);
    return () => query?.removeEventListener("change", apply);
  }, [theme]);
}
