// Polls `server_status` for every known server and keeps the last answer and the last error.

import { useEffect, useState } from "react";

import type { CommandError } from "../api/errors";
import { toConsoleError } from "../api/errors";
import { useApi } from "../api/context";
import type { ServerStatus } from "../generated/ServerStatus";

export type Reachability = "checking" | "reachable" | "unreachable";

export interface StatusState {
  /** Last answer received, kept while the server does not answer (never blank). */
  status: ServerStatus | null;
  /** Error of the latest call; null once a call succeeds. */
  error: CommandError | null;
  /** When the last answer arrived (ms since epoch). */
  lastOkMs: number | null;
}

export const CHECKING: StatusState = { status: null, error: null, lastOkMs: null };

export function reachability(state: StatusState | undefined): Reachability {
  if (!state || (state.status === null && state.error === null)) return "checking";
  return state.error ? "unreachable" : "reachable";
}

export const STATUS_POLL_MS = 5000;

/** One polling loop per server id; a call starts only after the previous one ended. */
export function useServerStatuses(ids: readonly string[], intervalMs = STATUS_POLL_MS): Record<string, StatusState> {
  const api = useApi();
  const [states, setStates] = useState<Record<string, StatusState>>({});
  const key = ids.join("\n");

  useEffect(() => {
    const list = key ? key.split("\n") : [];
    const timers = new Map<string, ReturnType<typeof setTimeout>>();
    let cancelled = false;

    const poll = async (id: string) => {
      let next: Partial<StatusState>;
      try {
        const status = await api.serverStatus(id);
        next = { status, error: null, lastOkMs: Date.now() };
      } catch (error) {
        next = { error: toConsoleError(error) };
      }
      if (cancelled) return;
      setStates((prev) => ({ ...prev, [id]: { ...(prev[id] ?? CHECKING), ...next } }));
      timers.set(
        id,
        setTimeout(() => void poll(id), intervalMs),
      );
    };

    for (const id of list) void poll(id);
    return () => {
      cancelled = true;
      for (const t of timers.values()) clearTimeout(t);
    };
  }, [api, key, intervalMs]);

  return states;
}
