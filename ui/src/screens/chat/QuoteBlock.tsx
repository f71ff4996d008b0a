//! The message a reply answers, quoted at the top of the reply's bubble: who wrote it and the
//! start of its text. A click shows the original (scrolled to and highlighted briefly). While the
//! original is in the open window its current state is shown, so an edit or a deletion after the
//! reply arrived shows at once.

import { useCallback, useState } from "react";
import { useStore } from "../../lib/store";
import { messageLine, personName, quoteLine } from "../../lib/messageActions";
import type { Message, Quote } from "../../lib/types";
import type { MessageState } from "../../state/messageStore";
import { useSession } from "../../state/context";
import { useProfiles } from "../../state/people";

const NOT_HERE = "The original message is not on this device.";

export function QuoteBlock({ reply, quote }: { reply: Message; quote: Quote }) {
  const session = useSession();
  const profiles = useProfiles();
  const [note, setNote] = useState<string | null>(null);
  const select = useCallback(
    (s: MessageState) =>
      quote.id === null ? undefined : s[reply.conversation_id]?.messages.find((m) => m.id === quote.id),
    [quote.id, reply.conversation_id],
  );
  const live = useStore(session.messages, select);
  const deleted = live ? live.deleted : quote.deleted;
  const text = live ? messageLine(live) : quoteLine(quote);
  const who = personName(quote.sender_user, session.ownUserId, profiles);

  const show = async () => {
    if (quote.id === null) return;
    setNote(null);
    try {
      if (!(await session.messages.reveal(reply.conversation_id, quote.id))) setNote(NOT_HERE);
    } catch {
      setNote(NOT_HERE);
    }
  };

  const content = (
    <>
      <span className="quote__sender">{who}</span>
      <span className={deleted || quote.id === null ? "quote__text quote__text--muted" : "quote__text"}>{text}</span>
    </>
  );

  return (
    <>
      {quote.id === null ? (
        <div className="quote" data-testid="quote" data-quote-state="missing">
          {content}
        </div>
      ) : (
        <button
          type="button"
          className="quote"
          onClick={() => void show()}
          aria-label={`Replying to ${who}: ${text}. Show the original message`}
          data-testid="quote"
          data-quote-state={deleted ? "deleted" : "here"}
        >
          {content}
        </button>
      )}
      {note ? (
        <p className="quote__note" role="status" data-testid="quote-note">
          {note}
        </p>
      ) : null}
    </>
  );
}
