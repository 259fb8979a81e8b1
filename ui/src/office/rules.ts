// What the office screens decide from a snapshot: which server is which, whether this console
// may change anything, and what each change button says when it may not.

import type { MachineView } from "../generated/MachineView";
import type { OfficeView } from "../generated/OfficeView";
import type { PairLevel } from "../generated/PairLevel";

export function machineById(office: OfficeView, id: string | null): MachineView | null {
  return office.machines.find((m) => m.entry.id === id) ?? null;
}

/** The server a role change is asked of (the backup), and the other one. */
export function wizardPair(office: OfficeView): { primary: MachineView; backup: MachineView } | null {
  const primary = machineById(office, office.primary);
  const backup = machineById(office, office.backup);
  return primary && backup ? { primary, backup } : null;
}

/**
 * Why the failover button is disabled, in words, or null when it may be used. The console asks
 * the backup to take over, so the backup's token must be an administrator's.
 */
export function failoverBlocked(office: OfficeView): string | null {
  if (office.machines.length < 2) return "This office has one server: add its partner first.";
  const pair = wizardPair(office);
  if (!pair) return "Neither server has been seen as the primary yet; wait for them to answer.";
  const { backup } = pair;
  if (!backup.reachable) return `${backup.entry.name} does not answer, so it cannot take over.`;
  if (backup.status?.access === "viewer") {
    return `The access token for ${backup.entry.name} is view-only: it can see everything but change nothing. To fail over from this console, enter an administrator token with "New access token…" on its card.`;
  }
  if (backup.failover?.busy) return `${backup.entry.name} is busy: ${backup.failover.busy}.`;
  return null;
}

/** Why restoring a quarantined file from `m` is not possible, or null. */
export function restoreBlocked(m: MachineView): string | null {
  if (!m.reachable) return `${m.entry.name} does not answer.`;
  if (m.status?.access === "viewer") {
    return `The access token for ${m.entry.name} is view-only: it can see the files but not restore them.`;
  }
  return null;
}

/** Words for the colour of a level, never colour alone. */
export function levelWord(level: PairLevel): string {
  switch (level) {
    case "protected":
      return "Protected";
    case "at_risk":
      return "At risk";
    case "down":
      return "Down";
  }
}

/** Is the failover an unplanned one (the primary does not answer)? */
export function isUnplanned(office: OfficeView): boolean {
  const pair = wizardPair(office);
  return pair !== null && !pair.primary.reachable;
}
