//! Settings → Profile: the name and picture the people this user talks with see (sealed end to
//! end; the server never sees them). The name saves on Enter or when the field is left; a picture
//! is chosen in the system's file chooser, previewed as it will show (a circle from its middle
//! square), and used or dropped; a picture in use can be removed.

import { useEffect, useId, useRef, useState } from "react";
import * as ipc from "../../lib/tauri";
import { asCommandError, describeError } from "../../lib/errors";
import { useStore } from "../../lib/store";
import type { CommandError } from "../../lib/types";
import { useSession } from "../../state/context";
import { usePicture } from "../../state/people";
import { Avatar } from "../../components/Avatar";

/** The longest name the engine keeps (sotto_proto::limits::MAX_DISPLAY_NAME_CHARS). */
export const MAX_NAME_CHARS = 64;

type Problem = { what: "name" | "picture"; error: CommandError };

/** Why a profile change failed, in words that say what stays and what to do. */
export function describeProfileError({ what, error }: Problem): string {
  switch (error.code) {
    case "offline":
      return what === "name"
        ? "Couldn't reach the server, so your name wasn't changed. Try again when you're back online."
        : "Couldn't reach the server, so your picture wasn't changed. Try again when you're back online.";
    case "invalid_input":
      return what === "name"
        ? `That name can't be used. A name is one line of at most ${MAX_NAME_CHARS} characters; your name stays as it was.`
        : "Sotto couldn't use that file as a picture. Choose a JPEG, PNG, GIF or WebP picture; your picture stays as it was.";
    case "blob_too_large":
      return "That picture file is too large. Choose one of at most 32 MB; your picture stays as it was.";
    default:
      return describeError(error);
  }
}

export function ProfileSection() {
  const session = useSession();
  const own = session.ownUserId;
  const saved = useStore(session.profiles, (s) => s.people[own] ?? null);
  const picture = usePicture(own);
  const headingId = useId();
  const savedName = saved?.name ?? "";
  const [name, setName] = useState(savedName);
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState<"name" | "picture" | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // A picture chosen but not used yet: its file and a preview of it.
  const [chosen, setChosen] = useState<{ path: string; url: string | null } | null>(null);
  // The name being saved (Enter, then the blur that follows, save it once).
  const saving = useRef<string | null>(null);

  // The name as saved (here or on another device), unless it is being typed.
  useEffect(() => {
    if (!editing) setName(savedName);
  }, [savedName, editing]);

  const change = async (what: "name" | "picture", run: () => Promise<unknown>, doneText: string) => {
    setBusy(what);
    setProblem(null);
    setDone(null);
    try {
      await run();
      setDone(doneText);
      return true;
    } catch (e) {
      setProblem({ what, error: asCommandError(e) });
      return false;
    } finally {
      setBusy(null);
    }
  };

  const saveName = async () => {
    const next = name.trim();
    if (next === savedName) {
      setEditing(false);
      return;
    }
    if (saving.current === next) return;
    saving.current = next;
    const ok = await change(
      "name",
      () => session.setProfile({ name: next }),
      next ? "Your name is saved." : "Your name was removed; people see your user id.",
    );
    saving.current = null;
    // Saved: the field follows the saved name again. Not saved: what was typed stays.
    if (ok) setEditing(false);
  };

  const choose = async () => {
    setProblem(null);
    setDone(null);
    let path: string | null;
    try {
      path = await ipc.choosePath("profile_picture", "");
    } catch (e) {
      setProblem({ what: "picture", error: asCommandError(e) });
      return;
    }
    if (!path) return;
    setChosen({ path, url: null });
    try {
      const preview = await ipc.filePreview(path);
      if (!preview.image) {
        setChosen(null);
        setProblem({ what: "picture", error: { code: "invalid_input", message: "not a picture" } });
        return;
      }
      setChosen({ path, url: preview.image.url });
    } catch (e) {
      setChosen(null);
      setProblem({ what: "picture", error: asCommandError(e) });
    }
  };

  const useChosen = async () => {
    if (!chosen) return;
    const ok = await change("picture", () => session.setProfile({ avatarPath: chosen.path }), "Your picture is saved.");
    if (ok) setChosen(null);
  };

  const removePicture = () =>
    void change("picture", () => session.setProfile({ removeAvatar: true }), "Your picture was removed.");

  const shownName = name.trim() || own;
  return (
    <section className="settings__section" aria-labelledby={headingId} data-testid="profile-section">
      <h3 id={headingId} className="settings__heading">
        Profile
      </h3>
      <p className="muted small">
        Your name and picture are end-to-end encrypted: only the people you write to see them, not the server.
      </p>
      <div className="profile-editor">
        <div className="profile-editor__picture" data-testid="profile-picture" data-chosen={chosen ? "true" : undefined}>
          <Avatar id={own} name={shownName} image={chosen ? chosen.url : picture} size="large" />
        </div>
        <div className="profile-editor__fields">
          <label className="field">
            <span className="field__label">Display name</span>
            <input
              type="text"
              value={name}
              maxLength={MAX_NAME_CHARS}
              placeholder={own}
              disabled={busy === "name"}
              onChange={(e) => {
                setEditing(true);
                setName(e.target.value);
              }}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  void saveName();
                } else if (e.key === "Escape" && name !== savedName) {
                  // Back to the saved name (the dialog stays open).
                  e.preventDefault();
                  e.stopPropagation();
                  setEditing(false);
                  setName(savedName);
                }
              }}
              onBlur={() => void saveName()}
              data-testid="profile-name"
            />
            <span className="field__hint muted small">Saved when you press Enter or leave the field. Empty: your user id shows.</span>
          </label>
          <div className="settings__buttons">
            {chosen ? (
              <>
                <button
                  type="button"
                  className="button button--primary"
                  disabled={busy !== null || chosen.url === null}
                  onClick={() => void useChosen()}
                  data-testid="profile-picture-use"
                >
                  {busy === "picture" ? "Saving…" : "Use this picture"}
                </button>
                <button
                  type="button"
                  className="button"
                  disabled={busy !== null}
                  onClick={() => setChosen(null)}
                  data-testid="profile-picture-cancel"
                >
                  Cancel
                </button>
              </>
            ) : (
              <>
                <button
                  type="button"
                  className="button"
                  disabled={busy !== null}
                  onClick={() => void choose()}
                  data-testid="profile-picture-choose"
                >
                  {saved?.avatar ? "Change picture…" : "Choose picture…"}
                </button>
                {saved?.avatar ? (
                  <button
                    type="button"
                    className="button"
                    disabled={busy !== null}
                    onClick={removePicture}
                    data-testid="profile-picture-remove"
                  >
                    {busy === "picture" ? "Removing…" : "Remove picture"}
                  </button>
                ) : null}
              </>
            )}
          </div>
          {chosen ? (
            <p className="muted small">This is how it will look: the middle of the picture, in a circle.</p>
          ) : null}
        </div>
      </div>
      {problem ? (
        <div className="error-note" role="alert">
          <p className="error-note__text" data-testid="profile-error">
            {describeProfileError(problem)}
          </p>
          <p className="error-note__details">Details: {problem.error.code}</p>
        </div>
      ) : done ? (
        <p className="muted small" role="status" data-testid="profile-saved">
          {done}
        </p>
      ) : null}
    </section>
  );
}
