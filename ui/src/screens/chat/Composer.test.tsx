import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, message } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function composer(): HTMLTextAreaElement {
  return screen.getByTestId("composer") as HTMLTextAreaElement;
}

async function setup() {
  ipc.sendMessage.mockImplementation(
    async (conversationId, body): Promise<Message> =>
      message({ id: 500, conversation_id: conversationId, body, outgoing: true, status: "queued" }),
  );
  const r = await renderApp({
    conversations: [conversation({ peer: "bob" }), conversation({ peer: "carol" })],
  });
  await openConversation(r.user, "u:bob");
  return r;
}

/** Opens group "club" (owned by bob) that I (alice) am not in, with `invited` invited. */
async function openClub(invited: string[]) {
  ipc.groupDetails.mockResolvedValue({
    group_id: "club",
    name: "Club",
    version: 2,
    joined: false,
    signed: true,
    members: [{ user_id: "bob", role: "owner" }],
    invited,
  });
  const r = await renderApp({ conversations: [conversation({ peer: "club", kind: "group", title: "Club" })] });
  await openConversation(r.user, "g:club");
  return r;
}

describe("composer", () => {
  it("sends on Enter, shows the message as queued, and clears the field", async () => {
    const { user } = await setup();
    await user.type(composer(), "hello bob{Enter}");

    expect(ipc.sendMessage).toHaveBeenCalledWith("u:bob", "hello bob");
    expect(composer().value).toBe("");
    const sent = await screen.findByTestId("message");
    expect(sent.getAttribute("data-status")).toBe("queued");
    expect(sent.getAttribute("data-outgoing")).toBe("true");
    expect(ipc.setTyping).toHaveBeenCalledWith("u:bob", true);
    expect(ipc.setTyping).toHaveBeenLastCalledWith("u:bob", false);
  });

  it("adds a line on Shift+Enter instead of sending", async () => {
    const { user } = await setup();
    await user.type(composer(), "line one{Shift>}{Enter}{/Shift}line two");
    expect(composer().value).toBe("line one\nline two");
    expect(ipc.sendMessage).not.toHaveBeenCalled();

    await user.keyboard("{Enter}");
    expect(ipc.sendMessage).toHaveBeenCalledWith("u:bob", "line one\nline two");
  });

  it("doesn't send blank messages", async () => {
    const { user } = await setup();
    await user.type(composer(), "   {Enter}");
    expect(ipc.sendMessage).not.toHaveBeenCalled();
  });

  it("clears the draft on Escape", async () => {
    const { user } = await setup();
    await user.type(composer(), "never mind");
    await user.keyboard("{Escape}");
    expect(composer().value).toBe("");
  });

  it("keeps a draft per conversation", async () => {
    const { user } = await setup();
    await user.type(composer(), "draft for bob");

    await openConversation(user, "u:carol");
    expect(composer().value).toBe("");
    await user.type(composer(), "for carol");

    await openConversation(user, "u:bob");
    expect(composer().value).toBe("draft for bob");
    await openConversation(user, "u:carol");
    expect(composer().value).toBe("for carol");
  });

  it("puts the text back and explains when sending fails", async () => {
    const { user } = await setup();
    ipc.sendMessage.mockRejectedValueOnce({ code: "invalid_input", message: "too long" });
    await user.type(composer(), "too much{Enter}");

    await waitFor(() => expect(composer().value).toBe("too much"));
    expect(screen.getByText("Details: invalid_input")).toBeTruthy();
  });

  it("is disabled with an explanation once I'm no longer in the group", async () => {
    await openClub([]);

    await waitFor(() => expect(composer().disabled).toBe(true));
    expect(screen.getByText("You're not a member of this group any more, so you can't send messages here.")).toBeTruthy();
  });

  it("offers to join or decline when I'm invited, and takes part once I join", async () => {
    ipc.acceptInvitation.mockResolvedValueOnce({
      group_id: "club",
      name: "Club",
      version: 3,
      joined: true,
      signed: true,
      members: [
        { user_id: "alice", role: "member" },
        { user_id: "bob", role: "owner" },
      ],
      invited: [],
    });
    const r = await openClub(["alice"]);

    await waitFor(() => expect(screen.getByTestId("invitation")).toBeTruthy());
    expect(composer().disabled).toBe(true);
    expect(screen.getByText(/You're invited to this group/u)).toBeTruthy();
    await r.user.click(screen.getByRole("button", { name: "Join" }));
    await waitFor(() => expect(ipc.acceptInvitation).toHaveBeenCalledWith("club"));
    await waitFor(() => expect(composer().disabled).toBe(false));
    expect(screen.queryByTestId("invitation")).toBeNull();
  });

  it("declines an invitation and says so", async () => {
    const r = await openClub(["alice"]);
    await r.user.click(await screen.findByRole("button", { name: "Decline" }));
    await waitFor(() => expect(ipc.declineInvitation).toHaveBeenCalledWith("club"));
    await waitFor(() => expect(screen.getByText("You declined the invitation to this group.")).toBeTruthy());
  });
});
