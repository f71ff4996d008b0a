//! A menu of actions (ARIA `menu`): the first item takes focus, Up/Down (and Home/End) move
//! between items, Enter or a click runs one and closes the menu, Tab closes it. Drawn in a
//! `Popover`, which handles Escape and clicks elsewhere.

import { useRef, type ReactNode } from "react";
import { Popover, type PopoverAnchor } from "./Popover";

export interface MenuItem {
  id: string;
  label: string;
  icon?: ReactNode;
  danger?: boolean;
  /** One of a set of choices (`menuitemradio`): whether it is the one chosen. */
  checked?: boolean;
  onSelect: () => void;
}

interface MenuProps {
  anchor: PopoverAnchor;
  label: string;
  items: MenuItem[];
  onClose: () => void;
  align?: "start" | "end";
  testId?: string;
  returnFocus?: HTMLElement | null;
}

export function Menu({ anchor, label, items, onClose, align, testId, returnFocus }: MenuProps) {
  const list = useRef<HTMLDivElement>(null);

  const move = (e: React.KeyboardEvent) => {
    const buttons = Array.from(list.current?.querySelectorAll<HTMLElement>('[role="menuitem"], [role="menuitemradio"]') ?? []);
    const at = buttons.indexOf(document.activeElement as HTMLElement);
    let next: number | null = null;
    if (e.key === "ArrowDown") next = (at + 1) % buttons.length;
    else if (e.key === "ArrowUp") next = (at - 1 + buttons.length) % buttons.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = buttons.length - 1;
    else if (e.key === "Tab") {
      e.preventDefault();
      onClose();
      return;
    }
    if (next === null) return;
    e.preventDefault();
    buttons[next]?.focus();
  };

  return (
    <Popover
      anchor={anchor}
      onClose={onClose}
      align={align}
      role="presentation"
      className="menu-popover"
      returnFocus={returnFocus}
    >
      <div ref={list} className="menu" role="menu" aria-label={label} data-testid={testId} onKeyDown={move}>
        {items.map((item, i) => (
          <button
            key={item.id}
            type="button"
            role={item.checked === undefined ? "menuitem" : "menuitemradio"}
            aria-checked={item.checked}
            className={item.danger ? "menu__item menu__item--danger" : "menu__item"}
            tabIndex={i === 0 ? 0 : -1}
            data-autofocus={i === 0 ? true : undefined}
            data-testid={`menu-${item.id}`}
            onClick={() => {
              onClose();
              item.onSelect();
            }}
          >
            {item.icon}
            <span>{item.label}</span>
          </button>
        ))}
      </div>
    </Popover>
  );
}
