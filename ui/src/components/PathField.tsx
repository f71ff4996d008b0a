//! A file or folder field: the path can be typed, or picked with the system's file chooser
//! (opened by the Rust side, at the place the field already names).

import { useId, useState } from "react";
import * as ipc from "../lib/tauri";
import { asCommandError } from "../lib/errors";
import type { PathPurpose } from "../lib/types";
import { FormError, type FormProblem } from "./FormError";

interface PathFieldProps {
  label: string;
  value: string;
  onChange: (path: string) => void;
  purpose: PathPurpose;
  hint?: string;
  autoFocus?: boolean;
  testId: string;
}

export function PathField({ label, value, onChange, purpose, hint, autoFocus, testId }: PathFieldProps) {
  const id = useId();
  const [choosing, setChoosing] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);

  const choose = async () => {
    setChoosing(true);
    setProblem(null);
    try {
      const picked = await ipc.choosePath(purpose, value);
      if (picked !== null) onChange(picked);
    } catch (e) {
      setProblem({ kind: "command", error: asCommandError(e) });
    } finally {
      setChoosing(false);
    }
  };

  return (
    <div className="field">
      <label className="field__label" htmlFor={id}>
        {label}
      </label>
      <div className="path-field">
        <input
          id={id}
          type="text"
          spellCheck={false}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          autoFocus={autoFocus}
          data-testid={testId}
        />
        <button type="button" className="button" onClick={() => void choose()} disabled={choosing} data-testid={`${testId}-choose`}>
          Choose…
        </button>
      </div>
      {hint ? <span className="field__hint">{hint}</span> : null}
      <FormError problem={problem} testId={`${testId}-error`} />
    </div>
  );
}
