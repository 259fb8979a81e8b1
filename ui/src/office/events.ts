// The Events tab's filter: which entries of the merged log a filter keeps. The words for each kind
// of entry, and whether it is a warning, come with the entry from lbs-console-core (`events.rs`).

import type { EventKind } from "../generated/EventKind";
import type { OfficeEvent } from "../generated/OfficeEvent";

export interface EventFilter {
  /** Server name, or "" for both. */
  server: string;
  /** Event kind, or "" for all. */
  kind: EventKind | "";
  /** Words to find in the message, the reason or who asked. */
  text: string;
}

export const NO_FILTER: EventFilter = { server: "", kind: "", text: "" };

export function filterEvents(events: readonly OfficeEvent[], f: EventFilter): OfficeEvent[] {
  const words = f.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return events.filter((e) => {
    if (f.server && e.server !== f.server) return false;
    if (f.kind && e.event.kind !== f.kind) return false;
    const haystack = `${e.event.message} ${e.event.reason ?? ""} ${e.event.actor} ${e.label}`.toLowerCase();
    return words.every((w) => haystack.includes(w));
  });
}

/** The kinds present in `events`, each with its words, sorted by kind: the filter's choices. */
export function kindsIn(events: readonly OfficeEvent[]): [EventKind, string][] {
  const kinds = new Map(events.map((e) => [e.event.kind, e.label]));
  return [...kinds].sort(([a], [b]) => a.localeCompare(b));
}
