//! App-wide state: the phase/account from `AppStatus`, the connection state, and settings.

import * as ipc from "../lib/tauri";
import { Store } from "../lib/store";
import type { AppStatus, ConnectionState, Conversation, Settings } from "../lib/types";

export interface AppState {
  status: AppStatus | null;
  settings: Settings;
  /** When the open profile last wrote a backup file (ms); null: never; undefined: not asked yet. */
  lastBackup: number | null | undefined;
}

export const DEFAULT_SETTINGS: Settings = {
  theme: "system",
  notifications: true,
  previews: true,
  backup_reminder: true,
  keep_running: true,
  start_at_login: false,
};

export class AppStore extends Store<AppState> {
  /** The conversation list read at start beside the status, for the first session to take. */
  private firstList: Conversation[] | null = null;
  /** A `backup_status` read is on its way. */
  private readingLastBackup = false;

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

  /** The list read at start (see `firstList`). */
  offerFirstList(list: Conversation[]): void {
    this.firstList = list;
  }

  /** The list read at start, once; null afterwards (or if there was none). */
  takeFirstList(): Conversation[] | null {
    const list = this.firstList;
    this.firstList = null;
    return list;
  }

  setLastBackup(lastBackup: number | null): void {
    this.set((s) => ({ ...s, lastBackup }));
  }

  /** Reads when the open profile last wrote a backup, unless known or being read already. */
  loadLastBackup(): void {
    if (this.get().lastBackup !== undefined || this.readingLastBackup) return;
    this.readingLastBackup = true;
    ipc
      .backupStatus()
      .then((status) => this.setLastBackup(status.last_backup_ms))
      .catch(() => undefined)
      .finally(() => {
        this.readingLastBackup = false;
      });
  }

  setConnection(connection: ConnectionState): void {
    this.set((s) => (s.status ? { ...s, status: { ...s.status, connection } } : s));
  }

  setSettings(settings: Settings): void {
    this.set((s) => ({ ...s, settings }));
  }

  /** Shows `next` at once and saves it; puts the previous settings back (and throws) if that fails. */
  async saveSettings(next: Settings): Promise<void> {
    const previous = this.get().settings;
    this.setSettings(next);
    try {
      this.setSettings(await ipc.setSettings(next));
    } catch (e) {
      this.setSettings(previous);
      throw e;
    }
  }
}
