//! A password or passphrase field: label, masked input, and an optional hint under it.

import type { ReactNode, Ref } from "react";

interface SecretFieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** "current-password" to fill a saved one, "new-password" when choosing, "off" otherwise. */
  autoComplete: "current-password" | "new-password" | "off";
  testId: string;
  hint?: ReactNode;
  autoFocus?: boolean;
  required?: boolean;
  inputRef?: Ref<HTMLInputElement>;
}

export function SecretField({ label, value, onChange, autoComplete, testId, hint, autoFocus, required, inputRef }: SecretFieldProps) {
  return (
    <label className="field">
      <span className="field__label">{label}</span>
      <input
        ref={inputRef}
        type="password"
        autoComplete={autoComplete}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        autoFocus={autoFocus}
        required={required}
        aria-required={required}
        data-testid={testId}
      />
      {hint ? <span className="field__hint">{hint}</span> : null}
    </label>
  );
}
