//! A form's error line: either a failed command (plain words + details code) or a local check.

import type { ErrorContext } from "../lib/errors";
import type { CommandError } from "../lib/types";
import { ErrorNote } from "./ErrorNote";

export type FormProblem = { kind: "command"; error: CommandError; text?: string } | { kind: "local"; text: string };

interface FormErrorProps {
  problem: FormProblem | null;
  testId: string;
  context?: ErrorContext;
}

export function FormError({ problem, testId, context }: FormErrorProps) {
  if (!problem) return null;
  if (problem.kind === "local") {
    return (
      <div className="error-note" role="alert">
        <p className="error-note__text" data-testid={testId}>
          {problem.text}
        </p>
      </div>
    );
  }
  return <ErrorNote error={problem.error} context={context} testId={testId} text={problem.text} />;
}
