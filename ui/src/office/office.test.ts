// The office screens' helpers, without React: the events filter and the report. The sync rows
// are lbs-console-core's (tested there).
// What is blocked and why, and the words for each event, are lbs-console-core's (tested there).

import { describe, expect, it } from "vitest";

import type { EventKind } from "../generated/EventKind";
import { filterEvents, kindsIn } from "./events";
import { downtimeSecs, formatDowntime, reportText } from "./report";

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
        autopilot: null,
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
