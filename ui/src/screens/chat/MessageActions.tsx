//! What can be done to a message from the list: a small bar beside the bubble while the pointer
//! is over the message or the keyboard's focus is in it (React, Reply, More), and the same
//! actions as a menu (More, a right click, or the menu key / Shift+F10 on a focused message):
//! Reply, React…, Edit, Copy text, Info (one's own: who got it and who saw it, `MessageDetails`),
//! Delete for everyone (asked again in a dialog). A failure is said under the message.

import { useState } from "react";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Menu, type MenuItem } from "../../components/Menu";
import type { PopoverAnchor } from "../../components/Popover";
import { CopyIcon, EditIcon, InfoIcon, MoreIcon, ReplyIcon, SmileIcon, TrashIcon } from "../../components/icons";
import { copyText } from "../../lib/clipboard";
import { asCommandError, describeActionError, type MessageAction } from "../../lib/errors";
import { availableActions } from "../../lib/messageActions";
import type { Message } from "../../lib/types";
import { useSession } from "../../state/context";
import { MessageDetails } from "./MessageDetails";
import { ReactionPicker } from "./ReactionPicker";

/** An open menu, reaction picker or details: where it hangs, and where focus goes back to after. */
type Panel = { kind: "menu" | "react" | "info"; anchor: PopoverAnchor; returnFocus?: HTMLElement | null } | null;

/** The state of one message's actions: which panel is open, a failure to show, the dialog. */
export function useMessageActions(m: Message) {
  const session = useSession();
  const available = availableActions(m);
  const [panel, setPanel] = useState<Panel>(null);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const any =
    available.reply || available.react || available.edit || available.delete || available.copy || available.info;

  const run = async (action: MessageAction, work: () => Promise<void>) => {
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(describeActionError(asCommandError(e), action));
    }
  };

  const react = (emoji: string, remove: boolean) => void run("react", () => session.react(m.id, emoji, remove));

  const copy = async () => {
    setError(null);
    try {
      await copyText(m.body);
      session.ui.announce("Copied the message's text");
    } catch {
      setError("The text couldn't be copied. Select it and copy it with Ctrl+C instead.");
    }
  };

  const menuItems = (anchor: PopoverAnchor, returnFocus?: HTMLElement | null): MenuItem[] => {
    const items: (MenuItem | false)[] = [
      available.reply && {
        id: "reply",
        label: "Reply",
        icon: <ReplyIcon />,
        onSelect: () => session.ui.compose({ kind: "reply", message: m }),
      },
      available.react && {
        id: "react",
        label: "React…",
        icon: <SmileIcon />,
        onSelect: () => setPanel({ kind: "react", anchor, returnFocus }),
      },
      available.edit && {
        id: "edit",
        label: m.kind === "file" ? "Edit caption" : "Edit",
        icon: <EditIcon />,
        onSelect: () => session.ui.compose({ kind: "edit", message: m }),
      },
      available.copy && { id: "copy", label: "Copy text", icon: <CopyIcon />, onSelect: () => void copy() },
      available.info && {
        id: "info",
        label: "Info",
        icon: <InfoIcon />,
        onSelect: () => setPanel({ kind: "info", anchor, returnFocus }),
      },
      available.delete && {
        id: "delete",
        label: "Delete for everyone",
        icon: <TrashIcon />,
        danger: true,
        onSelect: () => setConfirming(true),
      },
    ];
    return items.filter((item): item is MenuItem => item !== false);
  };

  return {
    available,
    any,
    panel,
    open: (kind: "menu" | "react" | "info", anchor: PopoverAnchor, returnFocus?: HTMLElement | null) =>
      setPanel({ kind, anchor, returnFocus }),
    react,
    error,
    clearError: () => setError(null),
    /** The popovers and the dialog, drawn wherever the message puts them (they float). */
    overlays: (onDialogClosed: () => void) => (
      <>
        {panel?.kind === "menu" ? (
          <Menu
            anchor={panel.anchor}
            label="Message actions"
            items={menuItems(panel.anchor, panel.returnFocus)}
            onClose={() => setPanel(null)}
            returnFocus={panel.returnFocus}
            align={m.outgoing ? "end" : "start"}
            testId="message-menu"
          />
        ) : null}
        {panel?.kind === "react" ? (
          <ReactionPicker
            message={m}
            anchor={panel.anchor}
            align={m.outgoing ? "end" : "start"}
            onReact={react}
            onClose={() => setPanel(null)}
            returnFocus={panel.returnFocus}
          />
        ) : null}
        {panel?.kind === "info" ? (
          <MessageDetails
            message={m}
            anchor={panel.anchor}
            onClose={() => setPanel(null)}
            returnFocus={panel.returnFocus}
          />
        ) : null}
        {confirming ? (
          <ConfirmDialog
            title="Delete for everyone?"
            confirmLabel="Delete for everyone"
            danger
            testId="delete-dialog"
            onConfirm={() => session.deleteForEveryone(m.id)}
            describe={(e) => describeActionError(e, "delete")}
            onClose={() => {
              setConfirming(false);
              onDialogClosed();
            }}
          >
            <p>
              This message will be replaced by “This message was deleted” for you and everyone in this conversation,
              on all their devices. This can't be undone.
            </p>
            <p className="muted small">Someone using an older version of Sotto may still see it.</p>
          </ConfirmDialog>
        ) : null}
      </>
    ),
  };
}

export type MessageActionsState = ReturnType<typeof useMessageActions>;

/** The bar beside a bubble: React, Reply, More. */
export function ActionBar({ message: m, actions }: { message: Message; actions: MessageActionsState }) {
  const session = useSession();
  const { available } = actions;
  return (
    <div className="message-actions" role="toolbar" aria-label="Message actions" data-testid="message-actions">
      {available.react ? (
        <button
          type="button"
          className="icon-button message-actions__button"
          aria-expanded={actions.panel?.kind === "react"}
          onClick={(e) => actions.open("react", e.currentTarget)}
          data-testid="action-react"
        >
          <SmileIcon label="React" />
        </button>
      ) : null}
      {available.reply ? (
        <button
          type="button"
          className="icon-button message-actions__button"
          onClick={() => session.ui.compose({ kind: "reply", message: m })}
          data-testid="action-reply"
        >
          <ReplyIcon label="Reply" />
        </button>
      ) : null}
      <button
        type="button"
        className="icon-button message-actions__button"
        aria-haspopup="menu"
        aria-expanded={actions.panel?.kind === "menu"}
        onClick={(e) => actions.open("menu", e.currentTarget)}
        data-testid="action-more"
      >
        <MoreIcon label="More actions" />
      </button>
    </div>
  );
}
