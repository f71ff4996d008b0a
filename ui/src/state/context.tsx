//! React access to the stores: the app store for the whole app, a Session while signed in.

import { createContext, useContext, type ReactNode } from "react";
import type { AppStore } from "./appStore";
import type { Session } from "./session";

const AppStoreContext = createContext<AppStore | null>(null);
const SessionContext = createContext<Session | null>(null);

export function AppStoreProvider({ store, children }: { store: AppStore; children: ReactNode }) {
  return <AppStoreContext.Provider value={store}>{children}</AppStoreContext.Provider>;
}

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useAppStore(): AppStore {
  const store = useContext(AppStoreContext);
  if (!store) throw new Error("useAppStore outside AppStoreProvider");
  return store;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
