//! The emoji comparison (confirming a device, or verifying a contact), in plain words: why one stopped, and whether it
//! is still running.

import type { VerificationView } from "./types";

/** Whether the comparison ended (confirmed, or stopped). */
export function isFinished(v: VerificationView): boolean {
  return v.state.state === "done" || v.state.state === "cancelled";
}

/** Why a comparison stopped (the engine's reason code), and what to do next. */
export function cancelReasonText(reason: string): string {
  switch (reason) {
    case "mismatch":
      return "The emoji didn't match, so nothing was confirmed. Someone may be trying to get between your devices. Start again; if they differ again, don't confirm the device.";
    case "cancelled":
      return "The comparison was cancelled on one of the devices. Nothing was confirmed.";
    case "keys":
      return "The devices' keys didn't check out, so nothing was confirmed: someone may be in between. Start again.";
    case "timeout":
      return "The comparison took too long and stopped. Nothing was confirmed; start again.";
    case "unconfirmed":
      return "The device that started this isn't confirmed itself, so it can't confirm others. Start from a device that is.";
    case "accepted_elsewhere":
      return "They answered on another of their devices, so this request ended.";
    case "unreachable":
      return "None of their devices could be reached. Nothing was verified; try again later.";
    case "unexpected":
      return "One of the devices answered out of turn, so the comparison stopped. Nothing was confirmed; start again.";
    default:
      return "Something went wrong, so the comparison stopped. Nothing was confirmed; start again.";
  }
}
