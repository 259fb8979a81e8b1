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
  if (times.length < 2) return 0;
  const gaps = new Float64Array(times.length - 1);
  for (let i = 1; i < times.length; i++) gaps[i - 1] = (times[i] ?? 0) - (times[i - 1] ?? 0);
  gaps.sort();
  return gaps[Math.floor(gaps.length / 2)] ?? 0;
}

/** A series' cells in time order (times ascending, each once). */
interface Timeline {
  t: number[];
  cells: Cell[];
}

/**
 * One series' own timeline: its buckets, plus a null cell where data is really missing, so the
 * chart shows a gap there. Buckets narrower than the agent's sampling interval are often empty
 * between two samples; that is not missing data, so a gap needs more than three usual spacings.
 */
function timeline(response: HistoryResponse): Timeline {
  const out: Timeline = { t: [], cells: [] };
  const step = response.bucket_secs > 0 ? response.bucket_secs : 0;
  const points = [...response.points].sort((a, b) => a.t - b.t);
  const threshold = Math.max(step * 1.5, cadence(points.map((p) => p.t)) * 3);
  let previous: number | null = null;
  for (const p of points) {
    const cell = { avg: p.avg, min: p.min, max: p.max };
    if (previous === p.t) {
      // The same bucket twice: the later answer wins.
      out.cells[out.cells.length - 1] = cell;
      continue;
    }
    if (previous !== null && step > 0 && p.t - previous > threshold) {
      out.t.push(previous + step);
      out.cells.push({ avg: null, min: null, max: null });
    }
    out.t.push(p.t);
    out.cells.push(cell);
    previous = p.t;
  }
  return out;
}

/** The sorted union of the timelines' times. Typed-array sort: 100k points take milliseconds. */
function unionOf(timelines: readonly Timeline[]): number[] {
  const all = new Float64Array(timelines.reduce((n, t) => n + t.t.length, 0));
  let i = 0;
  for (const t of timelines) for (const x of t.t) all[i++] = x;
  all.sort();
  const x: number[] = [];
  for (const v of all) if (x.length === 0 || x[x.length - 1] !== v) x.push(v);
  return x;
}

/** Aligns several series (missing answers → empty columns) on the union of their timestamps. */
export function alignHistory(responses: readonly (HistoryResponse | undefined)[]): AlignedSeries {
  const timelines = responses.map((r) => (r ? timeline(r) : { t: [], cells: [] }));
  const x = unionOf(timelines);
  const out: AlignedSeries = { x, avg: [], min: [], max: [] };
  for (const tl of timelines) {
    const avg: Column = new Array<number | null | undefined>(x.length);
    const min: Column = new Array<number | null | undefined>(x.length);
    const max: Column = new Array<number | null | undefined>(x.length);
    // Both ascending: walk them together.
    let j = 0;
    for (let i = 0; i < x.length; i++) {
      const cell = tl.t[j] === x[i] ? tl.cells[j++] : undefined;
      avg[i] = cell?.avg;
      min[i] = cell?.min;
      max[i] = cell?.max;
    }
    out.avg.push(avg);
    out.min.push(min);
    out.max.push(max);
  }
  return out;
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
