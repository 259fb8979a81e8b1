// One change at a time from a card or a header: whether it is running, and what went wrong, in
// the console's words.

import { useState } from "react";

import { toConsoleError } from "../api/errors";

export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** Runs `what`; `after` once it succeeded. A failure is kept in `error`. */
  const run = async (what: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await what();
      after?.();
    } catch (e) {
      setError(toConsoleError(e).message);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
