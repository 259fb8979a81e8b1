// The Events tab's words and filter: what each kind of audit entry means, and which entries a
// filter keeps.

import type { OfficeEvent } from "../generated/OfficeEvent";

const KINDS: Record<string, string> = {
  promoted: "Became the primary",
  demoted: "Became the backup",
  switchover: "Planned switchover",
  reintegrated: "Rejoined as the backup",
  refused: "Request refused",
  epoch_learned: "Learned of a newer primary",
  pbx_violation: "Phone system stopped on the backup",
  quarantine_restored: "Set-aside file put back",
  step_failed: "A step failed",
};

export function kindLabel(kind: string): string {
  return KINDS[kind] ?? kind.replace(/_/g, " ");
}

export interface EventFilter {
  /** Server name, or "" for both. */
  server: string;
  /** Event kind, or "" for all. */
  kind: string;
  /** Words to find in the message, the reason or who asked. */
  text: string;
}

export const NO_FILTER: EventFilter = { server: "", kind: "", text: "" };

export function filterEvents(events: readonly OfficeEvent[], f: EventFilter): OfficeEvent[] {
  const words = f.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return events.filter((e) => {
    if (f.server && e.server !== f.server) return false;
    if (f.kind && e.event.kind !== f.kind) return false;
    const haystack = `${e.event.message} ${e.event.reason ?? ""} ${e.event.actor} ${kindLabel(e.event.kind)}`.toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
}
