import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/types";
import { conversation, message } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { openConversation, renderApp } from "../../test/render";

const PICTURE = "data:image/jpeg;base64,/9j/4AAQ";

async function setup() {
  ipc.sendFile.mockImplementation(
    async (conversationId, path, caption): Promise<Message> =>
      message({
        id: 700 + ipc.sendFile.mock.calls.length,
        conversation_id: conversationId,
        kind: "file",
        body: caption,
        outgoing: true,
        status: "queued",
        file: { name: path.split("/").pop() ?? path, mime: "application/pdf", size: 1234, state: "uploading", image: null },
      }),
  );
  ipc.filePreview.mockImplementation(async (path) =>
    path.endsWith(".jpg")
      ? { name: "beach.jpg", size: 3_100_000, image: { width: 1600, height: 1200, url: PICTURE } }
      : { name: path.split("/").pop() ?? path, size: 48_213, image: null },
  );
  const r = await renderApp({ conversations: [conversation({ peer: "bob" })] });
  await openConversation(r.user, "u:bob");
  return r;
}

describe("sending files", () => {
  it("attaches a file through the file chooser, shows it with a caption field, and sends it on Enter", async () => {
    ipc.choosePath.mockResolvedValue("/home/alice/report.pdf");
    const { user } = await setup();
    await user.click(screen.getByTestId("composer-attach"));
    expect(ipc.choosePath).toHaveBeenCalledWith("attach_file", "");

    const sheet = await screen.findByTestId("attachment-sheet");
    expect(within(sheet).getByRole("heading").textContent).toBe("Send a file to bob");
    await waitFor(() => expect(sheet.textContent).toContain("48 KB · PDF document"));
    expect(sheet.textContent).toContain("report.pdf");
    expect(ipc.filePreview).toHaveBeenCalledWith("/home/alice/report.pdf");

    // The caption field has focus; Shift+Enter adds a line, Enter sends.
    await user.keyboard("the numbers{Shift>}{Enter}{/Shift}for March{Enter}");
    expect(ipc.sendFile).toHaveBeenCalledWith("u:bob", "/home/alice/report.pdf", "the numbers\nfor March");
    await waitFor(() => expect(screen.queryByTestId("attachment-sheet")).toBeNull());
    const sent = await screen.findByTestId("file-card");
    expect(sent.textContent).toContain("report.pdf");
  });

  it("shows an image's picture before sending", async () => {
    ipc.choosePath.mockResolvedValue("/home/alice/beach.jpg");
    const { user } = await setup();
    await user.click(screen.getByTestId("composer-attach"));
    const picture = await screen.findByTestId("attach-picture");
    expect(picture.getAttribute("src")).toBe(PICTURE);
    expect(screen.getByTestId("attachment-sheet").textContent).toContain("3.1 MB · Picture");
  });

  it("cancels with Escape or Cancel and sends nothing; a closed chooser opens no sheet", async () => {
    ipc.choosePath.mockResolvedValueOnce(null);
    ipc.choosePath.mockResolvedValue("/home/alice/report.pdf");
    const { user } = await setup();
    await user.click(screen.getByTestId("composer-attach"));
    await waitFor(() => expect(ipc.choosePath).toHaveBeenCalledTimes(1));
    expect(screen.queryByTestId("attachment-sheet")).toBeNull();

    await user.click(screen.getByTestId("composer-attach"));
    await screen.findByTestId("attachment-sheet");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("attachment-sheet")).toBeNull());

    await user.click(screen.getByTestId("composer-attach"));
    await user.click(await screen.findByTestId("attach-cancel"));
    await waitFor(() => expect(screen.queryByTestId("attachment-sheet")).toBeNull());
    expect(ipc.sendFile).not.toHaveBeenCalled();
  });

  it("keeps the sheet open with the reason in words when sending is refused", async () => {
    ipc.choosePath.mockResolvedValue("/home/alice/report.pdf");
    const { user } = await setup();
    ipc.sendFile.mockRejectedValueOnce({ code: "blob_too_large", message: "too large" });
    await user.click(screen.getByTestId("composer-attach"));
    await user.click(await screen.findByTestId("attach-send"));
    const sheet = screen.getByTestId("attachment-sheet");
    expect((await within(sheet).findByRole("alert")).textContent).toContain("larger than the server takes");
    await user.click(within(sheet).getByTestId("attach-send"));
    await waitFor(() => expect(screen.queryByTestId("attachment-sheet")).toBeNull());
    expect(ipc.sendFile).toHaveBeenCalledTimes(2);
  });

  it("takes files dropped on the window, showing where they will go while dragged", async () => {
    await setup();
    ipc.emitFileDrop({ type: "enter" });
    expect(screen.getByTestId("drop-target").textContent).toBe("Drop to send to bob");
    ipc.emitFileDrop({ type: "leave" });
    expect(screen.queryByTestId("drop-target")).toBeNull();

    ipc.emitFileDrop({ type: "enter" });
    ipc.emitFileDrop({ type: "drop", paths: ["/home/alice/a.pdf", "/home/alice/b.txt"] });
    expect(screen.queryByTestId("drop-target")).toBeNull();
    const sheet = await screen.findByTestId("attachment-sheet");
    expect(within(sheet).getByRole("heading").textContent).toBe("Send 2 files to bob");
    expect(within(sheet).getAllByTestId("attach-item")).toHaveLength(2);
    fireEvent.change(within(sheet).getByTestId("attach-caption"), { target: { value: "both" } });
    fireEvent.click(within(sheet).getByTestId("attach-send"));
    await waitFor(() => expect(screen.queryByTestId("attachment-sheet")).toBeNull());
    // The caption goes with the first file only.
    expect(ipc.sendFile.mock.calls).toEqual([
      ["u:bob", "/home/alice/a.pdf", "both"],
      ["u:bob", "/home/alice/b.txt", ""],
    ]);
  });

  it("sends a pasted image from its bytes, with a picture of it in the sheet", async () => {
    ipc.sendPastedImage.mockImplementation(
      async (conversationId, _data, caption): Promise<Message> =>
        message({ id: 800, conversation_id: conversationId, kind: "file", body: caption, outgoing: true, status: "queued", file: { name: "Pasted image.png", mime: "image/png", size: 4, state: "uploading", image: null } }),
    );
    await setup();
    const png = new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], "image.png", { type: "image/png" });
    fireEvent.paste(screen.getByTestId("composer"), { clipboardData: { files: [png], types: ["Files"], getData: () => "" } });
    const sheet = await screen.findByTestId("attachment-sheet");
    const picture = await within(sheet).findByTestId("attach-picture");
    expect(picture.getAttribute("src")).toBe("data:image/png;base64,iVBORw==");
    fireEvent.click(within(sheet).getByTestId("attach-send"));
    await waitFor(() => expect(ipc.sendPastedImage).toHaveBeenCalledWith("u:bob", "iVBORw==", ""));
    expect(ipc.sendFile).not.toHaveBeenCalled();
  });

  it("reads the system's clipboard when the paste carries nothing (WebKitGTK with a picture copied)", async () => {
    ipc.clipboardImage.mockResolvedValue({ base64: "iVBORw0KGgo=", size: 8 });
    await setup();
    fireEvent.paste(screen.getByTestId("composer"), { clipboardData: { files: [], types: [], getData: () => "" } });
    const picture = await screen.findByTestId("attach-picture");
    expect(picture.getAttribute("src")).toBe("data:image/png;base64,iVBORw0KGgo=");
    fireEvent.click(screen.getByTestId("attach-send"));
    await waitFor(() => expect(ipc.sendPastedImage).toHaveBeenCalledWith("u:bob", "iVBORw0KGgo=", ""));
  });

  it("lets text paste as text", async () => {
    await setup();
    fireEvent.paste(screen.getByTestId("composer"), {
      clipboardData: { files: [], types: ["text/plain"], getData: () => "hello" },
    });
    expect(screen.queryByTestId("attachment-sheet")).toBeNull();
    expect(ipc.clipboardImage).not.toHaveBeenCalled();
  });
});
