// A Commands fake for component tests: every command is a vi.fn with a harmless default answer.

import { vi } from "vitest";

import type { Commands } from "../api/commands";
import type { AutopilotView } from "../generated/AutopilotView";
import type { FailoverOffer } from "../generated/FailoverOffer";
import type { FailoverStatus } from "../generated/FailoverStatus";
import type { MachineView } from "../generated/MachineView";
import type { OfficeView } from "../generated/OfficeView";
import type { Overview } from "../generated/Overview";
import type { Role } from "../generated/Role";
import type { ServerEntry } from "../generated/ServerEntry";
import type { ServerStatus } from "../generated/ServerStatus";

export type FakeCommands = { [K in keyof Commands]: ReturnType<typeof vi.fn<Commands[K]>> };

export function fakeApi(overrides: Partial<Commands> = {}): FakeCommands {
  const api: FakeCommands = {
    addServerLink: vi.fn<Commands["addServerLink"]>(() => Promise.reject(new Error("not set up"))),
    probeServer: vi.fn<Commands["probeServer"]>(() => Promise.reject(new Error("not set up"))),
    addServerManual: vi.fn<Commands["addServerManual"]>(() => Promise.reject(new Error("not set up"))),
    metricsSeries: vi.fn<Commands["metricsSeries"]>(() =>
      Promise.resolve({ series: [], from_copy: false, copy_until_unix: null, live_error: null }),
    ),
    metricsHistory: vi.fn<Commands["metricsHistory"]>(() => new Promise(() => {})),
    overview: vi.fn<Commands["overview"]>(() => Promise.resolve({ at_unix: 0, offices: [] })),
    watchOverview: vi.fn<Commands["watchOverview"]>(() => Promise.resolve(() => {})),
    renameOffice: vi.fn<Commands["renameOffice"]>(() => Promise.reject(new Error("not set up"))),
    removeOffice: vi.fn<Commands["removeOffice"]>(() => Promise.resolve()),
    removeServer: vi.fn<Commands["removeServer"]>(() => Promise.resolve()),
    changeAddress: vi.fn<Commands["changeAddress"]>(() => Promise.reject(new Error("not set up"))),
    changeToken: vi.fn<Commands["changeToken"]>(() => Promise.reject(new Error("not set up"))),
    forgetFormer: vi.fn<Commands["forgetFormer"]>(() => Promise.resolve()),
    failoverStatus: vi.fn<Commands["failoverStatus"]>(() => new Promise(() => {})),
    quarantineList: vi.fn<Commands["quarantineList"]>(() => Promise.resolve({ entries: [] })),
    restoreQuarantined: vi.fn<Commands["restoreQuarantined"]>(() => Promise.reject(new Error("not set up"))),
    trashList: vi.fn<Commands["trashList"]>(() =>
      Promise.resolve({ entries: [], total_files: 0, total_bytes: 0, retention_secs: 30 * 86400, unreadable: [] }),
    ),
    restoreTrash: vi.fn<Commands["restoreTrash"]>(() => Promise.reject(new Error("not set up"))),
    officeEvents: vi.fn<Commands["officeEvents"]>(() => Promise.resolve({ events: [], unreadable: [] })),
    officeHealth: vi.fn<Commands["officeHealth"]>(() => Promise.resolve({ health: null, from: null, unreadable: [] })),
    failoverAssess: vi.fn<Commands["failoverAssess"]>(() => new Promise(() => {})),
    failoverRun: vi.fn<Commands["failoverRun"]>(() => Promise.reject(new Error("not set up"))),
    maintenanceStart: vi.fn<Commands["maintenanceStart"]>(() => Promise.reject(new Error("not set up"))),
    maintenanceEnd: vi.fn<Commands["maintenanceEnd"]>(() => Promise.reject(new Error("not set up"))),
    autopilotSet: vi.fn<Commands["autopilotSet"]>(() => Promise.reject(new Error("not set up"))),
    saveFile: vi.fn<Commands["saveFile"]>(() => Promise.resolve(null)),
    startAtLogin: vi.fn<Commands["startAtLogin"]>(() => Promise.resolve(false)),
    setStartAtLogin: vi.fn<Commands["setStartAtLogin"]>((on) => Promise.resolve(on)),
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
  standing: "settled",
  epoch: 1,
  version: "0.1.0",
  api_version: 1,
    api_min_version: 1,
  uptime_secs: 3 * 86400 + 4 * 3600,
  host_uptime_secs: 300,
  hostname: "pbx-main",
  fingerprint: ENTRY.fingerprint,
  access: "admin",
  peer: { state: "unpaired" },
  sample_interval_secs: 10,
  maintenance: null,
};

export const BACKUP_ENTRY: ServerEntry = {
  id: "entry-2",
  name: "Backup",
  address: "192.0.2.11:7443",
  fingerprint: "cd".repeat(32),
  server_id: "660e8400-e29b-41d4-a716-446655440001",
  added_unix: 1_700_000_100,
};

function failover(role: Role, overrides: Partial<FailoverStatus> = {}): FailoverStatus {
  return {
    role,
    standing: "settled",
    epoch: 1,
    epoch_owner: ENTRY.server_id,
    role_since_unix: 1_700_000_000,
    busy: null,
    hold: { hold_secs: 3600, primary_for_secs: 7200, remaining_secs: 0, took_over: true, caught_up: true, pending_files: 0, pending_bytes: 0 },
    pbx: { managed: true, running: role === "primary", should_run: role === "primary", problem: null, checked_unix: 1 },
    address: { strategy: "none", target: "", held: false, problem: null, warning: null },
    partner: {
      paired: true,
      name: null,
      server_id: null,
      address: null,
      reachable: true,
      checked: true,
      role: null,
      epoch: 1,
      role_since_unix: null,
      last_contact_unix: null,
      message: null,
      clock_offset_secs: 0,
      clock_problem: null,
    },
    quarantined_files: 0,
    last_change: null,
    autopilot: null,
    ...overrides,
  };
}

export function machine(
  entry: ServerEntry,
  role: Role,
  opts: {
    reachable?: boolean;
    access?: ServerStatus["access"];
    error?: MachineView["error"];
    /** What lbs-console-core would say stops a put-back through it. */
    restoreBlocked?: string;
    /** What lbs-console-core would show a silent box as. */
    silentNote?: string;
  } = {},
): MachineView {
  const reachable = opts.reachable ?? true;
  return {
    entry,
    reachable,
    last_answer_unix: 1_700_000_000,
    last_role: role,
    status: reachable
      ? { ...STATUS, server_id: entry.server_id, name: entry.name, role, access: opts.access ?? "admin" }
      : null,
    failover: reachable ? failover(role) : null,
    sync: null,
    error: reachable ? null : (opts.error ?? { kind: "unreachable", message: `${entry.name} did not answer.` }),
    restore_blocked: opts.restoreBlocked ?? null,
    standing_note: null,
    silent_note: reachable ? null : (opts.silentNote ?? `Last seen as ${role}, silent for 2 min`),
  };
}

/**
 * One office "Head office" with ENTRY as the primary and BACKUP_ENTRY as the backup. Its sentence
 * and failover button are lbs-console-core's to decide: a test that needs others gives them.
 */
export function overviewOf(
  machines: MachineView[],
  state: Partial<OfficeView["state"]> = {},
  failover: Partial<FailoverOffer> = {},
): Overview {
  const primary = machines.find((m) => m.last_role === "primary") ?? null;
  const backup = machines.find((m) => m !== primary) ?? null;
  return {
    at_unix: 1_700_000_000,
    offices: [
      {
        pair: { id: "office-1", name: "Head office", servers: machines.map((m) => m.entry.id), created_unix: 0 },
        state: { level: "protected", word: "Protected", sentence: "Protected: the backup is up to date", next: null, ...state },
        failover: { kind: "planned", label: `Switch over to ${backup?.entry.name ?? ""}`, blocked: null, ...failover },
        machines,
        primary: primary?.entry.id ?? null,
        backup: machines.length === 2 ? (backup?.entry.id ?? null) : null,
        former: [],
        sync: { rows: [], catching_up: false, time_left: null },
        maintenance: null,
        maintenance_offer: {
          through: primary?.entry.id ?? null,
          blocked: null,
          choices: [
            { label: "30 minutes", length: { kind: "for", secs: 1800 } },
            { label: "1 hour", length: { kind: "for", secs: 3600 } },
            { label: "2 hours", length: { kind: "for", secs: 7200 } },
            { label: "4 hours", length: { kind: "for", secs: 14400 } },
          ],
          min_secs: 60,
          max_secs: 86400,
          limits: "from 1 minute to 24 hours",
          by: "sam",
        },
        autopilot: NOT_SET_UP,
      },
    ],
  };
}

/** lbs-console-core's autopilot for a pair not set up for it (the default of `overviewOf`). */
export const NOT_SET_UP: AutopilotView = {
  level: "not_set_up",
  word: "Not set up",
  headline: "Autopilot: not set up",
  text: "if the primary fails, a person fails over from this console.",
  next: "Your IT contractor sets it up: a small always-on machine of the office as the witness, then `lbs-agent witness setup` on each server.",
  notes: [],
  cause: null,
  warnings: [],
  vote: null,
  offer: null,
};
