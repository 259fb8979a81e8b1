// Time ranges of the charts: the picker's choices and the from/to window each one means.

export type RangeKey = "15m" | "1h" | "6h" | "24h" | "7d" | "30d" | "1y";

export interface RangeOption {
  key: RangeKey;
  label: string;
  /** Length of the window in seconds. */
  seconds: number;
}

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

export const RANGES: readonly RangeOption[] = [
  { key: "15m", label: "15 min", seconds: 15 * MINUTE },
  { key: "1h", label: "1 hour", seconds: HOUR },
  { key: "6h", label: "6 hours", seconds: 6 * HOUR },
  { key: "24h", label: "24 hours", seconds: 24 * HOUR },
  { key: "7d", label: "7 days", seconds: 7 * DAY },
  { key: "30d", label: "30 days", seconds: 30 * DAY },
  { key: "1y", label: "1 year", seconds: 365 * DAY },
];

export const DEFAULT_RANGE: RangeKey = "1h";

/** A span of time in unix seconds: `from` inclusive, `to` exclusive. */
export interface TimeWindow {
  from: number;
  to: number;
}

export function rangeSeconds(key: RangeKey): number {
  const found = RANGES.find((r) => r.key === key);
  if (!found) throw new Error(`unknown range ${key}`);
  return found.seconds;
}

/** The window ending now: `to` is the next whole second after `nowMs`, `from` is `to` minus the range. */
export function rangeWindow(key: RangeKey, nowMs: number): TimeWindow {
  const to = Math.floor(nowMs / 1000) + 1;
  return { from: to - rangeSeconds(key), to };
}

/** Short ranges are watched live; longer ones change too slowly to redraw every few seconds. */
export function isLiveRange(key: RangeKey): boolean {
  return rangeSeconds(key) <= DAY;
}

/** How often history is fetched again for this range, in milliseconds. */
export function refreshIntervalMs(key: RangeKey): number {
  return isLiveRange(key) ? 10_000 : 5 * 60_000;
}

/** A drag-selected zoom, as whole seconds, at least 2 s wide and in order. */
export function zoomWindow(a: number, b: number): TimeWindow {
  const from = Math.floor(Math.min(a, b));
  const to = Math.max(Math.ceil(Math.max(a, b)), from + 2);
  return { from, to };
}

/** Buckets to ask for: one per pixel of chart width, at least 10, at most 2000. */
export function pointsForWidth(widthPx: number): number {
  if (!Number.isFinite(widthPx) || widthPx <= 0) return 600;
  return Math.min(2000, Math.max(10, Math.round(widthPx)));
}
