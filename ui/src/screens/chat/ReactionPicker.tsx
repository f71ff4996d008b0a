//! Choosing a reaction: a row of the common ones and a "more" button that opens the full
//! picker in its place. An emoji I already gave is shown pressed; choosing it again takes it back.

import { useState } from "react";
import { EmojiPicker } from "../../components/EmojiPicker";
import { Popover, type PopoverAnchor } from "../../components/Popover";
import { PlusIcon } from "../../components/icons";
import { QUICK_REACTIONS } from "../../lib/emoji";
import type { Message } from "../../lib/types";
import { useSession } from "../../state/context";

interface ReactionPickerProps {
  message: Message;
  anchor: PopoverAnchor;
  align: "start" | "end";
  /** Gives (`remove` false) or takes back the reaction `emoji`. */
  onReact: (emoji: string, remove: boolean) => void;
  onClose: () => void;
  returnFocus?: HTMLElement | null;
}

export function ReactionPicker({ message: m, anchor, align, onReact, onClose, returnFocus }: ReactionPickerProps) {
  const session = useSession();
  const [full, setFull] = useState(false);
  const mine = m.reactions.filter((r) => r.users.includes(session.ownUserId)).map((r) => r.emoji);

  const pick = (emoji: string) => {
    onClose();
    onReact(emoji, mine.includes(emoji));
  };

  return (
    <Popover
      anchor={anchor}
      onClose={onClose}
      align={align}
      label="React to this message"
      className={full ? "reaction-picker reaction-picker--full" : "reaction-picker"}
      testId="reaction-picker"
      returnFocus={returnFocus}
    >
      {full ? (
        <EmojiPicker onPick={pick} chosen={mine} />
      ) : (
        <div className="reaction-picker__quick" role="group" aria-label="Common reactions">
          {QUICK_REACTIONS.map((emoji, i) => (
            <button
              key={emoji}
              type="button"
              className="reaction-picker__option"
              aria-pressed={mine.includes(emoji)}
              aria-label={mine.includes(emoji) ? `Take back ${emoji}` : `React with ${emoji}`}
              data-autofocus={i === 0 ? true : undefined}
              data-testid="quick-reaction"
              data-emoji={emoji}
              onClick={() => pick(emoji)}
            >
              {emoji}
            </button>
          ))}
          <button
            type="button"
            className="reaction-picker__more"
            onClick={() => setFull(true)}
            data-testid="reaction-more"
          >
            <PlusIcon label="More emoji" />
          </button>
        </div>
      )}
    </Popover>
  );
}
