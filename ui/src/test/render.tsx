//! Renders the whole app against the IPC double, with the fixed test clock.

import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { App } from "../App";
import { ClockContext } from "../lib/time";
import type { AppStatus, Conversation, Message } from "../lib/types";
import { readyStatus, testClock } from "./fixtures";
import * as ipc from "./ipcMock";

interface RenderOptions {
  status?: AppStatus;
  conversations?: Conversation[];
  /** Messages per conversation id, oldest first; served by load_messages / load_messages_after. */
  messages?: Record<string, Message[]>;
}

export async function renderApp({ status = readyStatus(), conversations = [], messages = {} }: RenderOptions = {}) {
  ipc.appStatus.mockResolvedValue(status);
  ipc.listConversations.mockResolvedValue(conversations);
  ipc.loadMessages.mockImplementation(async (id, before, limit) => {
    const all = (messages[id] ?? []).filter((m) => before === null || m.id < before);
    return all.slice(-limit);
  });
  ipc.loadMessagesAfter.mockImplementation(async (id, after, limit) =>
    (messages[id] ?? []).filter((m) => m.id > after).slice(0, limit),
  );
  const user = userEvent.setup();
  const utils = render(
    <ClockContext.Provider value={testClock}>
      <App />
    </ClockContext.Provider>,
  );
  const root = status.phase === "ready" ? "main" : status.phase === "locked" ? "locked" : "welcome";
  await screen.findByTestId(root);
  return { user, ...utils };
}

/** Opens a conversation by clicking its row and waits for its view. */
export async function openConversation(user: ReturnType<typeof userEvent.setup>, id: string) {
  const row = await waitFor(() => {
    const el = document.querySelector<HTMLElement>(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
    if (!el) throw new Error(`no row for ${id}`);
    return el;
  });
  await user.click(row);
  return screen.findByTestId("chat-view");
}
