// Component tests of the shell, the add dialog and the server card, against a fake command module.

import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => {
  class FakePlot {
    width = 0;
    setData() {}
    setScale() {}
    setSize() {}
    setSelect() {}
    batch(fn: () => void) {
      fn();
    }
    destroy() {}
  }
  return { default: FakePlot };
});

import { App } from "./App";
import { ApiContext } from "./api/context";
import { CommandError } from "./api/errors";
import type { Commands } from "./api/commands";
import { ENTRY, STATUS, fakeApi } from "./test/fakeApi";

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
    expect(await screen.findByText(/Add your phone servers to watch them here/)).toBeTruthy();
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
    expect(api.addServerLink).toHaveBeenCalledWith("https://example");
    expect(screen.getByRole("dialog")).toBeTruthy();
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
    api.listServers.mockResolvedValue([ENTRY]);
    fireEvent.click(screen.getByTestId("fingerprint-confirm"));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(api.probeServer).toHaveBeenCalledWith("192.0.2.10:7443");
    expect(api.addServerManual).toHaveBeenCalledWith("192.0.2.10:7443", "secret", fingerprint);
    expect(await screen.findByTestId("server-card")).toBeTruthy();
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
      listServers: () => Promise.resolve([ENTRY]),
      serverStatus: () => Promise.resolve(STATUS),
      metricsSeries: () =>
        Promise.resolve({
          series: [
            { name: "pbx.calls", label: "Calls", unit: "count", kind: "pbx_activity", first_unix: 0, last_unix: 0 },
            { name: "pbx.phones", label: "Phones", unit: "count", kind: "pbx_activity", first_unix: 0, last_unix: 0 },
            { name: "cpu.usage", label: "CPU use", unit: "percent", kind: "resources", first_unix: 0, last_unix: 0 },
          ],
        }),
      metricsHistory: ({ series, from, to }) =>
        Promise.resolve({
          series,
          from,
          to,
          bucket_secs: 10,
          resolution: "raw",
          // Four buckets with one missing (t+20) between them: a gap, not a point.
          points: [0, 10, 30, 40].map((dt) => ({ t: from + dt, min: 1, avg: 2, max: 3 })),
        }),
    });
    renderApp(api);
    const pbx = await screen.findByTestId("chart-pbx_activity");
    await waitFor(() => expect(pbx.dataset.points).toBe("8"));
    expect(screen.getByTestId("chart-resources").dataset.points).toBe("4");
    expect(screen.getByTestId("chart-network").dataset.points).toBe("0");
    expect(screen.getByText("This server has not recorded any network activity yet.")).toBeTruthy();
    expect(within(pbx).getByText("Calls")).toBeTruthy();

    const first = api.metricsHistory.mock.calls[0]?.[0];
    expect(first && first.to - first.from).toBe(3600);
    api.metricsHistory.mockClear();
    fireEvent.click(screen.getByTestId("range-6h"));
    await waitFor(() => expect(api.metricsHistory).toHaveBeenCalledTimes(3));
    const call = api.metricsHistory.mock.calls[0]?.[0];
    expect(call && call.to - call.from).toBe(6 * 3600);
    expect(call?.points).toBeGreaterThan(0);
    expect(call?.points).toBeLessThanOrEqual(2000);
    expect(screen.getByTestId("range-6h").getAttribute("aria-pressed")).toBe("true");
  });
});

describe("server card", () => {
  it("shows the server's facts in words", async () => {
    const api = fakeApi({
      listServers: () => Promise.resolve([ENTRY]),
      serverStatus: () => Promise.resolve(STATUS),
    });
    renderApp(api);
    const card = await screen.findByTestId("server-card");
    await waitFor(() => expect(within(card).getByTestId("server-reachable").dataset.state).toBe("reachable"));
    expect(within(card).getByTestId("server-name").textContent).toBe("Main office");
    expect(within(card).getByTestId("server-role").textContent).toBe("Primary");
    expect(within(card).getByText("3 days 4 hours")).toBeTruthy();
    expect(within(card).getByText("5 minutes")).toBeTruthy();
    expect(within(card).getByText("Administrator")).toBeTruthy();
    expect(within(card).getByText("Not paired yet")).toBeTruthy();
    expect(within(card).getByText("550e8400").getAttribute("title")).toBe(ENTRY.server_id);
    const item = screen.getByTestId("server-list-item");
    expect(item.dataset.serverId).toBe(ENTRY.id);
    expect(screen.getByTestId("chart-resources")).toBeTruthy();
  });

  it("shows a banner with advice when the token is refused", async () => {
    const api = fakeApi({
      listServers: () => Promise.resolve([ENTRY]),
      serverStatus: () =>
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        Promise.reject({
          kind: "unauthorized",
          // As the Rust side words it: what went wrong and what to do.
          message:
            "Main office refused the access token. It may have been revoked or mistyped: create a new one on the server with `lbs-agent token create` and add the server again.",
        }),
    });
    renderApp(api);
    const banner = await screen.findByTestId("status-error");
    expect(banner.dataset.kind).toBe("unauthorized");
    expect(banner.textContent).toContain("Main office refused the access token.");
    expect(banner.textContent).toContain("lbs-agent token create");
    expect(screen.getByTestId("server-reachable").dataset.state).toBe("unreachable");
    expect(screen.getByTestId("server-name").textContent).toBe("Main office");
  });

  it("removes a server after confirmation", async () => {
    const api = fakeApi({
      listServers: () => Promise.resolve([ENTRY]),
      serverStatus: () => Promise.resolve(STATUS),
    });
    renderApp(api);
    fireEvent.click(await screen.findByTestId("remove-server"));
    expect(api.removeServer).not.toHaveBeenCalled();
    api.listServers.mockResolvedValue([]);
    await act(async () => {
      fireEvent.click(screen.getByTestId("remove-confirm"));
      await Promise.resolve();
    });
    expect(api.removeServer).toHaveBeenCalledWith(ENTRY.id);
    expect(await screen.findByText(/Add your phone servers/)).toBeTruthy();
  });
});
