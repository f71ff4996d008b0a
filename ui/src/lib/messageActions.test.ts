import { describe, expect, it } from "vitest";
import { message } from "../test/fixtures";
import { availableActions, lastEditable, messageLine, quoteLine, reactorNames } from "./messageActions";

describe("message actions", () => {
  it("offers edit and delete on my own messages only, and nothing on a tombstone", () => {
    expect(availableActions(message({ outgoing: true }))).toEqual({ reply: true, react: true, edit: true, delete: true, copy: true, info: true });
    expect(availableActions(message({ outgoing: false }))).toEqual({ reply: true, react: true, edit: false, delete: false, copy: true, info: false });
    const none = { reply: false, react: false, edit: false, delete: false, copy: false, info: false };
    expect(availableActions(message({ outgoing: true, deleted: true, body: "" }))).toEqual(none);
    expect(availableActions(message({ kind: "system", status: "system" }))).toEqual(none);
    expect(availableActions(message({ kind: "undecryptable", status: "undecryptable", body: "" }))).toEqual(none);
    // Never sent: only its text can be taken.
    expect(availableActions(message({ outgoing: true, status: "failed" }))).toEqual({ ...none, copy: true });
  });

  it("edits the newest of my texts with Up, skipping files, tombstones and failures", () => {
    const mine = message({ id: 1, outgoing: true, body: "mine" });
    const list = [
      mine,
      message({ id: 2, outgoing: false }),
      message({ id: 3, outgoing: true, deleted: true, body: "" }),
      message({ id: 4, outgoing: true, status: "failed" }),
      message({ id: 5, outgoing: true, kind: "file", file: { name: "a.txt", mime: "text/plain", size: 1, state: "local", image: null } }),
    ];
    expect(lastEditable(list)).toBe(mine);
    expect(lastEditable([message({ outgoing: false })])).toBeUndefined();
  });

  it("names reactors with me first, and quotes what is left of a message", () => {
    expect(reactorNames({ emoji: "👍", users: ["bob", "alice", "carol"] }, "alice")).toBe("You, bob and carol");
    expect(reactorNames({ emoji: "👍", users: ["bob"] }, "alice")).toBe("bob");
    expect(messageLine(message({ deleted: true, body: "" }))).toBe("Message deleted");
    expect(
      messageLine(message({ kind: "file", body: "", file: { name: "a.pdf", mime: "application/pdf", size: 1, state: "local", image: null } })),
    ).toBe("📎 a.pdf");
    const quote = { sender_user: "bob", message_id: "m1", id: 7, body: "hi", deleted: false };
    expect(quoteLine(quote)).toBe("hi");
    expect(quoteLine({ ...quote, deleted: true, body: "" })).toBe("Message deleted");
    expect(quoteLine({ ...quote, id: null, body: "" })).toBe("The original message is not on this device");
  });
});
