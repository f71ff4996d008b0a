//! The composer: grows to ~8 lines; Enter sends, Shift+Enter adds a line, Escape clears.
//! Drafts live in the session per conversation (this component is keyed by conversation), and
//! in the engine (`set_draft`, kept across restarts): saved half a second after the last change
//! and when the conversation is left; a conversation opens with the engine's draft.
//! Tells the others I'm typing at most every few seconds, and that I stopped on send/blur/clear.
//! Files come in through the attach button (the system's file chooser) or by pasting an image;
//! either opens the preview sheet (`AttachmentSheet`), which sends them.
//!
//! It also answers a message (a bar above it quotes the message; the text goes as a reply) and
//! changes one of mine (Up in an empty composer takes my last text, or Edit on any of mine: the
//! composer holds its text under an "Editing" bar, Enter saves, Escape gives the draft back).
//! Escape leaves either before it clears a draft.

import { useEffect, useLayoutEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeActionError } from "../../lib/errors";
import { lastEditable } from "../../lib/messageActions";
import { useStore } from "../../lib/store";
import type { CommandError, Conversation } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { PaperclipIcon, SendIcon, TickIcon } from "../../components/icons";
import { readPasted } from "../../lib/files";
import { isNoteToSelf } from "../../lib/people";
import { useConversationTitle, useDisplayName } from "../../state/people";
import { ComposeBar } from "./ComposeBar";

export const TYPING_REPEAT_MS = 3000;
/** How long after the last keystroke the draft is saved in the engine. */
export const DRAFT_SAVE_MS = 500;

export function Composer({ conversation, warmup = false }: { conversation: Conversation; warmup?: boolean }) {
  const session = useSession();
  const id = conversation.id;
  const title = useConversationTitle(conversation);
  const peerName = useDisplayName(conversation.peer);
  // Nobody to tell that I'm typing in Note to self.
  const quiet = isNoteToSelf(conversation, session.ownUserId);
  const group = useStore(session.groups, (s) => (conversation.kind === "group" ? s[conversation.peer] : undefined));
  const [text, setText] = useState(() => session.ui.drafts.get(id) ?? conversation.draft);
  const [error, setError] = useState<CommandError | null>(null);
  /** A refused reply or edit, in words for what was asked. */
  const [refusal, setRefusal] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const target = useStore(session.ui, (s) => (warmup ? undefined : s.compose[id]));
  const focusRequest = useStore(session.ui, (s) => s.composerFocusRequest);
  const editing = target?.kind === "edit" ? target.message : null;
  /** The draft put aside while a message is edited, given back after. */
  const setAside = useRef<string | null>(null);
  const typingSentAt = useRef(0);
  const invited = group !== undefined && !group.joined && group.invited.includes(session.ownUserId);
  const [declined, setDeclined] = useState(false);
  const [answering, setAnswering] = useState(false);
  const left = group !== undefined && !group.joined;
  // Sending to a contact whose identity changed since they were verified waits for the person.
  const held = useStore(session.conversations, (s) =>
    conversation.kind === "direct" ? s.held[conversation.peer] === true : false,
  );
  const blocked = left || held;

  const update = (value: string) => {
    setText(value);
    // While editing, the field holds the message's text, not the draft.
    if (setAside.current !== null) return;
    session.ui.drafts.set(id, value);
    scheduleDraftSave();
  };

  // The draft in the engine: half a second after the last change, and when leaving.
  const draftTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const saveDraft = () => {
    if (draftTimer.current !== null) clearTimeout(draftTimer.current);
    draftTimer.current = null;
    const draft = session.ui.drafts.get(id);
    if (draft !== undefined) session.saveDraft(id, draft).catch(() => undefined);
  };
  const saveDraftRef = useRef(saveDraft);
  saveDraftRef.current = saveDraft;
  function scheduleDraftSave() {
    if (warmup) return;
    if (draftTimer.current !== null) clearTimeout(draftTimer.current);
    draftTimer.current = setTimeout(() => saveDraftRef.current(), DRAFT_SAVE_MS);
  }
  useEffect(
    () => () => {
      if (draftTimer.current !== null) saveDraftRef.current();
    },
    [],
  );

  // Editing a message: its text takes the field's place and the draft waits, given back after.
  // Keyed by the message edited: a later version of it (a reaction came) does not start over.
  const editingId = editing?.id ?? null;
  const editingRef = useRef(editing);
  editingRef.current = editing;
  useEffect(() => {
    const message = editingRef.current;
    if (message === null) {
      if (setAside.current === null) return;
      const draft = setAside.current;
      setAside.current = null;
      setText(draft);
      return;
    }
    if (setAside.current === null) setAside.current = session.ui.drafts.get(id) ?? "";
    setText(message.body);
    setError(null);
    setRefusal(null);
  }, [editingId, id, session]);
  // An edit is of this conversation's composer while it is open: leaving ends it.
  useEffect(
    () => () => {
      if (setAside.current !== null) session.ui.endCompose(id);
    },
    [session, id],
  );

  // Asked to take focus (Reply or Edit chosen on a message, Escape in the list).
  const seenFocusRequest = useRef(focusRequest);
  useEffect(() => {
    if (warmup || focusRequest === seenFocusRequest.current) return;
    seenFocusRequest.current = focusRequest;
    const el = area.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, [focusRequest, warmup]);

  const stopTyping = () => {
    if (typingSentAt.current === 0) return;
    typingSentAt.current = 0;
    ipc.setTyping(id, false).catch(() => undefined);
  };

  // Tell the others I stopped when switching away with a typing state still on.
  const stopRef = useRef(stopTyping);
  stopRef.current = stopTyping;
  useEffect(() => () => stopRef.current(), []);

  // Grow with the content; CSS caps the height at about eight lines and scrolls past that.
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    // border-box: add the borders, which scrollHeight leaves out.
    el.style.height = `${el.scrollHeight + el.offsetHeight - el.clientHeight}px`;
  }, [text]);

  const onChange = (value: string) => {
    update(value);
    setError(null);
    setRefusal(null);
    // Changing a message is not writing a new one: the others are not told I'm typing.
    if (editing || quiet) return;
    if (!value) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSentAt.current >= TYPING_REPEAT_MS) {
      typingSentAt.current = now;
      ipc.setTyping(id, true).catch(() => undefined);
    }
  };

  const send = async () => {
    if (editing) {
      await saveEdit(editing);
      return;
    }
    const body = text.trim();
    if (!body || blocked) return;
    const replyTo = target?.kind === "reply" ? target.message : null;
    update("");
    stopTyping();
    if (replyTo) session.ui.endCompose(id);
    try {
      if (replyTo) await session.reply(replyTo.id, body);
      else await session.send(id, body);
    } catch (e) {
      // Put the text (and what it answered) back so nothing typed is lost.
      update(text);
      if (replyTo) {
        session.ui.compose({ kind: "reply", message: replyTo });
        setRefusal(describeActionError(asCommandError(e), "reply"));
      }
      setError(asCommandError(e));
    }
  };

  const saveEdit = async (message: NonNullable<typeof editing>) => {
    const body = message.kind === "text" ? text.trim() : text;
    if (message.kind === "text" && !body) {
      setRefusal("An edited message needs some text. To remove it, delete it for everyone instead.");
      return;
    }
    if (blocked) return;
    try {
      if (body !== message.body) await session.edit(message.id, body);
      session.ui.endCompose(id);
    } catch (e) {
      const err = asCommandError(e);
      setError(err);
      setRefusal(describeActionError(err, "edit"));
    }
  };

  /** Leave a reply or an edit (an edit gives the draft back). */
  const leaveCompose = () => {
    session.ui.endCompose(id);
    setError(null);
    setRefusal(null);
  };

  /** The system's file chooser; the chosen file goes to the preview sheet. */
  const attach = async () => {
    setError(null);
    try {
      const path = await ipc.choosePath("attach_file", "");
      if (path) session.transfers.offer(id, [{ kind: "path", path }]);
    } catch (e) {
      setError(asCommandError(e));
    }
  };

  /** A pasted image (a screenshot, a copied picture) goes to the preview sheet; text pastes as usual. */
  const onPaste = (e: React.ClipboardEvent<HTMLTextAreaElement>) => {
    if (blocked) return;
    const images = Array.from(e.clipboardData.files).filter((f) => f.type.startsWith("image/"));
    if (images.length === 0) {
      // WebKitGTK hands the page a paste with nothing in it when the clipboard holds a picture:
      // the picture is read from the system's clipboard instead.
      if (e.clipboardData.types.length === 0) {
        e.preventDefault();
        ipc
          .clipboardImage()
          .then((image) => {
            if (!image) return;
            session.transfers.offer(id, [
              {
                kind: "pasted",
                name: "Pasted image.png",
                size: image.size,
                base64: image.base64,
                dataUrl: `data:image/png;base64,${image.base64}`,
              },
            ]);
          })
          .catch((err: unknown) => setError(asCommandError(err)));
      }
      return;
    }
    e.preventDefault();
    void (async () => {
      try {
        const read = await Promise.all(
          images.map(async (f) => ({ kind: "pasted" as const, name: f.name || "Pasted image", size: f.size, ...(await readPasted(f)) })),
        );
        session.transfers.offer(id, read);
      } catch {
        setError({ code: "invalid_input", message: "The pasted image could not be read." });
      }
    })();
  };

  /** Join or decline the group this user is invited to. */
  const answer = async (join: boolean) => {
    if (!group) return;
    setAnswering(true);
    setError(null);
    try {
      const after = join ? await ipc.acceptInvitation(group.group_id) : await ipc.declineInvitation(group.group_id);
      session.groups.put(after);
      if (!join) setDeclined(true);
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setAnswering(false);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === "Escape" && target) {
      e.preventDefault();
      leaveCompose();
    } else if (e.key === "Escape" && text) {
      e.preventDefault();
      update("");
      stopTyping();
    } else if (e.key === "ArrowUp" && !text && !target && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      // Up in an empty composer: change my last message.
      const mine = lastEditable(session.messages.get()[id]?.messages ?? []);
      if (mine) {
        e.preventDefault();
        session.ui.compose({ kind: "edit", message: mine });
      }
    }
  };

  return (
    <form
      className={blocked ? "composer composer--disabled" : "composer"}
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {invited ? (
        <div className="composer__invitation" data-testid="invitation">
          <p className="composer__note" id={`composer-note-${id}`}>
            You're invited to this group. Join to read and send the messages sent from now on, or decline.
          </p>
          <div className="composer__actions">
            <button
              type="button"
              className="button button--primary"
              disabled={answering}
              onClick={() => void answer(true)}
              data-testid="invitation-join"
            >
              Join
            </button>
            <button
              type="button"
              className="button"
              disabled={answering}
              onClick={() => void answer(false)}
              data-testid="invitation-decline"
            >
              Decline
            </button>
          </div>
        </div>
      ) : left ? (
        <p className="composer__note" id={`composer-note-${id}`}>
          {declined
            ? "You declined the invitation to this group."
            : "You're not a member of this group any more, so you can't send messages here."}
        </p>
      ) : held ? (
        <p className="composer__note" id={`composer-note-${id}`} data-testid="composer-held">
          Sending to {peerName} is paused until you compare safety numbers again or accept their new key
          (above).
        </p>
      ) : null}
      {error ? (
        <ErrorNote
          error={error}
          text={refusal ?? undefined}
          context={{ userId: conversation.kind === "direct" ? conversation.peer : undefined }}
        />
      ) : refusal ? (
        <p className="composer__refusal" role="alert" data-testid="composer-refusal">
          {refusal}
        </p>
      ) : null}
      {target && !blocked ? <ComposeBar target={target} onLeave={leaveCompose} /> : null}
      <div className="composer__row">
        <button
          type="button"
          className="icon-button composer__attach"
          onClick={() => void attach()}
          disabled={blocked || invited || editing !== null}
          data-testid="composer-attach"
        >
          <PaperclipIcon label="Attach a file" />
        </button>
        <textarea
          ref={area}
          className="composer__input"
          rows={1}
          value={text}
          placeholder={
            left
              ? "You can't send messages here"
              : held
                ? "Sending is paused"
                : editing
                  ? "Edit your message"
                  : `Message ${title}`
          }
          disabled={blocked}
          aria-describedby={blocked ? `composer-note-${id}` : undefined}
          aria-label={editing ? "Edit your message" : `Message ${title}`}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={onKeyDown}
          onPaste={onPaste}
          onBlur={stopTyping}
          autoFocus={!warmup}
          data-testid="composer"
        />
        {editing ? (
          <button
            type="submit"
            className="icon-button composer__send"
            disabled={blocked || (editing.kind === "text" && !text.trim())}
            data-testid="edit-save"
          >
            <TickIcon label="Save changes" />
          </button>
        ) : (
          <button type="submit" className="icon-button composer__send" disabled={blocked || !text.trim()}>
            <SendIcon label="Send" />
          </button>
        )}
      </div>
    </form>
  );
}
