// Typed wrappers for every Tauri command: the only place the UI calls `invoke`.

import { invoke } from "@tauri-apps/api/core";

import type { HistoryResponse } from "../generated/HistoryResponse";
import type { ProbeResult } from "../generated/ProbeResult";
import type { SeriesList } from "../generated/SeriesList";
import type { ServerEntry } from "../generated/ServerEntry";
import type { ServerStatus } from "../generated/ServerStatus";
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
  listServers(): Promise<ServerEntry[]>;
  addServerLink(link: string): Promise<ServerEntry>;
  probeServer(address: string): Promise<ProbeResult>;
  addServerManual(address: string, token: string, fingerprint: string): Promise<ServerEntry>;
  removeServer(id: string): Promise<void>;
  serverStatus(id: string): Promise<ServerStatus>;
  metricsSeries(id: string): Promise<SeriesList>;
  metricsHistory(request: HistoryRequest): Promise<HistoryResponse>;
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
  listServers: () => call<ServerEntry[]>("list_servers"),
  addServerLink: (link) => call<ServerEntry>("add_server_link", { link }),
  probeServer: (address) => call<ProbeResult>("probe_server", { address }),
  addServerManual: (address, token, fingerprint) =>
    call<ServerEntry>("add_server_manual", { address, token, fingerprint }),
  removeServer: (id) => call<void>("remove_server", { id }),
  serverStatus: (id) => call<ServerStatus>("server_status", { id }),
  metricsSeries: (id) => call<SeriesList>("metrics_series", { id }),
  metricsHistory: ({ id, series, from, to, points }) =>
    call<HistoryResponse>("metrics_history", { id, series, from, to, points }),
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
  return {
    listServers: async () => (await mock()).listServers(),
    addServerLink: async (link) => (await mock()).addServerLink(link),
    probeServer: async (address) => (await mock()).probeServer(address),
    addServerManual: async (address, token, fingerprint) =>
      (await mock()).addServerManual(address, token, fingerprint),
    removeServer: async (id) => (await mock()).removeServer(id),
    serverStatus: async (id) => (await mock()).serverStatus(id),
    metricsSeries: async (id) => (await mock()).metricsSeries(id),
    metricsHistory: async (request) => (await mock()).metricsHistory(request),
  };
}

/** The commands the app uses: the Tauri back end, or the fake in a browser with `?mock`. */
export const commands: Commands = isMockMode() ? lazyMockCommands() : tauriCommands;
