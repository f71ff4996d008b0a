import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import * as ipc from "../test/ipcMock";
import { LocalServerAddress } from "./LocalServerAddress";

const local = { url: "http://127.0.0.1:8448", port: 8448, network: null };
const fingerprint = "12:34:".repeat(15) + "12:34";
const open = { ...local, network: { urls: ["https://192.168.1.20:8449"], port: 8449, fingerprint } };

describe("the server on this computer", () => {
  it("says it is closed to the network, and offers no switch outside Settings", () => {
    render(<LocalServerAddress info={local} />);
    expect(screen.getByTestId("local-server-address").textContent).toContain("it is not open to your network");
    expect(screen.queryByTestId("local-server-network-toggle")).toBeNull();
  });

  it("opens to the network from Settings and shows the address and the fingerprint to compare", async () => {
    const user = userEvent.setup();
    const { rerender } = render(<LocalServerAddress info={local} editable />);
    const toggle = screen.getByTestId("local-server-network-toggle") as HTMLInputElement;
    expect(toggle.checked).toBe(false);
    await user.click(toggle);
    expect(ipc.setLocalServerNetwork).toHaveBeenCalledWith(true);
    // The window learns the new state from the app status the command announces.
    rerender(<LocalServerAddress info={open} editable />);
    const network = screen.getByTestId("local-server-network");
    expect(network.textContent).toContain("https://192.168.1.20:8449");
    expect(network.textContent).toContain("must match this one exactly");
    expect(screen.getByTestId("local-server-fingerprint").textContent).toBe(fingerprint);
    expect((screen.getByTestId("local-server-network-toggle") as HTMLInputElement).checked).toBe(true);
  });

  it("shows why the network could not be opened, in words", async () => {
    ipc.setLocalServerNetwork.mockRejectedValueOnce({ code: "local_server", message: "address in use" });
    const user = userEvent.setup();
    render(<LocalServerAddress info={local} editable />);
    await user.click(screen.getByTestId("local-server-network-toggle"));
    await waitFor(() => expect(screen.getByTestId("local-server-error")).toBeTruthy());
    expect(screen.getByTestId("local-server-error").textContent).not.toContain("local_server");
  });
});
