//! A conversation's menu in the list: Pin/Unpin, Mute… (1 hour, 8 hours, 1 week, Always) or
//! Unmute, Mark as unread, Archive/Unarchive, Delete (asked again). All on this device only; the
//! engine's `conversation_updated` / `conversation_removed` change the list. A failure is said
//! in a small alert under the list.

import { useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Menu, type MenuItem } from "../../components/Menu";
import type { PopoverAnchor } from "../../components/Popover";
import { ArchiveIcon, BellIcon, MutedIcon, PinIcon, TrashIcon, UnreadIcon } from "../../components/icons";
import { asCommandError, describeError } from "../../lib/errors";
import { useClock } from "../../lib/time";
import { conversationTitle } from "../../lib/people";
import { useProfiles } from "../../state/people";
import type { Conversation } from "../../lib/types";
import { useSession } from "../../state/context";
import { isMuted } from "./ConversationRow";

const HOUR = 60 * 60 * 1000;

/** The lengths a conversation can be muted for; null: until unmuted. */
export const MUTE_CHOICES: { id: string; label: string; ms: number | null }[] = [
  { id: "1h", label: "For 1 hour", ms: HOUR },
  { id: "8h", label: "For 8 hours", ms: 8 * HOUR },
  { id: "1w", label: "For 1 week", ms: 7 * 24 * HOUR },
  { id: "always", label: "Always", ms: null },
];

export interface OpenMenu {
  conversation: Conversation;
  anchor: PopoverAnchor;
  returnFocus: HTMLElement | null;
  /** The main menu, or the mute lengths. */
  kind: "menu" | "mute";
}

interface ConversationMenuProps {
  open: OpenMenu | null;
  onChange: (open: OpenMenu | null) => void;
}

export function ConversationMenu({ open, onChange }: ConversationMenuProps) {
  const session = useSession();
  const clock = useClock();
  const profiles = useProfiles();
  const titleOf = (c: Conversation) => conversationTitle(c, session.ownUserId, profiles);
  const now = () => clock.now();
  const [deleting, setDeleting] = useState<Conversation | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = (work: () => Promise<unknown>) => {
    setError(null);
    work().catch((e: unknown) => setError(describeError(asCommandError(e))));
  };

  const items = (o: OpenMenu): MenuItem[] => {
    const c = o.conversation;
    const muted = isMuted(c, now());
    return [
      {
        id: "pin",
        label: c.pinned ? "Unpin" : "Pin",
        icon: <PinIcon />,
        onSelect: () => run(() => session.setPinned(c.id, !c.pinned)),
      },
      muted
        ? { id: "unmute", label: "Unmute", icon: <BellIcon />, onSelect: () => run(() => session.setMuted(c.id, null)) }
        : {
            id: "mute",
            label: "Mute…",
            icon: <MutedIcon />,
            onSelect: () => onChange({ ...o, kind: "mute" }),
          },
      ...(c.unread === 0 && !c.marked_unread
        ? [
            {
              id: "unread",
              label: "Mark as unread",
              icon: <UnreadIcon />,
              onSelect: () => run(() => session.markUnread(c.id)),
            },
          ]
        : []),
      {
        id: "archive",
        label: c.archived ? "Unarchive" : "Archive",
        icon: <ArchiveIcon />,
        onSelect: () => run(() => session.setArchived(c.id, !c.archived)),
      },
      { id: "delete", label: "Delete…", icon: <TrashIcon />, danger: true, onSelect: () => setDeleting(c) },
    ];
  };

  const muteItems = (o: OpenMenu): MenuItem[] =>
    MUTE_CHOICES.map((choice) => ({
      id: `mute-${choice.id}`,
      label: choice.label,
      onSelect: () => run(() => session.setMuted(o.conversation.id, choice.ms === null ? "forever" : now() + choice.ms)),
    }));

  return (
    <>
      {open ? (
        <Menu
          // A new menu (the mute lengths) takes focus again.
          key={open.kind}
          anchor={open.anchor}
          label={open.kind === "mute" ? `Mute ${titleOf(open.conversation)}` : `${titleOf(open.conversation)}: actions`}
          items={open.kind === "mute" ? muteItems(open) : items(open)}
          // Choosing "Mute…" opens the lengths in its place; any other choice closes the menu.
          onClose={() => onChange(null)}
          returnFocus={open.returnFocus}
          testId={open.kind === "mute" ? "mute-menu" : "conversation-menu"}
        />
      ) : null}
      {error ? (
        <p className="sidebar__note error-text" role="alert" data-testid="conversation-menu-error">
          {error}
        </p>
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${titleOf(deleting)}?`}
          confirmLabel="Delete"
          danger
          testId="delete-conversation-dialog"
          onConfirm={() => session.deleteConversation(deleting.id)}
          onClose={() => setDeleting(null)}
        >
          <p>Delete this conversation from this device? Messages and files go; the others keep theirs.</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
