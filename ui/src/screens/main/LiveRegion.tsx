//! Announces incoming messages to screen readers.

import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";

export function LiveRegion() {
  const session = useSession();
  const text = useStore(session.ui, (s) => s.announcement);
  return (
    <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="live-region">
      {text}
    </div>
  );
}
