// The role badge (Primary / Backup).

import type { Role } from "../generated/Role";

export function roleLabel(role: Role): string {
  return role === "primary" ? "Primary" : "Backup";
}

export function RoleBadge({ role, testId }: { role: Role; testId?: string }) {
  return (
    <span className={`badge badge-${role}`} data-testid={testId}>
      {roleLabel(role)}
    </span>
  );
}
