// The Sync tab: every category on the primary and on the backup, what is still to copy, how far
// behind and how fast, the last problem in words; the throughput of the last hour; the files
// deleted on the primary that the backup keeps; the files set aside by a reintegration, with a way
// to put each one back; and the link between the two servers (round trip, losses, clocks, and
// whether it carries the office's busiest hour).

import { useCallback, useEffect, useMemo, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { Chart } from "../components/Chart";
import { formatBytes, formatRate } from "../format/bytes";
import { formatAgo, formatDuration } from "../format/duration";
import type { LinkReport } from "../generated/LinkReport";
import type { MachineView } from "../generated/MachineView";
import type { OfficeView } from "../generated/OfficeView";
import type { QuarantineEntry } from "../generated/QuarantineEntry";
import { useNow } from "../hooks/useNow";
import { formatDateTime } from "../format/time";
import { formatMillis, formatPercent } from "../format/units";
import { DeletedFiles } from "./DeletedFiles";
import { PutBack, PutBackNotes, usePutBack } from "./PutBack";
import { officePair } from "./pair";

export function SyncPanel({ office }: { office: OfficeView }) {
  const nowMs = useNow(5_000);
  const rows = office.sync.rows;
  const pair = officePair(office);
  const link = pair?.backup.sync?.peer ?? null;
  const history = pair?.backup.sync?.history ?? pair?.primary.sync?.history;
  const chart = useMemo(() => {
    const points = history ?? [];
    const x = points.map((h) => h.t);
    const col = points.map((h) => h.throughput_bps);
    return { x, avg: [col], min: [col], max: [col] };
  }, [history]);
  const nowSecs = Math.floor(nowMs / 1000);

  if (!pair) {
    return <p className="panel-empty">Sync needs both servers of the office, and one of them seen as the primary.</p>;
  }
  return (
    <div className="sync-panel">
      {link && link.state !== "ok" && (
        <div className="banner banner-warning" role="alert" data-testid="sync-link-problem">
          <div className="banner-body">
            <p className="banner-title">The backup is not receiving changes</p>
            <p>{link.message ?? "It has lost contact with the primary."}</p>
          </div>
        </div>
      )}
      <section className="card">
        <h2 className="card-title">
          From {pair.primary.entry.name} (primary) to {pair.backup.entry.name} (backup)
        </h2>
        {rows.length === 0 ? (
          <p className="muted">Neither server has reported its sync yet.</p>
        ) : (
          <div className="table-scroll">
            <table className="data-table" data-testid="sync-table">
              <thead>
                <tr>
                  <th scope="col">What</th>
                  <th scope="col">On the primary</th>
                  <th scope="col">On the backup</th>
                  <th scope="col">Still to copy</th>
                  <th scope="col">Behind by</th>
                  <th scope="col">Speed</th>
                  <th scope="col">Last in sync</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.name} data-testid="sync-row" data-category={r.name}>
                    <th scope="row">
                      {r.label}
                      {r.last_error && (
                        <p className="cell-error" role="note">
                          {r.last_error}
                        </p>
                      )}
                      {r.watch_problem && (
                        <p className="cell-note" role="note" data-testid="sync-watch-problem">
                          {r.watch_problem}
                        </p>
                      )}
                    </th>
                    <td>{r.primary_files === null ? "—" : `${r.primary_files} files, ${formatBytes(r.primary_bytes ?? 0)}`}</td>
                    <td>{r.backup_files === null ? "—" : `${r.backup_files} files, ${formatBytes(r.backup_bytes ?? 0)}`}</td>
                    <td
                      className={r.pending_files > 0 || r.counting !== null ? "tone-warn" : "tone-ok"}
                      data-testid="sync-pending"
                    >
                      {r.counting !== null
                        ? r.state
                        : r.pending_files > 0
                          ? `${r.pending_files} (${formatBytes(r.pending_bytes)})`
                          : "Nothing"}
                      {r.time_left && <span className="cell-note">{r.time_left}</span>}
                    </td>
                    <td>
                      {r.counting !== null ? "Not yet known" : r.lag_secs === null ? "Up to date" : formatDuration(r.lag_secs)}
                    </td>
                    <td>{r.throughput_bps > 0 ? formatRate(r.throughput_bps) : "Idle"}</td>
                    <td>{r.last_success_unix === null ? "Not yet" : formatAgo(Math.max(0, nowSecs - r.last_success_unix))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="card">
        <h2 className="card-title">Copy speed, last hour</h2>
        {!history || history.length === 0 ? (
          <p className="muted">No copy activity recorded yet.</p>
        ) : (
          <Chart
            lines={[{ label: "Copied" }]}
            data={chart}
            unit="bytes_per_sec"
            window={{ from: nowSecs - 3600, to: nowSecs }}
            height={160}
          />
        )}
      </section>
      <LinkCard
        report={pair.backup.sync?.link ?? pair.primary.sync?.link ?? null}
        measuredByBackup={!!pair.backup.sync?.link}
        primary={pair.primary.entry.name}
        backup={pair.backup.entry.name}
      />
      {/* Keyed by who holds which role: after a failover the lists start afresh, so one box's files
          never show under the other's name. */}
      <DeletedFiles
        key={`${pair.primary.entry.id}:${pair.backup.entry.id}`}
        primary={pair.primary}
        backup={pair.backup}
        labels={new Map(rows.map((r) => [r.name, r.label]))}
        nowSecs={nowSecs}
      />
      {office.machines.map((m) => (
        <Quarantine key={m.entry.id} machine={m} />
      ))}
    </div>
  );
}

/** The clock difference in words: "the same", "PBX A's clock is 2 min ahead". `offsetMs` is
 * the partner's clock (`partner`) minus the measuring box's. */
function clockWords(offsetMs: number, partner: string): string {
  const secs = Math.round(Math.abs(offsetMs) / 1000);
  if (secs < 1) return "The same time on both";
  const amount = secs < 120 ? `${secs} s` : formatDuration(secs);
  return `${partner}'s clock is ${amount} ${offsetMs > 0 ? "ahead" : "behind"}`;
}

/** The link between the two servers, as the backup measures it (else as the primary does). */
function LinkCard({
  report,
  measuredByBackup,
  primary,
  backup,
}: {
  report: LinkReport | null;
  measuredByBackup: boolean;
  primary: string;
  backup: string;
}) {
  if (!report) return null;
  // Each box measures its partner's clock against its own.
  const partner = measuredByBackup ? primary : backup;
  const facts: [string, string, string][] = [
    [
      "Round trip",
      report.round_trip_ms === null ? "Not measured yet" : formatMillis(report.round_trip_ms),
      "link-round-trip",
    ],
    [
      "Messages lost",
      report.loss_percent === null ? "Not measured yet" : formatPercent(report.loss_percent),
      "link-loss",
    ],
    [
      "Clocks",
      report.clock_offset_ms === null ? "Not measured yet" : clockWords(report.clock_offset_ms, partner),
      "link-clock",
    ],
    [
      "Carries while copying",
      report.capacity_bps === null ? "Not measured yet: the copy has not had to work hard" : formatRate(report.capacity_bps),
      "link-capacity",
    ],
  ];
  if (report.busiest_hour_bytes !== null && report.busiest_hour_unix !== null) {
    facts.push([
      "Busiest hour this week",
      `${formatBytes(report.busiest_hour_bytes)} changed, from ${formatDateTime(report.busiest_hour_unix)}`,
      "link-busiest",
    ]);
  }
  return (
    <section className="card" data-testid="link-card">
      <h2 className="card-title">
        The link from {primary} to {backup}
      </h2>
      {report.warning && (
        <div className="banner banner-warning" role="alert" data-testid="link-warning">
          <div className="banner-body">
            <p>{report.warning}</p>
          </div>
        </div>
      )}
      <dl className="facts">
        {facts.map(([label, value, id]) => (
          <div key={id} className="fact">
            <dt>{label}</dt>
            <dd data-testid={id}>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/** Files a server set aside when it rejoined as the backup, with "Put back". */
function Quarantine({ machine }: { machine: MachineView }) {
  const api = useApi();
  const [files, setFiles] = useState<QuarantineEntry[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const { busy, error, done, conflict, run } = usePutBack<number>();
  const blocked = machine.restore_blocked;
  const count = machine.failover?.quarantined_files ?? 0;

  const load = useCallback(() => {
    api.quarantineList(machine.entry.id).then(
      (list) => {
        setFiles(list.entries);
        setLoadError(null);
      },
      (e: unknown) => setLoadError(toConsoleError(e).message),
    );
  }, [api, machine.entry.id]);

  useEffect(() => {
    if (machine.reachable && count > 0) load();
  }, [load, machine.reachable, count]);

  if (count === 0 && !files?.length) return null;

  const restore = (file: QuarantineEntry, replace: boolean) =>
    run(file.id, async () => {
      const list = await api.restoreQuarantined(machine.entry.id, file.id, replace);
      setFiles(list.entries);
      return `${file.path} is back on the primary.`;
    });

  return (
    <section className="card" data-testid="quarantine" data-server={machine.entry.name}>
      <h2 className="card-title">Set aside on {machine.entry.name}</h2>
      <p className="muted">
        {machine.entry.name} wrote these files while it was cut off from its partner, after the other server had taken
        over. They differ from the primary's copies, so they were kept aside rather than lost. Put back the ones you
        need; nothing here is ever deleted by LBS.
      </p>
      <PutBackNotes blocked={blocked} error={error ?? loadError} done={done} />
      {files === null ? (
        <p className="muted" aria-busy="true">
          Loading the list…
        </p>
      ) : (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">What</th>
              <th scope="col">Size</th>
              <th scope="col">Set aside</th>
              <th scope="col">
                <span className="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.id} data-testid="quarantine-row" data-path={f.path}>
                <td className="mono">{f.path}</td>
                <td>{f.category}</td>
                <td>{formatBytes(f.size)}</td>
                <td>{formatDateTime(f.quarantined_unix)}</td>
                <td className="cell-actions">
                  <PutBack
                    done={f.restored_unix !== null}
                    blocked={blocked}
                    busy={busy === f.id}
                    anyBusy={busy !== null}
                    conflict={conflict === f.id}
                    testPrefix="quarantine"
                    onRestore={(replace) => void restore(f, replace)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
