//! The end of a form that does something serious with the account password: the password field,
//! what went wrong, and Cancel beside the action (red). Used by resetting keys, removing a
//! device and starting over.

import { FormError, type FormProblem } from "./FormError";
import { SecretField } from "./SecretField";

interface PasswordConfirmProps {
  password: string;
  onPassword: (value: string) => void;
  problem: FormProblem | null;
  busy: boolean;
  onCancel: () => void;
  /** The action's button, and its words while it runs. */
  action: string;
  busyAction: string;
  /** Test ids are `<testId>-password`, `-error` and `-confirm`. */
  testId: string;
}

export function PasswordConfirm(props: PasswordConfirmProps) {
  const { password, onPassword, problem, busy, onCancel, action, busyAction, testId } = props;
  return (
    <>
      <SecretField
        label="Your password"
        value={password}
        onChange={onPassword}
        autoComplete="current-password"
        autoFocus
        testId={`${testId}-password`}
      />
      <FormError problem={problem} testId={`${testId}-error`} />
      <div className="modal__actions">
        <button type="button" className="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="submit" className="button button--danger" disabled={busy} data-testid={`${testId}-confirm`}>
          {busy ? busyAction : action}
        </button>
      </div>
    </>
  );
}
