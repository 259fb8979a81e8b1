// The actions cell of a set-aside or deleted file: "Put back" onto the primary, and, once the
// primary turned it down because it holds a different file there, "Replace the primary's copy";
// and the state behind a list of them.

import { useState } from "react";

import { toConsoleError } from "../api/errors";

/**
 * One put-back at a time, for a list of files named by `K`: which one is going, what went wrong,
 * what was done, and which one the primary refused because it holds a different file there (the
 * one offered "Replace"). `run(key, put)` runs `put`, whose answer is what was done, in words.
 */
export function usePutBack<K>() {
  const [busy, setBusy] = useState<K | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [conflict, setConflict] = useState<K | null>(null);
  const run = async (key: K, put: () => Promise<string>) => {
    setBusy(key);
    setError(null);
    setDone(null);
    try {
      setDone(await put());
      setConflict(null);
    } catch (e) {
      const err = toConsoleError(e);
      setError(err.message);
      setConflict(err.kind === "different_file" ? key : null);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, done, conflict, run };
}

interface PutBackProps {
  /** Already put back: says so instead of offering it again. */
  done: boolean;
  /** Why restoring is not allowed (a view-only token), or null. */
  blocked: string | null;
  /** This file is being put back now. */
  busy: boolean;
  /** A file (this one or another) is: one at a time. */
  anyBusy: boolean;
  /** The primary holds a different file at this path. */
  conflict: boolean;
  /** `quarantine` or `trash`: the buttons' test ids. */
  testPrefix: string;
  onRestore: (replace: boolean) => void;
}

export function PutBack({ done, blocked, busy, anyBusy, conflict, testPrefix, onRestore }: PutBackProps) {
  if (done) return <span className="tone-ok">Put back</span>;
  const disabled = blocked !== null || anyBusy;
  return (
    <>
      <button
        type="button"
        className="btn btn-secondary btn-small"
        data-testid={`${testPrefix}-restore`}
        disabled={disabled}
        title={blocked ?? undefined}
        onClick={() => onRestore(false)}
      >
        {busy ? "Putting back…" : "Put back"}
      </button>
      {conflict && (
        <button
          type="button"
          className="btn btn-ghost btn-small"
          disabled={disabled}
          data-testid={`${testPrefix}-replace`}
          onClick={() => onRestore(true)}
        >
          Replace the primary's copy
        </button>
      )}
    </>
  );
}

/** Above a list of files to put back: why it is not allowed, what went wrong, what was done. */
export function PutBackNotes({ blocked, error, done }: { blocked: string | null; error: string | null; done: string | null }) {
  return (
    <>
      {blocked && <p className="disabled-reason">{blocked}</p>}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="inline-ok" role="status">
          {done}
        </p>
      )}
    </>
  );
}
