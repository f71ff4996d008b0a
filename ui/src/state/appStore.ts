//! App-wide state: the phase/account from `AppStatus`, the connection state, and settings.

import { Store } from "../lib/store";
import type { AppStatus, ConnectionState, Settings } from "../lib/types";

export interface AppState {
  status: AppStatus | null;
  settings: Settings;
}

export const DEFAULT_SETTINGS: Settings = { theme: "system", notifications: true, previews: true };

export class AppStore extends Store<AppState> {
  constructor() {
    super({ status: null, settings: DEFAULT_SETTINGS });
  }

  setStatus(status: AppStatus): void {
    this.set((s) => ({ ...s, status }));
  }

  setConnection(connection: ConnectionState): void {
    this.set((s) => (s.status ? { ...s, status: { ...s.status, connection } } : s));
  }

  setSettings(settings: Settings): void {
    this.set((s) => ({ ...s, settings }));
  }
}
