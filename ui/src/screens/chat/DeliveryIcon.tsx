//! How far one of my messages got, as a small icon: clock = queued, tick = on the server, two
//! ticks = delivered, two filled ticks = read, red "!" = failed (`lib/receipts.ts` decides). Its
//! accessible name is the step in a word; the tooltip says more (in a group, how many so far).

import { AlertIcon, ClockIcon, DoubleTickIcon, ReadIcon, TickIcon } from "../../components/icons";
import { DELIVERY_LABEL, deliveryOf, deliveryTitle } from "../../lib/receipts";
import type { Message } from "../../lib/types";

const ICONS = {
  queued: ClockIcon,
  sent: TickIcon,
  delivered: DoubleTickIcon,
  read: ReadIcon,
  failed: AlertIcon,
} as const;

export function DeliveryIcon({ message: m }: { message: Message }) {
  const delivery = deliveryOf(m);
  if (delivery === null) return null;
  const Icon = ICONS[delivery];
  return (
    <span className="status" data-testid="delivery" data-delivery={delivery}>
      <Icon
        className={`status-icon status-icon--${delivery}`}
        label={DELIVERY_LABEL[delivery]}
        title={deliveryTitle(m, delivery)}
      />
    </span>
  );
}
