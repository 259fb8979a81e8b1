// Tests of grouping series into panels (by kind) and charts (by unit), in reading order.

import { describe, expect, it } from "vitest";

import type { SeriesInfo } from "../generated/SeriesInfo";
import { chartGroups } from "./panels";

function s(name: string, unit: string, kind: SeriesInfo["kind"]): SeriesInfo {
  return { name, label: name, unit, kind, first_unix: null, last_unix: null };
}

const ALL: SeriesInfo[] = [
  s("net.eth0.tx", "bytes_per_sec", "network"),
  s("disk./.used_percent", "percent", "resources"),
  s("memory.used", "bytes", "resources"),
  s("load.15", "load", "resources"),
  s("load.1", "load", "resources"),
  s("load.5", "load", "resources"),
  s("cpu.usage", "percent", "resources"),
  s("net.eth0.rx", "bytes_per_sec", "network"),
  s("pbx.phones", "count", "pbx_activity"),
  s("pbx.calls", "count", "pbx_activity"),
];

describe("chartGroups", () => {
  it("makes one untitled chart when a panel has one unit", () => {
    const pbx = chartGroups(ALL, "pbx_activity");
    expect(pbx).toHaveLength(1);
    expect(pbx[0]?.title).toBe("");
    expect(pbx[0]?.series.map((x) => x.name)).toEqual(["pbx.calls", "pbx.phones"]);
    expect(chartGroups(ALL, "network")[0]?.series.map((x) => x.name)).toEqual(["net.eth0.rx", "net.eth0.tx"]);
  });

  it("draws the link as round trip and clock, losses, then the copy", () => {
    const link = chartGroups(
      [
        s("sync.incoming", "bytes_per_sec", "sync"),
        s("link.loss_percent", "percent", "sync"),
        s("link.clock_offset_ms", "ms", "sync"),
        s("sync.lag_seconds", "seconds", "sync"),
        s("link.round_trip_ms", "ms", "sync"),
        s("link.capacity", "bytes_per_sec", "sync"),
        s("sync.throughput", "bytes_per_sec", "sync"),
        ...ALL,
      ],
      "sync",
    );
    expect(link.map((g) => g.title)).toEqual(["Round trip and clock difference", "Messages lost", "Copying", "Behind by"]);
    expect(link[0]?.series.map((x) => x.name)).toEqual(["link.round_trip_ms", "link.clock_offset_ms"]);
    expect(link[2]?.series.map((x) => x.name)).toEqual(["sync.throughput", "link.capacity", "sync.incoming"]);
  });

  it("splits resources by unit, CPU first, loads in order", () => {
    const res = chartGroups(ALL, "resources");
    expect(res.map((g) => g.unit)).toEqual(["percent", "bytes", "load"]);
    expect(res[0]?.series.map((x) => x.name)).toEqual(["cpu.usage", "disk./.used_percent"]);
    expect(res[2]?.series.map((x) => x.name)).toEqual(["load.1", "load.5", "load.15"]);
    expect(res.every((g) => g.title !== "")).toBe(true);
  });

  it("returns nothing for a kind without series", () => {
    expect(chartGroups([], "network")).toEqual([]);
  });
});
