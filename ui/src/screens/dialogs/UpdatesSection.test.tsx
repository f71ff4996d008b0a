import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import * as ipc from "../../test/ipcMock";
import { UpdatesSection } from "./UpdatesSection";

describe("updates", () => {
  it("finds a new version, installs it with progress, and offers a restart", async () => {
    ipc.checkForUpdate.mockResolvedValueOnce({ state: "available", current: "0.1.0", version: "0.2.0", notes: null });
    ipc.installUpdate.mockImplementationOnce(async (onProgress) => {
      onProgress({ received: 1024, total: 2048 });
      return null;
    });
    const user = userEvent.setup();
    render(<UpdatesSection />);
    await user.click(screen.getByTestId("check-for-update"));
    expect((await screen.findByTestId("update-status")).textContent).toContain("Sotto 0.2.0 is available");
    await user.click(screen.getByTestId("install-update"));
    expect((await screen.findByTestId("update-installed")).textContent).toContain("Restart Sotto");
    await user.click(screen.getByTestId("restart"));
    expect(ipc.restartApp).toHaveBeenCalledTimes(1);
  });

  it("says plainly when an update was refused for its signature", async () => {
    ipc.checkForUpdate.mockResolvedValueOnce({ state: "available", current: "0.1.0", version: "9.9.9", notes: null });
    ipc.installUpdate.mockRejectedValueOnce({ code: "update_refused", message: "signature mismatch" });
    const user = userEvent.setup();
    render(<UpdatesSection />);
    await user.click(screen.getByTestId("check-for-update"));
    await user.click(await screen.findByTestId("install-update"));
    await waitFor(() => expect(screen.getByTestId("update-error").textContent).toContain("isn't signed with Sotto's release key"));
    expect(screen.queryByTestId("update-installed")).toBeNull();
  });

  it("says when this build does not look for updates", async () => {
    ipc.checkForUpdate.mockResolvedValueOnce({ state: "not_configured", current: "0.1.0" });
    const user = userEvent.setup();
    render(<UpdatesSection />);
    await user.click(screen.getByTestId("check-for-update"));
    expect((await screen.findByTestId("update-status")).textContent).toContain("built without an update source");
  });
});
