//! The backup nudge: once this profile has messages and has never been backed up, a calm,
//! dismissible suggestion above the conversation list. "Not now" turns the reminder off (it
//! can be turned on again in Settings); a finished backup makes it go away by itself.

import { Suspense, useEffect, useState } from "react";
import { lazyComponent } from "../../lib/lazy";
import { useStore } from "../../lib/store";
import { useAppStore, useSession } from "../../state/context";

// Loaded when the person starts a backup, not at start.
const BackupDialog = lazyComponent(() => import("../dialogs/BackupDialog").then((m) => m.BackupDialog));

export function BackupReminder() {
  const app = useAppStore();
  const session = useSession();
  const settings = useStore(app, (s) => s.settings);
  const lastBackup = useStore(app, (s) => s.lastBackup);
  const hasMessages = useStore(session.conversations, (s) => s.list.some((c) => c.last_ts > 0));
  const [open, setOpen] = useState(false);

  useEffect(() => {
    if (settings.backup_reminder) app.loadLastBackup();
    // (Again after `lastBackup` is reset for another account.)
  }, [app, settings.backup_reminder, lastBackup]);

  // A failed save has put the reminder back, so it can be dismissed again.
  const notNow = () => app.saveSettings({ ...app.get().settings, backup_reminder: false }).catch(() => undefined);

  const show = settings.backup_reminder && lastBackup === null && hasMessages;
  return (
    <>
      {show ? (
        <div className="notice backup-reminder" role="note" data-testid="backup-reminder">
          <p className="notice__text">
            <strong>Keep your messages safe.</strong> A backup file brings them back if this computer is lost or
            replaced.
          </p>
          <div className="notice__actions">
            <button type="button" className="button button--small button--primary" onClick={() => setOpen(true)} data-testid="backup-reminder-start">
              Back up now
            </button>
            <button type="button" className="button button--small" onClick={() => void notNow()} data-testid="backup-reminder-dismiss">
              Not now
            </button>
          </div>
        </div>
      ) : null}
      {open ? (
        <Suspense fallback={null}>
          <BackupDialog onClose={() => setOpen(false)} />
        </Suspense>
      ) : null}
    </>
  );
}
