// What the History tab exports and overlays: a range as CSV for a spreadsheet, and the periods a
// machine was the primary (from its `role.primary` series) as bands behind its graphs.

import type { HistoryResponse } from "../generated/HistoryResponse";
import type { SeriesInfo } from "../generated/SeriesInfo";

export const ROLE_SERIES = "role.primary";

/** [from, to) in unix seconds. */
export type Band = [number, number];

/**
 * The periods the machine was the primary: buckets where `role.primary` reached 1 (a bucket the
 * role changed in counts, so a short switchover still shows), merged when they touch.
 */
export function primaryBands(role: HistoryResponse | undefined): Band[] {
  if (!role) return [];
  const bands: Band[] = [];
  const points = [...role.points].sort((a, b) => a.t - b.t);
  for (const p of points) {
    if (p.max < 0.5) continue;
    const end = p.t + role.bucket_secs;
    const last = bands[bands.length - 1];
    if (last && last[1] >= p.t) last[1] = Math.max(last[1], end);
    else bands.push([p.t, end]);
  }
  return bands.map(([from, to]) => [Math.max(from, role.from), Math.min(to, role.to)]);
}

const UNIT_SUFFIX: Record<string, string> = {
  percent: " (%)",
  bytes: " (bytes)",
  bytes_per_sec: " (bytes per second)",
};

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** `2026-11-26 10:05:00` in this computer's time zone: what spreadsheets read as a date. */
function localTime(unixSecs: number): string {
  const d = new Date(unixSecs * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * One row per time, one column per series (its average over the bucket), in the order given;
 * the role series becomes a "Primary" yes/no column. Empty cells where a series has no data.
 */
export function historyCsv(series: readonly SeriesInfo[], responses: Record<string, HistoryResponse>): string {
  const columns = series.filter((s) => responses[s.name]);
  const times = new Set<number>();
  const values = columns.map((s) => {
    const byTime = new Map<number, number>();
    for (const p of responses[s.name]?.points ?? []) {
      byTime.set(p.t, s.name === ROLE_SERIES ? p.max : p.avg);
      times.add(p.t);
    }
    return byTime;
  });
  const header = [
    "Time",
    "Unix time",
    ...columns.map((s) => (s.name === ROLE_SERIES ? "Primary" : `${s.label}${UNIT_SUFFIX[s.unit] ?? ""}`)),
  ];
  const rows = [...times]
    .sort((a, b) => a - b)
    .map((t) => [
      localTime(t),
      String(t),
      ...columns.map((s, i) => {
        const v = values[i]?.get(t);
        if (v === undefined) return "";
        if (s.name === ROLE_SERIES) return v >= 0.5 ? "yes" : "no";
        return String(Math.round(v * 1000) / 1000);
      }),
    ]);
  return [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** A file name safe on every desktop: `PBX-A-history-2026-11-26.csv`. */
export function exportName(machine: string, what: string, ext: string, nowMs: number): string {
  const day = new Date(nowMs).toISOString().slice(0, 10);
  const safe = machine.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "server";
  return `${safe}-${what}-${day}.${ext}`;
}
