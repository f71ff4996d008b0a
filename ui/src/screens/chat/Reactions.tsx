//! The reactions under a bubble: one chip per emoji with how many gave it; mine is marked, and
//! a click on a chip gives that reaction or takes mine back. Its title says who reacted.

import { reactorNames } from "../../lib/messageActions";
import type { Message } from "../../lib/types";
import { useSession } from "../../state/context";
import { useProfiles } from "../../state/people";

interface ReactionsProps {
  message: Message;
  /** Gives (`remove` false) or takes back a reaction; failures are shown by the caller. */
  onToggle: (emoji: string, remove: boolean) => void;
}

export function Reactions({ message: m, onToggle }: ReactionsProps) {
  const session = useSession();
  const own = session.ownUserId;
  const profiles = useProfiles();
  if (m.reactions.length === 0) return null;
  return (
    <ul className="reactions" aria-label="Reactions" data-testid="reactions">
      {m.reactions.map((r) => {
        const mine = r.users.includes(own);
        const who = reactorNames(r, own, profiles);
        return (
          <li key={r.emoji}>
            <button
              type="button"
              className={mine ? "reaction-chip reaction-chip--mine" : "reaction-chip"}
              aria-pressed={mine}
              aria-label={`${r.emoji} ${r.users.length}: ${who}. ${mine ? "Take your reaction back" : "React with it too"}`}
              title={`${who} reacted with ${r.emoji}`}
              data-testid="reaction-chip"
              data-emoji={r.emoji}
              data-mine={mine ? "true" : "false"}
              onClick={() => onToggle(r.emoji, mine)}
            >
              <span className="reaction-chip__emoji" aria-hidden="true">
                {r.emoji}
              </span>
              <span className="reaction-chip__count" aria-hidden="true">
                {r.users.length}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
