//! An error in plain words, with the code only in a muted "Details" line for bug reports.

import { describeError, type ErrorContext } from "../lib/errors";
import type { CommandError } from "../lib/types";

interface ErrorNoteProps {
  error: CommandError;
  context?: ErrorContext;
  testId?: string;
  /** Overrides the sentence (e.g. the keychain prompt in the sign-in form). */
  text?: string;
}

export function ErrorNote({ error, context, testId, text }: ErrorNoteProps) {
  return (
    <div className="error-note" role="alert">
      <p className="error-note__text" data-testid={testId}>
        {text ?? describeError(error, context)}
      </p>
      <p className="error-note__details">Details: {error.code}</p>
    </div>
  );
}
