// The Health tab's words: each part of a machine's inventory as one cell of the side-by-side
// table, and the summary line. Pure, so each is unit-tested.

import { formatBytes } from "../format/bytes";
import type { Difference } from "../generated/Difference";
import type { DifferenceCounts } from "../generated/DifferenceCounts";
import type { HealthArea } from "../generated/HealthArea";
import type { MachineInventory } from "../generated/MachineInventory";
import type { Reading } from "../generated/Reading";
import type { Severity } from "../generated/Severity";

/** One row of the side-by-side table. */
export interface HealthRow {
  area: HealthArea;
  label: string;
  /** Each line of a machine's cell: its value, or why it could not be read. */
  cell: (m: MachineInventory) => CellLine[];
}

export interface CellLine {
  text: string;
  /** Not read: the reason, shown muted. */
  unknown?: boolean;
  tone?: "ok" | "warn" | "bad";
}

function read<T>(r: Reading<T>, lines: (value: T) => CellLine[]): CellLine[] {
  if (r.state === "unavailable") return [{ text: `Not known: ${r.reason}`, unknown: true }];
  return lines(r.value);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export const ROWS: readonly HealthRow[] = [
  {
    area: "telephony",
    label: "Telephone lines",
    cell: (m) => {
      const t = m.telephony;
      const cards = read(t.cards, (cards) =>
        cards.length === 0
          ? [{ text: "No telephony card" }]
          : cards.map((c) => ({ text: `${c.kind === "other" ? "" : `${c.kind.toUpperCase()} card: `}${c.description}` })),
      );
      const spans = read(t.spans, (spans) =>
        spans.map((s) => ({
          text: `Span ${s.number} ${s.name}: ${s.alarms.length === 0 ? "up" : s.alarms.join(", ")}`,
          tone: s.alarms.length === 0 ? ("ok" as const) : ("bad" as const),
        })),
      );
      return [...cards, ...(t.dahdi_loaded ? spans : [])];
    },
  },
  {
    area: "storage",
    label: "Data and space",
    cell: (m) =>
      read(m.storage, (roots) =>
        roots.length === 0
          ? [{ text: "No data folders" }]
          : roots.map((r) => {
              const fs = r.filesystem;
              const space = fs ? `; ${formatBytes(fs.free_bytes)} free of ${formatBytes(fs.total_bytes)} on ${fs.mount}` : "";
              return { text: `${r.category}: ${formatBytes(r.data_bytes)} (${plural(r.files, "file")})${space}` };
            }),
      ),
  },
  {
    area: "disks",
    label: "Disks",
    cell: (m) =>
      read(m.disks, (disks) =>
        disks.length === 0
          ? [{ text: "No disks found" }]
          : disks.map((d) => {
              const kind = d.rotational ? "hard disk" : d.transport === "nvme" ? "NVMe" : "SSD";
              const name = d.model ?? d.name;
              if (d.smart.state === "unavailable") {
                return { text: `${name}, ${formatBytes(d.size_bytes)} ${kind}; health not known: ${d.smart.reason}` };
              }
              const s = d.smart.value;
              const verdict =
                s.verdict === "good"
                  ? { word: "healthy", tone: "ok" as const }
                  : s.verdict === "worn"
                    ? { word: "wearing out", tone: "warn" as const }
                    : { word: "failing", tone: "bad" as const };
              return { text: `${name}, ${formatBytes(d.size_bytes)} ${kind}: ${verdict.word}`, tone: verdict.tone };
            }),
      ),
  },
  {
    area: "memory",
    label: "Memory",
    cell: (m) => read(m.memory, (mem) => [{ text: formatBytes(mem.total_bytes) }]),
  },
  {
    area: "cpu",
    label: "Processor",
    cell: (m) => read(m.cpu, (c) => [{ text: `${c.model} (${plural(c.cores, "core")}, ${plural(c.threads, "thread")})` }]),
  },
  {
    area: "network",
    label: "Network",
    cell: (m) =>
      read(m.network, (links) =>
        links.length === 0
          ? [{ text: "No network card found" }]
          : links.map((l) => ({
              text: `${l.name}: ${l.state === "up" ? (l.speed_mbps ? `${l.speed_mbps.toLocaleString("en-US")} Mbit/s` : "up") : l.state}`,
              tone: l.state === "up" ? undefined : ("warn" as const),
            })),
      ),
  },
  {
    area: "pbx",
    label: "Phone system",
    cell: (m) => read(m.pbx, (p) => [{ text: p.text }]),
  },
  {
    area: "system",
    label: "Operating system",
    cell: (m) => read(m.system, (s) => [{ text: s.os }, { text: `Kernel ${s.kernel} (${s.arch})` }]),
  },
  {
    area: "agent",
    label: "LBS agent",
    cell: (m) => [{ text: `Version ${m.agent_version}` }],
  },
  {
    area: "categories",
    label: "What is copied",
    cell: (m) =>
      m.categories.categories.length === 0
        ? [{ text: "Nothing" }]
        : [{ text: m.categories.categories.map((c) => c.name).join(", ") }],
  },
];

/** How much a difference matters, in words. */
export function severityLabel(s: Severity): string {
  switch (s) {
    case "critical":
      return "Will break";
    case "warning":
      return "May break";
    case "info":
      return "Good to know";
  }
}

/** The line above everything: whether the two machines are twins. */
export function summary(counts: DifferenceCounts, backup: string, bothKnown: boolean): { text: string; tone: "ok" | "warn" | "bad" } {
  // A count of problems, not only of differences: a failing disk is one box's alone.
  if (counts.critical > 0) {
    return {
      text: `${plural(counts.critical, "problem")} would break something, now or after a failover to ${backup}: see below what to do.`,
      tone: "bad",
    };
  }
  if (counts.warning > 0) {
    return {
      text: `${plural(counts.warning, "problem")} may make ${backup} work worse after a failover.`,
      tone: "warn",
    };
  }
  if (!bothKnown) return { text: "Only one server's details are known yet.", tone: "warn" };
  return { text: `The two servers match: ${backup} can take over the phones as they are.`, tone: "ok" };
}

/** The areas a difference points at, with its worst severity: the rows to mark. */
export function markedAreas(differences: readonly Difference[]): Map<HealthArea, Severity> {
  const marks = new Map<HealthArea, Severity>();
  const rank: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };
  for (const d of differences) {
    const had = marks.get(d.area);
    if (had === undefined || rank[d.severity] < rank[had]) marks.set(d.area, d.severity);
  }
  return marks;
}
