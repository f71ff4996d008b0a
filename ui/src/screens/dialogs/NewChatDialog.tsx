//! Start a direct chat by user id, or open Note to self (messages to one's own devices).

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { isValidUserId, USER_ID_RULE } from "../../lib/ids";
import { useSession } from "../../state/context";
import { Modal } from "../../components/Modal";
import { FormError, type FormProblem } from "../../components/FormError";
import { NoteIcon } from "../../components/icons";
import { NOTE_TO_SELF } from "../../lib/people";

export function NewChatDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const [userId, setUserId] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const [asked, setAsked] = useState("");

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const id = userId.trim();
    if (!isValidUserId(id)) {
      setProblem({ kind: "local", text: `User ids are ${USER_ID_RULE}.` });
      return;
    }
    if (id === session.ownUserId) {
      openNoteToSelf();
      return;
    }
    setBusy(true);
    setProblem(null);
    setAsked(id);
    try {
      const conversation = await ipc.startDirect(id);
      session.adoptConversation(conversation);
      session.openConversation(conversation.id);
      onClose();
    } catch (err) {
      setProblem({ kind: "command", error: asCommandError(err) });
      setBusy(false);
    }
  };

  const openNoteToSelf = () => {
    session.openNoteToSelf();
    onClose();
  };

  return (
    <Modal title="New chat" onClose={onClose} testId="new-chat-dialog">
      <button type="button" className="note-to-self-entry" onClick={openNoteToSelf} data-testid="note-to-self">
        <span className="avatar avatar--small" data-color="5" aria-hidden="true">
          <NoteIcon />
        </span>
        <span className="note-to-self-entry__text">
          <span className="note-to-self-entry__title">{NOTE_TO_SELF}</span>
          <span className="muted small">Notes, links and files for yourself, on all your devices</span>
        </span>
      </button>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate>
        <label className="field">
          <span className="field__label">Who do you want to write to?</span>
          <input
            type="text"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="Their user id"
            value={userId}
            onChange={(e) => setUserId(e.target.value)}
            autoFocus
            data-testid="new-chat-user"
          />
        </label>
        <FormError problem={problem} testId="dialog-error" context={{ userId: asked }} />
        <div className="modal__actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy} data-testid="new-chat-submit">
            {busy ? "Starting…" : "Start chat"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
