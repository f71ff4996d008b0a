//! The first conversation someone opens after start is drawn cold: its code has not run yet,
//! its styles and fonts are not resolved, its text not measured. That made a first open take
//! twice as long as any later one. So once the top conversation's newest messages are loaded
//! (the list's prefetch), and before any conversation is opened, its view is drawn once, hidden
//! and inert, for one frame, then dropped. Nothing is sent, marked read or focused: the view is
//! the real one in its `warmup` mode (no list component, no autofocus).

import { useEffect, useState } from "react";
import { afterNextPaint } from "../../lib/frames";
import { useStore } from "../../lib/store";
import { useSession } from "../../state/context";
import { ChatView } from "./ChatView";

/** How long the app stays idle after the top conversation loads before drawing it. */
const WARMUP_DELAY_MS = 150;

export function ChatWarmup() {
  const session = useSession();
  const top = useStore(session.conversations, (s) => (s.loaded ? (s.list[0]?.id ?? null) : null));
  const loaded = useStore(session.messages, (s) => {
    const w = top === null ? undefined : s[top];
    return w !== undefined && w.loading === null && w.error === null && w.messages.length > 0;
  });
  const [phase, setPhase] = useState<"waiting" | "drawing" | "done">("waiting");

  useEffect(() => {
    if (phase !== "waiting" || !loaded) return;
    const timer = window.setTimeout(() => setPhase("drawing"), WARMUP_DELAY_MS);
    return () => clearTimeout(timer);
  }, [phase, loaded]);

  useEffect(() => {
    if (phase !== "drawing") return;
    // Dropped after the frame that laid it out: style, fonts and text measurement are done by then.
    return afterNextPaint(() => setPhase("done"));
  }, [phase]);

  if (phase !== "drawing" || top === null) return null;
  return (
    <div className="chat-warmup" aria-hidden="true" inert data-testid="chat-warmup">
      <ChatView conversationId={top} warmup />
    </div>
  );
}
