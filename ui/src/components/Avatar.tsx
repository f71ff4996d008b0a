//! A person's picture when they have one; otherwise initials on a colour derived from the id.
//! Groups get a group glyph, and a conversation may give its own glyph (Note to self).

import type { ReactNode } from "react";
import { avatarColor, initials } from "../lib/avatar";
import { GroupIcon } from "./icons";

interface AvatarProps {
  id: string;
  name: string;
  group?: boolean;
  size?: "small" | "medium" | "large";
  /** The person's picture (a `data:` URL); initials are shown without one. */
  image?: string | null;
  /** A glyph shown instead of initials. */
  icon?: ReactNode;
}

export function Avatar({ id, name, group, size = "medium", image, icon }: AvatarProps) {
  if (image && !group) {
    return (
      <span className={`avatar avatar--${size} avatar--picture`} aria-hidden="true" data-testid="avatar-picture">
        <img className="avatar__image" src={image} alt="" draggable={false} />
      </span>
    );
  }
  return (
    <span className={`avatar avatar--${size}`} data-color={avatarColor(id)} aria-hidden="true">
      {group ? <GroupIcon /> : (icon ?? initials(name))}
    </span>
  );
}
