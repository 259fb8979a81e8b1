import { describe, expect, it } from "vitest";

import { pickLocale } from "./locale";

describe("pickLocale", () => {
  it("skips tags Intl refuses, such as the C locale", () => {
    expect(pickLocale(["C", "POSIX", "de-DE"])).toBe("de-DE");
  });
  it("falls back to en-US when nothing is usable", () => {
    expect(pickLocale(["C", undefined])).toBe("en-US");
    expect(pickLocale([])).toBe("en-US");
  });
  it("the picked locale formats dates without throwing", () => {
    expect(() => new Date(0).toLocaleDateString(pickLocale(["C"]))).not.toThrow();
  });
});
