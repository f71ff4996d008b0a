import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { LocalGroup, Role } from "../../lib/types";
import { conversation, DAY, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";
import { safetyGroups } from "./SafetyNumber";
import { memberActions } from "./GroupDetails";

function memberRow(userId: string): HTMLElement {
  const row = screen.getAllByTestId("member-row").find((r) => r.getAttribute("data-user-id") === userId);
  if (!row) throw new Error(`no row for ${userId}`);
  return row;
}

function group(myRole: Role | null, joined = true): LocalGroup {
  const members: LocalGroup["members"] = [
    { user_id: "olga", role: "owner" },
    { user_id: "bob", role: "member" },
  ];
  if (myRole) members.push({ user_id: "alice", role: myRole });
  return { group_id: "club", name: "Book club", version: 4, joined, signed: true, members, invited: [] };
}

async function openGroup(g: LocalGroup) {
  ipc.groupDetails.mockResolvedValue(g);
  const r = await renderApp({ conversations: [conversation({ peer: "club", kind: "group", title: "Book club" })] });
  await openConversation(r.user, "g:club");
  await r.user.click(screen.getByTestId("details-button"));
  await screen.findAllByTestId("member-row");
  return r;
}

describe("contact details", () => {
  it("shows the safety number in 12 groups of 5 and the contact's devices", async () => {
    const digits = "123450987612345098761234509876123450987612345098761234509876";
    ipc.verification.mockResolvedValue({ safety_number: digits, verified: false, changed_since_verified: false });
    ipc.userDevices.mockResolvedValue([
      { user_id: "bob", device_id: "PHONE", ed25519: "e", curve25519: "c", first_seen: NOW - 3 * DAY, active: true, confirmed: true },
      { user_id: "bob", device_id: "OLDLAPTOP", ed25519: "e", curve25519: "c", first_seen: NOW - 90 * DAY, active: false, confirmed: true },
    ]);
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    await user.click(screen.getByTestId("details-button"));

    const number = await screen.findByTestId("safety-number");
    const groups = Array.from(number.children).map((c) => c.textContent);
    expect(groups).toHaveLength(12);
    expect(groups.every((g) => g?.length === 5)).toBe(true);
    expect(groups.join("")).toBe(digits);
    expect(screen.getByText(/Compare this number with the one on bob's screen/u)).toBeTruthy();

    const devices = await screen.findAllByTestId("device-row");
    expect(devices.map((d) => d.textContent)).toEqual([
      expect.stringMatching(/PHONE.*First seen 15 Mar 2026.*Active/u),
      expect.stringMatching(/OLDLAPTOP.*Signed out/u),
    ]);
    expect(ipc.userDevices).toHaveBeenCalledWith("bob");
  });

  it("marks the contact verified at the number shown, and the header says so", async () => {
    const digits = "123450987612345098761234509876123450987612345098761234509876";
    ipc.verification.mockResolvedValue({ safety_number: digits, verified: false, changed_since_verified: false });
    ipc.setVerified.mockImplementation(async (_user, number) => ({
      safety_number: digits,
      verified: number !== null,
      changed_since_verified: false,
    }));
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    expect(screen.queryByTestId("verified-mark")).toBeNull();
    await user.click(screen.getByTestId("details-button"));
    await user.click(await screen.findByTestId("verify-toggle"));
    expect(ipc.setVerified).toHaveBeenLastCalledWith("bob", digits);
    expect((await screen.findByTestId("verification-status")).textContent).toContain("You verified bob's safety number.");
    expect(screen.getByTestId("verified-mark").textContent).toContain("Verified");

    await user.click(screen.getByTestId("verify-toggle"));
    expect(ipc.setVerified).toHaveBeenLastCalledWith("bob", null);
    await waitFor(() => expect(screen.queryByTestId("verified-mark")).toBeNull());
    expect(screen.getByTestId("verify-toggle").textContent).toBe("Mark as verified");
  });

  it("starts comparing emoji with the contact, and a finished comparison marks them verified", async () => {
    const digits = "123450987612345098761234509876123450987612345098761234509876";
    ipc.verification.mockResolvedValue({ safety_number: digits, verified: false, changed_since_verified: false });
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    await user.click(screen.getByTestId("details-button"));
    await user.click(await screen.findByTestId("verify-by-emoji"));
    expect(ipc.startContactVerification).toHaveBeenCalledWith("bob");
    expect(await screen.findByRole("dialog", { name: "Verify bob" })).toBeTruthy();
    expect(screen.getByTestId("comparison-waiting").textContent).toMatch(/Waiting for bob to accept/u);

    ipc.verification.mockResolvedValue({ safety_number: digits, verified: true, changed_since_verified: false });
    ipc.emitClient({
      type: "verification",
      verification: { id: "ver2", user_id: "bob", device_id: "THEIRS", we_started: true, state: { state: "done", device_confirmed: false } },
    });
    expect(screen.getByTestId("verified-mark").textContent).toContain("Verified");
    await user.click(screen.getByTestId("comparison-close"));
    expect((await screen.findByTestId("verification-status")).textContent).toContain("You verified bob");
  });

  it("says when a verified contact's safety number changed, and a key change clears the mark", async () => {
    ipc.contactVerified.mockResolvedValue(true);
    ipc.verification.mockResolvedValue({ safety_number: "9".repeat(60), verified: true, changed_since_verified: false });
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    expect(await screen.findByTestId("verified-mark")).toBeTruthy();

    ipc.contactVerified.mockResolvedValue(false);
    ipc.verification.mockResolvedValue({ safety_number: "8".repeat(60), verified: false, changed_since_verified: true });
    ipc.emitClient({ type: "contact_key_changed", user_id: "bob", device_id: "", change: "master_key_changed", was_verified: false });
    await waitFor(() => expect(screen.queryByTestId("verified-mark")).toBeNull());
    expect(screen.getByTestId("key-notice-was-verified").textContent).toContain("You had verified them");
    await user.click(screen.getByTestId("details-button"));
    expect((await screen.findByTestId("verification-lost")).textContent).toContain("You had verified bob");
  });

  it("refuses to mark a number that changed meanwhile, and shows the new one", async () => {
    ipc.verification.mockResolvedValueOnce({ safety_number: "1".repeat(60), verified: false, changed_since_verified: false });
    ipc.verification.mockResolvedValue({ safety_number: "2".repeat(60), verified: false, changed_since_verified: false });
    ipc.setVerified.mockRejectedValueOnce({ code: "safety_number_changed", message: "changed" });
    const { user } = await renderApp({ conversations: [conversation({ peer: "bob" })] });
    await openConversation(user, "u:bob");
    await user.click(screen.getByTestId("details-button"));
    await user.click(await screen.findByTestId("verify-toggle"));
    await waitFor(() => expect(screen.getByTestId("safety-number").textContent).toBe("2".repeat(60)));
    expect(screen.getByTestId("verification-error").textContent).toContain("changed while you were comparing it");
    expect(screen.queryByTestId("verified-mark")).toBeNull();
  });

  it("splits any digit string into groups of five", () => {
    expect(safetyGroups("12345 67890 12")).toEqual(["12345", "67890", "12"]);
  });
});

describe("group details", () => {
  it("lets an admin add people (comma/space separated) and remove members", async () => {
    const { user } = await openGroup(group("admin"));
    expect(screen.getByTestId("group-name").textContent).toBe("Book club");
    const rows = screen.getAllByTestId("member-row");
    expect(rows.map((r) => r.getAttribute("data-user-id"))).toEqual(["olga", "alice", "bob"]);
    // An admin can't remove the owner, nor themselves (they leave instead), nor change roles.
    const managed = rows.filter((r) => within(r).queryByTestId("member-more")).map((r) => r.getAttribute("data-user-id"));
    expect(managed).toEqual(["bob"]);

    ipc.addMembers.mockResolvedValueOnce({
      ...group("admin"),
      members: [...group("admin").members, { user_id: "carol", role: "member" }, { user_id: "dave", role: "member" }],
    });
    await user.type(screen.getByTestId("add-member-input"), "carol, dave carol");
    await user.click(screen.getByTestId("add-member-submit"));
    expect(ipc.addMembers).toHaveBeenCalledWith("club", ["carol", "dave"]);
    await waitFor(() => expect(screen.getAllByTestId("member-row")).toHaveLength(5));
    expect((screen.getByTestId("add-member-input") as HTMLInputElement).value).toBe("");

    ipc.removeMember.mockResolvedValueOnce(group("admin"));
    await user.click(within(memberRow("bob")).getByTestId("member-more"));
    expect(within(screen.getByTestId("member-menu")).getAllByRole("menuitem").map((b) => b.textContent)).toEqual([
      "Remove from group…",
    ]);
    await user.click(screen.getByTestId("menu-remove"));
    expect(screen.getByRole("dialog", { name: "Remove bob from Book club?" }).textContent).toContain(
      "won't be able to read what the group sends",
    );
    expect(ipc.removeMember).not.toHaveBeenCalled();
    await user.click(screen.getByTestId("confirm-button"));
    expect(ipc.removeMember).toHaveBeenCalledWith("club", "bob");
    await waitFor(() => expect(screen.getAllByTestId("member-row")).toHaveLength(3));
  });

  it("shows no add or remove controls to a plain member", async () => {
    await openGroup(group("member"));
    expect(screen.queryByTestId("add-member-input")).toBeNull();
    expect(screen.queryByTestId("member-more")).toBeNull();
    expect(screen.queryByTestId("group-rename")).toBeNull();
    expect(screen.queryByTestId("dismiss-group")).toBeNull();
    expect(screen.getByTestId("leave-group")).toBeTruthy();
  });

  it("shows a plain error when the server refuses", async () => {
    const { user } = await openGroup(group("owner"));
    ipc.removeMember.mockRejectedValueOnce({ code: "not_admin", message: "403" });
    await user.click(within(memberRow("bob")).getByTestId("member-more"));
    await user.click(screen.getByTestId("menu-remove"));
    await user.click(screen.getByTestId("confirm-button"));
    expect((await screen.findByTestId("dialog-error")).textContent).toBe(
      "Only the group's admins can do that. Ask an admin of the group.",
    );
  });

  it("leaves only after confirming, then disables the composer", async () => {
    const { user } = await openGroup(group("member"));
    await user.click(screen.getByTestId("leave-group"));
    expect(screen.getByRole("dialog").textContent).toContain("You'll stop receiving this group's messages.");
    expect(ipc.leaveGroup).not.toHaveBeenCalled();

    ipc.groupDetails.mockResolvedValue(group(null, false));
    await user.click(screen.getByTestId("confirm-button"));

    expect(ipc.leaveGroup).toHaveBeenCalledWith("club");
    await waitFor(() => expect((screen.getByTestId("composer") as HTMLTextAreaElement).disabled).toBe(true));
    expect(screen.queryByTestId("leave-group")).toBeNull();
  });

  it("refreshes when the membership changes", async () => {
    await openGroup(group("member"));
    ipc.groupDetails.mockResolvedValue({ ...group("member"), members: [...group("member").members, { user_id: "zoe", role: "member" }] });
    ipc.emitClient({ type: "membership_changed", group_id: "club", change: "added", actor: "olga", users: ["zoe"] });
    await waitFor(() => expect(screen.getAllByTestId("member-row")).toHaveLength(4));
    expect(screen.getByText(/4 members/u, { selector: ".chat-header__sub span" })).toBeTruthy();
  });
});

/** A group where I (alice) am the owner, with an admin and a member. */
function ownedGroup(): LocalGroup {
  return {
    group_id: "club",
    name: "Book club",
    version: 4,
    joined: true,
    signed: true,
    members: [
      { user_id: "alice", role: "owner" },
      { user_id: "bob", role: "admin" },
      { user_id: "carol", role: "member" },
    ],
    invited: [],
  };
}

function withRoles(g: LocalGroup, roles: Record<string, Role>): LocalGroup {
  return { ...g, version: g.version + 1, members: g.members.map((m) => ({ ...m, role: roles[m.user_id] ?? m.role })) };
}

const menuLabels = () =>
  within(screen.getByTestId("member-menu"))
    .getAllByRole("menuitem")
    .map((b) => b.textContent);

describe("group management", () => {
  it("offers only what the group's rules accept", () => {
    const admin = { user_id: "bob", role: "admin" as const };
    const member = { user_id: "carol", role: "member" as const };
    const owner = { user_id: "olga", role: "owner" as const };
    expect(memberActions("owner", admin, false)).toEqual(["remove-admin", "make-owner", "remove"]);
    expect(memberActions("owner", member, false)).toEqual(["make-admin", "make-owner", "remove"]);
    expect(memberActions("owner", owner, true)).toEqual([]);
    expect(memberActions("admin", member, false)).toEqual(["remove"]);
    expect(memberActions("admin", admin, false)).toEqual([]);
    expect(memberActions("admin", owner, false)).toEqual([]);
    expect(memberActions("member", member, false)).toEqual([]);
    expect(memberActions(undefined, member, false)).toEqual([]);
  });

  it("lets the owner make a member an admin and take it back, updating the list", async () => {
    const { user } = await openGroup(ownedGroup());
    await user.click(within(memberRow("carol")).getByTestId("member-more"));
    expect(menuLabels()).toEqual(["Make admin", "Make owner…", "Remove from group…"]);
    ipc.setMemberRole.mockResolvedValueOnce(withRoles(ownedGroup(), { carol: "admin" }));
    await user.click(screen.getByTestId("menu-make-admin"));
    expect(ipc.setMemberRole).toHaveBeenLastCalledWith("club", "carol", "admin");
    await waitFor(() => expect(memberRow("carol").getAttribute("data-role")).toBe("admin"));
    expect(within(memberRow("carol")).getByTestId("member-role").textContent).toBe("Admin");

    await user.click(within(memberRow("bob")).getByTestId("member-more"));
    expect(menuLabels()).toEqual(["Remove as admin", "Make owner…", "Remove from group…"]);
    ipc.setMemberRole.mockResolvedValueOnce(withRoles(ownedGroup(), { carol: "admin", bob: "member" }));
    await user.click(screen.getByTestId("menu-remove-admin"));
    expect(ipc.setMemberRole).toHaveBeenLastCalledWith("club", "bob", "member");
    await waitFor(() => expect(memberRow("bob").getAttribute("data-role")).toBe("member"));
    expect(within(memberRow("bob")).queryByTestId("member-role")).toBeNull();
  });

  it("says plainly when a role change is refused", async () => {
    const { user } = await openGroup(ownedGroup());
    ipc.setMemberRole.mockRejectedValueOnce({ code: "offline", message: "connect" });
    await user.click(within(memberRow("carol")).getByTestId("member-more"));
    await user.click(screen.getByTestId("menu-make-admin"));
    expect((await screen.findByTestId("dialog-error")).textContent).toContain("Couldn't reach the server.");
    expect(memberRow("carol").getAttribute("data-role")).toBe("member");
  });

  it("hands ownership over only after a confirmation that says what happens", async () => {
    const { user } = await openGroup(ownedGroup());
    expect(screen.getByTestId("dismiss-group")).toBeTruthy();
    await user.click(within(memberRow("carol")).getByTestId("member-more"));
    await user.click(screen.getByTestId("menu-make-owner"));
    const dialog = screen.getByRole("dialog", { name: "Make carol the owner of Book club?" });
    expect(dialog.textContent).toContain("carol becomes the group's owner");
    expect(dialog.textContent).toContain("You stay an admin.");
    expect(ipc.setMemberRole).not.toHaveBeenCalled();

    ipc.setMemberRole.mockResolvedValueOnce(withRoles(ownedGroup(), { carol: "owner", alice: "admin" }));
    await user.click(within(dialog).getByTestId("confirm-button"));
    expect(ipc.setMemberRole).toHaveBeenCalledWith("club", "carol", "owner");
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(memberRow("carol").getAttribute("data-role")).toBe("owner");
    expect(memberRow("alice").getAttribute("data-role")).toBe("admin");
    // Now an admin: no dismissing, no roles; removing plain members only.
    expect(screen.queryByTestId("dismiss-group")).toBeNull();
    expect(within(memberRow("carol")).queryByTestId("member-more")).toBeNull();
    expect(within(memberRow("bob")).queryByTestId("member-more")).toBeNull();
  });

  it("renames the group in place: Enter saves, Escape cancels and keeps the panel open", async () => {
    const { user } = await openGroup(group("admin"));
    await user.click(screen.getByTestId("group-rename"));
    const input = screen.getByTestId("group-name-input") as HTMLInputElement;
    expect(input.value).toBe("Book club");
    expect(document.activeElement).toBe(input);
    await user.clear(input);
    await user.type(input, "Readers{Escape}");
    expect(ipc.renameGroup).not.toHaveBeenCalled();
    expect(screen.queryByTestId("group-name-input")).toBeNull();
    expect(screen.getByTestId("group-name").textContent).toBe("Book club");
    expect(screen.getByTestId("details-panel")).toBeTruthy();

    await user.click(screen.getByTestId("group-rename"));
    ipc.renameGroup.mockResolvedValueOnce({ ...group("admin"), name: "Readers", version: 5 });
    await user.clear(screen.getByTestId("group-name-input"));
    await user.type(screen.getByTestId("group-name-input"), "  Readers {Enter}");
    expect(ipc.renameGroup).toHaveBeenCalledWith("club", "Readers");
    await waitFor(() => expect(screen.getByTestId("group-name").textContent).toBe("Readers"));
    expect(screen.queryByTestId("group-name-input")).toBeNull();
  });

  it("shows why a name wasn't taken, and keeps the field to fix it", async () => {
    const { user } = await openGroup(group("owner"));
    await user.click(screen.getByTestId("group-rename"));
    await user.clear(screen.getByTestId("group-name-input"));
    await user.type(screen.getByTestId("group-name-input"), "   {Enter}");
    expect(ipc.renameGroup).not.toHaveBeenCalled();
    expect(screen.getByTestId("rename-error").textContent).toContain("A group name is 1 to 128 characters");

    ipc.renameGroup.mockRejectedValueOnce({ code: "not_admin", message: "403" });
    await user.type(screen.getByTestId("group-name-input"), "Club{Enter}");
    expect(ipc.renameGroup).toHaveBeenCalledWith("club", "Club");
    await waitFor(() => expect(screen.getByTestId("rename-error").textContent).toBe(
      "Only the group's admins can do that. Ask an admin of the group.",
    ));
    expect((screen.getByTestId("group-name-input") as HTMLInputElement).value).toBe("   Club");
  });

  it("lets only the owner dismiss the group, after confirming", async () => {
    const { user } = await openGroup(ownedGroup());
    await user.click(screen.getByTestId("dismiss-group"));
    const dialog = screen.getByRole("dialog", { name: "Dismiss Book club?" });
    expect(dialog.textContent).toContain("The group ends for everyone");
    expect(ipc.dismissGroup).not.toHaveBeenCalled();
    ipc.dismissGroup.mockResolvedValueOnce({ ...ownedGroup(), joined: false, members: [], version: 5 });
    await user.click(within(dialog).getByTestId("confirm-button"));
    expect(ipc.dismissGroup).toHaveBeenCalledWith("club");
    expect(await screen.findByText("You're not a member of this group any more.")).toBeTruthy();
    expect(screen.queryByTestId("dismiss-group")).toBeNull();
    expect(screen.queryByTestId("leave-group")).toBeNull();
  });
});
