// Turns history answers (one per series) into uPlot's columnar data on one shared x axis.

import type { HistoryResponse } from "../generated/HistoryResponse";

/** A value column: number = sample, null = gap (line breaks), undefined = no sample at this x (line continues). */
export type Column = (number | null | undefined)[];

export interface AlignedSeries {
  /** Shared x axis, unix seconds, ascending. */
  x: number[];
  /** One column per series, in the order given, for avg, min and max. */
  avg: Column[];
  min: Column[];
  max: Column[];
}

interface Cell {
  avg: number | null;
  min: number | null;
  max: number | null;
}

/** The usual distance between neighbouring points: the median gap, robust to a few outages. */
function cadence(times: readonly number[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push((times[i] ?? 0) - (times[i - 1] ?? 0));
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] ?? 0;
}

/**
 * One series' own timeline: its buckets, plus a null cell where data is really missing, so the
 * chart shows a gap there. Buckets narrower than the agent's sampling interval are often empty
 * between two samples; that is not missing data, so a gap needs more than three usual spacings.
 */
function timeline(response: HistoryResponse): Map<number, Cell> {
  const cells = new Map<number, Cell>();
  const step = response.bucket_secs > 0 ? response.bucket_secs : 0;
  const points = [...response.points].sort((a, b) => a.t - b.t);
  const threshold = Math.max(step * 1.5, cadence(points.map((p) => p.t)) * 3);
  let previous: number | null = null;
  for (const p of points) {
    if (previous !== null && step > 0 && p.t - previous > threshold) {
      cells.set(previous + step, { avg: null, min: null, max: null });
    }
    cells.set(p.t, { avg: p.avg, min: p.min, max: p.max });
    previous = p.t;
  }
  return cells;
}

/** Aligns several series (missing answers → empty columns) on the union of their timestamps. */
export function alignHistory(responses: readonly (HistoryResponse | undefined)[]): AlignedSeries {
  const timelines = responses.map((r) => (r ? timeline(r) : new Map<number, Cell>()));
  const xs = new Set<number>();
  for (const t of timelines) for (const x of t.keys()) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const column = (t: Map<number, Cell>, field: keyof Cell): Column =>
    x.map((at) => {
      const cell = t.get(at);
      return cell === undefined ? undefined : cell[field];
    });
  return {
    x,
    avg: timelines.map((t) => column(t, "avg")),
    min: timelines.map((t) => column(t, "min")),
    max: timelines.map((t) => column(t, "max")),
  };
}

/** Number of drawn samples (non-null averages) over all series. */
export function countPoints(data: AlignedSeries): number {
  let n = 0;
  for (const col of data.avg) for (const v of col) if (typeof v === "number") n += 1;
  return n;
}

/** An empty data set with `seriesCount` columns. */
export function emptyAligned(seriesCount: number): AlignedSeries {
  const cols = (): Column[] => Array.from({ length: seriesCount }, () => []);
  return { x: [], avg: cols(), min: cols(), max: cols() };
}

/**
 * The newest value of a column, for the legend's "Latest". It reads as "now", so counts (calls,
 * phones) are whole numbers rather than the last bucket's average.
 */
export function latestReading(column: Column | undefined, unit: string): number | null {
  if (!column) return null;
  for (let i = column.length - 1; i >= 0; i--) {
    const v = column[i];
    if (typeof v === "number") return unit === "count" ? Math.round(v) : v;
  }
  return null;
}
