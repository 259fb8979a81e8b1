// The sync table's rows: each category as the primary and the backup report it, side by side.

import type { CategorySync } from "../generated/CategorySync";
import type { OfficeView } from "../generated/OfficeView";
import { officePair } from "./pair";

export interface CategoryRow {
  name: string;
  label: string;
  primaryFiles: number | null;
  primaryBytes: number | null;
  backupFiles: number | null;
  backupBytes: number | null;
  pendingFiles: number;
  pendingBytes: number;
  lagSecs: number | null;
  throughputBps: number;
  lastSuccessUnix: number | null;
  lastError: string | null;
  /** Share of the primary's files the backup holds, 0..1 (null when not known). */
  progress: number | null;
  /** While the primary still counts this category's files (its first scan): how many so far. */
  counting: number | null;
}

/**
 * Merges what both servers report. The backup's own report is preferred for what is pending (it
 * knows what it has not installed); the primary's for what exists.
 */
export function categoryRows(office: OfficeView): CategoryRow[] {
  const pair = officePair(office);
  const primary = pair?.primary.sync ?? null;
  const backup = pair?.backup.sync ?? null;
  const source = backup ?? primary;
  if (!source) return [];
  const byName = (list: CategorySync[] | undefined, name: string) => list?.find((c) => c.name === name) ?? null;
  return source.categories.map((c) => {
    const p = byName(primary?.categories, c.name);
    const b = byName(backup?.categories, c.name);
    const primaryFiles = p?.local_files ?? b?.peer_files ?? null;
    const backupFiles = b?.local_files ?? p?.peer_files ?? null;
    const pending = b ?? p ?? c;
    return {
      name: c.name,
      label: c.label,
      primaryFiles,
      primaryBytes: p?.local_bytes ?? b?.peer_bytes ?? null,
      backupFiles,
      backupBytes: b?.local_bytes ?? p?.peer_bytes ?? null,
      pendingFiles: Math.max(p?.pending_files ?? 0, b?.pending_files ?? 0),
      pendingBytes: Math.max(p?.pending_bytes ?? 0, b?.pending_bytes ?? 0),
      lagSecs: pending.lag_secs,
      throughputBps: b?.throughput_bps ?? p?.throughput_bps ?? 0,
      lastSuccessUnix: pending.last_success_unix,
      lastError: b?.last_error?.message ?? p?.last_error?.message ?? null,
      counting: p?.counting?.files_counted ?? b?.counting?.files_counted ?? null,
      progress:
        primaryFiles === null || backupFiles === null
          ? null
          : primaryFiles === 0
            ? 1
            : Math.min(1, backupFiles / primaryFiles),
    };
  });
}

/** Is the backup still catching up (files to copy, or files the primary is still counting)? */
export function catchingUp(rows: readonly CategoryRow[]): boolean {
  return rows.some((r) => r.pendingFiles > 0 || r.counting !== null);
}

/** How a category's copy stands, in a few words: counting comes first, since nothing pending
 * means nothing known yet while the primary still counts. */
export function rowState(r: CategoryRow): string {
  if (r.counting !== null) return `Counting (${r.counting.toLocaleString("en-US")} so far)`;
  return r.pendingFiles > 0 ? `${r.pendingFiles} to copy` : "Up to date";
}
