import { describe, expect, it } from "vitest";
import { message } from "../test/fixtures";
import { deliveryOf, deliveryTitle, groupReceipts } from "./receipts";

const direct = (delivered: string[], read: string[], partial = {}) =>
  message({ outgoing: true, conversation_id: "u:bob", receipts: { recipients: 1, delivered, read }, ...partial });
const group = (delivered: string[], read: string[], recipients = 3) =>
  message({ outgoing: true, conversation_id: "g:club", receipts: { recipients, delivered, read } });

describe("delivery of my messages", () => {
  it("one to one: from the peer's receipts", () => {
    expect(deliveryOf(direct([], [], { status: "queued" }))).toBe("queued");
    expect(deliveryOf(direct([], []))).toBe("sent");
    expect(deliveryOf(direct(["bob"], []))).toBe("delivered");
    expect(deliveryOf(direct(["bob"], ["bob"]))).toBe("read");
    // Someone else's receipt in a one-to-one conversation says nothing about the peer.
    expect(deliveryOf(direct(["mallory"], ["mallory"]))).toBe("sent");
    // A failed send stays failed, whatever came before.
    expect(deliveryOf(direct(["bob"], ["bob"], { status: "failed" }))).toBe("failed");
  });

  it("in a group: a step once every other member reached it", () => {
    expect(deliveryOf(group([], []))).toBe("sent");
    expect(deliveryOf(group(["bob", "carol"], ["bob"]))).toBe("sent");
    expect(deliveryOf(group(["bob", "carol", "dave"], ["bob"]))).toBe("delivered");
    expect(deliveryOf(group(["bob", "carol", "dave"], ["bob", "carol", "dave"]))).toBe("read");
    // Alone in the group: nobody to wait for, and nothing to claim.
    expect(deliveryOf(group([], [], 0))).toBe("sent");
  });

  it("is nothing for others' messages", () => {
    expect(deliveryOf(message({ outgoing: false }))).toBeNull();
  });

  it("says in the tooltip how many so far in a group", () => {
    const m = group(["bob", "carol"], ["bob"]);
    expect(deliveryTitle(m, "sent")).toBe("Sent — delivered to 2 of 3");
    const all = group(["bob", "carol", "dave"], ["bob"]);
    expect(deliveryTitle(all, "delivered")).toBe("Delivered to everyone — read by 1 of 3");
    expect(deliveryTitle(direct(["bob"], []), "delivered")).toBe("Delivered");
  });

  it("splits a group message's receipts into read, delivered and not yet", () => {
    const m = group(["carol", "bob"], ["bob"]);
    expect(groupReceipts(m, ["alice", "bob", "carol", "dave"], "alice")).toEqual({
      read: ["bob"],
      delivered: ["carol"],
      waiting: ["dave"],
      recipients: 3,
    });
    expect(groupReceipts(m, null, "alice").waiting).toBeNull();
  });
});
