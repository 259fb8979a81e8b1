// Axis ranges and tick steps per unit, so axes read "0 · 25% · 50%" or "512 KB/s", never "488.3".

import { BINARY_INCREMENTS } from "../format/bytes";

const DECIMAL_INCREMENTS: number[] = (() => {
  const out: number[] = [];
  for (let e = -3; e <= 9; e++) for (const m of [1, 2, 2.5, 5]) out.push(Number((m * 10 ** e).toPrecision(3)));
  return out;
})();

/** Tick steps for an axis of this unit. */
export function incrementsFor(unit: string): number[] {
  switch (unit) {
    case "bytes":
    case "bytes_per_sec":
      return BINARY_INCREMENTS;
    case "count":
      return DECIMAL_INCREMENTS.filter((v) => v >= 1 && Number.isInteger(v));
    default:
      return DECIMAL_INCREMENTS;
  }
}

/** Y range: percentages always 0–100; everything else from 0 to a little above the highest value. */
export function yRange(unit: string, dataMax: number | null): [number, number] {
  if (unit === "percent") return [0, Math.max(100, dataMax ?? 0)];
  const top = dataMax !== null && Number.isFinite(dataMax) && dataMax > 0 ? dataMax * 1.1 : 0;
  // A quiet night still gets a readable axis: at least 0–4 calls, 0–1 load.
  const smallest = unit === "count" ? 4 : 1;
  return [0, Math.max(top, smallest)];
}
