// The Events tab: both servers' audit logs merged, newest first, filterable by server, kind and
// words.

import { useCallback, useEffect, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import type { EventKind } from "../generated/EventKind";
import type { OfficeEvents } from "../generated/OfficeEvents";
import type { OfficeView } from "../generated/OfficeView";
import { formatDateTime } from "../format/time";
import { filterEvents, kindsIn, NO_FILTER, type EventFilter } from "./events";

const LIMIT = 500;
const REFRESH_MS = 5_000;

export function EventsPanel({ office }: { office: OfficeView }) {
  const api = useApi();
  const [log, setLog] = useState<OfficeEvents | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState<EventFilter>(NO_FILTER);

  const load = useCallback(() => {
    api.officeEvents(office.pair.id, LIMIT).then(
      (l) => {
        setLog(l);
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

  const kinds = kindsIn(log?.events ?? []);
  const shown = log ? filterEvents(log.events, filter) : [];

  return (
    <section className="card events-panel" aria-label="Events">
      <div className="filter-bar" role="search">
        <label className="field-inline">
          <span>Server</span>
          <select
            className="input"
            data-testid="events-server"
            value={filter.server}
            onChange={(e) => setFilter({ ...filter, server: e.target.value })}
          >
            <option value="">Both</option>
            {office.machines.map((m) => (
              <option key={m.entry.id} value={m.entry.name}>
                {m.entry.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field-inline">
          <span>What</span>
          <select
            className="input"
            data-testid="events-kind"
            value={filter.kind}
            onChange={(e) => setFilter({ ...filter, kind: e.target.value as EventKind | "" })}
          >
            <option value="">Everything</option>
            {kinds.map(([kind, label]) => (
              <option key={kind} value={kind}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="field-inline field-grow">
          <span>Find</span>
          <input
            className="input"
            type="search"
            data-testid="events-text"
            placeholder="Words in the message or reason"
            value={filter.text}
            onChange={(e) => setFilter({ ...filter, text: e.target.value })}
          />
        </label>
      </div>
      {error && (
        <p className="inline-error" role="alert">
          The events could not be read: {error}
        </p>
      )}
      {log?.unreadable.map((u) => (
        <p key={u} className="disabled-reason">
          Not included: {u}
        </p>
      ))}
      {log === null && !error ? (
        <p className="muted" aria-busy="true">
          Loading the events…
        </p>
      ) : shown.length === 0 ? (
        <p className="muted" data-testid="events-empty">
          {log && log.events.length > 0 ? "No event matches this filter." : "Nothing has happened yet: no role change, no refusal."}
        </p>
      ) : (
        <div className="table-scroll">
          <table className="data-table" data-testid="events-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Server</th>
                <th scope="col">What</th>
                <th scope="col">Details</th>
                <th scope="col">Asked by</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={`${e.event.server_id}-${e.event.id}`} data-testid="event-row" data-kind={e.event.kind}>
                  <td className="nowrap">{formatDateTime(e.event.at_unix)}</td>
                  <td>{e.server}</td>
                  <td className={e.warning ? "tone-warn" : undefined}>{e.label}</td>
                  <td>
                    {e.event.message}
                    {e.event.reason && <p className="event-reason">Reason given: {e.event.reason}</p>}
                  </td>
                  <td>{e.event.actor}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
