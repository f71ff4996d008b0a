import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { LocalGroup } from "../../lib/types";
import { conversation, message, PICTURE_URL, profile } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

function row(id: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
  if (!el) throw new Error(`no row for ${id}`);
  return el;
}

describe("names and pictures", () => {
  it("shows the name and picture people chose in the list and the chat header, and follows changes", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ name: "Bob B.", avatar: true })]);
    ipc.getAvatar.mockResolvedValue(PICTURE_URL);
    const { user } = await renderApp({ conversations: [conversation(), conversation({ peer: "carol" })] });

    await waitFor(() => expect(within(row("u:bob")).getByTestId("conversation-title").textContent).toBe("Bob B."));
    // Without a profile: the user id, and initials.
    expect(within(row("u:carol")).getByTestId("conversation-title").textContent).toBe("carol");
    expect(within(row("u:carol")).queryByTestId("avatar-picture")).toBeNull();
    const picture = await waitFor(() => within(row("u:bob")).getByTestId("avatar-picture"));
    expect(picture.querySelector("img")?.getAttribute("src")).toBe(PICTURE_URL);
    expect(ipc.getAvatar).toHaveBeenCalledWith("bob");

    await openConversation(user, "u:bob");
    expect(screen.getByTestId("chat-title").textContent).toBe("Bob B.");

    // bob changes his name and removes his picture.
    ipc.emitClient({ type: "profile_changed", profile: profile({ name: "Robert", avatar: false, version: 2 }) });
    expect(screen.getByTestId("chat-title").textContent).toBe("Robert");
    expect(within(row("u:bob")).getByTestId("conversation-title").textContent).toBe("Robert");
    expect(within(row("u:bob")).queryByTestId("avatar-picture")).toBeNull();
  });

  it("shows both the name and the user id where identity matters (contact details)", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ name: "Bob B." })]);
    const { user } = await renderApp({ conversations: [conversation()] });
    await openConversation(user, "u:bob");
    await user.click(screen.getByTestId("details-button"));
    expect((await screen.findByTestId("contact-name")).textContent).toBe("Bob B.");
    expect(screen.getByTestId("contact-user-id").textContent).toBe("bob");
  });

  it("names senders in groups, group members and reactors by their chosen names", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ name: "Bob B." }), profile({ user_id: "olga", name: "Olga O." })]);
    const club: LocalGroup = {
      group_id: "club",
      name: "Book club",
      version: 1,
      joined: true,
      signed: true,
      members: [
        { user_id: "olga", role: "owner" },
        { user_id: "bob", role: "member" },
        { user_id: "alice", role: "member" },
      ],
      invited: [],
    };
    ipc.groupDetails.mockResolvedValue(club);
    const { user } = await renderApp({
      conversations: [conversation({ peer: "club", kind: "group", title: "Book club" })],
      messages: {
        "g:club": [
          message({ conversation_id: "g:club", sender_user: "olga", body: "Chapter 3?" }),
          message({
            conversation_id: "g:club",
            sender_user: "bob",
            body: "Yes",
            reactions: [{ emoji: "👍", users: ["olga", "alice"] }],
          }),
        ],
      },
    });
    await openConversation(user, "g:club");
    await waitFor(() =>
      expect(screen.getAllByTestId("message-sender").map((s) => s.textContent)).toEqual(["Olga O.", "Bob B."]),
    );
    expect(screen.getByTestId("reaction-chip").getAttribute("title")).toBe("You and Olga O. reacted with 👍");
    // The group's title is its own name, not a person's.
    expect(screen.getByTestId("chat-title").textContent).toBe("Book club");

    await user.click(screen.getByTestId("details-button"));
    const members = await screen.findAllByTestId("member-row");
    expect(members.map((m) => m.querySelector(".member-row__name")?.textContent)).toEqual(["Olga O.", "alice (you)", "Bob B."]);
  });

  it("announces an incoming message with the sender's chosen name", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ name: "Bob B." })]);
    await renderApp({ conversations: [conversation()] });
    await waitFor(() => expect(within(row("u:bob")).getByTestId("conversation-title").textContent).toBe("Bob B."));
    ipc.emitClient({ type: "message_received", message: message({ body: "are you there?" }) });
    await waitFor(() => expect(screen.getByTestId("live-region").textContent).toContain("Bob B.: are you there?"));
  });
});

describe("my profile in settings", () => {
  it("shows my name in the sidebar and saves a new one on Enter, once", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ user_id: "alice", name: "Alice A." })]);
    const { user } = await renderApp();
    expect((await screen.findByTestId("own-name")).textContent).toBe("Alice A.");
    expect(screen.getByTestId("own-user").textContent).toBe("alice");

    await user.click(screen.getByTestId("settings-button"));
    const field = screen.getByTestId("profile-name") as HTMLInputElement;
    expect(field.value).toBe("Alice A.");
    ipc.setProfile.mockResolvedValueOnce(profile({ user_id: "alice", name: "Alice Archer", version: 2 }));
    await user.clear(field);
    await user.type(field, "Alice Archer{Enter}");
    expect(ipc.setProfile).toHaveBeenCalledTimes(1);
    expect(ipc.setProfile).toHaveBeenLastCalledWith({ name: "Alice Archer" });
    expect((await screen.findByTestId("profile-saved")).textContent).toBe("Your name is saved.");
    await waitFor(() => expect(screen.getByTestId("own-name").textContent).toBe("Alice Archer"));
    // Leaving the field after Enter saves nothing more.
    await user.tab();
    expect(ipc.setProfile).toHaveBeenCalledTimes(1);
  });

  it("saves the name when the field is left, and says in plain words why it wasn't", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    const field = screen.getByTestId("profile-name") as HTMLInputElement;
    ipc.setProfile.mockRejectedValueOnce({ code: "offline", message: "connection refused" });
    await user.type(field, "Alice");
    await user.tab();
    expect(ipc.setProfile).toHaveBeenLastCalledWith({ name: "Alice" });
    expect((await screen.findByTestId("profile-error")).textContent).toBe(
      "Couldn't reach the server, so your name wasn't changed. Try again when you're back online.",
    );
    // What was typed stays, to try again.
    expect(field.value).toBe("Alice");
    expect(screen.queryByTestId("own-name")).toBeNull();
  });

  it("chooses a picture, previews it before using it, and removes it", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    ipc.choosePath.mockResolvedValueOnce("/home/alice/Pictures/me.png");
    ipc.filePreview.mockResolvedValueOnce({ name: "me.png", size: 5000, image: { width: 640, height: 480, url: "data:image/jpeg;base64,cHJldmlldw==" } });
    await user.click(screen.getByTestId("profile-picture-choose"));
    expect(ipc.choosePath).toHaveBeenLastCalledWith("profile_picture", "");
    const preview = await waitFor(() => within(screen.getByTestId("profile-picture")).getByTestId("avatar-picture"));
    expect(preview.querySelector("img")?.getAttribute("src")).toBe("data:image/jpeg;base64,cHJldmlldw==");
    expect(ipc.setProfile).not.toHaveBeenCalled();

    ipc.setProfile.mockResolvedValueOnce(profile({ user_id: "alice", avatar: true, version: 2 }));
    ipc.getAvatar.mockResolvedValue(PICTURE_URL);
    await user.click(screen.getByTestId("profile-picture-use"));
    expect(ipc.setProfile).toHaveBeenLastCalledWith({ avatarPath: "/home/alice/Pictures/me.png" });
    expect((await screen.findByTestId("profile-saved")).textContent).toBe("Your picture is saved.");
    // The saved picture (as the engine made it) shows, here and in the sidebar.
    await waitFor(() =>
      expect(screen.getByTestId("profile-picture").querySelector("img")?.getAttribute("src")).toBe(PICTURE_URL),
    );
    expect(document.querySelector(".sidebar__header img")?.getAttribute("src")).toBe(PICTURE_URL);

    ipc.setProfile.mockResolvedValueOnce(profile({ user_id: "alice", avatar: false, version: 3 }));
    await user.click(screen.getByTestId("profile-picture-remove"));
    expect(ipc.setProfile).toHaveBeenLastCalledWith({ removeAvatar: true });
    await waitFor(() => expect(document.querySelector(".sidebar__header img")).toBeNull());
  });

  it("says so when the chosen file is not a picture, and keeps the one in use", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("settings-button"));
    ipc.choosePath.mockResolvedValueOnce("/home/alice/notes.txt");
    ipc.filePreview.mockResolvedValueOnce({ name: "notes.txt", size: 100, image: null });
    await user.click(screen.getByTestId("profile-picture-choose"));
    expect((await screen.findByTestId("profile-error")).textContent).toContain("couldn't use that file as a picture");
    expect(screen.queryByTestId("profile-picture-use")).toBeNull();
    expect(ipc.setProfile).not.toHaveBeenCalled();
  });
});

describe("note to self", () => {
  it("opens from New chat, is titled Note to self, and sends no typing notices", async () => {
    const { user } = await renderApp({ conversations: [conversation()] });
    await user.click(screen.getByTestId("new-chat-button"));
    await user.click(screen.getByTestId("note-to-self"));
    const chat = await screen.findByTestId("chat-view");
    expect(chat.getAttribute("data-conversation-id")).toBe("u:alice");
    expect(screen.getByTestId("chat-title").textContent).toBe("Note to self");
    expect(ipc.startDirect).not.toHaveBeenCalled();
    // No safety number to compare with oneself.
    expect(screen.queryByTestId("details-button")).toBeNull();

    ipc.sendMessage.mockResolvedValueOnce(message({ conversation_id: "u:alice", outgoing: true, body: "buy milk" }));
    await user.type(screen.getByTestId("composer"), "buy milk{Enter}");
    expect(ipc.sendMessage).toHaveBeenLastCalledWith("u:alice", "buy milk");
    expect(ipc.setTyping).not.toHaveBeenCalled();

    // Its first message made the conversation: the list is read again and has its row.
    ipc.listConversations.mockResolvedValue([conversation(), conversation({ peer: "alice", last_preview: "buy milk" })]);
    ipc.emitClient({
      type: "message_received",
      message: message({ conversation_id: "u:alice", outgoing: true, body: "buy milk", status: "queued" }),
    });
    const self = await waitFor(() => row("u:alice"));
    expect(within(self).getByTestId("conversation-title").textContent).toBe("Note to self");
  });

  it("shows its row in the list as Note to self once it has messages", async () => {
    await renderApp({ conversations: [conversation({ peer: "alice", last_preview: "buy milk" }), conversation()] });
    const self = await waitFor(() => row("u:alice"));
    expect(within(self).getByTestId("conversation-title").textContent).toBe("Note to self");
  });

  it("opens when my own user id is typed in New chat (the engine starts no chat with oneself)", async () => {
    const { user } = await renderApp({ conversations: [conversation()] });
    await user.click(screen.getByTestId("new-chat-button"));
    await user.type(screen.getByTestId("new-chat-user"), "alice{Enter}");
    expect((await screen.findByTestId("chat-title")).textContent).toBe("Note to self");
    expect(ipc.startDirect).not.toHaveBeenCalled();
  });
});
