// Tests of the time-range picker's arithmetic.

import { describe, expect, it } from "vitest";

import {
  RANGES,
  isLiveRange,
  pointsForWidth,
  rangeSeconds,
  rangeWindow,
  refreshIntervalMs,
  zoomWindow,
} from "./ranges";

describe("ranges", () => {
  it("offers the seven ranges in order", () => {
    expect(RANGES.map((r) => r.key)).toEqual(["15m", "1h", "6h", "24h", "7d", "30d", "1y"]);
    expect(RANGES.map((r) => r.label)).toEqual([
      "15 min",
      "1 hour",
      "6 hours",
      "24 hours",
      "7 days",
      "30 days",
      "1 year",
    ]);
  });

  it("computes from/to ending now", () => {
    const now = 1_700_000_000_500; // ms
    expect(rangeWindow("15m", now)).toEqual({ from: 1_700_000_001 - 900, to: 1_700_000_001 });
    expect(rangeWindow("1h", now)).toEqual({ from: 1_700_000_001 - 3600, to: 1_700_000_001 });
    expect(rangeWindow("24h", now).to - rangeWindow("24h", now).from).toBe(86400);
    expect(rangeWindow("7d", now).to - rangeWindow("7d", now).from).toBe(7 * 86400);
    expect(rangeWindow("30d", now).to - rangeWindow("30d", now).from).toBe(30 * 86400);
    expect(rangeSeconds("1y")).toBe(365 * 86400);
  });

  it("refreshes short ranges every 10 s, long ones rarely", () => {
    expect(isLiveRange("24h")).toBe(true);
    expect(isLiveRange("7d")).toBe(false);
    expect(refreshIntervalMs("15m")).toBe(10_000);
    expect(refreshIntervalMs("6h")).toBe(10_000);
    expect(refreshIntervalMs("30d")).toBeGreaterThan(60_000);
  });

  it("orders and rounds a drag-selected zoom", () => {
    expect(zoomWindow(200.7, 100.2)).toEqual({ from: 100, to: 201 });
    expect(zoomWindow(100, 100)).toEqual({ from: 100, to: 102 });
  });

  it("asks one point per pixel, capped at 2000", () => {
    expect(pointsForWidth(812.4)).toBe(812);
    expect(pointsForWidth(5000)).toBe(2000);
    expect(pointsForWidth(3)).toBe(10);
    expect(pointsForWidth(0)).toBe(600);
  });
});
