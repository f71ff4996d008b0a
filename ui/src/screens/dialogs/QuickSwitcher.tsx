//! Ctrl/Cmd+K: type to filter conversations by title, Enter opens; a typed user id can also
//! start a new chat.

import { useMemo, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { directConversationId, isValidUserId } from "../../lib/ids";
import { useStore } from "../../lib/store";
import type { CommandError, Conversation } from "../../lib/types";
import { useSession } from "../../state/context";
import { ConversationAvatar } from "../../components/PersonAvatar";
import { conversationTitle } from "../../lib/people";
import { useProfiles } from "../../state/people";
import { ErrorNote } from "../../components/ErrorNote";
import { Modal } from "../../components/Modal";
import { ChatIcon } from "../../components/icons";

type Option = { kind: "open"; conversation: Conversation } | { kind: "start"; userId: string };

const MAX_RESULTS = 20;

export function matchConversations(list: readonly Conversation[], query: string): Conversation[] {
  const q = query.trim().toLowerCase();
  if (!q) return list.slice(0, MAX_RESULTS);
  const starts = list.filter((c) => c.title.toLowerCase().startsWith(q) || c.peer.toLowerCase().startsWith(q));
  const contains = list.filter(
    (c) => !starts.includes(c) && (c.title.toLowerCase().includes(q) || c.peer.toLowerCase().includes(q)),
  );
  return [...starts, ...contains].slice(0, MAX_RESULTS);
}

export function QuickSwitcher({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const conversations = useStore(session.conversations, (s) => s.list);
  const profiles = useProfiles();
  const own = session.ownUserId;
  // Found by the name people chose too, and shown with it.
  const list = useMemo(
    () => conversations.map((c) => ({ ...c, title: conversationTitle(c, own, profiles) })),
    [conversations, own, profiles],
  );
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const [error, setError] = useState<CommandError | null>(null);
  const [startedWith, setStartedWith] = useState("");

  const options = useMemo<Option[]>(() => {
    const found: Option[] = matchConversations(list, query).map((conversation) => ({ kind: "open", conversation }));
    const typed = query.trim();
    if (isValidUserId(typed) && !list.some((c) => c.id === directConversationId(typed))) {
      found.push({ kind: "start", userId: typed });
    }
    return found;
  }, [list, query]);

  const choose = async (option: Option) => {
    if (option.kind === "open") {
      session.openConversation(option.conversation.id);
      onClose();
      return;
    }
    if (option.userId === session.ownUserId) {
      // One's own user id: Note to self (made by its first message).
      session.openNoteToSelf();
      onClose();
      return;
    }
    setError(null);
    setStartedWith(option.userId);
    try {
      const conversation = await ipc.startDirect(option.userId);
      session.adoptConversation(conversation);
      session.openConversation(conversation.id);
      onClose();
    } catch (e) {
      setError(asCommandError(e));
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setActive((i) => Math.min(options.length - 1, i + 1));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setActive((i) => Math.max(0, i - 1));
    } else if (e.key === "Enter") {
      e.preventDefault();
      const option = options[active];
      if (option) void choose(option);
    }
  };

  const optionId = (i: number) => `switcher-option-${i}`;

  return (
    <Modal title="Go to conversation" onClose={onClose} testId="quick-switcher" className="modal--switcher" hideTitle>
      <input
        type="text"
        className="switcher__input"
        role="combobox"
        aria-expanded="true"
        aria-controls="switcher-options"
        aria-activedescendant={options.length > 0 ? optionId(active) : undefined}
        aria-label="Conversation or user id"
        placeholder="Go to a conversation, or type a user id"
        autoCapitalize="none"
        spellCheck={false}
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
          setError(null);
        }}
        onKeyDown={onKeyDown}
        autoFocus
        data-testid="switcher-input"
      />
      <ul className="switcher__options" role="listbox" id="switcher-options" aria-label="Matches">
        {options.map((option, i) => (
          <li
            key={option.kind === "open" ? option.conversation.id : `start:${option.userId}`}
            id={optionId(i)}
            role="option"
            aria-selected={i === active}
            className="switcher__option"
            onMouseMove={() => setActive(i)}
            onClick={() => void choose(option)}
            data-testid="switcher-option"
          >
            {option.kind === "open" ? (
              <>
                <ConversationAvatar conversation={option.conversation} size="small" />
                <span>{option.conversation.title}</span>
              </>
            ) : (
              <>
                <span className="switcher__start-icon">
                  <ChatIcon />
                </span>
                <span>
                  Start chat with <strong>{option.userId}</strong>
                </span>
              </>
            )}
          </li>
        ))}
        {options.length === 0 ? <li className="switcher__empty muted">No conversation matches.</li> : null}
      </ul>
      {error ? <ErrorNote error={error} context={{ userId: startedWith }} testId="dialog-error" /> : null}
    </Modal>
  );
}
