//! What a group's members did not sign, in the conversation: the engine writes the words (they
//! name people and change numbers); the UI marks the lines that ask for attention.

import type { GroupWarning } from "./types";

const GROUP_WARNINGS: Record<GroupWarning, true> = {
  change_refused: true,
  unsigned_change: true,
  members_disagree: true,
  changes_withheld: true,
  forked: true,
  not_a_member: true,
  list_adopted: true,
};

export function isGroupWarning(reason: string | null): reason is GroupWarning {
  return reason !== null && Object.hasOwn(GROUP_WARNINGS, reason);
}

/**
 * Whether a system line is a warning: someone (the server) tried to change who is in the group,
 * or hides what members did. Signing an older group's member list is news, not a warning.
 */
export function isWarningLine(reason: string | null): boolean {
  return isGroupWarning(reason) && reason !== "list_adopted";
}
