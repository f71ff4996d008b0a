//! A file message's bubble: an image inline (its blurhash first, then its thumbnail; a click
//! opens the viewer), or a card for any other file (icon by type, name, size, type) with what
//! can be done with it now — Download when it is on the server only, Save as… when it is here —
//! and, while it moves, a progress bar with Cancel. The caption sits under it.

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeError } from "../../lib/errors";
import { describeType, fileKind, formatSize, inlineSize, percentDone } from "../../lib/files";
import { useStore } from "../../lib/store";
import type { CommandError, FileInfo, Message } from "../../lib/types";
import { useSession } from "../../state/context";
import type { TransferProgress } from "../../state/transferStore";
import { Blurhash } from "../../components/Blurhash";
import { DownloadIcon, FileIcon } from "../../components/icons";
import { ImageViewer } from "./ImageViewer";
import { useSaveAs } from "./useSaveAs";
import { BubbleMeta } from "./BubbleMeta";

export function FileBubble({ message: m, file }: { message: Message; file: FileInfo }) {
  const session = useSession();
  const progress = useStore(session.transfers, (s) => s.progress[m.id]);
  return (
    <div className={file.image ? "bubble bubble--file bubble--image" : "bubble bubble--file"} data-file-state={file.state}>
      {file.image ? <ImageAttachment message={m} file={file} /> : <FileCard message={m} file={file} progress={progress} />}
      {file.image && progress ? <TransferBar message={m} progress={progress} /> : null}
      {m.body ? (
        <p className="bubble__body" data-testid="message-body">
          {m.body}
        </p>
      ) : null}
      <BubbleMeta message={m} />
    </div>
  );
}

/** A running upload or download: how far, and a way to stop it. */
export function TransferBar({ message: m, progress }: { message: Message; progress: TransferProgress }) {
  const session = useSession();
  const pct = percentDone(progress.done, progress.total);
  const label = progress.direction === "upload" ? "Sending" : "Downloading";
  return (
    <div className="transfer" data-testid="transfer">
      <progress
        className="task__bar transfer__bar"
        max={100}
        value={pct}
        aria-label={`${label} ${m.file?.name ?? "the file"}`}
        aria-valuetext={`${pct}%`}
      />
      <span className="transfer__text muted small">
        {label}… {formatSize(progress.done)} of {formatSize(progress.total)}
      </span>
      <button
        type="button"
        className="link-button"
        onClick={() => void session.cancelTransfer(m.id).catch(() => undefined)}
        data-testid="transfer-cancel"
      >
        Cancel
      </button>
    </div>
  );
}

function FileCard({ message: m, file, progress }: { message: Message; file: FileInfo; progress: TransferProgress | undefined }) {
  const session = useSession();
  const [error, setError] = useState<CommandError | null>(null);
  const saving = useSaveAs(m, file);
  const kind = fileKind(file.mime);

  const download = async () => {
    setError(null);
    try {
      await session.download(m.id);
    } catch (e) {
      const err = asCommandError(e);
      // Stopped on purpose: nothing to explain.
      if (err.code !== "cancelled") setError(err);
    }
  };

  let action = null;
  if (progress) {
    action = <TransferBar message={m} progress={progress} />;
  } else if (file.state === "remote") {
    action = (
      <button type="button" className="button button--small" onClick={() => void download()} data-testid="file-download">
        <DownloadIcon /> Download
      </button>
    );
  } else if (file.state === "local") {
    action = (
      <button
        type="button"
        className="button button--small"
        onClick={() => void saving.save()}
        disabled={saving.busy}
        data-testid="file-save"
      >
        {saving.busy ? "Saving…" : "Save as…"}
      </button>
    );
  } else if (m.status === "queued") {
    action = <span className="muted small">Waiting to send</span>;
  }

  return (
    <div className="file-card" data-testid="file-card">
      <FileIcon className="file-card__icon" kind={kind} />
      <div className="file-card__text">
        <p className="file-card__name" title={file.name} data-testid="file-name">
          {file.name}
        </p>
        <p className="file-card__about muted small">
          {formatSize(file.size)} · {describeType(file.mime, file.name)}
        </p>
        {action ? <div className="file-card__actions">{action}</div> : null}
        {saving.note}
        {error ? (
          <p className="file-card__error small" role="alert" data-testid="file-error">
            {describeError(error)}
          </p>
        ) : null}
      </div>
    </div>
  );
}

/** The thumbnail of an image message, fetched once per session (null: none, or not yet). */
function useThumbnail(id: number): string | null {
  const session = useSession();
  const [url, setUrl] = useState<string | null>(() => session.transfers.thumbnail(id) ?? null);
  useEffect(() => {
    if (url) return;
    let live = true;
    ipc
      .fileThumbnail(id)
      .then((got) => {
        if (!got) return;
        session.transfers.keepThumbnail(id, got);
        if (live) setUrl(got);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [id, url, session]);
  return url;
}

function ImageAttachment({ message: m, file }: { message: Message; file: FileInfo }) {
  const thumbnail = useThumbnail(m.id);
  const [loaded, setLoaded] = useState(false);
  const [viewing, setViewing] = useState(false);
  const image = file.image;
  if (!image) return null;
  const size = inlineSize(image);
  const label = m.body ? `Photo: ${m.body}` : `Photo ${file.name}`;
  return (
    <>
      <button
        type="button"
        className="image-attachment"
        style={{ width: size.width, height: size.height }}
        onClick={() => setViewing(true)}
        aria-label={`${label}. Open it larger`}
        data-testid="image-attachment"
      >
        <Blurhash hash={image.blurhash} className="image-attachment__placeholder" />
        {thumbnail ? (
          <img
            className={loaded ? "image-attachment__img image-attachment__img--loaded" : "image-attachment__img"}
            src={thumbnail}
            alt=""
            width={size.width}
            height={size.height}
            onLoad={() => setLoaded(true)}
            data-testid="image-thumbnail"
          />
        ) : null}
      </button>
      {viewing ? <ImageViewer message={m} file={file} thumbnail={thumbnail} onClose={() => setViewing(false)} /> : null}
    </>
  );
}
