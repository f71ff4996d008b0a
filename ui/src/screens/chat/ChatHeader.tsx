//! Conversation header: back (narrow windows), avatar, title, the encryption mark (and
//! "Verified" for a contact whose safety number the person compared), member count for groups,
//! the disappearing-messages timer (a menu of lengths, and a badge saying the length while it is
//! on), and the details toggle.

import { useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import type { Conversation } from "../../lib/types";
import { useSession } from "../../state/context";
import { ConversationAvatar } from "../../components/PersonAvatar";
import { isNoteToSelf } from "../../lib/people";
import { useConversationTitle } from "../../state/people";
import { BackIcon, InfoIcon, LockIcon, TickIcon, TimerIcon, VerifiedIcon } from "../../components/icons";
import { Menu } from "../../components/Menu";
import { asCommandError, describeError } from "../../lib/errors";
import { TIMER_CHOICES, timerWords } from "../../lib/disappearing";

export function ChatHeader({ conversation: c }: { conversation: Conversation }) {
  const session = useSession();
  const group = useStore(session.groups, (s) => (c.kind === "group" ? s[c.peer] : undefined));
  const detailsOpen = useStore(session.ui, (s) => s.detailsOpen);
  const members = group?.members.length;
  const title = useConversationTitle(c);
  const self = isNoteToSelf(c, session.ownUserId);
  // Note to self has no safety number to compare (it is this user's own devices).
  const direct = c.kind === "direct" && !self;
  const verified = useStore(session.conversations, (s) => (direct ? s.verified[c.peer] === true : false));
  const keyChanges = useStore(session.conversations, (s) => s.keyChanges[c.peer] ?? 0);
  const [timerMenu, setTimerMenu] = useState(false);
  const [timerError, setTimerError] = useState<string | null>(null);
  const timerButton = useRef<HTMLButtonElement>(null);
  const timer = c.disappear_secs;

  const setTimer = (seconds: number | null) => {
    setTimerError(null);
    session.setDisappearing(c.id, seconds).catch((e: unknown) => setTimerError(describeError(asCommandError(e))));
  };

  // Whether the contact is verified with the keys this device holds (local, no network).
  useEffect(() => {
    if (!direct) return;
    let live = true;
    ipc
      .contactVerified(c.peer)
      .then((v) => live && session.conversations.setVerified(c.peer, v))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [direct, c.peer, keyChanges, session]);

  return (
    <header className="chat-header">
      <button type="button" className="icon-button chat-header__back" onClick={() => session.closeConversation()}>
        <BackIcon label="Back to conversations" />
      </button>
      <ConversationAvatar conversation={c} size="small" />
      <div className="chat-header__text">
        <h2 className="chat-header__title" data-testid="chat-title">
          {title}
        </h2>
        <p className="chat-header__sub">
          <LockIcon className="chat-header__lock" />
          <span>End-to-end encrypted</span>
          {verified ? (
            <span className="chat-header__verified" data-testid="verified-mark">
              {" · "}
              <VerifiedIcon className="chat-header__verified-icon" />
              Verified
            </span>
          ) : null}
          {c.kind === "group" && members !== undefined ? (
            <span> · {members === 1 ? "1 member" : `${members} members`}</span>
          ) : null}
          {timer !== null ? (
            <span className="chat-header__timer" data-testid="timer-badge" title="Disappearing messages">
              {" · "}
              <TimerIcon className="chat-header__timer-icon" />
              <span className="visually-hidden">Messages disappear after </span>
              {timerWords(timer)}
            </span>
          ) : null}
        </p>
        {timerError ? (
          <p className="chat-header__error error-text" role="alert" data-testid="timer-error">
            {timerError}
          </p>
        ) : null}
      </div>
      <button
        ref={timerButton}
        type="button"
        className="icon-button"
        aria-haspopup="menu"
        aria-expanded={timerMenu}
        onClick={() => setTimerMenu(true)}
        data-testid="timer-button"
      >
        <TimerIcon label={timer === null ? "Disappearing messages: off" : `Disappearing messages: ${timerWords(timer)}`} />
      </button>
      {timerMenu && timerButton.current ? (
        <Menu
          anchor={timerButton.current}
          label="Disappearing messages"
          align="end"
          testId="timer-menu"
          returnFocus={timerButton.current}
          onClose={() => setTimerMenu(false)}
          items={TIMER_CHOICES.map((choice) => ({
            id: `timer-${choice.id}`,
            label: choice.seconds === null ? "Off" : timerWords(choice.seconds),
            checked: choice.seconds === timer,
            icon: choice.seconds === timer ? <TickIcon /> : <span className="menu__spacer" />,
            onSelect: () => {
              if (choice.seconds !== timer) setTimer(choice.seconds);
            },
          }))}
        />
      ) : null}
      {self ? null : (
      <button
        type="button"
        className="icon-button"
        aria-expanded={detailsOpen}
        aria-controls="details-panel"
        onClick={() => session.ui.setDetailsOpen(!detailsOpen)}
        data-testid="details-button"
      >
        <InfoIcon label={c.kind === "group" ? "Group details" : "Contact details and safety number"} />
      </button>
      )}
    </header>
  );
}
