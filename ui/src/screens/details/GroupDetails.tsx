//! A group's members and roles. Admins and owners can add and remove people; anyone can leave.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { parseUserIds } from "../../lib/ids";
import { useStore } from "../../lib/store";
import type { CommandError, GroupMember, Role } from "../../lib/types";
import { useSession } from "../../state/context";
import { Avatar } from "../../components/Avatar";
import { PersonAvatar } from "../../components/PersonAvatar";
import { useDisplayName } from "../../state/people";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNote } from "../../components/ErrorNote";

const ROLE_TEXT: Record<Role, string> = { owner: "Owner", admin: "Admin", member: "Member" };
const ROLE_ORDER: Record<Role, number> = { owner: 0, admin: 1, member: 2 };

export function GroupDetails({ groupId }: { groupId: string }) {
  const session = useSession();
  const group = useStore(session.groups, (s) => s[groupId]);
  const [error, setError] = useState<CommandError | null>(null);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState<string | null>(null);
  const me = session.ownUserId;

  if (!group) {
    return <p className="muted">Loading…</p>;
  }

  const myRole = group.members.find((m) => m.user_id === me)?.role;
  const canManage = group.joined && (myRole === "admin" || myRole === "owner");
  const members = [...group.members].sort(
    (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.user_id.localeCompare(b.user_id),
  );

  // Errors show in the confirmation, which stays open until the removal went through.
  const remove = async (userId: string) => {
    setError(null);
    session.groups.put(await ipc.removeMember(groupId, userId));
  };

  const leave = async () => {
    await ipc.leaveGroup(groupId);
    await session.groups.refresh(groupId).catch(() => undefined);
  };

  return (
    <>
      <div className="details__identity">
        <Avatar id={groupId} name={group.name} group size="large" />
        <h3>{group.name}</h3>
        <p className="muted small">{group.members.length === 1 ? "1 member" : `${group.members.length} members`}</p>
      </div>
      {!group.joined ? (
        <p className="notice notice--info">You're not a member of this group any more.</p>
      ) : null}
      <section className="details__section" aria-labelledby="members-heading">
        <h3 id="members-heading" className="details__heading">
          Members
        </h3>
        {canManage ? <AddMembers groupId={groupId} onError={setError} /> : null}
        {error ? <ErrorNote error={error} testId="dialog-error" /> : null}
        <ul className="member-list">
          {members.map((m) => (
            <MemberRow
              key={m.user_id}
              member={m}
              isMe={m.user_id === me}
              canRemove={canManage && m.user_id !== me && (m.role !== "owner" || myRole === "owner")}
              onRemove={() => setConfirmRemove(m.user_id)}
            />
          ))}
        </ul>
      </section>
      {group.joined ? (
        <section className="details__section">
          <button type="button" className="button button--danger-outline" onClick={() => setConfirmLeave(true)} data-testid="leave-group">
            Leave group
          </button>
        </section>
      ) : null}
      {confirmRemove ? (
        <ConfirmDialog
          title={`Remove ${confirmRemove} from ${group.name}?`}
          confirmLabel="Remove"
          danger
          onConfirm={() => remove(confirmRemove)}
          onClose={() => setConfirmRemove(null)}
        >
          <p>
            {confirmRemove} won't be able to read what the group sends from now on. What they already received stays
            with them.
          </p>
        </ConfirmDialog>
      ) : null}
      {confirmLeave ? (
        <ConfirmDialog
          title={`Leave ${group.name}?`}
          confirmLabel="Leave group"
          danger
          onConfirm={leave}
          onClose={() => setConfirmLeave(false)}
        >
          <p>You'll stop receiving this group's messages. The messages you already have stay on this computer.</p>
          <p className="muted">To come back, an admin of the group has to add you again.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

interface MemberRowProps {
  member: GroupMember;
  isMe: boolean;
  canRemove: boolean;
  onRemove: () => void;
}

function MemberRow({ member: m, isMe, canRemove, onRemove }: MemberRowProps) {
  const name = useDisplayName(m.user_id);
  return (
    <li className="member-row" data-testid="member-row" data-user-id={m.user_id}>
      <PersonAvatar userId={m.user_id} size="small" />
      <span className="member-row__name" title={m.user_id}>
        {name}
        {isMe ? <span className="muted"> (you)</span> : null}
      </span>
      {m.role !== "member" ? <span className="role-tag">{ROLE_TEXT[m.role]}</span> : null}
      {canRemove ? (
        <button
          type="button"
          className="link-button link-button--danger"
          onClick={onRemove}
          aria-label={`Remove ${name} from the group`}
          data-testid="member-remove"
        >
          Remove
        </button>
      ) : null}
    </li>
  );
}

function AddMembers({ groupId, onError }: { groupId: string; onError: (e: CommandError | null) => void }) {
  const session = useSession();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);

  const add = async (e: React.FormEvent) => {
    e.preventDefault();
    const ids = parseUserIds(text);
    if (ids.length === 0) return;
    setBusy(true);
    onError(null);
    try {
      session.groups.put(await ipc.addMembers(groupId, ids));
      setText("");
    } catch (err) {
      onError(asCommandError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="add-members" onSubmit={(e) => void add(e)}>
      <label className="field">
        <span className="field__label">Add people</span>
        <span className="add-members__row">
          <input
            type="text"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="User ids, separated by commas"
            value={text}
            onChange={(e) => setText(e.target.value)}
            data-testid="add-member-input"
          />
          <button type="submit" className="button button--small" disabled={busy || parseUserIds(text).length === 0} data-testid="add-member-submit">
            Add
          </button>
        </span>
      </label>
    </form>
  );
}
