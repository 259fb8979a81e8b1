import { describe, expect, it } from "vitest";

import type { HistoryResponse } from "../generated/HistoryResponse";
import type { SeriesInfo } from "../generated/SeriesInfo";
import { exportName, historyCsv, primaryBands } from "./export";

function response(series: string, bucket: number, points: [number, number, number?][]): HistoryResponse {
  return {
    series,
    from: 0,
    to: 10_000,
    bucket_secs: bucket,
    resolution: "minute",
    points: points.map(([t, avg, max]) => ({ t, min: avg, avg, max: max ?? avg })),
  };
}

const info = (name: string, label: string, unit: string): SeriesInfo => ({
  name,
  label,
  unit,
  kind: name === "role.primary" ? "role" : "resources",
  first_unix: 0,
  last_unix: 0,
});

describe("primaryBands", () => {
  it("merges touching primary buckets and counts a bucket the role changed in", () => {
    const role = response("role.primary", 60, [
      [0, 1],
      [60, 1],
      [120, 0],
      [180, 0.25, 1], // became primary within this minute
      [240, 1],
      [360, 1], // after a missing bucket: a new band
    ]);
    expect(primaryBands(role)).toEqual([
      [0, 120],
      [180, 300],
      [360, 420],
    ]);
  });

  it("is empty without a role series and never leaves the asked range", () => {
    expect(primaryBands(undefined)).toEqual([]);
    const role = { ...response("role.primary", 3600, [[9_000, 1]]), to: 10_000 };
    expect(primaryBands(role)).toEqual([[9_000, 10_000]]);
  });
});

describe("historyCsv", () => {
  it("writes one row per time, averages per series, and the role as yes or no", () => {
    const series = [info("cpu.usage", "CPU use", "percent"), info("load.1", "Load, 1 min", "load"), info("role.primary", "Primary", "flag")];
    const csv = historyCsv(series, {
      "cpu.usage": response("cpu.usage", 60, [
        [120, 12.3456],
        [60, 10],
      ]),
      "load.1": response("load.1", 60, [[60, 0.5]]),
      "role.primary": response("role.primary", 60, [
        [60, 1],
        [120, 0],
      ]),
    });
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toBe('Time,Unix time,CPU use (%),"Load, 1 min",Primary');
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:00,60,10,0.5,yes$/);
    expect(lines[2]).toMatch(/,120,12.346,,no$/);
    expect(lines).toHaveLength(3);
  });

  it("leaves out series that have no answer", () => {
    const csv = historyCsv([info("cpu.usage", "CPU use", "percent")], {});
    expect(csv).toBe("Time,Unix time\r\n");
  });
});

describe("exportName", () => {
  it("makes a safe file name from the machine's name", () => {
    expect(exportName("PBX A / Büro", "history", "csv", Date.UTC(2026, 10, 26, 12))).toBe("PBX-A-B-ro-history-2026-11-26.csv");
    expect(exportName("///", "graphs", "png", Date.UTC(2026, 10, 26))).toBe("server-graphs-2026-11-26.png");
  });
});
