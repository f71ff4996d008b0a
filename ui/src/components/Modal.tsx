//! An accessible modal: focus moves in (to the first field or button), Tab stays inside,
//! Escape and a click on the backdrop close it, and focus returns where it was.

import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { focusableIn } from "../lib/keyboard";
import { CloseIcon } from "./icons";

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  testId?: string;
  /** Extra class for size variants (e.g. "modal--wide"). */
  className?: string;
  /** Hide the visible heading (the title is still the dialog's accessible name). */
  hideTitle?: boolean;
}

export function Modal({ title, onClose, children, testId, className, hideTitle }: ModalProps) {
  const titleId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;
  // Read during the first render: by the time effects run, an autofocused field inside the
  // dialog has already taken focus.
  const [returnTo] = useState(() => (document.activeElement instanceof HTMLElement ? document.activeElement : null));

  useEffect(() => {
    const root = panel.current;
    if (root && !root.contains(document.activeElement)) {
      const first = root.querySelector<HTMLElement>("[autofocus], input, textarea, select") ?? focusableIn(root)[0];
      (first ?? root).focus();
    }
    return () => {
      if (returnTo && document.contains(returnTo)) returnTo.focus();
    };
  }, [returnTo]);

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === "Escape") {
      e.stopPropagation();
      e.preventDefault();
      onCloseRef.current();
      return;
    }
    if (e.key !== "Tab" || !panel.current) return;
    const items = focusableIn(panel.current);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };

  return createPortal(
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onCloseRef.current();
      }}
    >
      <div
        ref={panel}
        className={`modal${className ? ` ${className}` : ""}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testId}
        tabIndex={-1}
        onKeyDown={onKeyDown}
      >
        <header className="modal__header">
          <h2 id={titleId} className={hideTitle ? "visually-hidden" : "modal__title"}>
            {title}
          </h2>
          <button type="button" className="icon-button" onClick={() => onCloseRef.current()} data-testid="close-button">
            <CloseIcon label="Close" />
          </button>
        </header>
        {children}
      </div>
    </div>,
    document.body,
  );
}
