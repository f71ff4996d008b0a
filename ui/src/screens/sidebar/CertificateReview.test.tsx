import { act, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { readyStatus } from "../../test/fixtures";
import * as ipc from "../../test/ipcMock";
import { renderApp } from "../../test/render";

const trusted = "AA:".repeat(31) + "AA";
const presented = "BB:".repeat(31) + "BB";

describe("the server's certificate changed", () => {
  it("stops with a plain warning, shows both fingerprints, and trusts the new one only when asked", async () => {
    ipc.certificateProblem.mockResolvedValue({ trusted, presented });
    const { user } = await renderApp({ status: { ...readyStatus(), connection: "certificate_changed" } });

    const banner = await screen.findByTestId("certificate-changed");
    expect(banner.textContent).toContain("stopped connecting");
    expect(screen.getByTestId("connection-status").textContent).toContain("certificate changed");
    await user.click(screen.getByTestId("review-certificate"));

    expect((await screen.findByTestId("certificate-trusted")).textContent).toBe(trusted);
    expect(screen.getByTestId("certificate-presented").textContent).toBe(presented);
    expect(ipc.trustServerCertificate).not.toHaveBeenCalled();
    await user.click(screen.getByTestId("trust-new-certificate"));
    expect(ipc.trustServerCertificate).toHaveBeenCalledWith(presented);
    await waitFor(() => expect(screen.queryByTestId("certificate-review")).toBeNull());
    act(() => ipc.emitStatus(readyStatus()));
    await waitFor(() => expect(screen.queryByTestId("certificate-changed")).toBeNull());
  });

  it("'Not now' trusts nothing", async () => {
    ipc.certificateProblem.mockResolvedValue({ trusted: null, presented });
    const { user } = await renderApp({ status: { ...readyStatus(), connection: "certificate_changed" } });
    await user.click(await screen.findByTestId("review-certificate"));
    await screen.findByTestId("certificate-presented");
    expect(screen.queryByTestId("certificate-trusted")).toBeNull();
    await user.click(screen.getByRole("button", { name: "Not now" }));
    expect(ipc.trustServerCertificate).not.toHaveBeenCalled();
    expect(screen.getByTestId("certificate-changed")).toBeTruthy();
  });
});
