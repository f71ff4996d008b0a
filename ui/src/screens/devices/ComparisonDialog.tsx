//! The emoji comparison, on both sides: between two devices of this account (it confirms the new
//! one) or with a contact (it verifies each other). A contact's request is accepted or declined
//! here first; then waiting for the other side, the seven emoji (with their names, and the
//! numbers) to compare, "They match" / "They don't match", then done or stopped in plain words.
//! Closing it while it runs stops it.

import { useEffect, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError } from "../../lib/errors";
import { useStore } from "../../lib/store";
import { cancelReasonText, isFinished } from "../../lib/verification";
import type { CommandError, ShortAuthString, VerificationView } from "../../lib/types";
import { useSession } from "../../state/context";
import { ErrorNote } from "../../components/ErrorNote";
import { Modal } from "../../components/Modal";

export function ComparisonDialog({ id }: { id: string }) {
  const session = useSession();
  const view = useStore(session.devices, (s) => s.verifications[id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<CommandError | null>(null);
  const actions = useRef<HTMLDivElement>(null);
  const step = view ? `${view.state.state}:${view.state.state === "compare" && view.state.confirmed_here}` : "";
  // Each step replaces the buttons: keep the keyboard in the dialog by focusing the first one
  // ("They don't match" when comparing — the safe answer to a stray Enter — never "They match").
  useEffect(() => {
    const root = actions.current?.closest("[role=dialog]");
    if (root && !root.contains(document.activeElement)) actions.current?.querySelector("button")?.focus();
  }, [step]);
  if (!view) return null;

  const act = async (action: () => Promise<VerificationView>) => {
    setBusy(true);
    setError(null);
    try {
      session.devices.apply(await action());
    } catch (e) {
      setError(asCommandError(e));
    } finally {
      setBusy(false);
    }
  };

  const running = !isFinished(view);
  const close = () => {
    if (running) void ipc.cancelVerification(id, false).catch(() => undefined);
    session.devices.show(null);
  };
  const other = <code>{view.device_id}</code>;
  const state = view.state;
  const contact = view.user_id !== session.ownUserId;
  const title = contact
    ? `Verify ${view.user_id}`
    : view.we_started
      ? "Confirm your other device"
      : "Confirm this device";

  return (
    <Modal
      title={title}
      onClose={close}
      testId="comparison-dialog"
      className="modal--comparison"
    >
      <div className="modal__body comparison" data-state={state.state}>
        {state.state === "requested" ? (
          <p data-testid="comparison-requested">
            <strong>{view.user_id}</strong> wants to verify that you are talking to each other and no one else. Accept,
            then compare the emoji together, in person or over a call you trust.
          </p>
        ) : state.state === "waiting" && contact ? (
          <p data-testid="comparison-waiting">
            {view.we_started ? (
              <>Waiting for {view.user_id} to accept on one of their devices. Keep Sotto open.</>
            ) : (
              <>Getting the emoji ready…</>
            )}
          </p>
        ) : state.state === "waiting" ? (
          <p data-testid="comparison-waiting">
            {view.we_started ? (
              <>
                Waiting for your device {other} to answer. Keep Sotto open there; it will show the same emoji as this
                one.
              </>
            ) : (
              <>Your device {other} wants to confirm this one. Getting the emoji ready…</>
            )}
          </p>
        ) : state.state === "compare" ? (
          <>
            <p>
              {state.confirmed_here ? (
                <span data-testid="comparison-confirmed-here">
                  {contact ? (
                    <>You confirmed the match. Waiting for {view.user_id} to confirm it too.</>
                  ) : (
                    <>
                      You confirmed the match here. Now choose <strong>They match</strong> on your device {other} too.
                    </>
                  )}
                </span>
              ) : contact ? (
                <>Check that {view.user_id}'s screen shows the same seven emoji, in the same order.</>
              ) : (
                <>Check that your device {other} shows the same seven emoji, in the same order.</>
              )}
            </p>
            <Emoji sas={state.sas} />
            {state.confirmed_here ? null : (
              <p className="muted small">
                If they differ, someone may be trying to get between your devices: choose <em>They don't match</em>.
              </p>
            )}
          </>
        ) : state.state === "done" ? (
          <p data-testid="comparison-done">
            {contact ? (
              <>
                <strong>You and {view.user_id} verified each other.</strong> If their identity key ever changes, you
                will be told, and nothing is sent to them until you accept it.
              </>
            ) : !state.device_confirmed ? (
              "Both devices agreed, but the confirmation didn't finish. Start again from your confirmed device."
            ) : view.we_started ? (
              <>
                <strong>Your device {other} is confirmed.</strong> Messages sent to you from now on will show there too.
              </>
            ) : (
              <>
                <strong>This device is confirmed.</strong> Messages sent to you from now on will show here, and it
                can confirm your other devices.
              </>
            )}
          </p>
        ) : (
          <p data-testid="comparison-cancelled">{cancelReasonText(state.reason)}</p>
        )}
      </div>
      {error ? <ErrorNote error={error} testId="comparison-error" /> : null}
      <div className="modal__actions" ref={actions}>
        {state.state === "requested" ? (
          <>
            <button
              type="button"
              className="button"
              disabled={busy}
              onClick={() => void act(() => ipc.cancelVerification(id, false))}
              data-testid="comparison-decline"
            >
              Decline
            </button>
            <button
              type="button"
              className="button button--primary"
              disabled={busy}
              onClick={() => void act(() => ipc.acceptVerification(id))}
              data-testid="comparison-accept"
            >
              Accept
            </button>
          </>
        ) : state.state === "compare" && !state.confirmed_here ? (
          <>
            <button
              type="button"
              className="button button--danger-outline"
              disabled={busy}
              onClick={() => void act(() => ipc.cancelVerification(id, true))}
              data-testid="comparison-mismatch"
            >
              They don't match
            </button>
            <button
              type="button"
              className="button button--primary"
              disabled={busy}
              onClick={() => void act(() => ipc.confirmVerification(id))}
              data-testid="comparison-match"
            >
              They match
            </button>
          </>
        ) : running ? (
          <button
            type="button"
            className="button"
            disabled={busy}
            onClick={() => void act(() => ipc.cancelVerification(id, false))}
            data-testid="comparison-cancel"
          >
            Cancel
          </button>
        ) : (
          <button type="button" className="button button--primary" onClick={close} autoFocus data-testid="comparison-close">
            {state.state === "done" && (state.device_confirmed || contact) ? "Done" : "Close"}
          </button>
        )}
      </div>
    </Modal>
  );
}

function Emoji({ sas }: { sas: ShortAuthString }) {
  return (
    <>
      <ol className="sas" aria-label="Emoji to compare" data-testid="comparison-emoji">
        {sas.emoji.map((e, i) => (
          <li key={i} className="sas__item">
            <span className="sas__symbol" aria-hidden="true">
              {e.symbol}
            </span>
            <span className="sas__name">{e.name}</span>
          </li>
        ))}
      </ol>
      <p className="muted small">
        Or compare the numbers:{" "}
        <span className="sas__numbers" data-testid="comparison-numbers">
          {sas.decimals.join(" ")}
        </span>
      </p>
    </>
  );
}
