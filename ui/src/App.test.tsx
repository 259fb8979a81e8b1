// Component tests of the shell, the add dialog, the office screens and the failover wizard,
// against a fake command module.

import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => import("./test/fakeUplot"));

import { App } from "./App";
import { ApiContext } from "./api/context";
import { CommandError } from "./api/errors";
import type { Commands } from "./api/commands";
import type { Overview } from "./generated/Overview";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "./test/fakeApi";

const PAIR = () => overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]);

function renderApp(api: Commands, props: Parameters<typeof App>[0] = {}) {
  return render(
    <ApiContext value={api}>
      <App {...props} />
    </ApiContext>,
  );
}

describe("empty state", () => {
  it("explains what to do and offers the add button", async () => {
    renderApp(fakeApi());
    expect(await screen.findByText(/Add your office's two phone servers/)).toBeTruthy();
    const buttons = screen.getAllByTestId("add-server");
    expect(buttons.length).toBeGreaterThanOrEqual(1);
    fireEvent.click(buttons[0]!);
    expect(screen.getByRole("dialog", { name: "Add a server" })).toBeTruthy();
  });
});

describe("add server dialog", () => {
  it("shows the command's message inline when adding by link fails", async () => {
    const api = fakeApi({
      addServerLink: () =>
        Promise.reject(new CommandError("invalid_input", "This is not an LBS connection link: it should start with lbs://.")),
    });
    renderApp(api, { initialDialog: "link" });
    fireEvent.change(screen.getByTestId("link-input"), { target: { value: "https://example" } });
    fireEvent.click(screen.getByTestId("link-submit"));
    const error = await screen.findByTestId("dialog-error");
    expect(error.textContent).toContain("This is not an LBS connection link");
    expect(api.addServerLink).toHaveBeenCalledWith("https://example", undefined);
    expect(screen.getByRole("dialog")).toBeTruthy();
  });

  it("says so when the server was added but the partner it reported could not be", async () => {
    const api = fakeApi({
      addServerLink: () =>
        Promise.resolve({
          server: ENTRY,
          partner: null,
          partner_problem: "PBX A refused: the partner PBX B at 192.0.2.12:7443 does not answer (timed out)",
        }),
    });
    renderApp(api, { initialDialog: "link" });
    fireEvent.change(screen.getByTestId("link-input"), { target: { value: "lbs://a" } });
    fireEvent.click(screen.getByTestId("link-submit"));
    const note = await screen.findByTestId("partner-problem");
    expect(note.textContent).toContain(`${ENTRY.name} was added`);
    expect(note.textContent).toContain("PBX B at 192.0.2.12:7443 does not answer");
    expect(screen.queryByTestId("link-input")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  it("asks for a link before calling anything", () => {
    const api = fakeApi();
    renderApp(api, { initialDialog: "link" });
    fireEvent.click(screen.getByTestId("link-submit"));
    expect(screen.getByTestId("dialog-error").textContent).toMatch(/Paste the connection link/);
    expect(api.addServerLink).not.toHaveBeenCalled();
  });

  it("probes, shows the grouped fingerprint, and adds after confirmation", async () => {
    const fingerprint = "3fa2" + "00".repeat(30);
    const api = fakeApi({
      probeServer: (address) => Promise.resolve({ address, fingerprint }),
      addServerManual: () => Promise.resolve(ENTRY),
    });
    renderApp(api);
    fireEvent.click((await screen.findAllByTestId("add-server"))[0]!);
    fireEvent.click(screen.getByTestId("tab-manual"));
    fireEvent.change(screen.getByTestId("address-input"), { target: { value: " 192.0.2.10:7443 " } });
    fireEvent.change(screen.getByTestId("token-input"), { target: { value: "secret" } });
    fireEvent.click(screen.getByTestId("probe-submit"));
    const fp = await screen.findByTestId("fingerprint");
    expect(fp.textContent?.split("\n")).toEqual([
      "3F:A2:00:00:00:00:00:00",
      "00:00:00:00:00:00:00:00",
      "00:00:00:00:00:00:00:00",
      "00:00:00:00:00:00:00:00",
    ]);
    expect(screen.getByText(/someone may be in between/)).toBeTruthy();
    api.overview.mockResolvedValue(overviewOf([machine(ENTRY, "primary")], { level: "at_risk" }));
    fireEvent.click(screen.getByTestId("fingerprint-confirm"));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(api.probeServer).toHaveBeenCalledWith("192.0.2.10:7443");
    expect(api.addServerManual).toHaveBeenCalledWith("192.0.2.10:7443", "secret", fingerprint, undefined);
    expect(await screen.findByTestId("machine-card")).toBeTruthy();
    // One server: the office offers to add its partner, into this office.
    fireEvent.click(screen.getByTestId("add-partner"));
    expect(screen.getByRole("dialog", { name: "Add the partner to Head office" })).toBeTruthy();
    fireEvent.change(screen.getByTestId("link-input"), { target: { value: "lbs://b" } });
    fireEvent.click(screen.getByTestId("link-submit"));
    await waitFor(() => expect(api.addServerLink).toHaveBeenCalledWith("lbs://b", "office-1"));
  });

  it("shows a probe failure inline", async () => {
    const api = fakeApi({
      // Tauri rejects with the plain ConsoleError object, not an Error.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      probeServer: () => Promise.reject({ kind: "unreachable", message: "Nothing answered at 192.0.2.99:7443." }),
    });
    renderApp(api, { initialDialog: "manual" });
    fireEvent.change(screen.getByTestId("address-input"), { target: { value: "192.0.2.99:7443" } });
    fireEvent.change(screen.getByTestId("token-input"), { target: { value: "t" } });
    fireEvent.click(screen.getByTestId("probe-submit"));
    expect((await screen.findByTestId("dialog-error")).textContent).toContain("Nothing answered at 192.0.2.99:7443.");
  });

  it("closes on Escape", () => {
    renderApp(fakeApi(), { initialDialog: "link" });
    expect(screen.getByRole("dialog")).toBeTruthy();
    fireEvent.keyDown(document.activeElement ?? document.body, { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});

describe("charts", () => {
  it("draws history per panel, reports the drawn points, and refetches for a new range", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(overviewOf([machine(ENTRY, "primary")])),
      metricsSeries: () =>
        Promise.resolve({
          series: [
            { name: "pbx.calls", label: "Calls", unit: "count", kind: "pbx_activity", first_unix: 0, last_unix: 0 },
            { name: "pbx.phones", label: "Phones", unit: "count", kind: "pbx_activity", first_unix: 0, last_unix: 0 },
            { name: "cpu.usage", label: "CPU use", unit: "percent", kind: "resources", first_unix: 0, last_unix: 0 },
            { name: "role.primary", label: "Primary", unit: "flag", kind: "role", first_unix: 0, last_unix: 0 },
          ],
          from_copy: false,
          copy_until_unix: null,
          live_error: null,
        }),
      metricsHistory: ({ series, from, to }) =>
        Promise.resolve({
          series,
          from,
          to,
          bucket_secs: 10,
          resolution: "raw",
          // Four buckets with one missing (t+20) between them: a gap, not a point. The role: primary
          // in the first two buckets, then again in the last.
          points: [0, 10, 30, 40].map((dt) => {
            const v = series === "role.primary" ? (dt === 30 ? 0 : 1) : 2;
            return { t: from + dt, min: v === 2 ? 1 : v, avg: v, max: v === 2 ? 3 : v };
          }),
        }),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("tab-history"));
    const pbx = await screen.findByTestId("chart-pbx_activity");
    await waitFor(() => expect(pbx.dataset.points).toBe("8"));
    // The role is drawn as shaded spans, not as a chart: two of them.
    expect(screen.getByTestId("history-charts").dataset.bands).toBe("2");
    expect(api.metricsSeries).toHaveBeenCalledWith(ENTRY.server_id);
    expect(screen.getByTestId("chart-resources").dataset.points).toBe("4");
    expect(screen.getByTestId("chart-network").dataset.points).toBe("0");
    expect(screen.getByText("This server has not recorded any network activity yet.")).toBeTruthy();
    expect(within(pbx).getByText("Calls")).toBeTruthy();

    const first = api.metricsHistory.mock.calls[0]?.[0];
    expect(first && first.to - first.from).toBe(3600);
    api.metricsHistory.mockClear();
    fireEvent.click(screen.getByTestId("range-6h"));
    await waitFor(() => expect(api.metricsHistory).toHaveBeenCalledTimes(4));
    const call = api.metricsHistory.mock.calls[0]?.[0];
    expect(call && call.to - call.from).toBe(6 * 3600);
    expect(call?.points).toBeGreaterThan(0);
    expect(call?.points).toBeLessThanOrEqual(2000);
    expect(screen.getByTestId("range-6h").getAttribute("aria-pressed")).toBe("true");
  });
});

describe("office dashboard", () => {
  it("shows both servers side by side with their facts and the office's sentence", async () => {
    renderApp(fakeApi({ overview: () => Promise.resolve(PAIR()) }));
    const cards = await screen.findAllByTestId("machine-card");
    expect(cards.map((c) => c.dataset.server)).toEqual(["Main office", "Backup"]);
    expect(cards.map((c) => c.dataset.role)).toEqual(["primary", "backup"]);
    expect(screen.getByTestId("pair-sentence").textContent).toBe("Protected: the backup is up to date");
    const first = cards[0]!;
    expect(within(first).getByTestId("machine-role").textContent).toBe("Primary");
    expect(within(first).getByTestId("pbx-state").textContent).toBe("Running");
    expect(within(first).getByText("5 minutes")).toBeTruthy();
    expect(within(first).getByText("550e8400").getAttribute("title")).toBe(ENTRY.server_id);
    expect(within(cards[1]!).getByTestId("pbx-state").textContent).toBe("Stopped, as a backup should be");
    expect(screen.getByTestId("start-failover").textContent).toBe("Switch over to Backup…");
  });

  it("updates live from the poller's snapshots, without a reload", async () => {
    let push: ((o: Overview) => void) | null = null;
    const api = fakeApi({
      overview: () => Promise.resolve(PAIR()),
      watchOverview: (listener) => {
        push = listener;
        return Promise.resolve(() => {});
      },
    });
    renderApp(api);
    expect((await screen.findByTestId("pair-sentence")).textContent).toContain("Protected");
    const down = overviewOf(
      [machine(ENTRY, "primary", { reachable: false }), machine(BACKUP_ENTRY, "backup")],
      { level: "down", sentence: "Primary Main office unreachable for 2 min" },
      { kind: "unplanned", label: "Fail over to Backup" },
    );
    down.at_unix += 2;
    act(() => push?.(down));
    expect(screen.getByTestId("pair-sentence").textContent).toBe("Primary Main office unreachable for 2 min");
    expect(screen.getByTestId("start-failover").textContent).toBe("Fail over to Backup…");
    expect(screen.getByTestId("office-list-item").dataset.level).toBe("down");
    expect(api.overview).toHaveBeenCalledTimes(1);
  });

  it("explains a server that refuses the token, with advice", async () => {
    const refused = machine(BACKUP_ENTRY, "backup", {
      reachable: false,
      error: { kind: "unauthorized", message: "Backup refused the access token. Create a new one with `lbs-agent token create`." },
    });
    const o = overviewOf([machine(ENTRY, "primary"), refused], {}, { blocked: "Backup does not answer, so it cannot take over." });
    renderApp(fakeApi({ overview: () => Promise.resolve(o) }));
    const banner = await screen.findByTestId("machine-error");
    expect(banner.dataset.kind).toBe("unauthorized");
    expect(banner.textContent).toContain("Backup refused the access token.");
    const card = screen.getAllByTestId("machine-card")[1]!;
    expect(within(card).getByTestId("machine-reach").textContent).toBe("Access refused");
    expect(screen.getByTestId("failover-disabled-reason").textContent).toContain("does not answer");
  });

  it("disables the failover for a view-only token and says why", async () => {
    const viewOnly = "The access token for Backup is view-only: it can see everything but change nothing.";
    const o = overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup", { access: "viewer" })], {}, { blocked: viewOnly });
    renderApp(fakeApi({ overview: () => Promise.resolve(o) }));
    const button = await screen.findByTestId("start-failover");
    expect(button.hasAttribute("disabled")).toBe(true);
    const reason = screen.getByTestId("failover-disabled-reason");
    expect(reason.textContent).toContain("view-only");
    expect(button.getAttribute("aria-describedby")).toBe(reason.id);
  });

  it("never shows a silent box as a current primary: its card and the sidebar give the role it was last seen in", async () => {
    // After a failover: the backup took over, the old primary is silent.
    const silent = machine(ENTRY, "primary", { reachable: false, silentNote: "Last seen as primary, silent for 5 min" });
    const o = overviewOf([silent, machine(BACKUP_ENTRY, "primary")]);
    renderApp(fakeApi({ overview: () => Promise.resolve(o) }));
    const cards = await screen.findAllByTestId("machine-card");
    const gone = cards[0]!;
    expect(within(gone).getByTestId("machine-silent").textContent).toBe("Last seen as primary, silent for 5 min");
    expect(within(gone).queryByTestId("machine-role")).toBeNull();
    expect(within(cards[1]!).getByTestId("machine-role").textContent).toBe("Primary");
    const sidebar = screen.getByRole("navigation", { name: "Offices" });
    expect(within(sidebar).getAllByText("Primary")).toHaveLength(1);
    expect(within(sidebar).getByTestId("server-list-silent").textContent).toBe(
      "Not answering. Last seen as primary, silent for 5 min",
    );
  });

  it("shows the catch-up's time left, and none when the speed is not known", async () => {
    const row = (name: string, time_left: string | null) => ({
      name,
      label: name,
      primary_files: 100,
      primary_bytes: 1e9,
      backup_files: 40,
      backup_bytes: 4e8,
      pending_files: 60,
      pending_bytes: 6e8,
      lag_secs: 30,
      throughput_bps: time_left ? 2.5e6 : 0,
      last_success_unix: null,
      last_error: null,
      watch_problem: null,
      progress: 0.4,
      counting: null,
      state: "60 to copy",
      eta_secs: time_left ? 240 : null,
      time_left,
    });
    const o = PAIR();
    o.offices[0]!.sync = { rows: [row("Voicemail", "about 4 min left"), row("Recordings", null)], catching_up: true, time_left: null };
    renderApp(fakeApi({ overview: () => Promise.resolve(o) }));
    const values = await screen.findAllByTestId("progress-value");
    expect(values.map((v) => v.textContent)).toEqual(["60 to copyabout 4 min left", "60 to copy"]);
    // One category without a speed: no estimate for the whole catch-up either.
    expect(screen.queryByTestId("catch-up-left")).toBeNull();
  });

  it("shows no settling hold on a primary whose pair has never failed over", async () => {
    const first = machine(ENTRY, "primary");
    first.failover!.hold = { ...first.failover!.hold, primary_for_secs: 600, remaining_secs: 3000, took_over: false };
    renderApp(fakeApi({ overview: () => Promise.resolve(overviewOf([first, machine(BACKUP_ENTRY, "backup")])) }));
    const held = await screen.findByTestId("primary-for");
    expect(held.textContent).toBe("10 minutes");
    expect(held.className).not.toContain("tone-warn");
  });

  it("renames and removes an office after confirmation", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(PAIR()),
      renameOffice: (_id, name) => Promise.resolve({ id: "office-1", name, servers: [], created_unix: 0 }),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("rename-office"));
    fireEvent.change(screen.getByTestId("office-name-input"), { target: { value: "Annex" } });
    fireEvent.click(screen.getByTestId("office-name-save"));
    await waitFor(() => expect(api.renameOffice).toHaveBeenCalledWith("office-1", "Annex"));
    fireEvent.click(await screen.findByTestId("remove-office"));
    expect(api.removeOffice).not.toHaveBeenCalled();
    api.overview.mockResolvedValue({ at_unix: 1_800_000_000, offices: [] });
    await act(async () => {
      fireEvent.click(screen.getByTestId("remove-office-confirm"));
      await Promise.resolve();
    });
    expect(api.removeOffice).toHaveBeenCalledWith("office-1");
    expect(await screen.findByText(/Add your office's two phone servers/)).toBeTruthy();
  });
});

describe("failover wizard", () => {
  const ASSESSMENT = {
    title: "Fail over to Backup",
    primary_name: "Main office",
    backup_name: "Backup",
    primary_state: "Main office does not answer.",
    facts: [{ ok: false, text: "Main office has not answered for 2 min." }],
    categories: [{ label: "Voicemail", behind_secs: 0, pending_files: 0, pending_bytes: 0, last_success_unix: 1, counting_files: null }],
    blockers: [],
    warnings: [],
    hold_remaining_secs: null,
    confirm_name: "Backup",
    autopilot: null,
  };
  const UNPLANNED = {
    ...ASSESSMENT,
    kind: "unplanned" as const,
    needs: { old_primary_off: true, typed_name: true, reason: false, hint: "To go ahead, tick the box and type Backup exactly." },
    run_label: "Make Backup the primary",
  };
  const CHANGE = {
    action: "promote",
    already: false,
    role: "primary" as const,
    epoch: 2,
    ok: true,
    message: "Backup is the primary now.",
    steps: [{ step: "start_pbx", label: "Start the PBX", ok: true, detail: "started", took_ms: 40 }],
    started_unix: 1_700_000_100,
    took_ms: 500,
  };

  it("asks for the old primary off and the typed name before an unplanned failover", async () => {
    const o = overviewOf(
      [machine(ENTRY, "primary", { reachable: false }), machine(BACKUP_ENTRY, "backup")],
      { level: "down" },
      { kind: "unplanned", label: "Fail over to Backup" },
    );
    const api = fakeApi({
      overview: () => Promise.resolve(o),
      failoverAssess: () => Promise.resolve(UNPLANNED),
      failoverRun: () => Promise.resolve(CHANGE),
      saveFile: () => Promise.resolve("/tmp/report.txt"),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("start-failover"));
    expect(await screen.findByText("Main office has not answered for 2 min.")).toBeTruthy();
    expect(screen.getByRole("dialog", { name: "Fail over to Backup" })).toBeTruthy();
    expect(api.failoverAssess).toHaveBeenCalledWith(ENTRY.id, BACKUP_ENTRY.id);
    fireEvent.click(screen.getByTestId("wizard-next"));
    const run = screen.getByTestId("wizard-run");
    expect(run.hasAttribute("disabled")).toBe(true);
    expect(run.textContent).toBe("Make Backup the primary");
    expect(screen.getByTestId("run-disabled-reason").textContent).toBe(UNPLANNED.needs.hint);
    // The right name alone is not enough: the old primary must be confirmed off too.
    fireEvent.change(screen.getByTestId("confirm-name"), { target: { value: "Backup" } });
    expect(run.hasAttribute("disabled")).toBe(true);
    fireEvent.click(screen.getByTestId("confirm-off"));
    expect(run.hasAttribute("disabled")).toBe(false);
    fireEvent.change(screen.getByTestId("confirm-name"), { target: { value: "backup" } });
    expect(run.hasAttribute("disabled")).toBe(true);
    fireEvent.change(screen.getByTestId("confirm-name"), { target: { value: "Backup" } });
    expect(run.hasAttribute("disabled")).toBe(false);
    fireEvent.click(run);
    const result = await screen.findByTestId("wizard-result");
    expect(api.failoverRun).toHaveBeenCalledWith(ENTRY.id, BACKUP_ENTRY.id, {
      typed_name: "Backup",
      old_primary_off: true,
      override_reason: null,
    });
    // Downtime: from the primary's last answer (…000) to the end of the promotion (…100.5).
    expect(within(result).getByTestId("downtime").textContent).toContain("1 min 41 s");
    fireEvent.click(screen.getByTestId("save-report"));
    expect((await screen.findByTestId("report-saved")).textContent).toBe("Saved to /tmp/report.txt");
    const report = api.saveFile.mock.calls[0]?.[1] ?? "";
    expect(report).toContain("Unplanned failover: Main office → Backup");
    expect(report).toContain("[ok] Start the PBX");
  });

  it("says when the backup takes over by itself, and what the wizard would add", async () => {
    const o = overviewOf(
      [machine(ENTRY, "primary", { reachable: false }), machine(BACKUP_ENTRY, "backup")],
      { level: "down" },
      { kind: "unplanned", label: "Fail over to Backup" },
    );
    const note = {
      waiting: true,
      title: "Backup takes over by itself shortly",
      text: "Automatic failover is on: once Main office has been silent for about 10 s … The wizard does not wait, and it goes ahead where automatic failover holds back.",
    };
    const api = fakeApi({
      overview: () => Promise.resolve(o),
      failoverAssess: () => Promise.resolve({ ...UNPLANNED, autopilot: note }),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("start-failover"));
    const said = await screen.findByTestId("wizard-autopilot");
    expect(said.getAttribute("data-waiting")).toBe("true");
    expect(said.textContent).toContain("Backup takes over by itself shortly");
    expect(said.textContent).toContain("The wizard does not wait");
    // The wizard still goes on, on the manager's word.
    expect(screen.getByTestId("wizard-next").hasAttribute("disabled")).toBe(false);
  });

  it("needs a reason to switch back during the hold, and can be cancelled", async () => {
    const api = fakeApi({
      overview: () => Promise.resolve(PAIR()),
      failoverAssess: () =>
        Promise.resolve({
          ...ASSESSMENT,
          kind: "planned",
          title: "Switch over to Backup",
          warnings: ["Backup became the primary only 12 min ago; wait 48 min."],
          hold_remaining_secs: 2880,
          needs: { old_primary_off: false, typed_name: false, reason: true, hint: "To go ahead, type a reason above." },
          run_label: "Switch over anyway",
        }),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("start-failover"));
    await waitFor(() => expect(screen.getByTestId("wizard-next").hasAttribute("disabled")).toBe(false));
    fireEvent.click(screen.getByTestId("wizard-next"));
    expect(screen.getByTestId("no-data-lost").textContent).toContain("No data will be lost");
    expect(screen.getByTestId("wizard-warnings").textContent).toContain("only 12 min ago");
    const run = screen.getByTestId("wizard-run");
    expect(run.textContent).toBe("Switch over anyway");
    expect(run.hasAttribute("disabled")).toBe(true);
    fireEvent.change(screen.getByTestId("override-reason"), { target: { value: "   " } });
    expect(run.hasAttribute("disabled")).toBe(true);
    fireEvent.click(screen.getByTestId("wizard-cancel"));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(api.failoverRun).not.toHaveBeenCalled();
  });
});

describe("settings", () => {
  it("switches starting at login on and off, and says why when it cannot", async () => {
    const api = fakeApi({ overview: () => Promise.resolve(PAIR()) });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("open-settings"));
    const box = await screen.findByTestId("start-at-login");
    await waitFor(() => expect(box.hasAttribute("disabled")).toBe(false));
    expect((box as HTMLInputElement).checked).toBe(false);
    fireEvent.click(box);
    await waitFor(() => expect((box as HTMLInputElement).checked).toBe(true));
    expect(api.setStartAtLogin).toHaveBeenCalledWith(true);
    api.setStartAtLogin.mockRejectedValueOnce(
      new CommandError("storage", "Could not stop LBS Console starting at login: permission denied."),
    );
    fireEvent.click(box);
    expect((await screen.findByTestId("settings-error")).textContent).toContain("permission denied");
    expect((box as HTMLInputElement).checked).toBe(true);
    fireEvent.click(screen.getByTestId("settings-done"));
    await waitFor(() => expect(screen.queryByTestId("settings")).toBeNull());
  });
});
