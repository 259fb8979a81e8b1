// The locale for dates and numbers: the system's, unless it is not a valid language tag.
// (Linux systems with LANG=C report "C", which makes WebKit's Intl throw a RangeError.)

export function pickLocale(candidates: readonly (string | undefined)[]): string {
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Intl.DateTimeFormat.supportedLocalesOf([c]).length > 0) return c;
    } catch {
      // Not a BCP 47 tag, e.g. "C" or "POSIX": try the next.
    }
  }
  return "en-US";
}

export const LOCALE = pickLocale(
  typeof navigator === "undefined" ? [] : [...(navigator.languages ?? []), navigator.language],
);

// Libraries read navigator.language at import (uPlot builds its number formatter then), so an
// invalid system locale must be replaced before they load: main.tsx imports this module first.
if (typeof navigator !== "undefined" && navigator.language !== LOCALE && pickLocale([navigator.language]) !== navigator.language) {
  Object.defineProperty(navigator, "language", { value: LOCALE, configurable: true });
  Object.defineProperty(navigator, "languages", { value: [LOCALE], configurable: true });
}
