//! Start a direct chat by user id.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { isValidUserId, USER_ID_RULE } from "../../lib/ids";
import { useSession } from "../../state/context";
import { Modal } from "../../components/Modal";
import { FormError, type FormProblem } from "../../components/FormError";

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

  return (
    <Modal title="New chat" onClose={onClose} testId="new-chat-dialog">
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
