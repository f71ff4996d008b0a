//! Create a group: a name and the people to add (ids separated by commas or spaces).

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { groupConversationId, isValidUserId, parseUserIds, UNTOUCHED, USER_ID_RULE } from "../../lib/ids";
import { useSession } from "../../state/context";
import { Modal } from "../../components/Modal";
import { FormError, type FormProblem } from "../../components/FormError";

export function NewGroupDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const [name, setName] = useState("");
  const [members, setMembers] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const groupName = name.trim();
    const ids = parseUserIds(members);
    const bad = ids.find((id) => !isValidUserId(id));
    if (!groupName) {
      setProblem({ kind: "local", text: "Give the group a name." });
      return;
    }
    if (bad !== undefined) {
      setProblem({ kind: "local", text: `'${bad}' isn't a user id. User ids are ${USER_ID_RULE}.` });
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const group = await ipc.createGroup(groupName, ids);
      const id = groupConversationId(group.group_id);
      session.groups.put(group);
      session.adoptConversation({
        id,
        kind: "group",
        peer: group.group_id,
        title: group.name,
        last_ts: 0,
        last_preview: "",
        unread: 0,
        ...UNTOUCHED,
      });
      session.openConversation(id);
      onClose();
    } catch (err) {
      setProblem({ kind: "command", error: asCommandError(err) });
      setBusy(false);
    }
  };

  return (
    <Modal title="New group" onClose={onClose} testId="new-group-dialog">
      <form className="form" onSubmit={(e) => void submit(e)} noValidate>
        <label className="field">
          <span className="field__label">Group name</span>
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} autoFocus data-testid="group-name" />
        </label>
        <label className="field">
          <span className="field__label">People</span>
          <input
            type="text"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="User ids, separated by commas"
            value={members}
            onChange={(e) => setMembers(e.target.value)}
            data-testid="group-members"
          />
          <span className="field__hint">You can add more people later.</span>
        </label>
        <FormError problem={problem} testId="dialog-error" />
        <div className="modal__actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={busy} data-testid="group-create-submit">
            {busy ? "Creating…" : "Create group"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
