// Which of an office's servers is the primary and which the backup, as lbs-console-core decided
// (`OfficeView.primary` / `.backup`): a lookup, no rule of its own.

import type { MachineView } from "../generated/MachineView";
import type { OfficeView } from "../generated/OfficeView";

function machineById(office: OfficeView, id: string | null): MachineView | null {
  return office.machines.find((m) => m.entry.id === id) ?? null;
}

/** The server a role change is asked of (the backup), and the other one. */
export function officePair(office: OfficeView): { primary: MachineView; backup: MachineView } | null {
  const primary = machineById(office, office.primary);
  const backup = machineById(office, office.backup);
  return primary && backup ? { primary, backup } : null;
}
