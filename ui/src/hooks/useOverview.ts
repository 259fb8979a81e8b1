// The dashboard's data: one snapshot of every office, pushed by the Rust side's poller.

import { useCallback, useEffect, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError, type CommandError } from "../api/errors";
import type { Overview } from "../generated/Overview";

export interface OverviewState {
  overview: Overview | null;
  /** Why the first snapshot could not be read (the list is kept once one arrived). */
  error: CommandError | null;
  /** Asks again now (after an add or a removal the poller is also poked). */
  reload: () => void;
}

export function useOverview(): OverviewState {
  const api = useApi();
  const [overview, setOverview] = useState<Overview | null>(null);
  const [error, setError] = useState<CommandError | null>(null);

  const reload = useCallback(() => {
    api.overview().then(
      (o) => {
        setOverview((prev) => (prev && prev.at_unix > o.at_unix ? prev : o));
        setError(null);
      },
      (e: unknown) => setError(toConsoleError(e)),
    );
  }, [api]);

  useEffect(() => {
    let stop: (() => void) | null = null;
    let cancelled = false;
    api
      .watchOverview((o) => {
        if (cancelled) return;
        setOverview((prev) => (prev && prev.at_unix > o.at_unix ? prev : o));
        setError(null);
      })
      .then(
        (unlisten) => {
          if (cancelled) unlisten();
          else stop = unlisten;
        },
        (e: unknown) => setError(toConsoleError(e)),
      );
    reload();
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [api, reload]);

  return { overview, error, reload };
}
