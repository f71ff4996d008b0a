//! Avatars that know who they show: a person's picture or initials of their name, and a
//! conversation's (a group glyph, Note to self's, or the person's).

import type { Conversation } from "../lib/types";
import { isNoteToSelf } from "../lib/people";
import { useDisplayName, usePicture } from "../state/people";
import { useSession } from "../state/context";
import { Avatar } from "./Avatar";
import { NoteIcon } from "./icons";

type Size = "small" | "medium" | "large";

export function PersonAvatar({ userId, size }: { userId: string; size?: Size }) {
  const name = useDisplayName(userId);
  const image = usePicture(userId);
  return <Avatar id={userId} name={name} image={image} size={size} />;
}

export function ConversationAvatar({ conversation: c, size }: { conversation: Conversation; size?: Size }) {
  const session = useSession();
  if (c.kind === "group") return <Avatar id={c.peer} name={c.title} group size={size} />;
  if (isNoteToSelf(c, session.ownUserId)) return <Avatar id={c.peer} name={c.title} icon={<NoteIcon />} size={size} />;
  return <PersonAvatar userId={c.peer} size={size} />;
}
