// Groups a server's series into the three chart panels, and each panel into charts by unit.

import type { SeriesInfo } from "../generated/SeriesInfo";
import type { SeriesKind } from "../generated/SeriesKind";

export interface PanelSpec {
  kind: SeriesKind;
  title: string;
  description: string;
  /** What to say when the server records no series of this kind. */
  emptyText: string;
}

/** Panels in the order they are shown. */
export const PANELS: readonly PanelSpec[] = [
  {
    kind: "pbx_activity",
    title: "Server activity",
    description: "Calls in progress and phones connected.",
    emptyText: "This server has not recorded any phone activity yet.",
  },
  {
    kind: "network",
    title: "Network activity",
    description: "Data received and sent on each network connection.",
    emptyText: "This server has not recorded any network activity yet.",
  },
  {
    kind: "resources",
    title: "Server resources",
    description: "Processor, memory, load and disk space.",
    emptyText: "This server has not recorded its resources yet.",
  },
  {
    kind: "sync",
    title: "Link to the other server",
    description:
      "How long a message takes to the other server and back, messages lost, how far its clock is ahead, and what the copy between them carried.",
    emptyText: "This server has not measured its link to the other server yet: it needs a partner.",
  },
];

/** One chart: series sharing a unit, so they share an axis. */
export interface ChartGroup {
  /** Stable key, `kind:unit`. */
  key: string;
  unit: string;
  /** Heading above the chart; empty when the panel has a single chart. */
  title: string;
  series: SeriesInfo[];
}

const UNIT_ORDER = ["count", "bytes_per_sec", "percent", "bytes", "load"];

const SYNC_TITLES: Record<string, string> = {
  ms: "Round trip and clock difference",
  percent: "Messages lost",
  bytes_per_sec: "Copying",
  bytes: "Still to copy",
  seconds: "Behind by",
};

const RESOURCE_TITLES: Record<string, string> = {
  percent: "Processor and disk space used",
  bytes: "Memory",
  load: "Load average",
  bytes_per_sec: "Disk reads and writes",
  count: "Processes",
};

/** Display order of known series names; unknown names go last, alphabetically. */
const NAME_ORDER: readonly RegExp[] = [
  /^pbx\.calls$/,
  /^pbx\.phones$/,
  /^pbx\./,
  /^cpu\./,
  /^memory\.used$/,
  /^memory\./,
  /^swap\./,
  /^load\.1$/,
  /^load\.5$/,
  /^load\.15$/,
  /^load\./,
  /^disk\./,
  /^net\./,
  /^processes$/,
  /^link\.round_trip/,
  /^link\.clock/,
  /^link\.loss/,
  /^sync\.throughput$/,
  /^link\.capacity$/,
  /^sync\.incoming$/,
];

export function seriesRank(name: string): number {
  const i = NAME_ORDER.findIndex((re) => re.test(name));
  return i === -1 ? NAME_ORDER.length : i;
}

export function compareSeries(a: SeriesInfo, b: SeriesInfo): number {
  return seriesRank(a.name) - seriesRank(b.name) || a.name.localeCompare(b.name);
}

function unitRank(kind: SeriesKind, unit: string): number {
  // Resources read best as: processor and disks first, then memory, load, disk traffic, processes;
  // the link as: round trip, losses, the copy.
  const order =
    kind === "resources"
      ? ["percent", "bytes", "load", "bytes_per_sec", "count"]
      : kind === "sync"
        ? ["ms", "percent", "bytes_per_sec", "bytes", "seconds"]
        : UNIT_ORDER;
  const i = order.indexOf(unit);
  return i === -1 ? order.length : i;
}

function groupTitle(kind: SeriesKind, unit: string, series: SeriesInfo[], single: boolean): string {
  if (single) return "";
  if (kind === "resources" && RESOURCE_TITLES[unit]) return RESOURCE_TITLES[unit];
  if (kind === "sync" && SYNC_TITLES[unit]) return SYNC_TITLES[unit];
  return series.map((s) => s.label).join(", ");
}

/** Splits the series of one kind into charts, one per unit, in a stable reading order. */
export function chartGroups(all: readonly SeriesInfo[], kind: SeriesKind): ChartGroup[] {
  const byUnit = new Map<string, SeriesInfo[]>();
  for (const s of all) {
    if (s.kind !== kind) continue;
    const list = byUnit.get(s.unit) ?? [];
    list.push(s);
    byUnit.set(s.unit, list);
  }
  const units = [...byUnit.keys()].sort((a, b) => unitRank(kind, a) - unitRank(kind, b) || a.localeCompare(b));
  const single = units.length === 1;
  return units.map((unit) => {
    const series = (byUnit.get(unit) ?? []).slice().sort(compareSeries);
    return { key: `${kind}:${unit}`, unit, title: groupTitle(kind, unit, series, single), series };
  });
}
