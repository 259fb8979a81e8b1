// A machine's history when it does not answer (this computer's copy), the exports, and the card's
// actions for a box that moved or is being replaced, against a fake command module.

import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => import("../test/fakeUplot"));

import { App } from "../App";
import { ApiContext } from "../api/context";
import { CommandError } from "../api/errors";
import type { Commands } from "../api/commands";
import type { MachineSeries } from "../generated/MachineSeries";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "../test/fakeApi";

function renderApp(api: Commands) {
  return render(
    <ApiContext value={api}>
      <App />
    </ApiContext>,
  );
}

const CPU = { name: "cpu.usage", label: "CPU use", unit: "percent", kind: "resources", first_unix: 0, last_unix: 0 } as const;

const fromCopy = (reason: boolean): MachineSeries => ({
  series: [CPU],
  from_copy: true,
  copy_until_unix: 1_700_000_000,
  live_error: reason ? { kind: "unreachable", message: "PBX A did not answer." } : null,
});

const history: Commands["metricsHistory"] = ({ series, from, to }) =>
  Promise.resolve({
    series,
    from,
    to,
    bucket_secs: 60,
    resolution: "minute",
    points: [0, 60].map((dt) => ({ t: from + dt, min: 1, avg: 12.5, max: 20 })),
  });

describe("history of a machine that does not answer", () => {
  it("says the graphs are this computer's copy, and exports the range as CSV", async () => {
    const down = { ...machine(ENTRY, "primary"), reachable: false };
    const api = fakeApi({
      overview: () => Promise.resolve(overviewOf([down, machine(BACKUP_ENTRY, "backup")])),
      metricsSeries: (m) => Promise.resolve(m === ENTRY.server_id ? fromCopy(true) : { ...fromCopy(false), from_copy: false }),
      metricsHistory: history,
      saveFile: () => Promise.resolve("/home/office/PBX.csv"),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("tab-history"));
    const sections = await screen.findAllByTestId("history-machine");
    const first = sections[0]!;
    const note = await within(first).findByTestId("history-copy-note");
    expect(note.textContent).toMatch(/Main office is not answering\. These graphs are this computer's copy of its history, up to/);
    // The partner answers for itself: no note there.
    expect(within(sections[1]!).queryByTestId("history-copy-note")).toBeNull();

    const csv = within(first).getByTestId<HTMLButtonElement>("export-csv");
    await waitFor(() => expect(csv.disabled).toBe(false));
    fireEvent.click(csv);
    await waitFor(() => expect(api.saveFile).toHaveBeenCalled());
    const [name, contents] = api.saveFile.mock.calls[0]!;
    expect(name).toMatch(/^Main-office-history-\d{4}-\d\d-\d\d\.csv$/);
    expect(String(contents).split("\r\n")[0]).toBe("Time,Unix time,CPU use (%)");
    expect(String(contents)).toContain(",12.5\r\n");
    expect((await within(first).findByTestId("export-result")).textContent).toBe("Saved to /home/office/PBX.csv");
  });

  it("shows a replaced machine's history with the office, and can delete it", async () => {
    const office = overviewOf([machine(BACKUP_ENTRY, "primary")]);
    office.offices[0]!.former = [{ server_id: ENTRY.server_id, name: "Old PBX", removed_unix: 1_700_000_000 }];
    const api = fakeApi({
      overview: () => Promise.resolve(office),
      metricsSeries: () => Promise.resolve(fromCopy(false)),
      metricsHistory: history,
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("tab-history"));
    const former = await screen.findByTestId("history-former");
    expect(within(former).getByRole("heading", { name: /^Old PBX — replaced on / })).toBeTruthy();
    expect((await within(former).findByTestId("history-copy-note")).textContent).toMatch(
      /^These graphs are this computer's copy of Old PBX's history, up to/,
    );
    fireEvent.click(within(former).getByText("Delete its history…"));
    fireEvent.click(within(former).getByTestId("forget-former-confirm"));
    await waitFor(() => expect(api.forgetFormer).toHaveBeenCalledWith(ENTRY.server_id));
  });
});

describe("a server's card actions", () => {
  it("follows a server to a new address, and shows the refusal in words", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")])),
      changeAddress: vi
        .fn<Commands["changeAddress"]>()
        .mockRejectedValueOnce(new CommandError("certificate_mismatch", "The server at 192.0.2.99:7443 presented a different certificate."))
        .mockResolvedValueOnce({ ...ENTRY, address: "192.0.2.20:7443" }),
    });
    renderApp(api);
    const card = (await screen.findAllByTestId("machine-card"))[0]!;
    fireEvent.click(within(card).getByTestId("change-address"));
    const input = within(card).getByTestId<HTMLInputElement>("address-input");
    expect(input.value).toBe(ENTRY.address);
    fireEvent.change(input, { target: { value: "192.0.2.99:7443" } });
    fireEvent.click(within(card).getByTestId("address-save"));
    expect((await within(card).findByRole("alert")).textContent).toMatch(/different certificate/);
    fireEvent.change(input, { target: { value: "192.0.2.20:7443" } });
    fireEvent.click(within(card).getByTestId("address-save"));
    await waitFor(() => expect(within(card).queryByTestId("address-input")).toBeNull());
    expect(api.changeAddress.mock.calls).toEqual([
      [ENTRY.id, "192.0.2.99:7443"],
      [ENTRY.id, "192.0.2.20:7443"],
    ]);
  });

  it("takes a machine out only after confirming, and never the office's only server", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")])),
    });
    renderApp(api);
    const card = (await screen.findAllByTestId("machine-card"))[1]!;
    fireEvent.click(within(card).getByTestId("remove-server"));
    expect(api.removeServer).not.toHaveBeenCalled();
    expect(within(card).getByRole("group").textContent).toMatch(/Its history stays here/);
    fireEvent.click(within(card).getByTestId("remove-server-confirm"));
    await waitFor(() => expect(api.removeServer).toHaveBeenCalledWith(BACKUP_ENTRY.id));
  });

  it("explains why the only server cannot be taken out", async () => {
    renderApp(fakeApi({ overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary")])) }));
    const card = await screen.findByTestId("machine-card");
    const button = within(card).getByTestId<HTMLButtonElement>("remove-server");
    expect(button.disabled).toBe(true);
    const reason = document.getElementById(button.getAttribute("aria-describedby") ?? "");
    expect(reason?.textContent).toMatch(/only server: to stop watching it, remove the office/);
  });
});

describe("keyboard", () => {
  it("moves between an office's views with the arrow keys, Home and End", async () => {
    renderApp(fakeApi({ overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary")])) }));
    const servers = await screen.findByTestId("tab-servers");
    expect(servers.tabIndex).toBe(0);
    expect(screen.getByTestId("tab-sync").tabIndex).toBe(-1);
    fireEvent.keyDown(servers, { key: "ArrowRight" });
    const sync = screen.getByTestId("tab-sync");
    expect(sync.getAttribute("aria-selected")).toBe("true");
    expect(document.activeElement).toBe(sync);
    expect(screen.getByRole("tabpanel").getAttribute("aria-labelledby")).toBe(sync.id);
    fireEvent.keyDown(sync, { key: "End" });
    expect(screen.getByTestId("tab-history").getAttribute("aria-selected")).toBe("true");
    fireEvent.keyDown(document.activeElement ?? sync, { key: "ArrowRight" });
    expect(screen.getByTestId("tab-servers").getAttribute("aria-selected")).toBe("true");
    fireEvent.keyDown(document.activeElement ?? sync, { key: "ArrowLeft" });
    expect(screen.getByTestId("tab-history").getAttribute("aria-selected")).toBe("true");
  });
});

describe("a new access token", () => {
  it("is sent only once typed, and a refusal is shown in words", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")])),
      changeToken: vi
        .fn<Commands["changeToken"]>()
        .mockRejectedValueOnce(new CommandError("unauthorized", "Main office refused the access token."))
        .mockResolvedValueOnce(undefined),
    });
    renderApp(api);
    const card = (await screen.findAllByTestId("machine-card"))[0]!;
    fireEvent.click(within(card).getByTestId("change-token"));
    const input = within(card).getByTestId<HTMLInputElement>("token-change-input");
    expect(input.type).toBe("password");
    expect(within(card).getByTestId<HTMLButtonElement>("token-change-save").disabled).toBe(true);
    fireEvent.change(input, { target: { value: "lbs_wrong" } });
    fireEvent.click(within(card).getByTestId("token-change-save"));
    expect((await within(card).findByRole("alert")).textContent).toMatch(/refused the access token/);
    fireEvent.change(input, { target: { value: "lbs_right" } });
    fireEvent.click(within(card).getByTestId("token-change-save"));
    await waitFor(() => expect(within(card).queryByTestId("token-change-input")).toBeNull());
    expect(api.changeToken.mock.calls).toEqual([
      [ENTRY.id, "lbs_wrong"],
      [ENTRY.id, "lbs_right"],
    ]);
  });
});
