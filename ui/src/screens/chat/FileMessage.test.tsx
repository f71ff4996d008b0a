import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { FileInfo, Message } from "../../lib/types";
import { conversation, message } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

const PDF: FileInfo = { name: "report.pdf", mime: "application/pdf", size: 2_400_000, state: "remote", image: null };
const PHOTO: FileInfo = {
  name: "beach.jpg",
  mime: "image/jpeg",
  size: 3_100_000,
  state: "local",
  image: { width: 1600, height: 1200, blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj" },
};
const THUMB = "data:image/jpeg;base64,/9j/4AAQ";
const FULL = "data:image/jpeg;base64,/9j/FULL";

function fileMessage(partial: Partial<Message> & { file: FileInfo }): Message {
  return message({ kind: "file", body: "", ...partial });
}

async function show(...messages: Message[]) {
  const r = await renderApp({ conversations: [conversation({ peer: "bob" })], messages: { "u:bob": messages } });
  await openConversation(r.user, "u:bob");
  // The first screenful is drawn in a plain column, then the list takes over.
  await waitFor(() => expect(document.querySelector(".message-list__first")).toBeNull());
  return r;
}

function bubble(id: number): HTMLElement {
  const el = document.querySelector<HTMLElement>(`[data-testid="message"][data-message-id="${id}"]`);
  if (!el) throw new Error(`no message ${id}`);
  return el;
}

describe("file messages", () => {
  it("shows a file as a card with its name, size and type, and downloads it with progress and Cancel", async () => {
    const m = fileMessage({ id: 1, file: PDF });
    let finish: (m: Message) => void = () => undefined;
    ipc.downloadFile.mockImplementation(() => new Promise<Message>((resolve) => (finish = resolve)));
    const { user } = await show(m);

    const card = within(bubble(1)).getByTestId("file-card");
    expect(within(card).getByTestId("file-name").textContent).toBe("report.pdf");
    expect(card.textContent).toContain("2.4 MB · PDF document");
    await user.click(within(card).getByTestId("file-download"));
    expect(ipc.downloadFile).toHaveBeenCalledWith(1);

    ipc.emitClient({ type: "file_progress", message_row: 1, conversation_id: "u:bob", direction: "download", done: 1_200_000, total: 2_400_000 });
    const transfer = within(bubble(1)).getByTestId("transfer");
    expect(transfer.textContent).toContain("Downloading… 1.2 MB of 2.4 MB");
    expect(within(transfer).getByRole("progressbar").getAttribute("value")).toBe("50");
    await user.click(within(transfer).getByTestId("transfer-cancel"));
    expect(ipc.cancelTransfer).toHaveBeenCalledWith(1);

    // It finished anyway: the card now offers Save as….
    const local = { ...m, file: { ...PDF, state: "local" as const } };
    ipc.emitClient({ type: "status_changed", message: local });
    finish(local);
    await within(bubble(1)).findByTestId("file-save");
    expect(within(bubble(1)).queryByTestId("transfer")).toBeNull();
  });

  it("says in words why a download failed, and nothing when it was cancelled", async () => {
    ipc.downloadFile.mockRejectedValueOnce({ code: "file_damaged", message: "hash mismatch" });
    const { user } = await show(fileMessage({ id: 2, file: PDF }));
    await user.click(within(bubble(2)).getByTestId("file-download"));
    const error = await within(bubble(2)).findByTestId("file-error");
    expect(error.textContent).toContain("changed or cut short");
    expect(error.textContent).not.toContain("file_damaged");

    ipc.downloadFile.mockRejectedValueOnce({ code: "cancelled", message: "" });
    await user.click(within(bubble(2)).getByTestId("file-download"));
    await waitFor(() => expect(within(bubble(2)).queryByTestId("file-error")).toBeNull());
  });

  it("saves a local file where the person chooses, suggesting its name", async () => {
    ipc.choosePath.mockResolvedValue("/home/alice/Downloads/report.pdf");
    ipc.saveFile.mockResolvedValue(2_400_000);
    const { user } = await show(fileMessage({ id: 3, file: { ...PDF, state: "local" } }));
    await user.click(within(bubble(3)).getByTestId("file-save"));
    expect(ipc.choosePath).toHaveBeenCalledWith("save_file", "report.pdf");
    expect(ipc.saveFile).toHaveBeenCalledWith(3, "/home/alice/Downloads/report.pdf");
    expect((await within(bubble(3)).findByTestId("file-saved")).textContent).toContain("/home/alice/Downloads/report.pdf");
  });

  it("says so when the chosen name is taken, and saves nothing when the chooser is closed", async () => {
    ipc.choosePath.mockResolvedValueOnce(null);
    ipc.choosePath.mockResolvedValueOnce("/home/alice/report.pdf");
    ipc.saveFile.mockRejectedValueOnce({ code: "file_exists", message: "/home/alice/report.pdf" });
    const { user } = await show(fileMessage({ id: 4, file: { ...PDF, state: "local" } }));
    await user.click(within(bubble(4)).getByTestId("file-save"));
    expect(ipc.saveFile).not.toHaveBeenCalled();
    await user.click(within(bubble(4)).getByTestId("file-save"));
    expect((await within(bubble(4)).findByTestId("file-error")).textContent).toContain("never overwrites");
  });

  it("shows an upload's progress with Cancel, then the reason in words and Try again", async () => {
    const m = fileMessage({ id: 5, outgoing: true, status: "queued", file: { ...PDF, state: "uploading" } });
    ipc.retryMessage.mockResolvedValue({ ...m, status: "queued" });
    const { user } = await show(m);
    expect(bubble(5).textContent).toContain("Waiting to send");

    ipc.emitClient({ type: "file_progress", message_row: 5, conversation_id: "u:bob", direction: "upload", done: 600_000, total: 2_400_000 });
    const transfer = within(bubble(5)).getByTestId("transfer");
    expect(transfer.textContent).toContain("Sending… 600 KB of 2.4 MB");
    await user.click(within(transfer).getByTestId("transfer-cancel"));
    expect(ipc.cancelTransfer).toHaveBeenCalledWith(5);

    ipc.emitClient({ type: "status_changed", message: { ...m, status: "failed", reason: "cancelled" } });
    expect(within(bubble(5)).queryByTestId("transfer")).toBeNull();
    expect(bubble(5).textContent).toContain("sending was stopped");
    const again = within(bubble(5)).getByTestId("message-retry");
    expect(again.textContent).toBe("Try again");
    await user.click(again);
    expect(ipc.retryMessage).toHaveBeenCalledWith(5);
  });

  it("words a refused upload", async () => {
    await show(
      fileMessage({ id: 6, outgoing: true, status: "failed", reason: "blob_too_large", file: { ...PDF, state: "uploading" } }),
    );
    expect(bubble(6).textContent).toContain("larger than the server takes");
  });

  it("paints an image's blurhash in its own shape, then its thumbnail, with the caption under it", async () => {
    let answer: (url: string | null) => void = () => undefined;
    ipc.fileThumbnail.mockImplementation(() => new Promise((resolve) => (answer = resolve)));
    await show(fileMessage({ id: 7, body: "the beach", file: PHOTO }));

    const image = within(bubble(7)).getByTestId("image-attachment");
    // 1600×1200 capped at 320 px: 320×240.
    expect(image.style.width).toBe("320px");
    expect(image.style.height).toBe("240px");
    const placeholder = within(image).getByTestId("blurhash");
    expect(placeholder.style.backgroundColor).toMatch(/^rgb\(/);
    expect(within(image).queryByTestId("image-thumbnail")).toBeNull();
    expect(ipc.fileThumbnail).toHaveBeenCalledWith(7);

    answer(THUMB);
    const thumb = await within(image).findByTestId("image-thumbnail");
    expect(thumb.getAttribute("src")).toBe(THUMB);
    fireEvent.load(thumb);
    expect(thumb.className).toContain("--loaded");
    expect(within(bubble(7)).getByTestId("message-body").textContent).toBe("the beach");
    expect(image.getAttribute("aria-label")).toContain("the beach");
  });

  it("opens an image in the viewer: the thumbnail first, then the full picture, zoom, and Save as…", async () => {
    ipc.fileThumbnail.mockResolvedValue(THUMB);
    let full: (url: string) => void = () => undefined;
    ipc.fileImage.mockImplementation(() => new Promise((resolve) => (full = resolve)));
    ipc.choosePath.mockResolvedValue("/home/alice/Downloads/beach.jpg");
    ipc.saveFile.mockResolvedValue(3_100_000);
    const { user } = await show(fileMessage({ id: 8, file: PHOTO }));
    await within(bubble(8)).findByTestId("image-thumbnail");

    await user.click(within(bubble(8)).getByTestId("image-attachment"));
    const viewer = await screen.findByTestId("image-viewer");
    expect(ipc.fileImage).toHaveBeenCalledWith(8);
    expect(within(viewer).getByTestId("viewer-preview").getAttribute("src")).toBe(THUMB);
    expect(viewer.textContent).toContain("Opening the picture");

    // Focus starts on Close; the keys zoom all the same.
    expect(document.activeElement).toBe(within(viewer).getByTestId("close-button"));
    full(FULL);
    const img = await within(viewer).findByTestId("viewer-image");
    expect(img.getAttribute("src")).toBe(FULL);
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("Fit");
    await user.keyboard("+");
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("100%");
    await user.keyboard("-");
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("Fit");
    await user.click(within(viewer).getByTestId("viewer-zoom-in"));
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("100%");
    expect(img.style.width).toBe("1600px");
    await user.keyboard("+");
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("150%");
    await user.keyboard("0");
    expect(within(viewer).getByTestId("viewer-zoom").textContent).toBe("Fit");

    await user.click(within(viewer).getByTestId("viewer-save"));
    expect(ipc.choosePath).toHaveBeenCalledWith("save_file", "beach.jpg");
    expect(ipc.saveFile).toHaveBeenCalledWith(8, "/home/alice/Downloads/beach.jpg");

    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("image-viewer")).toBeNull());
  });

  it("says in words when the full picture can't be opened", async () => {
    ipc.fileImage.mockRejectedValue({ code: "offline", message: "" });
    const { user } = await show(fileMessage({ id: 9, file: { ...PHOTO, state: "remote" } }));
    await user.click(within(bubble(9)).getByTestId("image-attachment"));
    const viewer = await screen.findByTestId("image-viewer");
    expect((await within(viewer).findByRole("alert")).textContent).toContain("Couldn't reach the server");
  });
});
