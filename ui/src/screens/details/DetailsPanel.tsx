//! The details column (an overlay on narrow windows): contact devices and safety number for a
//! direct chat, members and management for a group.

import { useEffect, useRef } from "react";
import { groupIdOf, directUserOf } from "../../lib/ids";
import type { ConversationId } from "../../lib/types";
import { useSession } from "../../state/context";
import { CloseIcon } from "../../components/icons";
import { ContactDetails } from "./ContactDetails";
import { GroupDetails } from "./GroupDetails";

export function DetailsPanel({ conversationId }: { conversationId: ConversationId }) {
  const session = useSession();
  const panel = useRef<HTMLElement>(null);
  const groupId = groupIdOf(conversationId);
  const userId = directUserOf(conversationId);

  useEffect(() => {
    panel.current?.focus();
  }, []);

  const close = () => {
    session.ui.setDetailsOpen(false);
    document.querySelector<HTMLElement>('[data-testid="details-button"]')?.focus();
  };

  return (
    <aside
      ref={panel}
      id="details-panel"
      className="details"
      aria-label={groupId ? "Group details" : "Contact details"}
      tabIndex={-1}
      data-testid="details-panel"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.preventDefault();
          close();
        }
      }}
    >
      <header className="details__header">
        <h2 className="details__title">{groupId ? "Group" : "Contact"}</h2>
        <button type="button" className="icon-button" onClick={close} data-testid="details-close">
          <CloseIcon label="Close details" />
        </button>
      </header>
      <div className="details__body">
        {groupId ? <GroupDetails groupId={groupId} /> : userId ? <ContactDetails userId={userId} /> : null}
      </div>
    </aside>
  );
}
