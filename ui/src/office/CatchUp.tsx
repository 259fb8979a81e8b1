// Under the server cards while the backup catches up (after a failover, a reintegration or a
// long outage): how much of each category it holds, and what is left.

import { formatBytes } from "../format/bytes";
import type { OfficeView } from "../generated/OfficeView";
import { officePair } from "./pair";

export function CatchUp({ office }: { office: OfficeView }) {
  const pair = officePair(office);
  const rows = office.sync.rows;
  if (!pair || !pair.backup.reachable || !office.sync.catching_up) return null;
  const files = rows.reduce((n, r) => n + r.pending_files, 0);
  const bytes = rows.reduce((n, r) => n + r.pending_bytes, 0);
  const reintegrating = pair.backup.failover?.last_change?.action === "reintegrate";
  const counting = rows.filter((r) => r.counting !== null).reduce((n, r) => n + (r.counting ?? 0), 0);
  const stillCounting = rows.some((r) => r.counting !== null);
  return (
    <section className="card catch-up" data-testid="catch-up" aria-label="Catching up">
      <h2 className="card-title">
        {reintegrating ? `${pair.backup.entry.name} is rejoining as the backup` : `${pair.backup.entry.name} is catching up`}
      </h2>
      {stillCounting ? (
        <p className="muted" data-testid="still-counting">
          {pair.primary.entry.name} is still counting its files ({counting.toLocaleString("en-US")} so far); the copy is
          not complete yet. Copying goes on by itself; the phones keep working meanwhile.
        </p>
      ) : (
        <p className="muted">
          {files} {files === 1 ? "file" : "files"} ({formatBytes(bytes)}) still to copy from {pair.primary.entry.name}
          {office.sync.time_left && <span data-testid="catch-up-left"> ({office.sync.time_left})</span>}. The office is
          fully protected again when this reaches zero; the phones keep working meanwhile.
        </p>
      )}
      <ul className="progress-list">
        {rows.map((r) => (
          <li key={r.name}>
            <span className="progress-label">{r.label}</span>
            <progress max={1} value={r.progress ?? 0} aria-label={`${r.label} copied`} />
            <span className="progress-value" data-testid="progress-value">
              {r.state}
              {r.time_left && <span className="progress-left">{r.time_left}</span>}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
