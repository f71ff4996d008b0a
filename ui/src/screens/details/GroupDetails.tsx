//! A group's name, members and roles. Admins rename the group and add and remove people; the
//! owner also gives and takes the admin role, hands ownership over and dismisses the group; anyone
//! can leave. Only what the group's rules (`sotto_proto::groups::apply_action`) accept is offered.

import { useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { parseUserIds } from "../../lib/ids";
import { useStore } from "../../lib/store";
import type { CommandError, GroupMember, LocalGroup, Role } from "../../lib/types";
import { useSession } from "../../state/context";
import { Avatar } from "../../components/Avatar";
import { PersonAvatar } from "../../components/PersonAvatar";
import { useDisplayName } from "../../state/people";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorNote } from "../../components/ErrorNote";
import { Menu, type MenuItem } from "../../components/Menu";
import { EditIcon, MoreIcon } from "../../components/icons";

const ROLE_TEXT: Record<Role, string> = { owner: "Owner", admin: "Admin", member: "Member" };
const ROLE_ORDER: Record<Role, number> = { owner: 0, admin: 1, member: 2 };
/** The engine's limit (`sotto_proto::limits::MAX_GROUP_NAME_CHARS`). */
const MAX_NAME_CHARS = 128;
const NAME_REFUSED = `A group name is 1 to ${MAX_NAME_CHARS} characters, without line breaks. The name wasn't changed.`;

/** What can be done to a member, by whoever has `myRole` (the group's rules). */
export type MemberAction = "make-admin" | "remove-admin" | "make-owner" | "remove";

export function memberActions(myRole: Role | undefined, target: GroupMember, isMe: boolean): MemberAction[] {
  if (isMe || myRole === undefined || myRole === "member") return [];
  if (myRole === "admin") return target.role === "member" ? ["remove"] : [];
  // The owner: every role of the others, and removing anyone but themselves.
  if (target.role === "owner") return [];
  return [target.role === "admin" ? "remove-admin" : "make-admin", "make-owner", "remove"];
}

type Pending = { kind: "remove" | "make-owner"; userId: string } | { kind: "dismiss" | "leave" };

export function GroupDetails({ groupId }: { groupId: string }) {
  const session = useSession();
  const group = useStore(session.groups, (s) => s[groupId]);
  const [error, setError] = useState<CommandError | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [menu, setMenu] = useState<{ userId: string; anchor: HTMLElement } | null>(null);
  const me = session.ownUserId;

  if (!group) {
    return <p className="muted">Loading…</p>;
  }

  const myRole = group.joined ? group.members.find((m) => m.user_id === me)?.role : undefined;
  const canManage = myRole === "admin" || myRole === "owner";
  const members = [...group.members].sort(
    (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.user_id.localeCompare(b.user_id),
  );

  // Errors of confirmed actions show in the confirmation, which stays open until it went through.
  const remove = async (userId: string) => {
    setError(null);
    session.groups.put(await ipc.removeMember(groupId, userId));
  };

  const setRole = async (userId: string, role: Role) => {
    setError(null);
    session.groups.put(await ipc.setMemberRole(groupId, userId, role));
  };

  const leave = async () => {
    await ipc.leaveGroup(groupId);
    await session.groups.refresh(groupId).catch(() => undefined);
  };

  const dismiss = async () => {
    setError(null);
    session.groups.put(await ipc.dismissGroup(groupId));
  };

  const menuItems = (userId: string): MenuItem[] => {
    const target = group.members.find((m) => m.user_id === userId);
    if (!target) return [];
    const run = (role: Role) => () => void setRole(userId, role).catch((e: unknown) => setError(asCommandError(e)));
    return memberActions(myRole, target, userId === me).map((action): MenuItem => {
      switch (action) {
        case "make-admin":
          return { id: action, label: "Make admin", onSelect: run("admin") };
        case "remove-admin":
          return { id: action, label: "Remove as admin", onSelect: run("member") };
        case "make-owner":
          return { id: action, label: "Make owner…", onSelect: () => setPending({ kind: "make-owner", userId }) };
        case "remove":
          return { id: action, label: "Remove from group…", danger: true, onSelect: () => setPending({ kind: "remove", userId }) };
      }
    });
  };

  return (
    <>
      <div className="details__identity">
        <Avatar id={groupId} name={group.name} group size="large" />
        <GroupName group={group} canRename={canManage} />
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
              hasActions={memberActions(myRole, m, m.user_id === me).length > 0}
              onMenu={(anchor) => setMenu({ userId: m.user_id, anchor })}
              menuOpen={menu?.userId === m.user_id}
            />
          ))}
        </ul>
      </section>
      {group.joined ? (
        <section className="details__section">
          <button type="button" className="button button--danger-outline" onClick={() => setPending({ kind: "leave" })} data-testid="leave-group">
            Leave group
          </button>
          {myRole === "owner" ? (
            <button type="button" className="button button--danger-outline" onClick={() => setPending({ kind: "dismiss" })} data-testid="dismiss-group">
              Dismiss group
            </button>
          ) : null}
        </section>
      ) : null}
      {menu ? (
        <Menu
          anchor={menu.anchor}
          label={`Manage ${menu.userId}`}
          items={menuItems(menu.userId)}
          onClose={() => setMenu(null)}
          align="end"
          testId="member-menu"
        />
      ) : null}
      {pending?.kind === "remove" ? (
        <ConfirmDialog
          title={`Remove ${pending.userId} from ${group.name}?`}
          confirmLabel="Remove"
          danger
          onConfirm={() => remove(pending.userId)}
          onClose={() => setPending(null)}
        >
          <p>
            {pending.userId} won't be able to read what the group sends from now on. What they already received stays
            with them.
          </p>
        </ConfirmDialog>
      ) : null}
      {pending?.kind === "make-owner" ? (
        <ConfirmDialog
          title={`Make ${pending.userId} the owner of ${group.name}?`}
          confirmLabel="Make owner"
          onConfirm={() => setRole(pending.userId, "owner")}
          onClose={() => setPending(null)}
          testId="transfer-dialog"
        >
          <p>
            {pending.userId} becomes the group's owner: they decide who is an admin, can hand ownership on and can
            dismiss the group. You stay an admin.
          </p>
          <p className="muted">A group has one owner, so you can't undo this yourself; only {pending.userId} can make you the owner again.</p>
        </ConfirmDialog>
      ) : null}
      {pending?.kind === "dismiss" ? (
        <ConfirmDialog
          title={`Dismiss ${group.name}?`}
          confirmLabel="Dismiss group"
          danger
          onConfirm={dismiss}
          onClose={() => setPending(null)}
          testId="dismiss-dialog"
        >
          <p>The group ends for everyone: no one can send to it any more, and it can't be started again.</p>
          <p className="muted">Everyone keeps the messages they already have.</p>
        </ConfirmDialog>
      ) : null}
      {pending?.kind === "leave" ? (
        <ConfirmDialog
          title={`Leave ${group.name}?`}
          confirmLabel="Leave group"
          danger
          onConfirm={leave}
          onClose={() => setPending(null)}
        >
          <p>You'll stop receiving this group's messages. The messages you already have stay on this computer.</p>
          {myRole === "owner" && group.members.length > 1 ? (
            <p>You're the owner, so an admin (or another member) becomes the owner first.</p>
          ) : null}
          <p className="muted">To come back, an admin of the group has to add you again.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

/** The group's name; for admins a button that turns into a field (Enter saves, Escape cancels). */
function GroupName({ group, canRename }: { group: LocalGroup; canRename: boolean }) {
  const session = useSession();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);
  const editButton = useRef<HTMLButtonElement>(null);

  const start = () => {
    setText(group.name);
    setError(null);
    setEditing(true);
  };

  const stop = () => {
    setEditing(false);
    setError(null);
    // Focus goes back to where editing started (after the field is gone).
    requestAnimationFrame(() => editButton.current?.focus());
  };

  const save = async () => {
    const name = text.trim();
    if (name === group.name) {
      stop();
      return;
    }
    if (name.length === 0 || [...name].length > MAX_NAME_CHARS) {
      setError({ code: "invalid_input", message: "" });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      session.groups.put(await ipc.renameGroup(group.group_id, name));
      stop();
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  if (!canRename) {
    return <h3 data-testid="group-name">{group.name}</h3>;
  }

  if (!editing) {
    return (
      <h3 className="group-name">
        <span data-testid="group-name">{group.name}</span>
        <button
          ref={editButton}
          type="button"
          className="icon-button group-name__edit"
          onClick={start}
          data-testid="group-rename"
        >
          <EditIcon label="Rename group" />
        </button>
      </h3>
    );
  }

  return (
    <form
      className="group-name__form"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <input
        type="text"
        className="group-name__input"
        aria-label="Group name"
        value={text}
        autoFocus
        onFocus={(e) => e.currentTarget.select()}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            // Escape cancels the edit only; the panel stays open.
            e.preventDefault();
            e.stopPropagation();
            stop();
          }
        }}
        disabled={busy}
        aria-invalid={error ? true : undefined}
        data-testid="group-name-input"
      />
      {error ? (
        <ErrorNote
          error={error}
          testId="rename-error"
          text={error.code === "invalid_input" ? error.message || NAME_REFUSED : undefined}
        />
      ) : null}
      <span className="group-name__actions">
        <button type="button" className="button button--small" onClick={stop} disabled={busy}>
          Cancel
        </button>
        <button type="submit" className="button button--small button--primary" disabled={busy} data-testid="group-rename-save">
          Save
        </button>
      </span>
    </form>
  );
}

interface MemberRowProps {
  member: GroupMember;
  isMe: boolean;
  hasActions: boolean;
  menuOpen: boolean;
  onMenu: (anchor: HTMLElement) => void;
}

function MemberRow({ member: m, isMe, hasActions, menuOpen, onMenu }: MemberRowProps) {
  const name = useDisplayName(m.user_id);
  return (
    <li className="member-row" data-testid="member-row" data-user-id={m.user_id} data-role={m.role}>
      <PersonAvatar userId={m.user_id} size="small" />
      <span className="member-row__name" title={m.user_id}>
        {name}
        {isMe ? <span className="muted"> (you)</span> : null}
      </span>
      {m.role !== "member" ? (
        <span className="role-tag" data-testid="member-role">
          {ROLE_TEXT[m.role]}
        </span>
      ) : null}
      {hasActions ? (
        <button
          type="button"
          className="icon-button member-row__more"
          onClick={(e) => onMenu(e.currentTarget)}
          aria-haspopup="menu"
          aria-expanded={menuOpen}
          data-testid="member-more"
        >
          <MoreIcon label={`Manage ${name}`} />
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
