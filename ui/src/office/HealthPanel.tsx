// The Health tab: the office's two machines side by side — telephone lines, data and space,
// disks, memory, processor, network, software — with what differs first, each difference saying
// what it breaks after a failover and what to do. The agents compare the machines; the console
// shows the most complete answer of the two servers.

import { useCallback, useEffect, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { formatDateTime } from "../format/time";
import type { MachineInventory } from "../generated/MachineInventory";
import type { OfficeHealth } from "../generated/OfficeHealth";
import type { OfficeView } from "../generated/OfficeView";
import { markedAreas, ROWS, severityLabel, summary } from "./health";

/** The inventory changes rarely; the agents read SMART hourly. */
const REFRESH_MS = 30_000;

export function HealthPanel({ office }: { office: OfficeView }) {
  const api = useApi();
  const [answer, setAnswer] = useState<OfficeHealth | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api.officeHealth(office.pair.id).then(
      (h) => {
        setAnswer(h);
        setError(null);
      },
      (e: unknown) => setError(toConsoleError(e).message),
    );
  }, [api, office.pair.id]);

  useEffect(() => {
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  if (error && !answer) {
    return (
      <div className="banner banner-danger" role="alert" data-testid="health-error">
        <div className="banner-body">
          <p className="banner-title">The servers' details could not be read</p>
          <p>{error}</p>
        </div>
      </div>
    );
  }
  if (!answer) {
    return (
      <p className="muted" aria-busy="true">
        Reading both servers…
      </p>
    );
  }
  const health = answer.health;
  if (!health) {
    return (
      <div className="banner banner-warning" role="alert" data-testid="health-error">
        <div className="banner-body">
          <p className="banner-title">No server answered</p>
          {answer.unreadable.map((u) => (
            <p key={u}>{u}</p>
          ))}
        </div>
      </div>
    );
  }

  // The primary on the left, as everywhere in the console.
  const machines: MachineInventory[] = [health.this, ...(health.partner ? [health.partner] : [])].sort(
    (a, b) => Number(a.role !== "primary") - Number(b.role !== "primary"),
  );
  const backup = machines.find((m) => m.role === "backup")?.name ?? "the backup";
  const said = summary(health.counts, backup, health.partner !== null);
  const marks = markedAreas(health.differences);
  const rank = { critical: 0, warning: 1, info: 2 };
  // What differs first, the worst first; then the rest in their usual order.
  const rows = ROWS.map((row, i) => ({ row, i, mark: marks.get(row.area) })).sort(
    (a, b) => (a.mark ? rank[a.mark] : 3) - (b.mark ? rank[b.mark] : 3) || a.i - b.i,
  );
  const nameOf = (id: string | null) => machines.find((m) => m.server_id === id)?.name;

  return (
    <div className="health-panel">
      <section className="card">
        <p className={`health-summary tone-${said.tone}`} data-testid="health-summary" data-tone={said.tone}>
          {said.text}
        </p>
        {health.differences.length > 0 && (
          <ul className="health-differences" data-testid="health-differences">
            {health.differences.map((d, i) => (
              <li
                key={`${i}:${d.code}:${d.server_id ?? ""}`}
                className={`health-difference health-${d.severity}`}
                data-testid="health-difference"
                data-code={d.code}
                data-severity={d.severity}
              >
                <p className="health-difference-title">
                  <span className={`badge health-badge-${d.severity}`}>{severityLabel(d.severity)}</span>
                  <span>{d.subject}</span>
                  {/* The box it is about, unless the subject names it already. */}
                  {nameOf(d.server_id) && !d.subject.includes(nameOf(d.server_id) ?? "") && (
                    <span className="muted">({nameOf(d.server_id)})</span>
                  )}
                </p>
                <p>{d.message}</p>
                <p className="health-fix">
                  <strong>What to do: </strong>
                  {d.fix}
                </p>
              </li>
            ))}
          </ul>
        )}
        {health.partner_note && (
          <p className="muted" data-testid="health-partner-note">
            {health.partner_note}
          </p>
        )}
        {answer.unreadable.map((u) => (
          <p key={u} className="muted" data-testid="health-unreadable">
            Not asked directly: {u}
          </p>
        ))}
      </section>
      <section className="card">
        <h2 className="card-title">The two servers side by side</h2>
        <div className="table-scroll">
          <table className="data-table health-table" data-testid="health-table">
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">Part</span>
                </th>
                {machines.map((m) => (
                  <th scope="col" key={m.server_id}>
                    {m.name}{" "}
                    <span className={`badge badge-${m.role}`}>{m.role === "primary" ? "Primary" : "Backup"}</span>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map(({ row, mark }) => (
                <tr
                  key={row.area}
                  className={mark ? `health-row-marked health-${mark}` : undefined}
                  data-testid="health-row"
                  data-area={row.area}
                  data-marked={mark ?? ""}
                >
                  <th scope="row">{row.label}</th>
                  {machines.map((m) => (
                    <td key={m.server_id}>
                      {row.cell(m).map((line, i) => (
                        <p
                          key={i}
                          className={line.unknown ? "health-unknown" : line.tone ? `tone-${line.tone}` : undefined}
                        >
                          {line.text}
                        </p>
                      ))}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <p className="muted">
          Read by {answer.from} at {formatDateTime(health.this.collected_unix)}
          {health.partner && `; ${health.partner.name}'s as last received at ${formatDateTime(health.partner.collected_unix)}`}.
        </p>
      </section>
    </div>
  );
}
