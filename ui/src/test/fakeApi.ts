// A Commands fake for component tests: every command is a vi.fn with a harmless default answer.

import { vi } from "vitest";

import type { Commands } from "../api/commands";
import type { ServerEntry } from "../generated/ServerEntry";
import type { ServerStatus } from "../generated/ServerStatus";

export type FakeCommands = { [K in keyof Commands]: ReturnType<typeof vi.fn<Commands[K]>> };

export function fakeApi(overrides: Partial<Commands> = {}): FakeCommands {
  const api: FakeCommands = {
    listServers: vi.fn<Commands["listServers"]>(() => Promise.resolve([])),
    addServerLink: vi.fn<Commands["addServerLink"]>(() => Promise.reject(new Error("not set up"))),
    probeServer: vi.fn<Commands["probeServer"]>(() => Promise.reject(new Error("not set up"))),
    addServerManual: vi.fn<Commands["addServerManual"]>(() => Promise.reject(new Error("not set up"))),
    removeServer: vi.fn<Commands["removeServer"]>(() => Promise.resolve()),
    serverStatus: vi.fn<Commands["serverStatus"]>(() => new Promise(() => {})),
    metricsSeries: vi.fn<Commands["metricsSeries"]>(() => Promise.resolve({ series: [] })),
    metricsHistory: vi.fn<Commands["metricsHistory"]>(() => new Promise(() => {})),
  };
  for (const [key, impl] of Object.entries(overrides)) {
    const k = key as keyof Commands;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument
    api[k].mockImplementation(impl as any);
  }
  return api;
}

export const ENTRY: ServerEntry = {
  id: "entry-1",
  name: "Main office",
  address: "192.0.2.10:7443",
  fingerprint: "ab".repeat(32),
  server_id: "550e8400-e29b-41d4-a716-446655440000",
  added_unix: 1_700_000_000,
};

export const STATUS: ServerStatus = {
  server_id: ENTRY.server_id,
  name: "Main office",
  role: "primary",
  epoch: 1,
  version: "0.1.0",
  api_version: 1,
  uptime_secs: 3 * 86400 + 4 * 3600,
  host_uptime_secs: 300,
  hostname: "pbx-main",
  fingerprint: ENTRY.fingerprint,
  access: "admin",
  peer: { state: "unpaired" },
  sample_interval_secs: 10,
};
