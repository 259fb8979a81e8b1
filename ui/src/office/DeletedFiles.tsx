// The Sync tab's "Deleted files" card: what the backup keeps of the files deleted on the primary
// (for the trash retention), with "Put back". A file goes back on the primary — the backup only
// mirrors it — and the sync then copies it to the backup again. Below, what the primary set aside
// in its own trash (a file a put-back replaced, or one deleted while it was the backup), so that a
// "Replace the primary's copy" can be undone from here too.

import { useCallback, useEffect, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { formatBytes } from "../format/bytes";
import { formatAgo, formatDuration } from "../format/duration";
import type { MachineView } from "../generated/MachineView";
import type { TrashEntry } from "../generated/TrashEntry";
import type { TrashList } from "../generated/TrashList";
import { formatDateTime } from "../format/time";
import { PutBack, PutBackNotes, usePutBack } from "./PutBack";

/** One trashed file's identity: the same path may be deleted more than once. */
export function trashKey(e: TrashEntry): string {
  return `${e.source}/${e.deleted_unix}/${e.stored}`;
}

interface Trash {
  list: TrashList | null;
  error: string | null;
  load: () => void;
}

/** The trash of `m`, listed while it answers. */
function useTrash(m: MachineView): Trash {
  const api = useApi();
  const [list, setList] = useState<TrashList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = m.entry.id;
  const load = useCallback(() => {
    api.trashList(id).then(
      (l) => {
        setList(l);
        setError(null);
      },
      (e: unknown) => setError(toConsoleError(e).message),
    );
  }, [api, id]);
  useEffect(() => {
    if (m.reachable) load();
  }, [load, m.reachable]);
  return { list, error, load };
}

interface DeletedFilesProps {
  primary: MachineView;
  backup: MachineView;
  /** Each category's label by name. */
  labels: Map<string, string>;
  nowSecs: number;
}

/** Keyed by who holds which role (the lists belong to the boxes, not to the roles). */
export function DeletedFiles({ primary, backup, labels, nowSecs }: DeletedFilesProps) {
  const onBackup = useTrash(backup);
  const onPrimary = useTrash(primary);
  const kept = onBackup.list ? formatDuration(onBackup.list.retention_secs) : null;
  const setAside = onPrimary.list?.entries.length ? onPrimary.list : null;

  return (
    <section className="card trash-card" data-testid="trash" data-server={backup.entry.name}>
      <h2 className="card-title">{kept ? `Deleted files (kept ${kept})` : "Deleted files"}</h2>
      <p className="muted">
        When a file is deleted on {primary.entry.name}, {backup.entry.name} keeps its copy
        {kept ? ` for ${kept}` : ""}. If something was deleted by mistake, put it back: it returns to{" "}
        {primary.entry.name}, and from there to {backup.entry.name}.
      </p>
      <TrashFiles
        holder={backup}
        pair={{ primary, backup }}
        trash={onBackup}
        onRestored={onPrimary.load}
        labels={labels}
        when={(f) => `Deleted on the primary ${formatAgo(Math.max(0, nowSecs - f.deleted_unix))}`}
        empty={`Nothing has been deleted in the last ${kept}.`}
        testPrefix="trash"
      />
      {setAside && (
        <div className="trash-primary" data-testid="trash-primary-files">
          <h3 className="card-subtitle">Also kept on {primary.entry.name}</h3>
          <p className="muted">
            {primary.entry.name} keeps these itself: files that a put-back replaced, and files deleted while it was the
            backup. Put one back to return it to its place.
          </p>
          <TrashFiles
            holder={primary}
            pair={{ primary, backup }}
            trash={onPrimary}
            onRestored={onPrimary.load}
            labels={labels}
            when={(f) => `Replaced or deleted ${formatAgo(Math.max(0, nowSecs - f.deleted_unix))}`}
            empty=""
            testPrefix="trash-primary"
          />
        </div>
      )}
    </section>
  );
}

interface TrashFilesProps {
  /** The box whose trash this is (the backup, or the primary's own). */
  holder: MachineView;
  pair: { primary: MachineView; backup: MachineView };
  trash: Trash;
  /** After a file is put back (a replaced file lands in the primary's own trash). */
  onRestored: () => void;
  labels: Map<string, string>;
  /** The "When" cell of a file. */
  when: (f: TrashEntry) => string;
  /** What an empty trash says. */
  empty: string;
  /** Test ids: `<testPrefix>-row`, `-restore`, `-replace`, `-empty`. */
  testPrefix: string;
}

/** One box's trash as a table, each file with "Put back" (onto the primary). */
function TrashFiles({ holder, pair, trash, onRestored, labels, when, empty, testPrefix }: TrashFilesProps) {
  const api = useApi();
  const { busy, error, done, conflict, run } = usePutBack<string>();
  /** Files put back since the list was shown (the trash keeps its copy, so the list is unchanged). */
  const [restored, setRestored] = useState<ReadonlySet<string>>(new Set());
  const blocked = holder.restore_blocked;
  const { list } = trash;

  const restore = (file: TrashEntry, replace: boolean) => {
    const key = trashKey(file);
    return run(key, async () => {
      await api.restoreTrash(holder.entry.id, file, replace);
      setRestored((s) => new Set(s).add(key));
      onRestored();
      return `${file.path} is back on ${pair.primary.entry.name}. It will be copied to ${pair.backup.entry.name} again in a moment.`;
    });
  };

  return (
    <>
      <PutBackNotes blocked={blocked} error={error ?? trash.error} done={done} />
      {list === null ? (
        !holder.reachable ? (
          <p className="muted">{holder.entry.name} does not answer, so its deleted files cannot be listed now.</p>
        ) : trash.error ? (
          <button type="button" className="btn btn-secondary btn-small" onClick={trash.load}>
            Try again
          </button>
        ) : (
          <p className="muted" aria-busy="true">
            Loading the list…
          </p>
        )
      ) : list.entries.length === 0 ? (
        <p className="muted" data-testid={`${testPrefix}-empty`}>
          {empty}
        </p>
      ) : (
        <>
          {list.total_files > list.entries.length && (
            <p className="muted">
              Showing the newest {list.entries.length} of {list.total_files} files ({formatBytes(list.total_bytes)}).
            </p>
          )}
          <div className="table-scroll">
            <table className="data-table">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">What</th>
                  <th scope="col">Size</th>
                  <th scope="col">When</th>
                  <th scope="col">
                    <span className="visually-hidden">Action</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.entries.map((f) => {
                  const key = trashKey(f);
                  return (
                    <tr key={key} data-testid={`${testPrefix}-row`} data-path={f.path}>
                      <td className="mono">{f.path}</td>
                      <td>{labels.get(f.category) ?? f.category}</td>
                      <td>{formatBytes(f.size)}</td>
                      <td title={formatDateTime(f.deleted_unix)}>{when(f)}</td>
                      <td className="cell-actions">
                        <PutBack
                          done={restored.has(key)}
                          blocked={blocked}
                          busy={busy === key}
                          anyBusy={busy !== null}
                          conflict={conflict === key}
                          testPrefix={testPrefix}
                          onRestore={(replace) => void restore(f, replace)}
                        />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
      {list && list.unreadable.length > 0 && (
        <p className="cell-error" role="note">
          Some deleted files could not be listed: {list.unreadable.join("; ")}
        </p>
      )}
    </>
  );
}
