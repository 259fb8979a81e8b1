// Left column: the list of servers with their state and role, and the "Add a server" button.

import type { ServerEntry } from "../generated/ServerEntry";
import { reachability, type StatusState } from "../hooks/useServerStatuses";
import { ReachabilityMark, RoleBadge } from "./Badges";

interface SidebarProps {
  servers: ServerEntry[] | null;
  statuses: Record<string, StatusState>;
  selectedId: string | null;
  onSelect: (id: string) => void;
  onAdd: () => void;
}

export function Sidebar({ servers, statuses, selectedId, onSelect, onAdd }: SidebarProps) {
  return (
    <nav className="sidebar" aria-label="Servers">
      <h2 className="sidebar-title">Servers</h2>
      {servers === null ? (
        <ul className="server-list" aria-busy="true">
          {[0, 1].map((i) => (
            <li key={i} className="server-item skeleton-item">
              <span className="skeleton skeleton-line" />
              <span className="skeleton skeleton-line short" />
            </li>
          ))}
          <li className="visually-hidden">Loading…</li>
        </ul>
      ) : servers.length === 0 ? (
        <p className="sidebar-empty">No servers yet.</p>
      ) : (
        <ul className="server-list">
          {servers.map((server) => {
            const state = statuses[server.id];
            const role = state?.status?.role;
            const selected = server.id === selectedId;
            return (
              <li key={server.id}>
                <button
                  type="button"
                  className={`server-item${selected ? " selected" : ""}`}
                  aria-current={selected ? "page" : undefined}
                  data-testid="server-list-item"
                  data-server-id={server.id}
                  onClick={() => onSelect(server.id)}
                >
                  <span className="server-item-top">
                    <span className="server-item-name">{server.name}</span>
                    {role && <RoleBadge role={role} />}
                  </span>
                  <ReachabilityMark state={reachability(state)} error={state?.error ?? null} compact />
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <div className="sidebar-foot">
        <button type="button" className="btn btn-secondary btn-block" data-testid="add-server" onClick={onAdd}>
          <span aria-hidden="true" className="btn-plus">
            +
          </span>
          Add a server
        </button>
      </div>
    </nav>
  );
}
