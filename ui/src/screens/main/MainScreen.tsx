//! The signed-in window: sidebar, open conversation, details panel, dialogs. Owns the Session
//! for this sign-in and wires engine events into it.

import { Suspense, useEffect, useRef, useState } from "react";
import { lazyComponent } from "../../lib/lazy";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import { useAppStore, SessionProvider, useSession } from "../../state/context";
import { Session } from "../../state/session";
import { Sidebar } from "../sidebar/Sidebar";
import { ChatView } from "../chat/ChatView";
import { ChatWarmup } from "../chat/ChatWarmup";
import { Dialogs } from "../dialogs/Dialogs";
import { EmptyState, NoSelection } from "./EmptyState";
import { LiveRegion } from "./LiveRegion";
import { useShortcuts } from "./useShortcuts";

// Loaded the first time the panel opens, not at start.
const DetailsPanel = lazyComponent(() => import("../details/DetailsPanel").then((m) => m.DetailsPanel));
// Loaded when an emoji comparison is shown.
const ComparisonDialog = lazyComponent(() => import("../devices/ComparisonDialog").then((m) => m.ComparisonDialog));

interface MainScreenProps {
  /** Tests may pass a prepared session. */
  session?: Session;
}

export function MainScreen({ session: given }: MainScreenProps) {
  const app = useAppStore();
  const [session] = useState(() => given ?? new Session(app));

  useEffect(() => {
    // Unless the list read at start is already there (it is read again once events flow).
    if (!session.conversations.get().loaded) void session.loadConversations();
    void session.loadDeviceState();
    void session.loadProfiles();
    ipc
      .getSettings()
      .then((s) => app.setSettings(s))
      .catch(() => undefined);
    const stopEvents = ipc.onClientEvent(
      (e) => session.handleEvent(e),
      () => {
        // What changed between sign-in and the listener being attached (the connection going
        // online, a first message) is read again.
        void session.loadConversations();
        void session.loadDeviceState();
        void session.loadProfiles();
        ipc
          .appStatus()
          .then((s) => {
            if (s.phase === "ready") app.setConnection(s.connection);
          })
          .catch(() => undefined);
      },
    );
    // A notification was clicked: Rust has shown the window; open its conversation.
    const stopOpen = ipc.onOpenConversation((id) => session.openConversation(id));
    const onFocus = () => session.windowFocused();
    window.addEventListener("focus", onFocus);
    return () => {
      stopEvents();
      stopOpen();
      window.removeEventListener("focus", onFocus);
    };
  }, [app, session]);

  return (
    <SessionProvider session={session}>
      <MainLayout />
    </SessionProvider>
  );
}

function MainLayout() {
  const session = useSession();
  const selectedId = useStore(session.conversations, (s) => s.selectedId);
  const empty = useStore(session.conversations, (s) => s.loaded && s.list.length === 0);
  const detailsOpen = useStore(session.ui, (s) => s.detailsOpen);
  const comparison = useStore(session.devices, (s) => s.shown);
  useShortcuts(session);

  const view = selectedId ? "chat" : empty ? "empty" : "list";
  // The first open is warmed up while nothing has been opened yet (see ChatWarmup).
  const opened = useRef(false);
  if (selectedId) opened.current = true;
  return (
    <div className="main" data-testid="main" data-view={view} data-details={selectedId !== null && detailsOpen}>
      <Sidebar />
      <main className="main__content">
        {selectedId ? (
          <ChatView key={selectedId} conversationId={selectedId} />
        ) : empty ? (
          <EmptyState />
        ) : (
          <>
            <NoSelection />
            {opened.current ? null : <ChatWarmup />}
          </>
        )}
      </main>
      {selectedId && detailsOpen ? (
        <Suspense fallback={null}>
          <DetailsPanel key={selectedId} conversationId={selectedId} />
        </Suspense>
      ) : null}
      <Dialogs />
      {comparison ? (
        <Suspense fallback={null}>
          <ComparisonDialog key={comparison} id={comparison} />
        </Suspense>
      ) : null}
      <LiveRegion />
    </div>
  );
}
