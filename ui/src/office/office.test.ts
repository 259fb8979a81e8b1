// The office screens' helpers, without React: the sync rows, the events filter, and the report.
// What is blocked and why, and the words for each event, are lbs-console-core's (tested there).

import { describe, expect, it } from "vitest";

import type { SyncStatus } from "../generated/SyncStatus";
import { BACKUP_ENTRY, ENTRY, machine, overviewOf } from "../test/fakeApi";
import type { EventKind } from "../generated/EventKind";
import { filterEvents, kindsIn } from "./events";
import { downtimeSecs, formatDowntime, reportText } from "./report";
import { catchingUp, categoryRows, rowState } from "./sync";

function sync(role: "primary" | "backup", local: number, peer: number, pending: number): SyncStatus {
  return {
    role,
    epoch: 1,
    peer: { state: "ok", server_id: null, name: null, address: null, last_contact_unix: null, message: null },
    categories: [
      {
        name: "voicemail",
        label: "Voicemail",
        priority: 1,
        local_files: local,
        local_bytes: local * 10,
        peer_files: peer,
        peer_bytes: peer * 10,
        pending_files: pending,
        pending_bytes: pending * 10,
        lag_secs: pending > 0 ? 30 : null,
        last_success_unix: 5,
        last_error: null,
        throughput_bps: 100,
        skipped: [],
        counting: null,
      },
    ],
    history: [],
  };
}

describe("sync rows", () => {
  it("merges what both servers report and measures the catch-up", () => {
    const p = machine(ENTRY, "primary");
    const b = machine(BACKUP_ENTRY, "backup");
    p.sync = sync("primary", 200, 150, 50);
    b.sync = sync("backup", 150, 200, 50);
    const office = overviewOf([p, b]).offices[0]!;
    const [row] = categoryRows(office);
    expect(row).toMatchObject({ primaryFiles: 200, backupFiles: 150, pendingFiles: 50, lagSecs: 30, progress: 0.75 });
    expect(catchingUp(categoryRows(office))).toBe(true);
    b.sync = sync("backup", 200, 200, 0);
    p.sync = sync("primary", 200, 200, 0);
    expect(catchingUp(categoryRows(overviewOf([p, b]).offices[0]!))).toBe(false);
  });

  it("is never up to date while the primary still counts its files", () => {
    // Right after pairing: nothing pending, because nothing is known yet.
    const p = machine(ENTRY, "primary");
    const b = machine(BACKUP_ENTRY, "backup");
    p.sync = sync("primary", 0, 0, 0);
    b.sync = sync("backup", 0, 0, 0);
    p.sync.categories[0]!.counting = { files_counted: 12400 };
    const rows = categoryRows(overviewOf([p, b]).offices[0]!);
    expect(rows[0]?.counting).toBe(12400);
    expect(catchingUp(rows)).toBe(true);
    expect(rowState(rows[0]!)).toBe("Counting (12,400 so far)");
    p.sync.categories[0]!.counting = null;
    const done = categoryRows(overviewOf([p, b]).offices[0]!);
    expect(catchingUp(done)).toBe(false);
    expect(rowState(done[0]!)).toBe("Up to date");
  });

  it("has no rows before either server reported", () => {
    expect(categoryRows(overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]).offices[0]!)).toEqual([]);
  });
});

describe("events", () => {
  const ev = (server: string, kind: EventKind, label: string, message: string, reason: string | null = null) => ({
    server,
    event: { id: 1, at_unix: 1, server_id: server, kind, role: "primary" as const, epoch: 1, actor: "the agent", reason, message },
    label,
    warning: kind === "refused",
  });
  const all = [
    ev("PBX A", "promoted", "Became the primary", "became the primary"),
    ev("PBX B", "refused", "Request refused", "switchover refused", "hold"),
    ev("PBX B", "switchover", "Planned switchover", "switched over", "Maintenance window tonight"),
  ];

  it("filters by server, kind and words in the message, the reason or the kind's words", () => {
    expect(filterEvents(all, { server: "PBX B", kind: "", text: "" })).toHaveLength(2);
    expect(filterEvents(all, { server: "", kind: "refused", text: "" })).toHaveLength(1);
    expect(filterEvents(all, { server: "", kind: "", text: "maintenance TONIGHT" })).toHaveLength(1);
    expect(filterEvents(all, { server: "", kind: "", text: "planned switchover" })).toHaveLength(1);
    expect(filterEvents(all, { server: "", kind: "", text: "nothing like this" })).toHaveLength(0);
  });

  it("offers the kinds present, each once, with their words", () => {
    expect(kindsIn([...all, ...all])).toEqual([
      ["promoted", "Became the primary"],
      ["refused", "Request refused"],
      ["switchover", "Planned switchover"],
    ]);
  });
});

describe("report", () => {
  const change = {
    action: "switchover",
    already: false,
    role: "primary" as const,
    epoch: 4,
    ok: true,
    message: "done",
    steps: [{ step: "drain", label: "Copy the last changes", ok: true, detail: "3 files", took_ms: 120 }],
    started_unix: 1000,
    took_ms: 2500,
  };

  it("measures the downtime of a planned switchover by its own length, an unplanned one from the last answer", () => {
    expect(downtimeSecs(change, true, 990)).toBe(2.5);
    expect(downtimeSecs(change, false, 990)).toBe(12.5);
    expect(downtimeSecs(change, false, null)).toBeNull();
    expect(formatDowntime(2.5)).toBe("2.5 seconds");
    expect(formatDowntime(75)).toBe("1 min 15 s");
    expect(formatDowntime(null)).toMatch(/not known/);
  });

  it("writes what was seen, overridden and done", () => {
    const text = reportText({
      office: "Head office",
      assessment: {
        kind: "planned",
        title: "Switch over to B",
        primary_name: "A",
        backup_name: "B",
        primary_state: "A answers.",
        facts: [{ ok: true, text: "A answers." }],
        categories: [{ label: "Voicemail", behind_secs: 0, pending_files: 0, pending_bytes: 0, last_success_unix: 1, counting_files: null }],
        blockers: [],
        warnings: ["B became the primary only 5 min ago."],
        hold_remaining_secs: 3300,
        confirm_name: "B",
        needs: { old_primary_off: false, typed_name: false, reason: true, hint: "To go ahead, type a reason above." },
        run_label: "Switch over anyway",
      },
      change,
      downtime: 2.5,
      overrideReason: "Planned maintenance",
      at: new Date(0),
    });
    expect(text).toContain("Planned switchover: A → B");
    expect(text).toContain("Phones without a primary: 2.5 seconds");
    expect(text).toContain("Voicemail: up to date");
    expect(text).toContain("Overridden by the manager, reason: Planned maintenance");
    expect(text).toContain("[ok] Copy the last changes (120 ms) — 3 files");
  });
});
