//! The open conversation: header, held and key-change notices, messages, who's typing, composer,
//! and the preview sheet of files about to be sent. Files dragged over the window (the system's
//! drag and drop, `sotto://file-drop`) show where they will go and, dropped, open the sheet.

import { useEffect } from "react";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import { directUserOf, groupIdOf, UNTOUCHED } from "../../lib/ids";
import type { Conversation, ConversationId } from "../../lib/types";
import { useSession } from "../../state/context";
import { useConversationTitle } from "../../state/people";
import { ChatHeader } from "./ChatHeader";
import { HeldNotice } from "./HeldNotice";
import { KeyChangeNotice } from "./KeyChangeNotice";
import { MessageList } from "./MessageList";
import { TypingIndicator } from "./TypingIndicator";
import { Composer } from "./Composer";
import { AttachmentSheet } from "./AttachmentSheet";

/** A stand-in until the list has the conversation (e.g. opened from a notification at start). */
function placeholder(id: ConversationId): Conversation {
  const group = groupIdOf(id);
  const peer = group ?? directUserOf(id) ?? id;
  return { id, kind: group ? "group" : "direct", peer, title: peer, last_ts: 0, last_preview: "", unread: 0, ...UNTOUCHED };
}

interface ChatViewProps {
  conversationId: ConversationId;
  /** Drawn hidden to warm the first open up (`ChatWarmup`): no list component, no focus. */
  warmup?: boolean;
}

export function ChatView({ conversationId, warmup = false }: ChatViewProps) {
  const session = useSession();
  const found = useStore(session.conversations, (s) => s.list.find((c) => c.id === conversationId));
  const generation = useStore(session.messages, (s) => s[conversationId]?.generation ?? 0);
  const conversation = found ?? placeholder(conversationId);
  const title = useConversationTitle(conversation);
  const dragging = useStore(session.transfers, (s) => s.dragging);

  useEffect(() => {
    if (warmup) return;
    return ipc.onFileDrop((drop) => {
      if (drop.type === "enter") session.transfers.setDragging(true);
      else if (drop.type === "leave") session.transfers.setDragging(false);
      else session.transfers.offer(conversationId, drop.paths.map((path) => ({ kind: "path" as const, path })));
    });
  }, [session, conversationId, warmup]);

  return (
    <section
      className="chat"
      data-testid={warmup ? undefined : "chat-view"}
      data-conversation-id={conversationId}
      aria-label={title}
    >
      <ChatHeader conversation={conversation} />
      {conversation.kind === "direct" && !warmup ? <HeldNotice userId={conversation.peer} /> : null}
      {conversation.kind === "direct" ? <KeyChangeNotice userId={conversation.peer} /> : null}
      <MessageList key={generation} conversation={conversation} warmup={warmup} />
      <TypingIndicator conversationId={conversationId} />
      <Composer key={conversationId} conversation={conversation} warmup={warmup} />
      {warmup ? null : <AttachmentSheet conversation={conversation} />}
      {dragging && !warmup ? (
        <div className="chat__drop" data-testid="drop-target" aria-hidden="true">
          <p className="chat__drop-text">Drop to send to {title}</p>
        </div>
      ) : null}
    </section>
  );
}
