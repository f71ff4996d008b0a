import { beforeEach, describe, expect, it } from "vitest";
import { message } from "../test/fixtures";
import * as ipc from "../test/ipcMock";
import { MessageStore } from "./messageStore";

describe("MessageStore", () => {
  let store: MessageStore;
  beforeEach(async () => {
    store = new MessageStore();
    ipc.loadMessages.mockResolvedValue([message({ id: 1 })]);
    await store.ensureLoaded("u:bob");
  });

  const ids = () => store.get()["u:bob"]?.messages.map((m) => `${m.id}:${m.status}`);

  it("keeps a status event that overtook the send reply", () => {
    const since = store.mark();
    const queued = message({ id: 2, outgoing: true, status: "queued" });
    store.changed({ ...queued, status: "sent" }); // event first, for a message not shown yet
    store.applyResult(queued, since);
    expect(ids()).toEqual(["1:received", "2:sent"]);
  });

  it("moves a message whose place changed when the server took it", () => {
    // Written on a clock running ahead, then given the server's (earlier) time.
    const queued = message({ id: 2, outgoing: true, status: "queued", ts: Date.now() + 60_000 });
    store.add(queued);
    store.add(message({ id: 3, ts: Date.now(), server_ts: Date.now() }));
    expect(ids()).toEqual(["1:received", "3:received", "2:queued"]);
    store.changed({ ...queued, status: "sent", server_ts: Date.now() - 1000 });
    expect(ids()).toEqual(["1:received", "2:sent", "3:received"]);
  });

  it("keeps the quotes of loaded replies up to date with their original, loaded or not", () => {
    const quote = (id: number) => store.get()["u:bob"]?.messages.find((m) => m.id === id)?.reply_to;
    const reply = message({
      id: 5,
      reply_to: { sender_user: "bob", message_id: "m-orig", id: null, body: "", deleted: false },
    });
    store.add(reply);
    // The original arrives late (it was not on this device when the reply came).
    const original = message({ id: 4, sender_user: "bob", message_id: "m-orig", body: "see you at 5" });
    store.add(original);
    expect(quote(5)).toMatchObject({ id: 4, body: "see you at 5", deleted: false });
    // Edited: the quote follows, even with the original out of the loaded window.
    store.removed("u:bob", 4);
    store.changed({ ...original, body: "see you at 6", edited: true });
    expect(quote(5)).toMatchObject({ body: "see you at 6" });
    store.changed({ ...original, body: "", deleted: true });
    expect(quote(5)).toMatchObject({ deleted: true });
    // A message by someone else with the same id changes nothing.
    store.changed({ ...original, sender_user: "carol", body: "other" });
    expect(quote(5)).toMatchObject({ deleted: true });
  });

  it("uses the reply when no event came after it was issued", () => {
    const failed = message({ id: 2, outgoing: true, status: "failed", reason: "offline" });
    store.add(failed);
    store.changed(failed);
    const since = store.mark();
    store.applyResult({ ...failed, status: "queued", reason: null }, since);
    expect(ids()).toEqual(["1:received", "2:queued"]);
  });

  it("doesn't append live messages to a window that ends before the newest (after a jump)", async () => {
    ipc.loadMessages.mockResolvedValue([]);
    ipc.loadMessagesAfter.mockResolvedValue(Array.from({ length: 25 }, (_, i) => message({ id: 100 + i })));
    await store.jumpTo(message({ id: 50 }));
    store.add(message({ id: 999 }));
    expect(store.get()["u:bob"]?.messages.some((m) => m.id === 999)).toBe(false);
    expect(store.get()["u:bob"]?.hasNewer).toBe(true);
    expect(store.get()["u:bob"]?.highlightId).toBe(50);
  });
});
