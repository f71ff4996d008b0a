//! "Are you sure?" for actions that can't be undone; the confirm button says what it does.

import { useState } from "react";
import { Modal } from "./Modal";
import { ErrorNote } from "./ErrorNote";
import { asCommandError } from "../lib/errors";
import type { CommandError } from "../lib/types";

interface ConfirmDialogProps {
  title: string;
  children: React.ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown> | void;
  onClose: () => void;
  /** Words for a failure, when the generic ones would not fit what was asked. */
  describe?: (error: CommandError) => string;
  testId?: string;
}

export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  danger,
  onConfirm,
  onClose,
  describe,
  testId = "confirm-dialog",
}: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(asCommandError(e));
      setBusy(false);
    }
  };

  return (
    <Modal title={title} onClose={onClose} testId={testId}>
      <div className="modal__body">{children}</div>
      {error ? <ErrorNote error={error} testId="dialog-error" text={describe?.(error)} /> : null}
      <div className="modal__actions">
        <button type="button" className="button" onClick={onClose} autoFocus>
          Cancel
        </button>
        <button
          type="button"
          className={danger ? "button button--danger" : "button button--primary"}
          onClick={() => void confirm()}
          disabled={busy}
          data-testid="confirm-button"
        >
          {confirmLabel}
        </button>
      </div>
    </Modal>
  );
}
