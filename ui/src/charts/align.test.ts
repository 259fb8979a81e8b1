// Tests of history → uPlot columns: one shared x axis, gaps as null, alignment holes as undefined.

import { describe, expect, it } from "vitest";

import type { HistoryResponse } from "../generated/HistoryResponse";
import { alignHistory, countPoints, latestReading } from "./align";

function response(series: string, bucket: number, points: [number, number][]): HistoryResponse {
  return {
    series,
    from: 0,
    to: 1000,
    bucket_secs: bucket,
    resolution: "raw",
    points: points.map(([t, v]) => ({ t, min: v - 1, avg: v, max: v + 1 })),
  };
}

describe("alignHistory", () => {
  it("puts several series on the union of their timestamps", () => {
    const a = response("a", 10, [
      [0, 1],
      [10, 2],
      [20, 3],
    ]);
    const b = response("b", 10, [
      [10, 5],
      [20, 6],
      [30, 7],
    ]);
    const data = alignHistory([a, b]);
    expect(data.x).toEqual([0, 10, 20, 30]);
    expect(data.avg[0]).toEqual([1, 2, 3, undefined]);
    expect(data.avg[1]).toEqual([undefined, 5, 6, 7]);
    expect(data.min[0]).toEqual([0, 1, 2, undefined]);
    expect(data.max[1]).toEqual([undefined, 6, 7, 8]);
  });

  it("turns missing buckets into a null gap", () => {
    const a = response("a", 10, [
      [0, 1],
      [10, 2],
      [50, 3],
      [60, 4],
    ]);
    const data = alignHistory([a]);
    expect(data.x).toEqual([0, 10, 20, 50, 60]);
    expect(data.avg[0]).toEqual([1, 2, null, 3, 4]);
    expect(countPoints(data)).toBe(4);
  });

  it("keeps the gap when another series fills the x axis", () => {
    const a = response("a", 10, [
      [0, 1],
      [10, 1],
      [50, 2],
      [60, 2],
    ]);
    const b = response("b", 10, [0, 10, 20, 30, 40, 50, 60].map((t): [number, number] => [t, 1]));
    const data = alignHistory([a, b]);
    expect(data.x).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(data.avg[0]).toEqual([1, 1, null, undefined, undefined, 2, 2]);
    expect(data.avg[1]).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it("does not break the line between samples sparser than the buckets", () => {
    // A 5 s sampler seen through 1 s buckets: every fifth bucket has data; that is no outage.
    const a = response("a", 1, [0, 5, 10, 15, 20].map((t): [number, number] => [t, 3]));
    const data = alignHistory([a]);
    expect(data.x).toEqual([0, 5, 10, 15, 20]);
    expect(data.avg[0]).toEqual([3, 3, 3, 3, 3]);
    // ...but a real outage of many samples still shows as a gap.
    const b = response("b", 1, [0, 5, 10, 60, 65].map((t): [number, number] => [t, 3]));
    expect(alignHistory([b]).avg[0]).toEqual([3, 3, 3, null, 3, 3]);
  });

  it("sorts points and tolerates missing answers", () => {
    const a = response("a", 10, [
      [20, 3],
      [10, 2],
    ]);
    const data = alignHistory([undefined, a]);
    expect(data.x).toEqual([10, 20]);
    expect(data.avg[0]).toEqual([undefined, undefined]);
    expect(data.avg[1]).toEqual([2, 3]);
    expect(countPoints(data)).toBe(2);
  });

  it("is empty for no data", () => {
    const data = alignHistory([response("a", 10, [])]);
    expect(data.x).toEqual([]);
    expect(countPoints(data)).toBe(0);
  });
});

describe("latestReading", () => {
  it("is the newest number, skipping gaps and holes", () => {
    expect(latestReading([1, 2.25, null, undefined], "percent")).toBe(2.25);
    expect(latestReading([null], "percent")).toBeNull();
    expect(latestReading(undefined, "percent")).toBeNull();
  });
  it("shows counts as whole calls and phones", () => {
    expect(latestReading([3, 4.5], "count")).toBe(5);
    expect(latestReading([3, 4.4], "count")).toBe(4);
  });
});
