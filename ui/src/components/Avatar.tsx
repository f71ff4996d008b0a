//! Initials on a colour derived from the id; groups get a group glyph instead.

import { avatarColor, initials } from "../lib/avatar";
import { GroupIcon } from "./icons";

interface AvatarProps {
  id: string;
  name: string;
  group?: boolean;
  size?: "small" | "medium" | "large";
}

export function Avatar({ id, name, group, size = "medium" }: AvatarProps) {
  return (
    <span className={`avatar avatar--${size}`} data-color={avatarColor(id)} aria-hidden="true">
      {group ? <GroupIcon /> : initials(name)}
    </span>
  );
}
