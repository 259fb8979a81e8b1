// Certificate fingerprints shown for comparison by eye: "3F:A2:…" in lines of 8 pairs.

/** Groups a hex fingerprint into upper-case pairs, 8 pairs a line (64 hex digits → 4 lines). */
export function groupFingerprint(hex: string, pairsPerLine = 8): string[] {
  const clean = hex.replace(/[^0-9a-f]/gi, "").toUpperCase();
  const pairs = clean.match(/.{1,2}/g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < pairs.length; i += pairsPerLine) {
    lines.push(pairs.slice(i, i + pairsPerLine).join(":"));
  }
  return lines;
}

/** The grouped fingerprint as one text, lines separated by newlines. */
export function formatFingerprint(hex: string): string {
  return groupFingerprint(hex).join("\n");
}
