//! "bob is typing…" under the list; a fixed-height line so the list doesn't jump.

import { useStore } from "../../lib/store";
import type { ConversationId } from "../../lib/types";
import { useSession } from "../../state/context";
import { useProfiles } from "../../state/people";
import { displayName } from "../../state/profileStore";

const NOBODY: Record<string, number> = {};

export function typingText(users: readonly string[]): string {
  const [a, b, c] = users;
  if (a === undefined) return "";
  if (b === undefined) return `${a} is typing…`;
  if (c === undefined) return `${a} and ${b} are typing…`;
  if (users.length === 3) return `${a}, ${b} and ${c} are typing…`;
  return "Several people are typing…";
}

export function TypingIndicator({ conversationId }: { conversationId: ConversationId }) {
  const session = useSession();
  const typing = useStore(session.conversations, (s) => s.typing[conversationId] ?? NOBODY);
  const profiles = useProfiles();
  const text = typingText(
    Object.keys(typing)
      .sort()
      .map((user) => displayName(profiles, user)),
  );
  return (
    <div className="typing" aria-hidden={text ? undefined : true}>
      {text ? (
        <span data-testid="typing-indicator">
          <span className="typing__dots" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          {text}
        </span>
      ) : null}
    </div>
  );
}
