// Times and dates for people, always in LOCALE (a bare toLocaleString() throws in WebKit under
// LANG=C). Clock times for chart legends: "14:32" today, "Mon 3 Mar, 14:32" on other days.

import { LOCALE } from "./locale";

export function formatPointTime(unixSecs: number, nowMs: number): string {
  const d = new Date(unixSecs * 1000);
  const now = new Date(nowMs);
  const time = d.toLocaleTimeString(LOCALE, { hour: "numeric", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  const sameYear = d.getFullYear() === now.getFullYear();
  const date = d.toLocaleDateString(LOCALE, {
    weekday: "short",
    day: "numeric",
    month: "short",
    ...(sameYear ? {} : { year: "numeric" }),
  });
  return `${date}, ${time}`;
}

/** A date and time in the user's locale, e.g. "3/3/2026, 2:32:10 PM". */
export function formatDateTime(unixSecs: number): string {
  return new Date(unixSecs * 1000).toLocaleString(LOCALE);
}

/** A date in the user's locale, e.g. "Mar 3, 2026". */
export function formatDate(unixSecs: number): string {
  return new Date(unixSecs * 1000).toLocaleDateString(LOCALE, { dateStyle: "medium" });
}

const DAY = 86400;

/**
 * Labels of a time axis in the user's locale. Below a day per tick: clock times, with the date
 * under the first tick and under the first tick of each new day; coarser: dates, or months.
 */
export function timeAxisLabels(splits: readonly number[], incrSecs: number): string[] {
  let previousDay = "";
  return splits.map((t) => {
    const d = new Date(t * 1000);
    if (incrSecs >= 28 * DAY) return d.toLocaleDateString(LOCALE, { month: "short", year: "numeric" });
    const date = d.toLocaleDateString(LOCALE, { day: "numeric", month: "short" });
    if (incrSecs >= DAY) return date;
    const day = d.toDateString();
    const newDay = day !== previousDay;
    previousDay = day;
    const time = d.toLocaleTimeString(LOCALE, { hour: "numeric", minute: "2-digit" });
    return newDay ? `${time}\n${date}` : time;
  });
}
