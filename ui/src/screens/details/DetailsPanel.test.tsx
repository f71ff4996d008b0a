import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { LocalGroup, Role } from "../../lib/types";
import { conversation, DAY, NOW } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";
import { safetyGroups } from "./SafetyNumber";

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
    expect(screen.getByText("Book club", { selector: "h3" })).toBeTruthy();
    const rows = screen.getAllByTestId("member-row");
    expect(rows.map((r) => r.getAttribute("data-user-id"))).toEqual(["olga", "alice", "bob"]);
    // An admin can't remove the owner, nor themselves (they leave instead).
    const removable = rows.filter((r) => within(r).queryByTestId("member-remove")).map((r) => r.getAttribute("data-user-id"));
    expect(removable).toEqual(["bob"]);

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
    const bob = screen.getAllByTestId("member-row").find((r) => r.getAttribute("data-user-id") === "bob");
    await user.click(within(bob as HTMLElement).getByTestId("member-remove"));
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
    expect(screen.queryByTestId("member-remove")).toBeNull();
    expect(screen.getByTestId("leave-group")).toBeTruthy();
  });

  it("shows a plain error when the server refuses", async () => {
    const { user } = await openGroup(group("owner"));
    ipc.removeMember.mockRejectedValueOnce({ code: "not_admin", message: "403" });
    const bob = screen.getAllByTestId("member-row").find((r) => r.getAttribute("data-user-id") === "bob");
    await user.click(within(bob as HTMLElement).getByTestId("member-remove"));
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
