//! First run: pick a server (connect to one, or run one here), then create an account, sign in,
//! or restore a backup file.

import { useState } from "react";
import type { LocalServerInfo } from "../../lib/types";
import { ServerChoice } from "./ServerChoice";
import { RestoreForm } from "./RestoreForm";
import { SignInForm } from "./SignInForm";
import { LocalServerAddress } from "../../components/LocalServerAddress";

type Step =
  | { kind: "choose" }
  | { kind: "sign-in"; server: string; trusted: string | null; local: LocalServerInfo | null }
  | { kind: "restore"; server: string; trusted: string | null; local: LocalServerInfo | null };

export function WelcomeScreen() {
  const [step, setStep] = useState<Step>({ kind: "choose" });

  return (
    <main className="welcome" data-testid="welcome">
      <div className="welcome__card">
        <header className="welcome__header">
          <h1 className="welcome__title">Sotto</h1>
          <p className="welcome__tagline">Private messages, end-to-end encrypted.</p>
        </header>
        {step.kind === "choose" ? (
          <ServerChoice
            onServer={(server, trusted) => setStep({ kind: "sign-in", server, trusted, local: null })}
            onLocalServer={(local) => setStep({ kind: "sign-in", server: local.url, trusted: null, local })}
          />
        ) : step.kind === "restore" ? (
          <RestoreForm server={step.server} trustedCertificate={step.trusted} onBack={() => setStep({ ...step, kind: "sign-in" })} />
        ) : (
          <>
            {step.local ? <LocalServerAddress info={step.local} /> : null}
            <SignInForm
              server={step.server}
              trustedCertificate={step.trusted}
              defaultMode={step.local ? "register" : "login"}
              onChangeServer={() => setStep({ kind: "choose" })}
              onRestore={() => setStep({ ...step, kind: "restore" })}
            />
          </>
        )}
      </div>
    </main>
  );
}
