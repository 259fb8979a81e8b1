// Durations in words for people: "3 days 4 hours", "5 minutes", "just now".

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The two largest units of a duration, the second left out when zero:
 * 30 → "just now", 300 → "5 minutes", 3660 → "1 hour 1 minute", 273600 → "3 days 4 hours".
 */
export function formatDuration(totalSecs: number): string {
  if (!Number.isFinite(totalSecs) || totalSecs < MINUTE) return "just now";
  const secs = Math.floor(totalSecs);
  const days = Math.floor(secs / DAY);
  const hours = Math.floor((secs % DAY) / HOUR);
  const minutes = Math.floor((secs % HOUR) / MINUTE);
  if (days > 0) return hours > 0 ? `${plural(days, "day")} ${plural(hours, "hour")}` : plural(days, "day");
  if (hours > 0) {
    return minutes > 0 ? `${plural(hours, "hour")} ${plural(minutes, "minute")}` : plural(hours, "hour");
  }
  return plural(minutes, "minute");
}

/** How long ago something happened: "just now", "5 minutes ago". */
export function formatAgo(secondsAgo: number): string {
  const words = formatDuration(secondsAgo);
  return words === "just now" ? words : `${words} ago`;
}
