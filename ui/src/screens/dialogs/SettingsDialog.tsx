//! Settings: the account on this device (password, key reset), its devices (confirming them),
//! theme, notifications, read receipts, downloading files, running in the background and at login, quitting, backups, and
//! signing out.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { isMac, modKeyLabel } from "../../lib/keyboard";
import { useStore } from "../../lib/store";
import type { CommandError, Settings, Theme } from "../../lib/types";
import { useAppStore } from "../../state/context";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNote } from "../../components/ErrorNote";
import { LocalServerAddress } from "../../components/LocalServerAddress";
import { Modal } from "../../components/Modal";
import { ChangePasswordDialog, ResetKeysDialog } from "./AccountDialogs";
import { MoveServerDialog } from "./MoveServerDialog";
import { BackupDialog } from "./BackupDialog";
import { ExportDialog } from "./ExportDialog";
import { KeyBackupSection } from "./KeyBackup";
import { UpdatesSection } from "./UpdatesSection";
import { FilesSection } from "./FilesSection";
import { PrivacySection } from "./PrivacySection";
import { DevicesSection } from "../devices/DevicesSection";
import { ProfileSection } from "./ProfileSection";

export function SettingsDialog({ onClose }: { onClose: () => void }) {
  const app = useAppStore();
  const settings = useStore(app, (s) => s.settings);
  const account = useStore(app, (s) => s.status?.account ?? null);
  const localServer = useStore(app, (s) => s.status?.local_server ?? null);
  const lastBackup = useStore(app, (s) => s.lastBackup);
  const signedIn = account !== null;

  useEffect(() => {
    if (signedIn) app.loadLastBackup();
  }, [app, signedIn, lastBackup]);
  // Read again on every open: starting at login is the system's entry, which may have changed
  // outside Sotto (removed in the desktop's startup settings).
  useEffect(() => {
    const shown = app.get().settings;
    ipc
      .getSettings()
      // Unless the person changed a switch meanwhile (that save's answer is newer).
      .then((s) => app.get().settings === shown && app.setSettings(s))
      .catch(() => undefined);
  }, [app]);
  const [error, setError] = useState<{ error: CommandError; text?: string } | null>(null);
  const [confirmSignOut, setConfirmSignOut] = useState(false);
  const [open, setOpen] = useState<"backup" | "export" | "password" | "reset-keys" | "move-server" | null>(null);

  const save = async (next: Settings) => {
    setError(null);
    try {
      await app.saveSettings(next);
    } catch (e) {
      // Starting at login is the system's entry, not Sotto's file: say which change failed.
      const text =
        next.start_at_login !== settings.start_at_login
          ? "Sotto couldn't change whether it starts when you log in. Nothing else was changed; try again, or add Sotto to your desktop's startup programs yourself."
          : undefined;
      setError({ error: asCommandError(e), text });
    }
  };

  const signOut = async () => {
    app.setStatus(await ipc.signOut());
  };

  return (
    <Modal title="Settings" onClose={onClose} testId="settings-panel" className="modal--settings">
      <div className="settings">
        {account ? <ProfileSection /> : null}
        {account ? (
          <section className="settings__section" aria-labelledby="settings-account">
            <h3 id="settings-account" className="settings__heading">
              Account
            </h3>
            <dl className="settings__facts">
              <dt>User id</dt>
              <dd>{account.user_id}</dd>
              <dt>This device</dt>
              <dd>
                <code>{account.device_id}</code>
              </dd>
              <dt>Server</dt>
              <dd>
                <code data-testid="account-server">{account.server}</code>
              </dd>
              {account.server_certificate ? (
                <>
                  <dt>Its certificate</dt>
                  <dd>
                    <code className="fingerprint" data-testid="server-certificate">
                      {account.server_certificate}
                    </code>
                  </dd>
                </>
              ) : null}
            </dl>
            {localServer ? <LocalServerAddress info={localServer} editable /> : null}
            <div className="settings__buttons">
              <button type="button" className="button" onClick={() => setOpen("password")} data-testid="open-password">
                Change password…
              </button>
              <button type="button" className="button" onClick={() => setOpen("reset-keys")} data-testid="open-reset-keys">
                Reset this computer's keys…
              </button>
              {localServer ? null : (
                <button type="button" className="button" onClick={() => setOpen("move-server")} data-testid="open-move-server">
                  Server moved…
                </button>
              )}
            </div>
          </section>
        ) : null}
        {account ? <DevicesSection /> : null}
        <section className="settings__section" aria-labelledby="settings-look">
          <h3 id="settings-look" className="settings__heading">
            Appearance
          </h3>
          <label className="field field--inline">
            <span className="field__label">Theme</span>
            <select
              value={settings.theme}
              onChange={(e) => void save({ ...settings, theme: e.target.value as Theme })}
              data-testid="theme-select"
            >
              <option value="system">Same as the system</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
        </section>
        <section className="settings__section" aria-labelledby="settings-notify">
          <h3 id="settings-notify" className="settings__heading">
            Notifications
          </h3>
          <label className="check">
            <input
              type="checkbox"
              checked={settings.notifications}
              onChange={(e) => void save({ ...settings, notifications: e.target.checked })}
              data-testid="notifications-toggle"
            />
            <span>Notify me of new messages</span>
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={settings.previews}
              onChange={(e) => void save({ ...settings, previews: e.target.checked })}
              data-testid="previews-toggle"
            />
            <span>
              Show message text in notifications
              <span className="check__hint muted small">Off: notifications only say who wrote.</span>
            </span>
          </label>
        </section>
        {account ? <PrivacySection /> : null}
        {account ? <FilesSection /> : null}
        <section className="settings__section" aria-labelledby="settings-background">
          <h3 id="settings-background" className="settings__heading">
            Running in the background
          </h3>
          {isMac() ? (
            <p className="muted small" data-testid="keep-running-mac">
              Closing the window keeps Sotto running in the Dock, connected and notifying you.
            </p>
          ) : (
            <label className="check">
              <input
                type="checkbox"
                checked={settings.keep_running}
                onChange={(e) => void save({ ...settings, keep_running: e.target.checked })}
                data-testid="keep-running-toggle"
              />
              <span>
                Keep Sotto running when its window is closed
                <span className="check__hint muted small">
                  It stays in the tray, connected, and keeps notifying you. Off, or on a desktop without a tray,
                  closing the window quits Sotto.
                </span>
              </span>
            </label>
          )}
          <label className="check">
            <input
              type="checkbox"
              checked={settings.start_at_login}
              onChange={(e) => void save({ ...settings, start_at_login: e.target.checked })}
              data-testid="start-at-login-toggle"
            />
            <span>Start Sotto when I log in to this computer</span>
          </label>
          <div className="settings__buttons">
            <button
              type="button"
              className="button"
              onClick={() => void ipc.quit().catch(() => undefined)}
              data-testid="quit"
              aria-keyshortcuts={isMac() ? "Meta+Q" : "Control+Q"}
            >
              Quit Sotto <kbd className="muted small">{modKeyLabel()}+Q</kbd>
            </button>
          </div>
        </section>
        <UpdatesSection />
        {account ? (
          <section className="settings__section" aria-labelledby="settings-backup">
            <h3 id="settings-backup" className="settings__heading">
              Backups
            </h3>
            <p className="muted small">
              A backup file keeps your messages and keys if this computer is lost or replaced; restore it when you
              sign in on a new one.
            </p>
            {lastBackup !== undefined ? (
              <p className="small" data-testid="last-backup">
                {lastBackup === null
                  ? "This computer hasn't made a backup yet."
                  : `Last backup: ${new Date(lastBackup).toLocaleString()}.`}
              </p>
            ) : null}
            <div className="settings__buttons">
              <button type="button" className="button" onClick={() => setOpen("backup")} data-testid="open-backup">
                Back up to a file…
              </button>
              <button type="button" className="button" onClick={() => setOpen("export")} data-testid="open-export">
                Export a readable copy…
              </button>
            </div>
            <label className="check">
              <input
                type="checkbox"
                checked={settings.backup_reminder}
                onChange={(e) => void save({ ...settings, backup_reminder: e.target.checked })}
                data-testid="backup-reminder-toggle"
              />
              <span>Remind me to back up</span>
            </label>
            <KeyBackupSection />
          </section>
        ) : null}
        {error ? <ErrorNote error={error.error} text={error.text} testId="dialog-error" /> : null}
        <section className="settings__section settings__section--danger">
          <button type="button" className="button button--danger-outline" onClick={() => setConfirmSignOut(true)} data-testid="sign-out">
            Sign out of this computer
          </button>
        </section>
      </div>
      {open === "backup" ? <BackupDialog onClose={() => setOpen(null)} /> : null}
      {open === "export" ? <ExportDialog onClose={() => setOpen(null)} /> : null}
      {open === "password" ? <ChangePasswordDialog onClose={() => setOpen(null)} /> : null}
      {open === "reset-keys" ? <ResetKeysDialog onClose={() => setOpen(null)} /> : null}
      {open === "move-server" && account ? (
        <MoveServerDialog current={account.server} onClose={() => setOpen(null)} />
      ) : null}
      {confirmSignOut ? (
        <ConfirmDialog
          title="Sign out of this computer?"
          confirmLabel="Sign out and delete"
          danger
          onConfirm={signOut}
          onClose={() => setConfirmSignOut(false)}
        >
          <p>
            This signs this computer out of <strong>{account?.user_id}</strong> and deletes its copy of your messages and
            keys. Your other devices are not affected.
          </p>
          <p className="muted">
            If you sign in here again, messages from before won't be readable on this computer.
          </p>
        </ConfirmDialog>
      ) : null}
    </Modal>
  );
}
