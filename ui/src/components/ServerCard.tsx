// The card at the top of a server's page: who it is, its state, its facts, and "Remove".

import { useId, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { formatAgo, formatDuration } from "../format/duration";
import { shortId } from "../format/ids";
import type { PeerSummary } from "../generated/PeerSummary";
import type { ServerEntry } from "../generated/ServerEntry";
import type { TokenRole } from "../generated/TokenRole";
import { reachability, type StatusState } from "../hooks/useServerStatuses";
import { useNow } from "../hooks/useNow";
import { ReachabilityMark, RoleBadge } from "./Badges";
import { StatusBanner } from "./StatusBanner";

interface ServerCardProps {
  entry: ServerEntry;
  state: StatusState | undefined;
  onRemoved: (id: string) => void;
}

function accessLabel(access: TokenRole): string {
  return access === "admin" ? "Administrator" : "View only";
}

function peerLabel(peer: PeerSummary, nowMs: number): string {
  if (peer.state === "unpaired") return "Not paired yet";
  const contact =
    peer.last_contact_unix === null ? "" : `, last heard ${formatAgo(Math.max(0, nowMs / 1000 - peer.last_contact_unix))}`;
  return `Paired with ${shortId(peer.server_id)} (${peer.address}) — ${peer.reachable ? "reachable" : "not reachable"}${contact}`;
}

export function ServerCard({ entry, state, onRemoved }: ServerCardProps) {
  const api = useApi();
  const nowMs = useNow(15_000);
  const titleId = useId();
  const [confirming, setConfirming] = useState(false);
  const [removing, setRemoving] = useState(false);
  const [removeError, setRemoveError] = useState<string | null>(null);

  const status = state?.status ?? null;
  const error = state?.error ?? null;
  const reach = reachability(state);
  const serverId = status?.server_id || entry.server_id;
  const unknown = reach === "checking" ? "Waiting…" : "Not known yet";

  const remove = async () => {
    setRemoving(true);
    setRemoveError(null);
    try {
      await api.removeServer(entry.id);
      onRemoved(entry.id);
    } catch (e) {
      setRemoveError(toConsoleError(e).message);
      setRemoving(false);
    }
  };

  const facts: { label: string; value: string; title?: string }[] = [
    { label: "Address", value: entry.address },
    { label: "Server ID", value: serverId ? shortId(serverId) : unknown, title: serverId || undefined },
    { label: "Computer name", value: status?.hostname ?? unknown },
    { label: "Agent version", value: status?.version ?? unknown },
    { label: "Agent running for", value: status ? formatDuration(status.uptime_secs) : unknown },
    { label: "Machine running for", value: status ? formatDuration(status.host_uptime_secs) : unknown },
    { label: "Your access", value: status ? accessLabel(status.access) : unknown },
    { label: "Partner server", value: status ? peerLabel(status.peer, nowMs) : unknown },
  ];

  return (
    <section className="card server-card" data-testid="server-card" aria-labelledby={titleId}>
      <div className="server-card-head">
        <div className="server-card-title">
          <h1 id={titleId} data-testid="server-name">
            {entry.name}
          </h1>
          {status && <RoleBadge role={status.role} testId="server-role" />}
          <ReachabilityMark state={reach} error={error} testId="server-reachable" />
        </div>
        {!confirming && (
          <button
            type="button"
            className="btn btn-ghost btn-danger-text"
            data-testid="remove-server"
            onClick={() => setConfirming(true)}
          >
            Remove
          </button>
        )}
      </div>

      {confirming && (
        <div className="confirm-box" role="group" aria-label="Confirm removal">
          <p>
            Remove <strong>{entry.name}</strong> from this console? The server itself keeps running; only this console
            stops watching it. You can add it again later with its connection link.
          </p>
          {removeError && (
            <p className="inline-error" role="alert">
              {removeError}
            </p>
          )}
          <div className="confirm-actions">
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => {
                setConfirming(false);
                setRemoveError(null);
              }}
              disabled={removing}
            >
              Keep it
            </button>
            <button
              type="button"
              className="btn btn-danger"
              data-testid="remove-confirm"
              onClick={() => void remove()}
              disabled={removing}
              aria-busy={removing}
              autoFocus
            >
              {removing ? "Removing…" : "Remove server"}
            </button>
          </div>
        </div>
      )}

      {error && <StatusBanner error={error} lastOkMs={state?.lastOkMs ?? null} nowMs={nowMs} />}

      <dl className={`facts${error ? " facts-stale" : ""}`}>
        {facts.map((f) => (
          <div key={f.label} className="fact">
            <dt>{f.label}</dt>
            <dd title={f.title} className={f.value === unknown ? "unknown" : undefined}>
              {f.value}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
