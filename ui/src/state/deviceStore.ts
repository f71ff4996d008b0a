//! This account's devices as far as the window needs them: whether this device is confirmed by
//! the user's identity (until it is, it reads nothing: the banner), the emoji comparisons of this
//! session by id, which one the comparison dialog shows, and a revision the devices list reloads on.

import { Store } from "../lib/store";
import { isFinished } from "../lib/verification";
import type { VerificationView } from "../lib/types";

export interface DeviceState {
  /** null until asked. */
  thisConfirmed: boolean | null;
  verifications: Record<string, VerificationView>;
  /** The comparison shown in the dialog. */
  shown: string | null;
  /** Moves when this account's devices changed (a device confirmed, added or removed). */
  revision: number;
  /** Confirming a device also copies this device's one-to-one conversations to it. */
  copyHistory: boolean;
}

export class DeviceStore extends Store<DeviceState> {
  constructor() {
    super({ thisConfirmed: null, verifications: {}, shown: null, revision: 0, copyHistory: true });
  }

  setThisConfirmed(thisConfirmed: boolean): void {
    this.set((s) => (s.thisConfirmed === thisConfirmed ? s : { ...s, thisConfirmed }));
  }

  /**
   * A comparison started or moved on. One the other device started is shown at once while it
   * runs (this device accepts it by itself; the person has to compare). One that ended with
   * this device confirmed makes this device confirmed.
   */
  apply(view: VerificationView): void {
    this.set((s) => {
      const known = s.verifications[view.id] !== undefined;
      const show = !view.we_started && !known && !isFinished(view) && s.shown === null;
      const confirmedHere = !view.we_started && view.state.state === "done" && view.state.device_confirmed;
      const changedDevices = view.we_started && view.state.state === "done" && view.state.device_confirmed;
      return {
        ...s,
        verifications: { ...s.verifications, [view.id]: view },
        shown: show ? view.id : s.shown,
        thisConfirmed: confirmedHere ? true : s.thisConfirmed,
        revision: changedDevices ? s.revision + 1 : s.revision,
      };
    });
  }

  /** The comparisons read at start: a running one the other device started is shown. */
  applyAll(views: readonly VerificationView[]): void {
    for (const view of views) this.apply(view);
  }

  show(id: string | null): void {
    this.set((s) => (s.shown === id ? s : { ...s, shown: id }));
  }

  setCopyHistory(copyHistory: boolean): void {
    this.set((s) => (s.copyHistory === copyHistory ? s : { ...s, copyHistory }));
  }

  devicesChanged(): void {
    this.set((s) => ({ ...s, revision: s.revision + 1 }));
  }
}
