//! App-wide state: the phase/account from `AppStatus`, the connection state, and settings.

import { Store } from "../lib/store";
import type { AppStatus, ConnectionState, Settings } from "../lib/types";

export interface AppState {
  status: AppStatus | null;
  settings: Settings;
  /** When the open profile last wrote a backup file (ms); null: never; undefined: not asked yet. */
  lastBackup: number | null | undefined;
}

export const DEFAULT_SETTINGS: Settings = { theme: "system", notifications: true, previews: true, backup_reminder: true };

export class AppStore extends Store<AppState> {
  constructor() {
    super({ status: null, settings: DEFAULT_SETTINGS, lastBackup: undefined });
  }

  setStatus(status: AppStatus): void {
    // Another account (or none): what is known about backups was about the previous one.
    this.set((s) => ({
      ...s,
      status,
      lastBackup: s.status?.account?.user_id === status.account?.user_id ? s.lastBackup : undefined,
    }));
  }

  setLastBackup(lastBackup: number | null): void {
    this.set((s) => ({ ...s, lastBackup }));
  }

  setConnection(connection: ConnectionState): void {
    this.set((s) => (s.status ? { ...s, status: { ...s.status, connection } } : s));
  }

  setSettings(settings: Settings): void {
    this.set((s) => ({ ...s, settings }));
  }
}
