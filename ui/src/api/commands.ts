// Typed wrappers for every Tauri command: the only place the UI calls `invoke`.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";

import type { Assessment } from "../generated/Assessment";
import type { Confirmation } from "../generated/Confirmation";
import type { FailoverStatus } from "../generated/FailoverStatus";
import type { HistoryResponse } from "../generated/HistoryResponse";
import type { OfficeEvents } from "../generated/OfficeEvents";
import type { Overview } from "../generated/Overview";
import type { PairEntry } from "../generated/PairEntry";
import type { QuarantineList } from "../generated/QuarantineList";
import type { RoleChange } from "../generated/RoleChange";
import type { ProbeResult } from "../generated/ProbeResult";
import type { SeriesList } from "../generated/SeriesList";
import type { ServerEntry } from "../generated/ServerEntry";
import { CommandError, toConsoleError } from "./errors";

export interface HistoryRequest {
  id: string;
  series: string;
  /** Unix seconds, inclusive. */
  from: number;
  /** Unix seconds, exclusive. */
  to: number;
  /** Most buckets wanted (the chart's width in pixels). */
  points: number;
}

/** Everything the UI can ask the Rust side. Every method rejects with a CommandError. */
export interface Commands {
  /** `office`: the office to add it to; none: its partner's office, or a new one. */
  addServerLink(link: string, office?: string | null): Promise<ServerEntry>;
  probeServer(address: string): Promise<ProbeResult>;
  addServerManual(address: string, token: string, fingerprint: string, office?: string | null): Promise<ServerEntry>;
  metricsSeries(id: string): Promise<SeriesList>;
  metricsHistory(request: HistoryRequest): Promise<HistoryResponse>;
  /** Every office as last polled. */
  overview(): Promise<Overview>;
  /** Calls `listener` with every new snapshot the background poller takes; resolves to "stop". */
  watchOverview(listener: (overview: Overview) => void): Promise<() => void>;
  renameOffice(office: string, name: string): Promise<PairEntry>;
  removeOffice(office: string): Promise<void>;
  failoverStatus(id: string): Promise<FailoverStatus>;
  quarantineList(id: string): Promise<QuarantineList>;
  restoreQuarantined(id: string, file: number, replace: boolean): Promise<QuarantineList>;
  officeEvents(office: string, limit: number): Promise<OfficeEvents>;
  failoverAssess(primary: string, backup: string): Promise<Assessment>;
  failoverRun(primary: string, backup: string, confirmation: Confirmation): Promise<RoleChange>;
  /** Saves text where the manager picks; resolves to the path, or null when cancelled. */
  saveFile(name: string, contents: string): Promise<string | null>;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    if (!insideTauri()) {
      throw new CommandError(
        "agent",
        "This is the LBS Console's screen, opened outside the LBS Console app. Open the app instead, or add ?mock to the address to try it with sample servers.",
      );
    }
    throw toConsoleError(error);
  }
}

function insideTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

/** The real commands, answered by the Tauri back end. */
export const tauriCommands: Commands = {
  addServerLink: (link, office) => call<ServerEntry>("add_server_link", { link, office: office ?? null }),
  probeServer: (address) => call<ProbeResult>("probe_server", { address }),
  addServerManual: (address, token, fingerprint, office) =>
    call<ServerEntry>("add_server_manual", { address, token, fingerprint, office: office ?? null }),
  metricsSeries: (id) => call<SeriesList>("metrics_series", { id }),
  metricsHistory: ({ id, series, from, to, points }) =>
    call<HistoryResponse>("metrics_history", { id, series, from, to, points }),
  overview: () => call<Overview>("overview"),
  watchOverview: (listener) => listen<Overview>("overview", (event) => listener(event.payload)),
  renameOffice: (office, name) => call<PairEntry>("rename_pair", { pair: office, name }),
  removeOffice: (office) => call<void>("remove_pair", { pair: office }),
  failoverStatus: (id) => call<FailoverStatus>("failover_status", { id }),
  quarantineList: (id) => call<QuarantineList>("quarantine_list", { id }),
  restoreQuarantined: (id, file, replace) => call<QuarantineList>("restore_quarantined", { id, file, replace }),
  officeEvents: (office, limit) => call<OfficeEvents>("office_events", { office, limit }),
  failoverAssess: (primary, backup) => call<Assessment>("failover_assess", { primary, backup }),
  failoverRun: (primary, backup, confirmation) => call<RoleChange>("failover_run", { primary, backup, confirmation }),
  saveFile: (name, contents) => call<string | null>("save_file", { name, contents }),
};

/** True in a plain browser opened with `?mock` (never inside the Tauri app). */
export function isMockMode(): boolean {
  if (typeof window === "undefined" || insideTauri()) return false;
  return new URLSearchParams(window.location.search).has("mock");
}

/** The in-memory fake, loaded on first use so it stays out of the app's main bundle. */
function lazyMockCommands(): Commands {
  let loaded: Promise<Commands> | null = null;
  const mock = (): Promise<Commands> => {
    loaded ??= import("./mock").then((m) => m.createMockCommands(window.location.search));
    return loaded;
  };
  // Every method forwards to the fake once it has loaded.
  return new Proxy({} as Commands, {
    get:
      (_target, name: string) =>
      async (...args: unknown[]) => {
        const m = (await mock()) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        const method = m[name];
        if (!method) throw new CommandError("agent", `The sample servers cannot do "${name}".`);
        return method(...args);
      },
  });
}

/** The commands the app uses: the Tauri back end, or the fake in a browser with `?mock`. */
export const commands: Commands = isMockMode() ? lazyMockCommands() : tauriCommands;
