// In-memory fake of the Tauri back end for a plain browser (`?mock`): two sample servers, made-up history.
//
// Scenarios (`?mock=NAME`): default two healthy servers; `empty` none; `down`, `unauthorized`,
// `mismatch` — the backup answers once, then fails with that kind; `never` — the backup never
// answered; `primarydown` — the primary answers once, then not; `slow` — every answer takes 3 s.
// Add `&wrong` to make every dialog action fail, and `&autopilot=STATE` for automatic failover
// (see mockAutopilot.ts).

import type { ErrorKind } from "../generated/ErrorKind";
import type { HistoryPoint } from "../generated/HistoryPoint";
import type { HistoryResponse } from "../generated/HistoryResponse";
import type { ProbeResult } from "../generated/ProbeResult";
import type { Role } from "../generated/Role";
import type { SeriesInfo } from "../generated/SeriesInfo";
import type { MachineSeries } from "../generated/MachineSeries";
import type { ServerEntry } from "../generated/ServerEntry";
import type { ServerStatus } from "../generated/ServerStatus";
import type { Commands, HistoryRequest } from "./commands";
import { CommandError } from "./errors";
import { mockAutopilot, pilotState } from "./mockAutopilot";
import { mockOffice } from "./mockOffice";

interface FakeServer {
  entry: ServerEntry;
  role: Role;
  hostname: string;
  /** Seed that makes each server's curves differ. */
  seed: number;
  /** After this many successful status calls, every call fails with `failKind` (null = never fails). */
  failAfter: number | null;
  failKind: ErrorKind;
  statusCalls: number;
  /** Status calls that failed; history fails too once the status did. */
  statusFailures: number;
  /** Unix seconds of the first sample; nothing before. */
  firstUnix: number;
  /** A stretch with no data, to show gaps. */
  outage: { from: number; to: number };
}

const DAY = 86400;

function hash(n: number): number {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return (x >>> 0) / 4294967296;
}

function hexFrom(text: string): string {
  let seed = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 0x01000193);
  let out = "";
  for (let i = 0; out.length < 64; i++) out += Math.floor(hash(seed + i * 0x9e37) * 16).toString(16);
  return out;
}

function uuidFrom(text: string): string {
  const h = hexFrom(`id:${text}`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Busy office hours: low at night and on weekends, up to 1 around 10:00 and 15:00. The fake's clock
 * is shifted so that "now" is always a weekday late morning, whenever the demo runs.
 */
let clockShiftSecs = 0;

function shiftClockToLateMorning(nowSecs: number): void {
  const d = new Date(nowSecs * 1000);
  const hours = d.getHours() + d.getMinutes() / 60;
  let shift = (11.2 - hours) * 3600;
  const weekday = new Date((nowSecs + shift) * 1000).getDay();
  if (weekday === 0) shift += DAY;
  if (weekday === 6) shift += 2 * DAY;
  clockShiftSecs = shift;
}

function officeLoad(t: number): number {
  const d = new Date((t + clockShiftSecs) * 1000);
  const day = d.getDay();
  if (day === 0 || day === 6) return 0.05;
  const h = d.getHours() + d.getMinutes() / 60;
  if (h < 7.5 || h > 18.5) return 0.03;
  const morning = Math.exp(-((h - 10) ** 2) / 3);
  const afternoon = 0.85 * Math.exp(-((h - 15) ** 2) / 4);
  return Math.min(1, 0.15 + morning + afternoon);
}

const SERIES: readonly Omit<SeriesInfo, "first_unix" | "last_unix">[] = [
  { name: "cpu.usage", label: "CPU use", unit: "percent", kind: "resources" },
  { name: "load.1", label: "Load (1 min)", unit: "load", kind: "resources" },
  { name: "load.5", label: "Load (5 min)", unit: "load", kind: "resources" },
  { name: "load.15", label: "Load (15 min)", unit: "load", kind: "resources" },
  { name: "memory.used", label: "Memory used", unit: "bytes", kind: "resources" },
  { name: "memory.total", label: "Memory installed", unit: "bytes", kind: "resources" },
  { name: "swap.used", label: "Swap used", unit: "bytes", kind: "resources" },
  { name: "disk./.used_percent", label: "Disk / used", unit: "percent", kind: "resources" },
  { name: "disk./var/spool.used_percent", label: "Disk /var/spool used", unit: "percent", kind: "resources" },
  { name: "disk./.read", label: "Disk / read", unit: "bytes_per_sec", kind: "resources" },
  { name: "disk./.write", label: "Disk / write", unit: "bytes_per_sec", kind: "resources" },
  { name: "net.eth0.rx", label: "eth0 received", unit: "bytes_per_sec", kind: "network" },
  { name: "net.eth0.tx", label: "eth0 sent", unit: "bytes_per_sec", kind: "network" },
  { name: "processes", label: "Processes", unit: "count", kind: "resources" },
  { name: "pbx.calls", label: "Calls in progress", unit: "count", kind: "pbx_activity" },
  { name: "pbx.phones", label: "Phones connected", unit: "count", kind: "pbx_activity" },
  { name: "role.primary", label: "Primary", unit: "flag", kind: "role" },
];

/** A switchover drill two days ago: for three hours the backup held the primary's role. */
function inDrill(t: number): boolean {
  const start = Math.floor(Date.now() / 1000) - 2 * DAY;
  return t >= start && t < start + 3 * 3600;
}

/** The made-up value of one series at one instant. */
function sample(server: FakeServer, name: string, t: number): number {
  const busy = officeLoad(t);
  // Noise that drifts smoothly over a few minutes, like real activity, rather than jumping every sample.
  const noise = (salt: number) => {
    const period = 180;
    const k = Math.floor(t / period);
    const f = (t - k * period) / period;
    const at = (i: number) => hash(i * 7919 + server.seed * 104729 + salt * 15485863);
    const eased = f * f * (3 - 2 * f);
    return at(k) * (1 - eased) + at(k + 1) * eased;
  };
  const wave = Math.sin((t / 900) * Math.PI + server.seed);
  const calls = Math.max(0, Math.round(busy * (server.role === "primary" ? 9 : 1) * (0.6 + 0.8 * noise(1))));
  switch (name) {
    case "cpu.usage":
      return Math.min(100, 4 + busy * 22 + wave * 3 + noise(2) * 6);
    case "load.1":
      return 0.1 + busy * 1.4 + noise(3) * 0.4;
    case "load.5":
      return 0.12 + busy * 1.2 + noise(4) * 0.15;
    case "load.15":
      return 0.15 + busy * 1.0 + noise(5) * 0.05;
    case "memory.used":
      return (1.7 + busy * 0.5 + wave * 0.05 + noise(6) * 0.04) * 1024 ** 3;
    case "memory.total":
      return 4 * 1024 ** 3;
    case "swap.used":
      return (48 + noise(7) * 4) * 1024 ** 2;
    case "disk./.used_percent":
      return 38 + ((t / DAY) % 365) * 0.01 + noise(8) * 0.05;
    case "disk./var/spool.used_percent":
      return 55 + ((t / DAY) % 30) * 0.4 + noise(9) * 0.05;
    case "disk./.read":
      return (20 + busy * 300 + noise(10) * 150) * 1024;
    case "disk./.write":
      return (60 + busy * 500 + noise(11) * 200) * 1024;
    case "net.eth0.rx":
      return (6 + calls * 11 + noise(12) * 4) * 1024;
    case "net.eth0.tx":
      return (4 + calls * 10.5 + noise(13) * 3) * 1024;
    case "processes":
      return Math.round(172 + busy * 14 + noise(14) * 6);
    case "pbx.calls":
      return calls;
    case "pbx.phones":
      return server.role === "primary" ? (busy > 0.1 ? 24 - Math.round(noise(15) * 1.2) : 22) : 0;
    case "role.primary":
      return (server.role === "primary") !== inDrill(t) ? 1 : 0;
    default:
      return noise(16) * 100;
  }
}

function bucketFor(span: number, points: number): { secs: number; resolution: HistoryResponse["resolution"] } {
  let secs = Math.max(10, Math.ceil(span / Math.max(1, points)));
  if (secs > 3600) secs = Math.ceil(secs / 3600) * 3600;
  else if (secs > 60) secs = Math.ceil(secs / 60) * 60;
  else secs = Math.ceil(secs / 10) * 10;
  return { secs, resolution: secs < 60 ? "raw" : secs < 600 ? "minute" : secs < 3600 ? "ten_minute" : "hour" };
}

function parseLink(text: string): { address: string; fingerprint: string; token: string; name: string | null } {
  const link = text.trim();
  if (!link.toLowerCase().startsWith("lbs://")) {
    throw new CommandError("invalid_input", 'This is not an LBS connection link: it should start with "lbs://".');
  }
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new CommandError("invalid_input", "The connection link is damaged; copy it again from the server.");
  }
  if (!url.hostname || !url.port) {
    throw new CommandError("invalid_input", "The connection link has no server address; copy it again from the server.");
  }
  const fp = (url.searchParams.get("fp") ?? "").replace(/:/g, "").toLowerCase();
  const token = url.searchParams.get("token") ?? "";
  if (!token) throw new CommandError("invalid_input", "The connection link has no access token; copy it again from the server.");
  if (!/^[0-9a-f]{64}$/.test(fp)) {
    throw new CommandError(
      "invalid_input",
      "The certificate fingerprint in the link is not valid; copy the link again from the server.",
    );
  }
  return { address: `${url.hostname}:${url.port}`, fingerprint: fp, token, name: url.searchParams.get("name") };
}

/** Builds the fake from the page's query string (see the scenarios above). */
export function createMockCommands(search: string): Commands {
  const params = new URLSearchParams(search);
  const scenario = params.get("mock") ?? "";
  const allWrong = params.has("wrong");
  const delayMs = scenario === "slow" ? 3000 : 250;
  const now = () => Date.now() / 1000;
  const started = now();
  shiftClockToLateMorning(started);

  const servers: FakeServer[] = [];
  const makeServer = (name: string, address: string, role: Role, seed: number, hostname: string): FakeServer => {
    const entry: ServerEntry = {
      id: uuidFrom(`entry:${address}`),
      name,
      address,
      fingerprint: hexFrom(address),
      server_id: uuidFrom(`server:${address}`),
      added_unix: Math.floor(started - 40 * DAY),
    };
    return {
      entry,
      role,
      hostname,
      seed,
      failAfter: null,
      failKind: "unreachable",
      statusCalls: 0,
      statusFailures: 0,
      firstUnix: Math.floor(started - (role === "primary" ? 120 : 75) * DAY),
      outage:
        role === "primary"
          ? { from: Math.floor(started - 3.2 * 3600), to: Math.floor(started - 3 * 3600) }
          : { from: Math.floor(started - 2.3 * DAY), to: Math.floor(started - 2.1 * DAY) },
    };
  };

  if (scenario !== "empty") {
    const primary = makeServer("PBX A (server room)", "192.0.2.10:7443", "primary", 1, "pbx-a");
    if (scenario === "primarydown") primary.failAfter = 1;
    servers.push(primary);
    const backup = makeServer("PBX B (comms room)", "192.0.2.11:7443", "backup", 2, "pbx-b");
    if (scenario === "down") backup.failAfter = 1;
    if (scenario === "never") backup.failAfter = 0;
    if (scenario === "unauthorized") Object.assign(backup, { failAfter: 1, failKind: "unauthorized" });
    if (scenario === "mismatch") Object.assign(backup, { failAfter: 1, failKind: "certificate_mismatch" });
    servers.push(backup);
  }

  const wait = () => new Promise<void>((resolve) => setTimeout(resolve, delayMs));
  const find = (id: string): FakeServer => {
    const s = servers.find((x) => x.entry.id === id);
    if (!s) throw new CommandError("not_found", "This server is no longer in the console's list.");
    return s;
  };
  /** Servers taken out of the office: their history is still "on this computer". */
  const retired: FakeServer[] = [];
  const findMachine = (serverId: string): FakeServer => {
    const s = [...servers, ...retired].find((x) => x.entry.server_id === serverId);
    if (!s) throw new CommandError("not_found", "This computer holds no history of that machine.");
    return s;
  };
  const failing = (s: FakeServer) => s.failAfter !== null && s.statusCalls >= s.failAfter;
  const historyFailing = (s: FakeServer) => s.failAfter === 0 || s.statusFailures > 0;
  const failure = (s: FakeServer): CommandError => {
    switch (s.failKind) {
      case "unauthorized":
        return new CommandError("unauthorized", `${s.entry.name} refused the access token.`);
      case "certificate_mismatch":
        return new CommandError(
          "certificate_mismatch",
          `${s.entry.name} presented a different certificate from the one saved when it was added.`,
        );
      default:
        return new CommandError("unreachable", `${s.entry.name} (${s.entry.address}) did not answer.`);
    }
  };
  const add = (address: string, fingerprint: string, name: string | null): ServerEntry => {
    if (servers.some((s) => s.entry.address === address)) {
      throw new CommandError("already_added", "This server is already in your list.");
    }
    const server = makeServer(name ?? address.split(":")[0] ?? address, address, "backup", servers.length + 3, "pbx");
    server.entry.fingerprint = fingerprint;
    servers.push(server);
    return server.entry;
  };

  /** The sample servers' status; the scenario makes the backup fail after a few calls. */
  const serverStatus = async (id: string): Promise<ServerStatus> => {
    await wait();
    const s = find(id);
    if (failing(s)) {
      s.statusFailures += 1;
      throw failure(s);
    }
    s.statusCalls += 1;
    const elapsed = Math.floor(now() - started);
    return {
      server_id: s.entry.server_id,
      name: s.entry.name,
      role: s.role,
      standing: "settled",
      epoch: 3,
      version: "0.1.0",
      api_version: 1,
    api_min_version: 1,
      uptime_secs: 3 * DAY + 4 * 3600 + 120 + elapsed,
      host_uptime_secs: 41 * DAY + 7 * 3600 + elapsed,
      hostname: s.hostname,
      fingerprint: s.entry.fingerprint,
      // The sample backup's token is view-only (its card and the failover button say what that
      // means), except in the samples of automatic failover and of a primary that goes silent.
      access: s.role === "primary" || scenario === "primarydown" || params.has("autopilot") ? "admin" : "viewer",
      peer: { state: "unpaired" },
      sample_interval_secs: 10,
      maintenance: null,
    };
  };

  const since = new Map<string, number>();
  let atLogin = false;
  const commands: Omit<Commands, keyof ReturnType<typeof mockOffice>> = {
    async addServerLink(link) {
      await wait();
      if (allWrong) throw new CommandError("unreachable", "The server at 192.0.2.99:7443 did not answer.");
      const parsed = parseLink(link);
      return { server: add(parsed.address, parsed.fingerprint, parsed.name), partner: null, partner_problem: null };
    },
    async probeServer(address): Promise<ProbeResult> {
      await wait();
      if (allWrong || address.includes("offline")) {
        throw new CommandError("unreachable", `Nothing answered at ${address}. Check the address and that the server is on.`);
      }
      if (!/^[^:\s]+:\d+$/.test(address.trim())) {
        throw new CommandError("invalid_input", "Type the address as host:port, for example 192.0.2.10:7443.");
      }
      return { address: address.trim(), fingerprint: hexFrom(address.trim()) };
    },
    async addServerManual(address, token, fingerprint) {
      await wait();
      if (allWrong || token === "wrong") {
        throw new CommandError("unauthorized", "The server refused this access token. Check it and try again.");
      }
      return add(address, fingerprint, null);
    },
    async metricsSeries(machine): Promise<MachineSeries> {
      await wait();
      const s = findMachine(machine);
      if (historyFailing(s)) throw failure(s);
      const last = Math.floor(now());
      const series = SERIES.map((x) => ({ ...x, first_unix: s.firstUnix, last_unix: last }));
      const copy = retired.includes(s);
      return { series, from_copy: copy, copy_until_unix: copy ? last : null, live_error: null };
    },
    async metricsHistory({ machine, series, from, to, points }: HistoryRequest): Promise<HistoryResponse> {
      await wait();
      const s = findMachine(machine);
      if (historyFailing(s)) throw failure(s);
      const { secs, resolution } = bucketFor(to - from, points);
      const end = Math.min(to, now());
      const out: HistoryPoint[] = [];
      for (let t = Math.ceil(from / secs) * secs; t < end; t += secs) {
        if (t < s.firstUnix) continue;
        if (t + secs > s.outage.from && t < s.outage.to) continue;
        const samples = Math.min(6, Math.max(1, Math.floor(secs / 10)));
        let min = Infinity;
        let max = -Infinity;
        let sum = 0;
        for (let i = 0; i < samples; i++) {
          const v = sample(s, series, t + (i * secs) / samples);
          min = Math.min(min, v);
          max = Math.max(max, v);
          sum += v;
        }
        out.push({ t, min, avg: sum / samples, max });
      }
      return { series, from, to, bucket_secs: secs, resolution, points: out };
    },
    async startAtLogin() {
      await wait();
      return atLogin;
    },
    async setStartAtLogin(on) {
      await wait();
      atLogin = on;
      return atLogin;
    },
  };
  const office = mockOffice(
    () =>
      servers.map((s) => ({
        entry: s.entry,
        get role() {
          return s.role;
        },
        set role(r: Role) {
          s.role = r;
        },
        get since() {
          return since.get(s.entry.id) ?? started - 3 * DAY;
        },
        set since(t: number) {
          since.set(s.entry.id, t);
        },
      })),
    serverStatus,
    (id) => {
      const i = servers.findIndex((s) => s.entry.id === id);
      if (i !== -1) retired.push(...servers.splice(i, 1));
    },
    mockAutopilot(pilotState(params.get("autopilot")), () => ({
      primary: servers.find((s) => s.role === "primary")?.entry.name ?? "the primary",
      backup: servers.find((s) => s.role !== "primary")?.entry.name ?? "the backup",
    })),
  );
  return { ...commands, ...office };
}
