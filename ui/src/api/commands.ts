// Typed wrappers for every Tauri command: the only place the UI calls `invoke`.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";

import type { AddedServer } from "../generated/AddedServer";
import type { Assessment } from "../generated/Assessment";
import type { AutopilotDone } from "../generated/AutopilotDone";
import type { Confirmation } from "../generated/Confirmation";
import type { FailoverStatus } from "../generated/FailoverStatus";
import type { HistoryResponse } from "../generated/HistoryResponse";
import type { MaintenanceDone } from "../generated/MaintenanceDone";
import type { MaintenanceLength } from "../generated/MaintenanceLength";
import type { OfficeEvents } from "../generated/OfficeEvents";
import type { OfficeHealth } from "../generated/OfficeHealth";
import type { Overview } from "../generated/Overview";
import type { PairEntry } from "../generated/PairEntry";
import type { QuarantineList } from "../generated/QuarantineList";
import type { RoleChange } from "../generated/RoleChange";
import type { ProbeResult } from "../generated/ProbeResult";
import type { MachineSeries } from "../generated/MachineSeries";
import type { ServerEntry } from "../generated/ServerEntry";
import type { TrashEntry } from "../generated/TrashEntry";
import type { TrashList } from "../generated/TrashList";
import type { TrashRestored } from "../generated/TrashRestored";
import { CommandError, toConsoleError } from "./errors";

export interface HistoryRequest {
  /** The machine's server ID (its history outlives the console's entry for it). */
  machine: string;
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
  /** Adds the server, and its partner when it is paired (one link for the whole office). */
  addServerLink(link: string, office?: string | null): Promise<AddedServer>;
  probeServer(address: string): Promise<ProbeResult>;
  addServerManual(address: string, token: string, fingerprint: string, office?: string | null): Promise<ServerEntry>;
  /** A machine's series, from the machine or else from this computer's copy of its history. */
  metricsSeries(machine: string): Promise<MachineSeries>;
  metricsHistory(request: HistoryRequest): Promise<HistoryResponse>;
  /** Every office as last polled. */
  overview(): Promise<Overview>;
  /** Calls `listener` with every new snapshot the background poller takes; resolves to "stop". */
  watchOverview(listener: (overview: Overview) => void): Promise<() => void>;
  renameOffice(office: string, name: string): Promise<PairEntry>;
  removeOffice(office: string): Promise<void>;
  /** Takes one server out of its office (a box being replaced); its history stays here. */
  removeServer(id: string): Promise<void>;
  /** Follows a server that moved; only the same machine, with the pinned certificate, is accepted. */
  changeAddress(id: string, address: string): Promise<ServerEntry>;
  /** Replaces a server's access token (kept in the OS keyring) once the server accepts it. */
  changeToken(id: string, token: string): Promise<void>;
  /** Deletes a replaced machine's history from this computer. */
  forgetFormer(machine: string): Promise<void>;
  failoverStatus(id: string): Promise<FailoverStatus>;
  quarantineList(id: string): Promise<QuarantineList>;
  restoreQuarantined(id: string, file: number, replace: boolean): Promise<QuarantineList>;
  /** The files deleted on the primary that server `id` (the backup) keeps in its trash. */
  trashList(id: string): Promise<TrashList>;
  /** Puts `entry` from the trash of server `id` back on the primary; `replace`: over a different file. */
  restoreTrash(id: string, entry: TrashEntry, replace: boolean): Promise<TrashRestored>;
  officeEvents(office: string, limit: number): Promise<OfficeEvents>;
  /** The office's two machines side by side and what differs, from the server that answers best. */
  officeHealth(office: string): Promise<OfficeHealth>;
  failoverAssess(primary: string, backup: string): Promise<Assessment>;
  failoverRun(primary: string, backup: string, confirmation: Confirmation): Promise<RoleChange>;
  /** Maintenance for the office from now for `length` (counted when sent), through one of its servers; `by`: who does the work. */
  maintenanceStart(office: string, length: MaintenanceLength, reason: string, by: string | null): Promise<MaintenanceDone>;
  /** Ends the office's maintenance now. */
  maintenanceEnd(office: string, by: string | null): Promise<MaintenanceDone>;
  /** Switches automatic failover on or off for the office (a reason is required to switch it off); `by`: who. */
  autopilotSet(office: string, on: boolean, reason: string | null, by: string | null): Promise<AutopilotDone>;
  /** Saves text or bytes where the manager picks; resolves to the path, or null when cancelled. */
  saveFile(name: string, contents: string | Uint8Array): Promise<string | null>;
  /** Whether the console starts (in the tray) when the manager logs in to this computer. */
  startAtLogin(): Promise<boolean>;
  /** Switches starting at login on or off; resolves to the setting as it now stands. */
  setStartAtLogin(on: boolean): Promise<boolean>;
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
  addServerLink: (link, office) => call<AddedServer>("add_server_link", { link, office: office ?? null }),
  probeServer: (address) => call<ProbeResult>("probe_server", { address }),
  addServerManual: (address, token, fingerprint, office) =>
    call<ServerEntry>("add_server_manual", { address, token, fingerprint, office: office ?? null }),
  metricsSeries: (machine) => call<MachineSeries>("metrics_series", { machine }),
  metricsHistory: ({ machine, series, from, to, points }) =>
    call<HistoryResponse>("metrics_history", { machine, series, from, to, points }),
  overview: () => call<Overview>("overview"),
  watchOverview: (listener) => listen<Overview>("overview", (event) => listener(event.payload)),
  renameOffice: (office, name) => call<PairEntry>("rename_pair", { pair: office, name }),
  removeOffice: (office) => call<void>("remove_pair", { pair: office }),
  removeServer: (id) => call<void>("remove_server", { id }),
  changeAddress: (id, address) => call<ServerEntry>("change_address", { id, address }),
  changeToken: (id, token) => call<void>("change_token", { id, token }),
  forgetFormer: (machine) => call<void>("forget_former", { machine }),
  failoverStatus: (id) => call<FailoverStatus>("failover_status", { id }),
  quarantineList: (id) => call<QuarantineList>("quarantine_list", { id }),
  restoreQuarantined: (id, file, replace) => call<QuarantineList>("restore_quarantined", { id, file, replace }),
  trashList: (id) => call<TrashList>("trash_list", { id }),
  restoreTrash: (id, entry, replace) => call<TrashRestored>("restore_trash", { id, entry, replace }),
  officeEvents: (office, limit) => call<OfficeEvents>("office_events", { office, limit }),
  officeHealth: (office) => call<OfficeHealth>("office_health", { office }),
  failoverAssess: (primary, backup) => call<Assessment>("failover_assess", { primary, backup }),
  failoverRun: (primary, backup, confirmation) => call<RoleChange>("failover_run", { primary, backup, confirmation }),
  maintenanceStart: (office, length, reason, by) =>
    call<MaintenanceDone>("maintenance_start", { office, length, reason, by }),
  maintenanceEnd: (office, by) => call<MaintenanceDone>("maintenance_end", { office, by }),
  autopilotSet: (office, on, reason, by) => call<AutopilotDone>("autopilot_set", { office, on, reason, by }),
  saveFile: (name, contents) =>
    call<string | null>("save_file", {
      name,
      // Bytes cross to Rust as a plain array of numbers (`Vec<u8>`).
      contents: Array.from(typeof contents === "string" ? new TextEncoder().encode(contents) : contents),
    }),
  startAtLogin: () => call<boolean>("start_at_login"),
  setStartAtLogin: (on) => call<boolean>("set_start_at_login", { on }),
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
