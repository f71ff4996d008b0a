//! An image at full size: the thumbnail (or its blurhash) while the picture is decrypted, then
//! the picture fitted to the window; zoom in and out (buttons, + and −, 0 to fit) and Save as….

import { useEffect, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import type { CommandError, FileInfo, Message } from "../../lib/types";
import { Modal } from "../../components/Modal";
import { ErrorNote } from "../../components/ErrorNote";
import { Blurhash } from "../../components/Blurhash";
import { ZoomInIcon, ZoomOutIcon } from "../../components/icons";
import { useSaveAs } from "./useSaveAs";

/** Zoom steps; 0 is "fit to the window". */
const ZOOMS = [0, 1, 1.5, 2, 3, 4];

interface ImageViewerProps {
  message: Message;
  file: FileInfo;
  thumbnail: string | null;
  onClose: () => void;
}

export function ImageViewer({ message: m, file, thumbnail, onClose }: ImageViewerProps) {
  const [full, setFull] = useState<string | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [zoom, setZoom] = useState(0);
  const saving = useSaveAs(m, file);

  useEffect(() => {
    let live = true;
    ipc
      .fileImage(m.id)
      .then((url) => {
        if (live) setFull(url);
      })
      .catch((e: unknown) => {
        if (live) setError(asCommandError(e));
      });
    return () => {
      live = false;
    };
  }, [m.id]);

  const step = (delta: number) => setZoom((z) => Math.max(0, Math.min(ZOOMS.length - 1, z + delta)));
  // Wherever the focus is in the dialog (it starts on Close): + and − zoom, 0 fits.
  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "+" || e.key === "=") setZoom((z) => Math.min(ZOOMS.length - 1, z + 1));
      else if (e.key === "-") setZoom((z) => Math.max(0, z - 1));
      else if (e.key === "0") setZoom(0);
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, []);

  const scale = ZOOMS[zoom] ?? 0;
  const image = file.image;
  const sizeStyle =
    scale === 0 || !image ? undefined : { width: image.width * scale, height: image.height * scale, maxWidth: "none", maxHeight: "none" };

  return (
    <Modal title={file.name} onClose={onClose} className="modal--viewer" testId="image-viewer">
      <div className="viewer">
        <div className={scale === 0 ? "viewer__stage" : "viewer__stage viewer__stage--zoomed"} data-testid="viewer-stage">
          {full ? (
            <img className="viewer__img" src={full} alt={m.body || file.name} style={sizeStyle} data-testid="viewer-image" />
          ) : thumbnail ? (
            <img className="viewer__img viewer__img--preview" src={thumbnail} alt="" data-testid="viewer-preview" />
          ) : image ? (
            <Blurhash hash={image.blurhash} className="viewer__placeholder" />
          ) : null}
          {!full && !error ? (
            <p className="viewer__loading muted" role="status">
              Opening the picture…
            </p>
          ) : null}
        </div>
        {error ? <ErrorNote error={error} /> : null}
        <div className="viewer__tools">
          <button type="button" className="icon-button" onClick={() => step(-1)} disabled={zoom === 0} data-testid="viewer-zoom-out">
            <ZoomOutIcon label="Zoom out" />
          </button>
          <span className="viewer__zoom muted small" aria-live="polite" data-testid="viewer-zoom">
            {scale === 0 ? "Fit" : `${Math.round(scale * 100)}%`}
          </span>
          <button
            type="button"
            className="icon-button"
            onClick={() => step(1)}
            disabled={zoom === ZOOMS.length - 1}
            data-testid="viewer-zoom-in"
          >
            <ZoomInIcon label="Zoom in" />
          </button>
          <span className="viewer__spacer" />
          {saving.note}
          <button type="button" className="button" onClick={() => void saving.save()} disabled={saving.busy} data-testid="viewer-save">
            {saving.busy ? "Saving…" : "Save as…"}
          </button>
        </div>
      </div>
    </Modal>
  );
}
