// Left column: every office with its state in a word and a colour, its servers with their roles
// (a silent one with the role it was last seen in, never as a current one), and "Add an office".

import type { Overview } from "../generated/Overview";
import { RoleBadge } from "./Badges";

interface SidebarProps {
  overview: Overview | null;
  selectedOffice: string | null;
  onSelect: (office: string) => void;
  onAdd: () => void;
}

export function Sidebar({ overview, selectedOffice, onSelect, onAdd }: SidebarProps) {
  return (
    <nav className="sidebar" aria-label="Offices">
      <h2 className="sidebar-title">Offices</h2>
      {overview === null ? (
        <ul className="server-list" aria-busy="true">
          {[0, 1].map((i) => (
            <li key={i} className="server-item skeleton-item">
              <span className="skeleton skeleton-line" />
              <span className="skeleton skeleton-line short" />
            </li>
          ))}
          <li className="visually-hidden">Loading…</li>
        </ul>
      ) : overview.offices.length === 0 ? (
        <p className="sidebar-empty">No offices yet.</p>
      ) : (
        <ul className="server-list">
          {overview.offices.map((office) => {
            const selected = office.pair.id === selectedOffice;
            return (
              <li key={office.pair.id}>
                <button
                  type="button"
                  className={`server-item office-item${selected ? " selected" : ""}`}
                  aria-current={selected ? "page" : undefined}
                  data-testid="office-list-item"
                  data-office-id={office.pair.id}
                  data-level={office.state.level}
                  onClick={() => onSelect(office.pair.id)}
                >
                  <span className="server-item-top">
                    <span className="server-item-name">{office.pair.name}</span>
                    <span className={`level level-${office.state.level} level-compact`}>
                      <span className="level-dot" aria-hidden="true" />
                      {office.state.word}
                    </span>
                  </span>
                  {office.maintenance && (
                    <span className="maintenance-mark" data-testid="office-maintenance-mark" title={office.maintenance.sentence}>
                      In maintenance
                    </span>
                  )}
                  {office.machines.map((m) => {
                    const role = m.failover?.role ?? m.last_role;
                    return (
                      <span key={m.entry.id} className="office-item-server" data-testid="server-list-item">
                        <span className="office-item-server-line">
                          <span className={`mini-dot mini-dot-${m.reachable ? "ok" : "bad"}`} aria-hidden="true" />
                          <span className="office-item-server-name">{m.entry.name}</span>
                          {m.reachable && role && <RoleBadge role={role} />}
                        </span>
                        {m.silent_note && (
                          <span className="office-item-silent" data-testid="server-list-silent">
                            <span className="visually-hidden">Not answering. </span>
                            {m.silent_note}
                          </span>
                        )}
                      </span>
                    );
                  })}
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
          Add an office
        </button>
      </div>
    </nav>
  );
}
