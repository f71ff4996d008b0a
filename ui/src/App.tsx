//! The app shell: asks Rust for the status, follows phase changes, applies the theme, and shows
//! the screen for the phase (welcome, locked, or the main window).

import { Suspense, useEffect, useState } from "react";
import * as ipc from "./lib/tauri";
import { asCommandError } from "./lib/errors";
import { useStore } from "./lib/store";
import type { CommandError } from "./lib/types";
import { AppStore } from "./state/appStore";
import { AppStoreProvider } from "./state/context";
import { useTheme } from "./state/useTheme";
import { useQuitShortcut } from "./state/useQuitShortcut";
import { ErrorNote } from "./components/ErrorNote";
import { MainScreen } from "./screens/main/MainScreen";
import { lazyComponent } from "./lib/lazy";
import { markOnce, STATUS_KNOWN } from "./lib/perf";

// Loaded only when shown: a returning person starts in the main screen, so the start does not
// parse the sign-in and unlock screens.
const WelcomeScreen = lazyComponent(() => import("./screens/welcome/WelcomeScreen").then((m) => m.WelcomeScreen));
const LockedScreen = lazyComponent(() => import("./screens/locked/LockedScreen").then((m) => m.LockedScreen));

interface AppProps {
  /** Tests pass their own store; the app makes one. */
  store?: AppStore;
}

export function App({ store: given }: AppProps) {
  const [store] = useState(() => given ?? new AppStore());
  const status = useStore(store, (s) => s.status);
  const theme = useStore(store, (s) => s.settings.theme);
  const [error, setError] = useState<CommandError | null>(null);
  useTheme(theme);
  useQuitShortcut();

  useEffect(() => {
    let live = true;
    // The list is read beside the status (it waits for the profile to open too), so a returning
    // person's main screen starts with its rows instead of asking once it has mounted.
    Promise.all([ipc.appStatus(), ipc.listConversations().catch(() => null)])
      .then(([s, list]) => {
        markOnce(STATUS_KNOWN);
        if (!live) return;
        // Only for the main screen this status opens (not one a status event opened already).
        if (list && s.phase === "ready" && store.get().status === null) store.offerFirstList(list);
        store.setStatus(s);
      })
      .catch((e: unknown) => live && setError(asCommandError(e)));
    ipc
      .getSettings()
      .then((s) => live && store.setSettings(s))
      .catch(() => undefined);
    const stop = ipc.onAppStatus((s) => store.setStatus(s));
    return () => {
      live = false;
      stop();
    };
  }, [store]);

  const splash = (
    <div className="splash" aria-busy="true">
      <p className="muted">Opening Sotto…</p>
    </div>
  );
  let screen: React.ReactNode;
  if (!status) {
    screen = error ? (
      <div className="splash">
        <h1>Sotto couldn't start</h1>
        <ErrorNote error={error} testId="form-error" />
        <button type="button" className="button" onClick={() => window.location.reload()}>
          Try again
        </button>
      </div>
    ) : (
      splash
    );
  } else if (status.phase === "welcome") {
    screen = <WelcomeScreen />;
  } else if (status.phase === "locked" && status.locked) {
    screen = <LockedScreen profile={status.locked} />;
  } else if (status.phase === "ready" && status.account) {
    // Keyed by account so a new sign-in starts from fresh stores.
    screen = <MainScreen key={`${status.account.server} ${status.account.user_id}`} />;
  } else {
    screen = <WelcomeScreen />;
  }

  return (
    <AppStoreProvider store={store}>
      <Suspense fallback={splash}>{screen}</Suspense>
    </AppStoreProvider>
  );
}
