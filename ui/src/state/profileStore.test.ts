import { describe, expect, it } from "vitest";
import { PICTURE_URL, profile } from "../test/fixtures";
import * as ipc from "../test/ipcMock";
import { displayName, pictureOf, ProfileStore } from "./profileStore";

describe("profile store", () => {
  it("loads the profiles, names people by the name they chose, else by user id", async () => {
    ipc.getProfiles.mockResolvedValue([profile({ name: "Bob B." }), profile({ user_id: "carol", avatar: true })]);
    const store = new ProfileStore();
    await store.load();
    expect(store.get().loaded).toBe(true);
    expect(displayName(store.get(), "bob")).toBe("Bob B.");
    expect(displayName(store.get(), "carol")).toBe("carol");
    expect(displayName(store.get(), "dave")).toBe("dave");
    expect(store.nameOf("carol")).toBeNull();
  });

  it("takes changes, but never an older version than the one held", async () => {
    const store = new ProfileStore();
    store.apply(profile({ name: "Bob B.", version: 5 }));
    store.apply(profile({ name: "Old Bob", version: 4 }));
    expect(displayName(store.get(), "bob")).toBe("Bob B.");
    store.apply(profile({ name: null, version: 6 }));
    expect(displayName(store.get(), "bob")).toBe("bob");
    // A list read that started before the newer event arrived does not undo it.
    ipc.getProfiles.mockResolvedValue([profile({ name: "Stale", version: 3 })]);
    await store.load();
    expect(displayName(store.get(), "bob")).toBe("bob");
  });

  it("reads a picture once per version, and again when it changes", async () => {
    ipc.getAvatar.mockResolvedValue(PICTURE_URL);
    const store = new ProfileStore();
    // No picture: nothing is read.
    store.apply(profile({ avatar: false }));
    await store.ensurePicture("bob");
    expect(ipc.getAvatar).not.toHaveBeenCalled();
    expect(pictureOf(store.get(), "bob")).toBeNull();

    store.apply(profile({ avatar: true, version: 2 }));
    await Promise.all([store.ensurePicture("bob"), store.ensurePicture("bob")]);
    await store.ensurePicture("bob");
    expect(ipc.getAvatar).toHaveBeenCalledTimes(1);
    expect(pictureOf(store.get(), "bob")).toBe(PICTURE_URL);

    // A new picture: the old one is not shown while the new one is read.
    store.apply(profile({ avatar: true, version: 3 }));
    expect(pictureOf(store.get(), "bob")).toBeNull();
    ipc.getAvatar.mockResolvedValue("data:image/jpeg;base64,bmV3");
    await store.ensurePicture("bob");
    expect(ipc.getAvatar).toHaveBeenCalledTimes(2);
    expect(pictureOf(store.get(), "bob")).toBe("data:image/jpeg;base64,bmV3");

    // Removed: no picture, whatever was read before.
    store.apply(profile({ avatar: false, version: 4 }));
    expect(pictureOf(store.get(), "bob")).toBeNull();
  });
});
