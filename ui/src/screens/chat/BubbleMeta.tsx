//! A bubble's corner: "edited" when its sender changed it (a click shows the earlier versions),
//! when it was written (the full moment on hover) and, for one's own, how far it got.

import { formatClock, formatFull, useClock } from "../../lib/time";
import type { Message } from "../../lib/types";
import { DeliveryIcon } from "./DeliveryIcon";
import { EditedMarker } from "./EditedMarker";

export function BubbleMeta({ message: m }: { message: Message }) {
  const clock = useClock();
  return (
    <span className="bubble__meta">
      {m.edited && !m.deleted ? <EditedMarker message={m} /> : null}
      <time dateTime={new Date(m.ts).toISOString()} title={formatFull(m.ts, clock.locale)}>
        {formatClock(m.ts, clock.locale)}
      </time>
      {m.outgoing ? <DeliveryIcon message={m} /> : null}
    </span>
  );
}
