// The office half of the in-browser fake (`?mock`): the sample servers as one office, with
// made-up failover and sync reports, a merged audit log, and a wizard that swaps the roles. The
// sentences, buttons and words lbs-console-core decides are canned here for the sample's few
// situations, not derived: the rules live (and are tested) in Rust.

/* The fake answers at once; `async` keeps every method a Promise like the real commands. */
/* eslint-disable @typescript-eslint/require-await */

import { mockHealth } from "./mockHealth";
import type { Assessment } from "../generated/Assessment";
import type { OfficeEvent } from "../generated/OfficeEvent";
import type { FailoverStatus } from "../generated/FailoverStatus";
import type { FormerMachine } from "../generated/FormerMachine";
import type { MachineView } from "../generated/MachineView";
import type { Maintenance } from "../generated/Maintenance";
import type { Overview } from "../generated/Overview";
import type { PairEntry } from "../generated/PairEntry";
import type { Role } from "../generated/Role";
import type { ServerEntry } from "../generated/ServerEntry";
import type { ServerStatus } from "../generated/ServerStatus";
import type { SyncStatus } from "../generated/SyncStatus";
import type { TrashEntry } from "../generated/TrashEntry";
import type { Commands } from "./commands";
import { CommandError } from "./errors";
import type { mockAutopilot } from "./mockAutopilot";

export interface OfficeServer {
  entry: ServerEntry;
  role: Role;
  since: number;
}

type OfficeCommands = Pick<
  Commands,
  | "overview"
  | "watchOverview"
  | "renameOffice"
  | "removeOffice"
  | "removeServer"
  | "changeAddress"
  | "changeToken"
  | "forgetFormer"
  | "failoverStatus"
  | "quarantineList"
  | "restoreQuarantined"
  | "trashList"
  | "restoreTrash"
  | "officeEvents"
  | "officeHealth"
  | "failoverAssess"
  | "failoverRun"
  | "maintenanceStart"
  | "maintenanceEnd"
  | "autopilotSet"
  | "saveFile"
>;

/** How long the sample backup keeps deleted files. */
const TRASH_DAYS = 30;

const CATEGORIES = [
  ["voicemail", "Voicemail", 214, 880e6],
  ["config", "Configuration", 38, 2.1e6],
  ["recordings", "Call recordings", 1960, 18.4e9],
  ["prompts", "Voice prompts", 122, 96e6],
] as const;

/**
 * `servers()` gives the sample servers in order; `status(id)` their status (throws when the
 * scenario makes one fail); `remove(id)` drops one; `pilot` is their automatic failover.
 */
export function mockOffice(
  servers: () => OfficeServer[],
  status: (id: string) => Promise<ServerStatus>,
  remove: (id: string) => void,
  pilot: ReturnType<typeof mockAutopilot>,
): OfficeCommands {
  const now = () => Math.floor(Date.now() / 1000);
  const office: PairEntry = { id: "office-1", name: "Main office", servers: [], created_unix: now() - 40 * 86400 };
  let epoch = 3;
  const former: FormerMachine[] = [];
  /** The office's maintenance while it is on. */
  let maintenance: Maintenance | null = null;
  const clock = (t: number) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const maintenanceOn = () => (maintenance && maintenance.until_unix > now() ? maintenance : null);
  const events: OfficeEvent[] = [];
  /** The backup's trash: category, path, size, deleted how many seconds ago. */
  const deletedFiles: [string, string, number, number][] = [
    ["voicemail", "default/1001/INBOX/msg0004.wav", 184_320, 2 * 3600],
    ["voicemail", "default/1002/INBOX/msg0001.wav", 96_256, 26 * 3600],
    ["voicemail", "default/1002/INBOX/msg0001.txt", 212, 26 * 3600],
    ["prompts", "custom/holiday-greeting.wav", 1_310_720, 9 * 86400],
  ];
  const trash: TrashEntry[] = deletedFiles.map(([category, path, size, ago]) => {
    const deleted = now() - ago;
    return {
      category,
      source: `${category}:0`,
      path,
      stored: path,
      size,
      deleted_unix: deleted,
      expires_unix: deleted + TRASH_DAYS * 86400,
    };
  });
  const promoted = (s: OfficeServer, message: string, reason: string | null) =>
    events.push({
      server: s.entry.name,
      event: {
        id: events.length + 1,
        at_unix: now(),
        server_id: s.entry.server_id,
        kind: "promoted",
        role: s.role,
        epoch,
        actor: "token 3f2a… (this console)",
        reason,
        message,
      },
      label: "Became the primary",
      warning: false,
    });

  const failover = (s: OfficeServer): FailoverStatus => ({
    role: s.role,
    standing: "settled",
    epoch,
    epoch_owner: s.entry.server_id,
    role_since_unix: s.since,
    busy: null,
    hold: {
      hold_secs: 3600,
      primary_for_secs: now() - (servers().find((x) => x.role === "primary")?.since ?? now()),
      remaining_secs: Math.max(0, 3600 - (now() - (servers().find((x) => x.role === "primary")?.since ?? 0))),
      took_over: true,
      caught_up: true,
      pending_files: 0,
      pending_bytes: 0,
    },
    pbx: {
      managed: true,
      // A primary cut off from its partner and the vote stops its phone system.
      running: s.role === "primary" && !pilot.fenced(),
      should_run: s.role === "primary" && !pilot.fenced(),
      problem: null,
      checked_unix: now(),
    },
    address: { strategy: "dns", target: `pbx.office.lan → ${s.entry.address.split(":")[0] ?? ""}`, held: s.role === "primary", problem: null, warning: null },
    partner: {
      paired: true,
      name: null,
      server_id: null,
      address: null,
      reachable: true,
      checked: true,
      role: s.role === "primary" ? "backup" : "primary",
      epoch,
      role_since_unix: null,
      last_contact_unix: now(),
      message: null,
      clock_offset_secs: 0,
      clock_problem: null,
    },
    quarantined_files: 0,
    last_change: null,
    autopilot: pilot.status(s.role === "primary"),
  });

  const sync = (s: OfficeServer): SyncStatus => ({
    role: s.role,
    epoch,
    peer: { state: "ok", server_id: null, name: null, address: null, last_contact_unix: now(), message: null },
    categories: CATEGORIES.map(([name, label, files, bytes], i) => ({
      name,
      label,
      priority: i + 1,
      local_files: files,
      local_bytes: bytes,
      peer_files: files,
      peer_bytes: bytes,
      pending_files: 0,
      pending_bytes: 0,
      lag_secs: null,
      last_success_unix: now() - 4,
      last_error: null,
      throughput_bps: i === 0 ? 48_000 : 0,
      skipped: [],
      counting: null,
    })),
    history: Array.from({ length: 60 }, (_, i) => ({
      t: now() - (60 - i) * 60,
      pending_bytes: 0,
      lag_secs: 0,
      throughput_bps: 20_000 + 30_000 * Math.abs(Math.sin(i / 6)),
    })),
    link: {
      round_trip_ms: 0.6,
      loss_percent: 0,
      clock_offset_ms: 3,
      capacity_bps: 11_200_000,
      busiest_hour_bytes: s.role === "backup" ? 184_000_000 : null,
      busiest_hour_unix: s.role === "backup" ? now() - 26 * 3600 : null,
      behind_per_busy_hour_bytes: null,
      warning: null,
    },
  });

  const find = (id: string) => {
    const s = servers().find((x) => x.entry.id === id);
    if (!s) throw new CommandError("not_found", "This server is no longer in the console's list.");
    return s;
  };

  const look = async (s: OfficeServer): Promise<MachineView> => {
    try {
      const st = { ...(await status(s.entry.id)), maintenance: maintenanceOn() };
      const restore_blocked =
        st.access === "viewer" ? `The access token for ${s.entry.name} is view-only: it can see the files but not restore them.` : null;
      return { entry: s.entry, reachable: true, last_answer_unix: now(), last_role: s.role, status: st, failover: failover(s), sync: sync(s), error: null, restore_blocked, standing_note: null, silent_note: null };
    } catch (e) {
      const err = e instanceof CommandError ? e : new CommandError("agent", String(e));
      // With automatic failover on, a silent primary is seen just after it went silent.
      const [ago, silent] = pilot.armed() ? [8, "8 s"] : [130, "2 min"];
      return { entry: s.entry, reachable: false, last_answer_unix: now() - ago, last_role: s.role, status: null, failover: null, sync: null, error: { kind: err.kind, message: err.message }, restore_blocked: `${s.entry.name} does not answer.`, standing_note: null, silent_note: `Last seen as ${s.role}, silent for ${silent}` };
    }
  };

  const overview = async (): Promise<Overview> => {
    const list = servers();
    if (list.length === 0) return { at_unix: now(), offices: [] };
    const machines = await Promise.all(list.map(look));
    const primary = machines.find((m) => m.last_role === "primary") ?? null;
    const backup = machines.find((m) => m !== primary) ?? null;
    const down = primary !== null && !primary.reachable;
    const single = machines.length < 2;
    const backupName = backup?.entry.name ?? "";
    const viewOnly = backup?.status?.access === "viewer";
    return {
      at_unix: now(),
      offices: [
        {
          pair: { ...office, servers: list.map((s) => s.entry.id) },
          state: single
            ? { level: "at_risk", word: "At risk", sentence: `Not protected: ${list[0]?.entry.name ?? ""} has no partner in this office yet`, next: null }
            : pilot.fenced() && primary?.reachable
              ? {
                  level: "down",
                  word: "Down",
                  sentence: `The phones may be down: ${primary.entry.name} stopped its phone system 1 min ago, cut off from ${backupName} and the witness`,
                  next: `${backupName} takes over by itself if it still reaches the witness. If it has not within a minute, call your IT contractor: the network between the servers and the witness needs looking at.`,
                }
              : down
              ? {
                  level: "down",
                  word: "Down",
                  sentence: `Primary ${primary.entry.name} unreachable for ${pilot.armed() ? "8 s" : "2 min"}`,
                  next: pilot.armed()
                    ? `Automatic failover is on: ${backupName} takes over by itself about 10 s after ${primary.entry.name} went silent. If it does not, start the failover wizard.`
                    : "If it does not come back, start the failover wizard to make the backup the primary.",
                }
              : backup && !backup.reachable
                ? { level: "at_risk", word: "At risk", sentence: `At risk: the backup ${backup.entry.name} does not answer`, next: null }
                : { level: "protected", word: "Protected", sentence: "Protected: the backup is up to date", next: null },
          failover: {
            // A primary that stopped its phones, cut off, cannot hand over: the backup is promoted.
            kind: down || pilot.fenced() ? "unplanned" : "planned",
            label: `${down || pilot.fenced() ? "Fail over" : "Switch over"} to ${backupName}`,
            blocked: single
              ? "This office has one server: add its partner first."
              : backup && !backup.reachable
                ? `${backupName} does not answer, so it cannot take over.`
                : viewOnly
                  ? `The access token for ${backupName} is view-only: it can see everything but change nothing. To fail over from this console, enter an administrator token with "New access token…" on its card.`
                  : null,
          },
          machines,
          primary: primary?.entry.id ?? null,
          backup: single ? null : (backup?.entry.id ?? null),
          former: [...former],
          maintenance: ((m) =>
            m && {
              setting: m,
              sentence: `Maintenance until ${clock(m.until_unix)} — ${m.set_by}: ${m.reason}.`,
              detail:
                "Alerts about the work are held and nothing happens automatically, except that a phone system started on the backup is still stopped: two running at once would split the phones (to try the backup's, switch over). The copy keeps running. It ends by itself.",
            })(maintenanceOn()),
          maintenance_offer: {
            through: machines.find((m) => m.reachable)?.entry.id ?? null,
            blocked: machines.some((m) => m.reachable) ? null : "Neither server answers, so maintenance cannot be set from here.",
            choices: [
              { label: "30 minutes", length: { kind: "for", secs: 1800 } },
              { label: "1 hour", length: { kind: "for", secs: 3600 } },
              { label: "2 hours", length: { kind: "for", secs: 7200 } },
              { label: "4 hours", length: { kind: "for", secs: 14400 } },
            ],
            min_secs: 60,
            max_secs: 86400,
            limits: "from 1 minute to 24 hours",
            by: "Sam",
          },
          autopilot: pilot.view(
            machines.some((m) => m.reachable),
            primary?.reachable ?? true,
            machines.find((m) => m.reachable && m.status?.access === "admin")?.entry.id ?? null,
          ),
          // Fixed example rows: the mock's made-up categories, all copied.
          sync: {
            rows: CATEGORIES.map(([name, label, files, bytes]) => ({
              name,
              label,
              primary_files: files,
              primary_bytes: bytes,
              backup_files: files,
              backup_bytes: bytes,
              pending_files: 0,
              pending_bytes: 0,
              lag_secs: null,
              throughput_bps: 0,
              last_success_unix: now() - 4,
              last_error: null,
              watch_problem: null,
              progress: 1,
              counting: null,
              state: "Up to date",
              eta_secs: null,
              time_left: null,
            })),
            catching_up: false,
            time_left: null,
          },
        },
      ],
    };
  };

  return {
    overview,
    async watchOverview(listener) {
      const timer = setInterval(() => void overview().then(listener), 2000);
      return () => clearInterval(timer);
    },
    async renameOffice(_id, name) {
      if (!name.trim()) throw new CommandError("invalid_input", 'Give the office a name, for example "Main office".');
      office.name = name.trim();
      return { ...office, servers: servers().map((s) => s.entry.id) };
    },
    async removeOffice() {
      for (const s of servers()) remove(s.entry.id);
      former.length = 0;
    },
    async removeServer(id) {
      const s = find(id);
      if (servers().length < 2) {
        throw new CommandError("invalid_input", `${s.entry.name} is the only server of "${office.name}": remove the office instead.`);
      }
      former.unshift({ server_id: s.entry.server_id, name: s.entry.name, removed_unix: now() });
      remove(id);
    },
    async changeAddress(id, address) {
      const s = find(id);
      if (!/^[^:\s]+:\d+$/.test(address.trim())) {
        throw new CommandError("invalid_input", "Type the address as host:port, for example 192.0.2.10:7443.");
      }
      s.entry.address = address.trim();
      return s.entry;
    },
    async changeToken(id, token) {
      find(id);
      if (!token.trim() || token.includes("wrong")) {
        throw new CommandError("unauthorized", "The server refused this access token. Check it and try again.");
      }
    },
    async forgetFormer(machine) {
      const i = former.findIndex((f) => f.server_id === machine);
      if (i !== -1) former.splice(i, 1);
    },
    async failoverStatus(id) {
      return failover(find(id));
    },
    async quarantineList() {
      return { entries: [] };
    },
    async restoreQuarantined() {
      throw new CommandError("not_found", "No such file is set aside.");
    },
    async trashList(id) {
      // The backup keeps what the primary deleted; the primary's own trash is empty here.
      const entries = find(id).role === "primary" ? [] : trash;
      return {
        entries,
        total_files: entries.length,
        total_bytes: entries.reduce((sum, e) => sum + e.size, 0),
        retention_secs: TRASH_DAYS * 86400,
        unreadable: [],
      };
    },
    async restoreTrash(id, entry, replace) {
      const s = find(id);
      const primary = servers().find((x) => x.role === "primary");
      if (!primary) throw new CommandError("refused", `${s.entry.name} refused: there is no primary to put the file back on.`);
      // One sample file has a newer version on the primary: it needs "replace".
      if (entry.path === trash[1]?.path && !replace) {
        throw new CommandError(
          "different_file",
          `${s.entry.name} refused: ${primary.entry.name}: a different file is at ${entry.path} now; restore with "replace" to put this one in its place (the current one goes to the trash)`,
        );
      }
      return { path: entry.path, message: `${entry.path} was restored on ${primary.entry.name}` };
    },
    async officeHealth() {
      return mockHealth(
        servers().map((s) => ({ id: s.entry.server_id, name: s.entry.name, role: s.role })),
        now(),
      );
    },
    async officeEvents(_office, limit) {
      const names = new Map(servers().map((s) => [s.entry.server_id, s.entry.name]));
      return {
        events: [...events]
          .reverse()
          .slice(0, limit)
          .map((e) => ({ ...e, server: names.get(e.event.server_id) ?? e.server })),
        unreadable: [],
      };
    },
    async failoverAssess(primaryId, backupId): Promise<Assessment> {
      const p = await look(find(primaryId));
      const b = find(backupId);
      const held = now() - b.since;
      const planned = p.reachable && !pilot.fenced();
      return {
        kind: planned ? "planned" : "unplanned",
        title: `${planned ? "Switch over" : "Fail over"} to ${b.entry.name}`,
        primary_name: p.entry.name,
        backup_name: b.entry.name,
        primary_state: planned ? `${p.entry.name} answers.` : `${p.entry.name} does not answer.`,
        facts: [
          { ok: p.reachable, text: p.reachable ? `${p.entry.name} answers and runs the phones.` : `${p.entry.name} does not answer.` },
          { ok: true, text: `${b.entry.name} answers and has every change.` },
        ],
        categories: CATEGORIES.map(([, label]) => ({ label, behind_secs: 0, pending_files: 0, pending_bytes: 0, last_success_unix: now(), counting_files: null })),
        blockers: [],
        warnings: [],
        hold_remaining_secs: Math.max(0, 3600 - held),
        confirm_name: b.entry.name,
        needs: planned
          ? { old_primary_off: false, typed_name: false, reason: false, hint: "" }
          : { old_primary_off: true, typed_name: true, reason: false, hint: `To go ahead, tick the box and type ${b.entry.name} exactly.` },
        run_label: planned ? "Switch over" : `Make ${b.entry.name} the primary`,
        autopilot: planned ? null : pilot.note(),
      };
    },
    async failoverRun(primaryId, backupId, confirmation) {
      const p = find(primaryId);
      const b = find(backupId);
      await new Promise((r) => setTimeout(r, 1200));
      epoch += 1;
      p.role = "backup";
      b.role = "primary";
      b.since = now();
      promoted(b, `${b.entry.name} became the primary`, confirmation.override_reason);
      return {
        action: "switchover",
        already: false,
        role: "primary",
        epoch,
        ok: true,
        message: `${b.entry.name} is the primary now.`,
        steps: [
          { step: "drain", label: "Copy the last changes", ok: true, detail: "nothing was pending", took_ms: 120 },
          { step: "start_pbx", label: "Start the PBX", ok: true, detail: "started", took_ms: 240 },
          { step: "take_address", label: "Move pbx.office.lan to this box", ok: true, detail: "moved", took_ms: 30 },
        ],
        started_unix: now() - 1,
        took_ms: 420,
      };
    },
    async maintenanceStart(_office, length, reason, by) {
      if (!reason.trim()) throw new CommandError("invalid_input", "Say why, in a few words.");
      // Until a minute before this computer's next midnight, as lbs-console-core counts it.
      const forSecs =
        length.kind === "for" ? length.secs : Math.floor((new Date().setHours(24, 0, 0, 0) - Date.now()) / 1000) - 60;
      if (forSecs < 60 || forSecs > 24 * 3600) {
        throw new CommandError("refused", "PBX A refused: a maintenance lasts from 1 minute to 24 hours.");
      }
      maintenance = { until_unix: now() + forSecs, reason: reason.trim(), set_by: by ?? "this console", set_at_unix: now() };
      const names = servers().map((s) => s.entry.name).join(" and ");
      return { maintenance, message: `Maintenance is on for ${names} until ${clock(maintenance.until_unix)}.`, partner_not_told: false };
    },
    async maintenanceEnd() {
      const was = maintenanceOn();
      maintenance = null;
      const names = servers().map((s) => s.entry.name).join(" and ");
      return { maintenance: null, message: was ? `Maintenance ended for ${names}.` : "No maintenance was on.", partner_not_told: false };
    },
    async autopilotSet(_office, on, reason, by) {
      return pilot.set(on, reason, by);
    },
    async saveFile(name) {
      return `~/Documents/${name}`;
    },
  };
}
