//! The sheet before files go out: each file as it will be sent (an image's picture, or a card
//! with its name and size), a caption, Send and Cancel. Enter sends, Shift+Enter adds a line,
//! Escape cancels. Nothing is sent until Send; a refusal keeps the sheet open with the files not
//! sent yet and says why.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { baseName, describeType, fileKind, formatSize } from "../../lib/files";
import { useStore } from "../../lib/store";
import type { CommandError, Conversation, FilePreview } from "../../lib/types";
import { useSession } from "../../state/context";
import { useConversationTitle } from "../../state/people";
import type { PendingFile } from "../../state/transferStore";
import { Modal } from "../../components/Modal";
import { ErrorNote } from "../../components/ErrorNote";
import { FileIcon } from "../../components/icons";

export function AttachmentSheet({ conversation }: { conversation: Conversation }) {
  const session = useSession();
  const pending = useStore(session.transfers, (s) => s.pending);
  if (!pending || pending.conversationId !== conversation.id || pending.files.length === 0) return null;
  return <Sheet conversation={conversation} files={pending.files} />;
}

function Sheet({ conversation, files }: { conversation: Conversation; files: PendingFile[] }) {
  const session = useSession();
  const to = useConversationTitle(conversation);
  const [caption, setCaption] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);

  const cancel = () => {
    if (!sending) session.transfers.clearPending();
  };

  const send = async () => {
    if (sending) return;
    setSending(true);
    setError(null);
    try {
      // One by one, so a refusal leaves only the files not sent yet in the sheet.
      for (const [i, file] of files.entries()) {
        await session.sendFiles(conversation.id, [file], i === 0 ? caption.trim() : "");
        // The caption went with the first file; a later refusal must not send it twice.
        if (i === 0) setCaption("");
        session.transfers.sent(file);
      }
      session.transfers.clearPending();
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setSending(false);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  const title = files.length === 1 ? `Send a file to ${to}` : `Send ${files.length} files to ${to}`;
  return (
    <Modal title={title} onClose={cancel} className="modal--attach" testId="attachment-sheet">
      <form
        className="attach"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <ul className="attach__files" aria-label="Files to send">
          {files.map((file, i) => (
            <li key={file.kind === "path" ? file.path : `pasted-${i}`} className="attach__file">
              <PendingItem file={file} />
            </li>
          ))}
        </ul>
        <label className="field">
          <span className="field__label">Caption (optional)</span>
          <textarea
            className="field__input attach__caption"
            rows={2}
            value={caption}
            onChange={(e) => setCaption(e.target.value)}
            onKeyDown={onKeyDown}
            autoFocus
            data-testid="attach-caption"
          />
        </label>
        {error ? <ErrorNote error={error} context={{ userId: conversation.kind === "direct" ? conversation.peer : undefined }} /> : null}
        <div className="modal__actions">
          <button type="button" className="button" onClick={cancel} disabled={sending} data-testid="attach-cancel">
            Cancel
          </button>
          <button type="submit" className="button button--primary" disabled={sending} data-testid="attach-send">
            {sending ? "Sending…" : "Send"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** One file in the sheet: a picture of an image, or a card. */
function PendingItem({ file }: { file: PendingFile }) {
  const [preview, setPreview] = useState<FilePreview | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const path = file.kind === "path" ? file.path : null;

  useEffect(() => {
    if (!path) return;
    let live = true;
    ipc
      .filePreview(path)
      .then((p) => {
        if (live) setPreview(p);
      })
      .catch((e: unknown) => {
        if (live) setError(asCommandError(e));
      });
    return () => {
      live = false;
    };
  }, [path]);

  const name = file.kind === "pasted" ? file.name : (preview?.name ?? baseName(file.path));
  const size = file.kind === "pasted" ? file.size : preview?.size;
  const picture = file.kind === "pasted" ? file.dataUrl : (preview?.image?.url ?? null);
  return (
    <div className="attach__item" data-testid="attach-item">
      {picture ? (
        <img className="attach__picture" src={picture} alt={`Picture ${name}`} data-testid="attach-picture" />
      ) : (
        <FileIcon className="file-card__icon" kind={fileKind(guessType(name))} />
      )}
      <div className="attach__about">
        <p className="file-card__name" title={name}>
          {name}
        </p>
        <p className="muted small">
          {size === undefined ? "" : `${formatSize(size)} · `}
          {picture ? "Picture" : describeType(guessType(name), name)}
        </p>
        {error ? (
          <p className="file-card__error small" role="alert">
            {error.message || "This file can't be read."}
          </p>
        ) : null}
      </div>
    </div>
  );
}

/** A rough type from a name, for the icon only (the engine decides the real one). */
function guessType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  if (["png", "jpg", "jpeg", "gif", "webp", "bmp", "heic"].includes(ext)) return "image/" + ext;
  if (["mp4", "mov", "webm", "mkv"].includes(ext)) return "video/" + ext;
  if (["mp3", "ogg", "wav", "m4a", "flac"].includes(ext)) return "audio/" + ext;
  if (ext === "pdf") return "application/pdf";
  if (["txt", "md", "csv", "json"].includes(ext)) return "text/plain";
  if (["zip", "gz", "tar", "7z", "rar", "xz"].includes(ext)) return "application/zip";
  if (["doc", "docx", "odt", "xls", "xlsx", "ods", "ppt", "pptx", "odp", "rtf"].includes(ext)) return "application/vnd.oasis.opendocument.text";
  return "application/octet-stream";
}
