import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useRef, useState } from "react";
import { describe, expect, it } from "vitest";
import { Popover } from "./Popover";

function Harness({ onClosed = () => undefined }: { onClosed?: () => void }) {
  const anchor = useRef<HTMLButtonElement>(null);
  const [open, setOpen] = useState(false);
  return (
    <>
      <button ref={anchor} type="button" onClick={() => setOpen(true)}>
        Open
      </button>
      <button type="button">Elsewhere</button>
      {open && anchor.current ? (
        <Popover
          anchor={anchor.current}
          label="Panel"
          onClose={() => {
            setOpen(false);
            onClosed();
          }}
        >
          <button type="button">Inside</button>
        </Popover>
      ) : null}
    </>
  );
}

describe("popover", () => {
  it("takes focus, gives it back to its anchor on Escape", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Open" }));
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Inside" }));
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog", { name: "Panel" })).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Open" }));
  });

  it("closes on a click elsewhere, not on one inside", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Open" }));
    await user.click(screen.getByRole("button", { name: "Inside" }));
    expect(screen.getByRole("dialog", { name: "Panel" })).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Elsewhere" }));
    expect(screen.queryByRole("dialog", { name: "Panel" })).toBeNull();
  });

  it("follows its anchor through a scroll, and closes once the anchor is out of view", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    const anchor = screen.getByRole("button", { name: "Open" });
    let top = 100;
    anchor.getBoundingClientRect = () => new DOMRect(40, top, 80, 30);
    await user.click(anchor);
    const panel = screen.getByRole("dialog", { name: "Panel" });
    expect(panel.style.top).toBe(`${100 + 30 + 4}px`);
    top = 200;
    fireEvent.scroll(document);
    expect(panel.style.top).toBe(`${200 + 30 + 4}px`);
    top = -100;
    fireEvent.scroll(document);
    expect(screen.queryByRole("dialog", { name: "Panel" })).toBeNull();
  });
});
