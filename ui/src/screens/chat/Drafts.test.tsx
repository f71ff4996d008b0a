import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { conversation } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function composer(): HTMLTextAreaElement {
  return screen.getByTestId("composer") as HTMLTextAreaElement;
}

function row(id: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
  if (!el) throw new Error(`no row for ${id}`);
  return el;
}

describe("drafts kept by the engine", () => {
  it("opens a conversation with its saved draft, and the list says Draft: …", async () => {
    const { user } = await renderApp({
      conversations: [conversation({ peer: "bob", draft: "see you at" }), conversation({ peer: "carol" })],
    });
    await waitFor(() => row("u:bob"));
    expect(within(row("u:bob")).getByTestId("draft-preview").textContent).toBe("Draft: see you at");
    expect(within(row("u:carol")).queryByTestId("draft-preview")).toBeNull();

    await openConversation(user, "u:bob");
    expect(composer().value).toBe("see you at");
  });

  it("saves half a second after typing stops, and the row shows it", async () => {
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    await user.type(composer(), "half a tho");
    expect(ipc.setDraft).not.toHaveBeenCalled();
    await waitFor(() => expect(ipc.setDraft).toHaveBeenCalledWith("u:bob", "half a tho"), { timeout: 2000 });
    expect(ipc.setDraft).toHaveBeenCalledTimes(1);
    expect(within(row("u:bob")).getByTestId("draft-preview").textContent).toBe("Draft: half a tho");
  });

  it("saves at once when another conversation is opened, and clears it once sent", async () => {
    ipc.sendMessage.mockRejectedValue({ code: "offline", message: "offline" });
    const { user } = await renderApp({
      conversations: [conversation({ peer: "bob" }), conversation({ peer: "carol" })],
    });
    await openConversation(user, "u:bob");
    await user.type(composer(), "for bob");
    await openConversation(user, "u:carol");
    expect(ipc.setDraft).toHaveBeenCalledWith("u:bob", "for bob");
    expect(composer().value).toBe("");

    await openConversation(user, "u:bob");
    expect(composer().value).toBe("for bob");
    await user.clear(composer());
    await waitFor(() => expect(ipc.setDraft).toHaveBeenLastCalledWith("u:bob", ""), { timeout: 2000 });
    expect(within(row("u:bob")).queryByTestId("draft-preview")).toBeNull();
  });
});
