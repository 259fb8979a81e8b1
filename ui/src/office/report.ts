// The failover report the manager can save: what was seen, what was confirmed, what ran, and how
// long the phones were without a primary.

import type { Assessment } from "../generated/Assessment";
import type { RoleChange } from "../generated/RoleChange";
import { formatDuration } from "../format/duration";
import { formatDateTime } from "../format/time";

/**
 * How long the phones had no primary, in seconds. Planned: from the start of the switchover to its
 * end (the old primary stops its PBX at the start). Unplanned: from the old primary's last answer
 * to the end of the promotion; null if it never answered this console.
 */
export function downtimeSecs(change: RoleChange, planned: boolean, primaryLastSeenUnix: number | null): number | null {
  const endMs = change.started_unix * 1000 + change.took_ms;
  if (planned) return change.took_ms / 1000;
  if (primaryLastSeenUnix === null) return null;
  return Math.max(0, endMs / 1000 - primaryLastSeenUnix);
}

export function formatDowntime(secs: number | null): string {
  if (secs === null) return "not known (the old primary never answered this console)";
  if (secs < 60) return `${secs < 10 ? secs.toFixed(1) : Math.round(secs)} seconds`;
  // Minutes and seconds: a downtime is worth knowing to the second.
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s`;
  return formatDuration(secs);
}

export function reportText(opts: {
  office: string;
  assessment: Assessment;
  change: RoleChange;
  downtime: number | null;
  overrideReason: string | null;
  at: Date;
}): string {
  const { office, assessment: a, change, downtime, overrideReason, at } = opts;
  const planned = a.kind === "planned";
  const lines = [
    `LBS failover report — ${office}`,
    `Written ${formatDateTime(at.getTime() / 1000)}`,
    "",
    `${planned ? "Planned switchover" : "Unplanned failover"}: ${a.primary_name} → ${a.backup_name}`,
    `Result: ${change.ok ? "done" : "NOT complete"} — ${change.message}`,
    `Phones without a primary: ${formatDowntime(downtime)}`,
    `New primary: ${a.backup_name} (role epoch ${change.epoch})`,
    "",
    "What the console saw before:",
    ...a.facts.map((f) => `  ${f.ok ? "[ok]" : "[!!]"} ${f.text}`),
    "",
    "The backup's copy, by category:",
    ...a.categories.map(
      (c) =>
        `  ${c.label}: ${
          c.counting_files !== null
            ? `still being counted on the primary (${c.counting_files} files so far)`
            : c.pending_files === 0
              ? "up to date"
              : `${c.pending_files} files not copied, ${formatDuration(c.behind_secs)} behind`
        }`,
    ),
  ];
  if (a.warnings.length > 0) {
    lines.push("", "Warnings shown:", ...a.warnings.map((w) => `  - ${w}`));
  }
  if (overrideReason) lines.push("", `Overridden by the manager, reason: ${overrideReason}`);
  lines.push(
    "",
    "Steps:",
    ...change.steps.map((s) => `  ${s.ok ? "[ok]" : "[failed]"} ${s.label} (${s.took_ms} ms) — ${s.detail}`),
    "",
  );
  return lines.join("\n");
}
