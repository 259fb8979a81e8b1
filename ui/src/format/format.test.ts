// Tests of the formatting helpers: sizes, rates, percentages, durations, fingerprints, IDs.

import { describe, expect, it } from "vitest";

import { formatBytes, formatRate } from "./bytes";
import { formatAgo, formatDuration } from "./duration";
import { formatFingerprint, groupFingerprint } from "./fingerprint";
import { shortId } from "./ids";
import { formatCount, formatLoad, formatMillis, formatPercent, formatValue } from "./units";

describe("formatBytes (binary units)", () => {
  it.each([
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [1024, "1 KB"],
    [1536, "1.5 KB"],
    [15 * 1024, "15 KB"],
    [1024 * 1024, "1 MB"],
    [1.25 * 1024 ** 3, "1.3 GB"],
    [4 * 1024 ** 3, "4 GB"],
    [1024 * 1024 - 1, "1 MB"],
  ])("%d → %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it("copes with odd input", () => {
    expect(formatBytes(Number.NaN)).toBe("—");
    expect(formatBytes(-2048)).toBe("-2 KB");
  });
});

describe("formatRate", () => {
  it("adds /s", () => {
    expect(formatRate(1536)).toBe("1.5 KB/s");
    expect(formatRate(3 * 1024 * 1024)).toBe("3 MB/s");
    expect(formatRate(0)).toBe("0 B/s");
  });
});

describe("numbers by unit", () => {
  it("formats percentages", () => {
    expect(formatPercent(42.345)).toBe("42%");
    expect(formatPercent(4.56)).toBe("4.6%");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(100)).toBe("100%");
  });
  it("formats counts and loads", () => {
    expect(formatCount(3)).toBe("3");
    expect(formatCount(2.46)).toBe("2.5");
    expect(formatCount(1234)).toBe("1,234");
    expect(formatLoad(0.849)).toBe("0.85");
  });
  it("dispatches on the unit", () => {
    expect(formatValue("bytes", 1536)).toBe("1.5 KB");
    expect(formatValue("bytes_per_sec", 1536)).toBe("1.5 KB/s");
    expect(formatValue("percent", 12.3)).toBe("12%");
    expect(formatValue("count", 7)).toBe("7");
    expect(formatValue("ms", 123.4)).toBe("123 ms");
    expect(formatValue("seconds", 42)).toBe("42 s");
    expect(formatMillis(0.42)).toBe("0.4 ms");
    expect(formatMillis(-7_200_000)).toBe("-7200 s");
    expect(formatMillis(1250)).toBe("1.25 s");
    expect(formatValue("load", 1)).toBe("1.00");
    expect(formatValue("percent", null)).toBe("—");
    expect(formatValue("something", 12.3456)).toBe("12.35");
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "just now"],
    [59, "just now"],
    [60, "1 minute"],
    [300, "5 minutes"],
    [3600, "1 hour"],
    [3660, "1 hour 1 minute"],
    [2 * 3600 + 59, "2 hours"],
    [86400, "1 day"],
    [3 * 86400 + 4 * 3600 + 59 * 60, "3 days 4 hours"],
    [400 * 86400, "400 days"],
  ])("%d s → %s", (secs, text) => {
    expect(formatDuration(secs)).toBe(text);
  });

  it("says ago", () => {
    expect(formatAgo(10)).toBe("just now");
    expect(formatAgo(120)).toBe("2 minutes ago");
  });
});

describe("fingerprint grouping", () => {
  const hex = "3fa2" + "0123456789abcdef".repeat(3) + "001122334455";

  it("groups 64 hex digits into 4 lines of 8 upper-case pairs", () => {
    expect(hex).toHaveLength(64);
    const lines = groupFingerprint(hex);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe("3F:A2:01:23:45:67:89:AB");
    for (const line of lines) expect(line.split(":")).toHaveLength(8);
    expect(formatFingerprint(hex).split("\n")).toEqual(lines);
  });

  it("accepts colons and mixed case", () => {
    expect(groupFingerprint("3f:A2:0b")).toEqual(["3F:A2:0B"]);
  });
});

describe("shortId", () => {
  it("keeps the first block of a UUID", () => {
    expect(shortId("550e8400-e29b-41d4-a716-446655440000")).toBe("550e8400");
  });
  it("cuts other IDs to 8 characters", () => {
    expect(shortId("abcdef0123456789")).toBe("abcdef01");
    expect(shortId("ab-cdef0123")).toBe("abcdef01");
  });
});
