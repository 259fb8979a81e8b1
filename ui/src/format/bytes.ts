// Byte sizes and transfer rates in binary units (1 KB = 1024 bytes), as Windows shows them.

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"] as const;

/** Trims a number to at most one decimal below 10 and none above, without a trailing ".0". */
function compact(value: number): string {
  const digits = Math.abs(value) < 10 ? 1 : 0;
  return Number(value.toFixed(digits)).toString();
}

/** 1536 → "1.5 KB", 0 → "0 B", 1048576 → "1 MB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "—";
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // 1023.96 KB would print as "1024 KB": move up instead.
  if (unit < UNITS.length - 1 && Number(compact(value)) >= 1024) {
    value /= 1024;
    unit += 1;
  }
  return `${sign}${unit === 0 ? Math.round(value).toString() : compact(value)} ${UNITS[unit]}`;
}

/** 1536 → "1.5 KB/s". */
export function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** Tick steps for byte axes: round binary values (1, 2, 2.5, 5 … × 1024ⁿ). */
export const BINARY_INCREMENTS: number[] = (() => {
  const steps = [1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500];
  const out: number[] = [];
  for (let power = 0; power <= 5; power++) {
    for (const step of steps) {
      if (power === 0 && !Number.isInteger(step)) continue;
      out.push(step * 1024 ** power);
    }
  }
  return out;
})();
