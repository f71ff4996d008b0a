//! A message's delivery state as a small icon: clock = queued, tick = stored on the server,
//! red "!" = failed.

import { AlertIcon, ClockIcon, TickIcon } from "../../components/icons";
import type { Message } from "../../lib/types";

export function DeliveryIcon({ status }: { status: Message["status"] }) {
  switch (status) {
    case "queued":
      return <ClockIcon className="status-icon status-icon--queued" label="Sending" />;
    case "sent":
      return <TickIcon className="status-icon status-icon--sent" label="Sent" />;
    case "failed":
      return <AlertIcon className="status-icon status-icon--failed" label="Not sent" />;
    default:
      return null;
  }
}
