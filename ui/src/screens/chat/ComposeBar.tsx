//! Above the composer while it answers a message ("Replying to bob" and the start of the
//! message) or changes one of mine ("Editing" and its text as it was), with a button to leave
//! (Escape in the composer does the same).

import { CloseIcon, EditIcon, ReplyIcon } from "../../components/icons";
import { useStore } from "../../lib/store";
import { messageLine, personName } from "../../lib/messageActions";
import type { ComposeTarget } from "../../state/uiStore";
import { useSession } from "../../state/context";
import { useProfiles } from "../../state/people";

export function ComposeBar({ target, onLeave }: { target: ComposeTarget; onLeave: () => void }) {
  const session = useSession();
  const profiles = useProfiles();
  const m = target.message;
  // The message as it is now, if its window is loaded (deleted meanwhile, say).
  const live = useStore(session.messages, (s) => s[m.conversation_id]?.messages.find((x) => x.id === m.id)) ?? m;
  const reply = target.kind === "reply";
  const title = reply ? `Replying to ${personName(live.sender_user, session.ownUserId, profiles)}` : "Editing";
  const leave = reply ? "Cancel reply" : "Cancel editing";
  return (
    <div className="compose-bar" data-testid={reply ? "reply-bar" : "edit-bar"}>
      {reply ? <ReplyIcon className="compose-bar__icon" /> : <EditIcon className="compose-bar__icon" />}
      <div className="compose-bar__text">
        <p className="compose-bar__title">{title}</p>
        <p className={live.deleted ? "compose-bar__snippet compose-bar__snippet--muted" : "compose-bar__snippet"}>
          {messageLine(live)}
        </p>
      </div>
      <button type="button" className="icon-button" onClick={onLeave} data-testid={reply ? "reply-cancel" : "edit-cancel"}>
        <CloseIcon label={leave} />
      </button>
    </div>
  );
}
