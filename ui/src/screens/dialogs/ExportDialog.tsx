//! Settings → "Export a readable copy": conversations as web pages (to read or print) or JSON
//! (for other programs), written into a new folder. Progress and Cancel while it runs.

import { useState } from "react";
import * as ipc from "../../lib/tauri";
import { useStore } from "../../lib/store";
import type { ExportFormat, ExportScope, ExportSummary } from "../../lib/types";
import { useSession } from "../../state/context";
import { FormError, type FormProblem } from "../../components/FormError";
import { PathField } from "../../components/PathField";
import { Modal } from "../../components/Modal";
import { TaskProgress, useLongTask } from "../../components/TaskProgress";
import { useSuggestedPath } from "./BackupDialog";

export function ExportDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const open = useStore(session.conversations, (s) => s.list.find((c) => c.id === s.selectedId) ?? null);
  const [dir, setDir] = useState("");
  const [format, setFormat] = useState<ExportFormat>("html");
  const [onlyOpen, setOnlyOpen] = useState(false);
  const [problem, setProblem] = useState<FormProblem | null>(null);
  const task = useLongTask<ExportSummary>();

  useSuggestedPath((d) => d.export_folder, setDir);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (dir.trim().length === 0) {
      setProblem({ kind: "local", text: "Choose a folder for the export." });
      return;
    }
    setProblem(null);
    const scope: ExportScope = onlyOpen && open ? { type: "conversation", id: open.id } : { type: "all" };
    const outcome = await task.run((onProgress) => ipc.exportReadable(dir.trim(), format, scope, onProgress));
    if (!outcome.ok) setProblem({ kind: "command", error: outcome.error });
  };

  const { state } = task;
  // While it runs, only its Cancel button stops it: Escape or a stray click must not.
  const close = state.kind === "running" ? () => undefined : onClose;
  return (
    <Modal title="Export a readable copy" onClose={close} testId="export-dialog">
      {state.kind === "running" ? (
        <TaskProgress
          label="Exporting"
          progress={state.progress}
          finishing="Finishing the files…"
          cancelling={state.cancelling}
          onCancel={task.cancel}
          testId="export-progress"
        />
      ) : state.kind === "done" ? (
        <div className="modal__body" data-testid="export-done">
          <p>
            <strong>Exported {state.result.messages.toLocaleString()} messages</strong> from{" "}
            {state.result.conversations === 1 ? "1 conversation" : `${state.result.conversations} conversations`}{" "}
            into
          </p>
          <p>
            <code className="path">{state.result.path}</code>
          </p>
          <p className="muted">
            {format === "html" ? "Open index.html in a browser to read them." : "index.json lists the files."}
          </p>
          <div className="modal__actions">
            <button type="button" className="button button--primary" onClick={onClose} autoFocus data-testid="export-close">
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <div className="notice notice--warning" role="note">
            <p className="notice__text">
              This copy is not encrypted: anyone who can open the folder can read these messages.
            </p>
          </div>
          <fieldset className="field">
            <legend className="field__label">Format</legend>
            <label className="check">
              <input
                type="radio"
                name="export-format"
                checked={format === "html"}
                onChange={() => setFormat("html")}
                data-testid="export-html"
              />
              <span>Web pages, to read or print</span>
            </label>
            <label className="check">
              <input
                type="radio"
                name="export-format"
                checked={format === "json"}
                onChange={() => setFormat("json")}
                data-testid="export-json"
              />
              <span>JSON, for other programs</span>
            </label>
          </fieldset>
          {open ? (
            <fieldset className="field">
              <legend className="field__label">Conversations</legend>
              <label className="check">
                <input
                  type="radio"
                  name="export-scope"
                  checked={!onlyOpen}
                  onChange={() => setOnlyOpen(false)}
                  data-testid="export-all"
                />
                <span>All conversations</span>
              </label>
              <label className="check">
                <input
                  type="radio"
                  name="export-scope"
                  checked={onlyOpen}
                  onChange={() => setOnlyOpen(true)}
                  data-testid="export-open"
                />
                <span>Only “{open.title}”</span>
              </label>
            </fieldset>
          ) : null}
          <PathField
            label="Folder"
            value={dir}
            onChange={setDir}
            purpose="export_folder"
            hint="A new or empty folder. Choosing one that holds files puts the copy in a new folder inside it."
            autoFocus
            testId="export-path"
          />
          <FormError problem={problem} testId="export-error" />
          <div className="modal__actions">
            <button type="button" className="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button button--primary" data-testid="export-start">
              Export
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
