// Small status marks: the role badge (Primary / Backup) and the reachability dot with words.

import { statusWord } from "../api/advice";
import type { CommandError } from "../api/errors";
import type { Role } from "../generated/Role";
import type { Reachability } from "../hooks/useServerStatuses";

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

export function reachabilityText(state: Reachability, error: CommandError | null): string {
  if (state === "checking") return "Checking…";
  if (state === "reachable") return "Online";
  return error ? statusWord(error.kind) : "Not reachable";
}

/** A coloured dot plus the same information in words (colour is never the only signal). */
export function ReachabilityMark({
  state,
  error,
  testId,
  compact = false,
}: {
  state: Reachability;
  error: CommandError | null;
  testId?: string;
  compact?: boolean;
}) {
  return (
    <span className={`reach reach-${state}${compact ? " reach-compact" : ""}`} data-testid={testId} data-state={state}>
      <span className="reach-dot" aria-hidden="true" />
      <span className="reach-text">{reachabilityText(state, error)}</span>
    </span>
  );
}
