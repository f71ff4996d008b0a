//! Files on the move and files about to go: the progress of each running upload or download
//! (from `file_progress` events, by message row; gone once the message changes or the download
//! ends), and the files waiting in the preview sheet before they are sent (picked, dropped or
//! pasted), with whether something is being dragged over the window.

import { Store } from "../lib/store";
import type { ConversationId, Transfer } from "../lib/types";

export interface TransferProgress {
  direction: Transfer;
  done: number;
  total: number;
}

/** A file chosen to send, not sent yet. */
export type PendingFile =
  /** A file on disk (picked or dropped): the engine reads it from its path. */
  | { kind: "path"; path: string }
  /** A pasted image (no file of its own): its bytes in base64, and a picture to show. */
  | { kind: "pasted"; name: string; size: number; base64: string; dataUrl: string };

export interface TransferState {
  progress: Record<number, TransferProgress>;
  /** The preview sheet: files waiting to be sent to one conversation. */
  pending: { conversationId: ConversationId; files: PendingFile[] } | null;
  /** Files are being dragged over the window. */
  dragging: boolean;
}

/** How many thumbnails to keep in memory (a few screens of images). */
const THUMBNAILS_KEPT = 300;

export class TransferStore extends Store<TransferState> {
  /** Thumbnails (`data:` URLs) by message row, so a row scrolled back into view shows at once. */
  private readonly thumbnails = new Map<number, string>();

  constructor() {
    super({ progress: {}, pending: null, dragging: false });
  }

  thumbnail(row: number): string | undefined {
    return this.thumbnails.get(row);
  }

  keepThumbnail(row: number, url: string): void {
    this.thumbnails.set(row, url);
    if (this.thumbnails.size > THUMBNAILS_KEPT) {
      const oldest = this.thumbnails.keys().next();
      if (!oldest.done) this.thumbnails.delete(oldest.value);
    }
  }

  progress(row: number, progress: TransferProgress): void {
    this.set((s) => ({ ...s, progress: { ...s.progress, [row]: progress } }));
  }

  /** The transfer of `row` ended (its message changed, or the download returned). */
  ended(row: number): void {
    this.set((s) => {
      if (!(row in s.progress)) return s;
      const progress = { ...s.progress };
      delete progress[row];
      return { ...s, progress };
    });
  }

  /** Opens the preview sheet (or adds to it, for the same conversation). */
  offer(conversationId: ConversationId, files: PendingFile[]): void {
    if (files.length === 0) return;
    this.set((s) => ({
      ...s,
      dragging: false,
      pending:
        s.pending && s.pending.conversationId === conversationId
          ? { conversationId, files: [...s.pending.files, ...files] }
          : { conversationId, files },
    }));
  }

  /** One file of the sheet went out: it leaves the sheet. */
  sent(file: PendingFile): void {
    this.set((s) => {
      if (!s.pending) return s;
      const files = s.pending.files.filter((f) => f !== file);
      return files.length === s.pending.files.length ? s : { ...s, pending: { ...s.pending, files } };
    });
  }

  /** Closes the preview sheet (sent, or given up). */
  clearPending(): void {
    this.set((s) => (s.pending === null ? s : { ...s, pending: null }));
  }

  setDragging(dragging: boolean): void {
    this.set((s) => (s.dragging === dragging ? s : { ...s, dragging }));
  }
}
