//! A message's details (Info in its menu), for one of my own: when it was sent and how far it
//! got — one to one, whether the peer got it and saw it; in a group, "Read by N of M" and who
//! read it, who has it and who it has not reached yet. It follows the message's receipts as
//! they arrive. While my read receipts are off nobody's are shown, and it says so.

import { useEffect, useState } from "react";
import { Popover, type PopoverAnchor } from "../../components/Popover";
import { directUserOf, groupIdOf } from "../../lib/ids";
import * as ipc from "../../lib/tauri";
import { deliveryOf, groupReceipts } from "../../lib/receipts";
import { useStore } from "../../lib/store";
import { formatFull, useClock } from "../../lib/time";
import type { Message } from "../../lib/types";
import { useSession } from "../../state/context";
import { isNoteToSelf } from "../../lib/people";
import { useDisplayName, useProfiles } from "../../state/people";
import { displayName } from "../../state/profileStore";

interface MessageDetailsProps {
  message: Message;
  anchor: PopoverAnchor;
  onClose: () => void;
  returnFocus?: HTMLElement | null;
}

export function MessageDetails({ message: m, anchor, onClose, returnFocus }: MessageDetailsProps) {
  const clock = useClock();
  const readReceipts = useReadReceiptsSetting();
  const peer = directUserOf(m.conversation_id);
  const delivery = deliveryOf(m);
  const session = useSession();
  // Note to self: nobody else reads it.
  const self = peer !== null && isNoteToSelf({ kind: "direct", peer }, session.ownUserId);
  return (
    <Popover
      anchor={anchor}
      onClose={onClose}
      align={m.outgoing ? "end" : "start"}
      label="Message details"
      className="receipt-details"
      testId="message-details"
      returnFocus={returnFocus}
    >
      <div className="receipt-details__body" tabIndex={0}>
        <h3 className="receipt-details__title">Message details</h3>
        <p className="small" data-testid="details-sent">
          {delivery === "queued" ? (
            "Not sent yet — it goes out when Sotto is online."
          ) : (
            <>
              Sent <time dateTime={new Date(m.ts).toISOString()}>{formatFull(m.ts, clock.locale)}</time>
            </>
          )}
        </p>
        {delivery === "queued" || self ? null : peer !== null ? (
          <DirectState message={m} peer={peer} />
        ) : (
          <GroupState message={m} />
        )}
        {readReceipts === false && !self ? (
          <p className="muted small" data-testid="details-receipts-off">
            You turned read receipts off, so you don't see who read it. Settings → Privacy turns them back on.
          </p>
        ) : null}
      </div>
    </Popover>
  );
}

/** Whether my read receipts are on; null until read (or when that failed: then nothing is said). */
function useReadReceiptsSetting(): boolean | null {
  const [on, setOn] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    ipc
      .readReceipts()
      .then((value) => live && setOn(value))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return on;
}

function DirectState({ message: m, peer: peerId }: { message: Message; peer: string }) {
  const delivery = deliveryOf(m);
  const peer = useDisplayName(peerId);
  const text =
    delivery === "read"
      ? `Read by ${peer}`
      : delivery === "delivered"
        ? `Delivered to ${peer}, not read yet`
        : `On the server, not delivered to ${peer} yet`;
  return (
    <p className="receipt-details__state" data-testid="details-state" data-delivery={delivery ?? undefined}>
      {text}
    </p>
  );
}

function GroupState({ message: m }: { message: Message }) {
  const session = useSession();
  const groupId = groupIdOf(m.conversation_id);
  const group = useStore(session.groups, (s) => (groupId ? s[groupId] : undefined));
  useEffect(() => {
    if (groupId) void session.groups.ensure(groupId).catch(() => undefined);
  }, [session, groupId]);
  const members = group ? group.members.map((member) => member.user_id) : null;
  const r = groupReceipts(m, members, session.ownUserId);
  if (r.recipients === 0 && r.read.length === 0 && r.delivered.length === 0) {
    return <p className="receipt-details__state muted small">Nobody else is in this group now.</p>;
  }
  const reached = r.read.length + r.delivered.length;
  return (
    <>
      <p className="receipt-details__state" data-testid="details-read-count">
        Read by {Math.min(r.read.length, r.recipients)} of {r.recipients}
        {reached < r.recipients ? ` · delivered to ${reached} of ${r.recipients}` : ""}
      </p>
      <People title="Read by" people={r.read} testId="details-read" />
      <People title="Delivered to" people={r.delivered} testId="details-delivered" />
      {r.waiting !== null ? (
        <People title="Not delivered yet" people={r.waiting} testId="details-waiting" />
      ) : null}
    </>
  );
}

function People({ title, people, testId }: { title: string; people: readonly string[]; testId: string }) {
  const profiles = useProfiles();
  if (people.length === 0) return null;
  const id = `${testId}-heading`;
  return (
    <section className="receipt-details__group" aria-labelledby={id}>
      <h4 id={id} className="receipt-details__heading">
        {title} <span className="muted">({people.length})</span>
      </h4>
      <ul className="receipt-details__people" data-testid={testId}>
        {people.map((user) => (
          <li key={user} title={user}>
            {displayName(profiles, user)}
          </li>
        ))}
      </ul>
    </section>
  );
}
