// Formats one value of a metric series according to its `unit` (percent, bytes, load, …).

import { formatBytes, formatRate } from "./bytes";

/** 42.34 → "42%", 4.56 → "4.6%", 0 → "0%". */
export function formatPercent(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const digits = Math.abs(value) < 10 && value !== 0 ? 1 : 0;
  return `${Number(value.toFixed(digits)).toString()}%`;
}

/** Counts are whole things (calls, phones); averages over a bucket may keep one decimal. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const rounded = Math.round(value * 10) / 10;
  return rounded.toLocaleString("en-US");
}

/** Load average: two decimals, as `uptime` prints it. */
export function formatLoad(value: number): string {
  if (!Number.isFinite(value)) return "—";
  return value.toFixed(2);
}

/** Milliseconds: "12 ms", "0.4 ms", "1.25 s" past a second. */
export function formatMillis(value: number): string {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return `${Number((value / 1000).toFixed(2)).toString()} s`;
  return `${Number(value.toFixed(abs < 10 && value !== 0 ? 1 : 0)).toString()} ms`;
}

/** Formats `value` for the series unit; unknown units fall back to a plain number. */
export function formatValue(unit: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  switch (unit) {
    case "percent":
      return formatPercent(value);
    case "bytes":
      return formatBytes(value);
    case "bytes_per_sec":
      return formatRate(value);
    case "load":
      return formatLoad(value);
    case "count":
      return formatCount(value);
    case "ms":
      return formatMillis(value);
    case "seconds":
      return `${formatCount(value)} s`;
    default:
      return Number.isFinite(value) ? Number(value.toPrecision(4)).toString() : "—";
  }
}

/** Shorter axis labels: loads and counts without superfluous decimals. */
export function formatAxisValue(unit: string, value: number): string {
  if (unit === "load") return Number(value.toFixed(2)).toString();
  return formatValue(unit, value);
}
