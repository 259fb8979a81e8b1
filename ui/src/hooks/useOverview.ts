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

  /** Keeps the newer snapshot: an answer to `overview()` may arrive after a pushed one. */
  const accept = useCallback((o: Overview) => {
    setOverview((prev) => (prev && prev.at_unix > o.at_unix ? prev : o));
    setError(null);
  }, []);

  const reload = useCallback(() => {
    api.overview().then(accept, (e: unknown) => setError(toConsoleError(e)));
  }, [api, accept]);

  useEffect(() => {
    let stop: (() => void) | null = null;
    let cancelled = false;
    api
      .watchOverview((o) => {
        if (!cancelled) accept(o);
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
  }, [api, accept, reload]);

  return { overview, error, reload };
}
