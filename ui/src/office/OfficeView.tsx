// One office: its state in one sentence, what to do next, whether it fails over by itself, both
// servers side by side, and the office's tabs (servers, sync, events, history). The failover
// wizard starts here.

import { useState } from "react";

import { useApi } from "../api/context";
import type { RangeKey } from "../charts/ranges";
import { ConfirmBox } from "../components/ConfirmBox";
import { ServerCharts } from "../components/ServerCharts";
import type { AutopilotDone } from "../generated/AutopilotDone";
import type { FormerMachine } from "../generated/FormerMachine";
import type { MaintenanceDone } from "../generated/MaintenanceDone";
import type { OfficeView as Office } from "../generated/OfficeView";
import { formatDate } from "../format/time";
import { useAction } from "../hooks/useAction";
import { useNow } from "../hooks/useNow";
import { AutopilotDialog, AutopilotLine } from "./Autopilot";
import { CatchUp } from "./CatchUp";
import { EventsPanel } from "./EventsPanel";
import { HealthPanel } from "./HealthPanel";
import { MaintenanceDialog, MaintenanceNote } from "./Maintenance";
import { MachineCard } from "./MachineCard";
import { SyncPanel } from "./SyncPanel";

export type OfficeTab = "servers" | "sync" | "health" | "events" | "history";

/** How long the answer to starting or ending maintenance, or to switching the autopilot, stays shown. */
const DONE_SHOWN_MS = 30_000;

const TABS: { key: OfficeTab; label: string }[] = [
  { key: "servers", label: "Servers" },
  { key: "sync", label: "Sync" },
  { key: "health", label: "Health" },
  { key: "events", label: "Events" },
  { key: "history", label: "History" },
];

/** The view the arrow keys, Home and End lead to from `current` (the ARIA tabs pattern). */
export function tabByKey(current: OfficeTab, key: string): OfficeTab | null {
  const i = TABS.findIndex((t) => t.key === current);
  const n = TABS.length;
  const to = { ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1 }[key];
  return to === undefined ? null : (TABS[to]?.key ?? null);
}

interface OfficeViewProps {
  office: Office;
  tab: OfficeTab;
  onTab: (tab: OfficeTab) => void;
  range: RangeKey;
  onRangeChange: (range: RangeKey) => void;
  onStartWizard: () => void;
  onAddPartner: () => void;
  onRemoved: () => void;
}

export function OfficeView({ office, tab, onTab, range, onRangeChange, onStartWizard, onAddPartner, onRemoved }: OfficeViewProps) {
  const nowMs = useNow(5_000);
  // The button's words, and why it is disabled, are lbs-console-core's (`pair::offer`).
  const { label, blocked } = office.failover;
  const unplanned = office.failover.kind === "unplanned";
  const reasonId = `failover-blocked-${office.pair.id}`;
  const [maintenanceDialog, setMaintenanceDialog] = useState(false);
  // What the last start or end answered: shown for a while, and only while the office is still
  // as that answer left it (a maintenance set at a box since makes it old news).
  const [maintenanceDone, setMaintenanceDone] = useState<{ done: MaintenanceDone; atMs: number } | null>(null);
  const maintenanceBlocked = office.maintenance_offer.blocked;
  const done = (d: MaintenanceDone) => {
    setMaintenanceDone({ done: d, atMs: Date.now() });
    setMaintenanceDialog(false);
  };
  const [autopilotDialog, setAutopilotDialog] = useState(false);
  // What the last switch answered: shown for a while, and only while the switch is still as that
  // answer left it (switched again at a box since makes it old news).
  const [autopilotDone, setAutopilotDone] = useState<{ done: AutopilotDone; atMs: number } | null>(null);
  const autopilotAnswer =
    autopilotDone && nowMs < autopilotDone.atMs + DONE_SHOWN_MS && autopilotDone.done.on === (office.autopilot.offer?.on ?? null)
      ? autopilotDone.done
      : null;
  const answer =
    maintenanceDone &&
    nowMs < maintenanceDone.atMs + DONE_SHOWN_MS &&
    (maintenanceDone.done.maintenance?.set_at_unix ?? null) === (office.maintenance?.setting.set_at_unix ?? null)
      ? maintenanceDone.done
      : null;

  return (
    <div className="office-view" data-testid="office-view" data-office={office.pair.name}>
      <OfficeHeader office={office} onRemoved={onRemoved} />

      <section
        className={`state-banner state-${office.state.level}`}
        data-testid="pair-state"
        data-level={office.state.level}
        aria-live="polite"
      >
        <span className={`level level-${office.state.level}`}>
          <span className="level-dot" aria-hidden="true" />
          {office.state.word}
        </span>
        <div className="state-text">
          <p className="state-sentence" data-testid="pair-sentence">
            {office.state.sentence}
          </p>
          {office.state.next && <p className="state-next">{office.state.next}</p>}
        </div>
        <div className="state-actions">
          {office.machines.length < 2 ? (
            <button type="button" className="btn btn-primary" data-testid="add-partner" onClick={onAddPartner}>
              Add the partner
            </button>
          ) : (
            <>
              <button
                type="button"
                className={`btn ${unplanned ? "btn-danger" : "btn-secondary"}`}
                data-testid="start-failover"
                disabled={blocked !== null}
                aria-describedby={blocked ? reasonId : undefined}
                onClick={onStartWizard}
              >
                {label}…
              </button>
              {blocked && (
                <p className="disabled-reason" id={reasonId} data-testid="failover-disabled-reason">
                  {blocked}
                </p>
              )}
            </>
          )}
          {!office.maintenance && (
            <button
              type="button"
              className="btn btn-ghost"
              data-testid="start-maintenance"
              disabled={maintenanceBlocked !== null}
              title={maintenanceBlocked ?? "Hold the alerts and automatic actions while someone works on the servers"}
              onClick={() => setMaintenanceDialog(true)}
            >
              Maintenance…
            </button>
          )}
        </div>
      </section>
      <MaintenanceNote office={office} onChange={() => setMaintenanceDialog(true)} onDone={done} />
      {answer && (
        <p
          className={answer.partner_not_told ? "maintenance-result warn" : "maintenance-result inline-ok"}
          role="status"
          data-testid="maintenance-result"
        >
          {answer.message}
        </p>
      )}
      {maintenanceDialog && (
        <MaintenanceDialog office={office} onClose={() => setMaintenanceDialog(false)} onDone={done} />
      )}
      <AutopilotLine autopilot={office.autopilot} onSwitch={() => setAutopilotDialog(true)} done={autopilotAnswer} />
      {autopilotDialog && (
        <AutopilotDialog
          office={office}
          onClose={() => setAutopilotDialog(false)}
          onDone={(d) => {
            setAutopilotDone({ done: d, atMs: Date.now() });
            setAutopilotDialog(false);
          }}
        />
      )}

      <div
        className="tabs office-tabs"
        role="tablist"
        aria-label={`${office.pair.name} views`}
        onKeyDown={(e) => {
          const next = tabByKey(tab, e.key);
          if (!next) return;
          e.preventDefault();
          onTab(next);
          document.getElementById(`office-tab-${next}`)?.focus();
        }}
      >
        {TABS.map((t) => (
          <button
            key={t.key}
            id={`office-tab-${t.key}`}
            type="button"
            role="tab"
            className="tab"
            aria-selected={tab === t.key}
            aria-controls="office-panel"
            // One stop in the Tab order; the arrow keys move between the views.
            tabIndex={tab === t.key ? 0 : -1}
            data-testid={`tab-${t.key}`}
            onClick={() => onTab(t.key)}
          >
            {t.label}
          </button>
        ))}
      </div>

      <div role="tabpanel" id="office-panel" className="office-panel" aria-labelledby={`office-tab-${tab}`}>
        {tab === "servers" && (
          <>
            <div className="machine-grid">
              {office.machines.map((m) => (
                <MachineCard
                  key={m.entry.id}
                  m={m}
                  nowMs={nowMs}
                  office={office.pair.name}
                  alone={office.machines.length < 2}
                />
              ))}
            </div>
            <CatchUp office={office} />
          </>
        )}
        {tab === "sync" && <SyncPanel office={office} />}
        {tab === "health" && <HealthPanel office={office} />}
        {tab === "events" && <EventsPanel office={office} />}
        {tab === "history" && (
          <div className="history-stack">
            <p className="muted">
              Both servers on the same time range, one above the other. Drag across a graph to zoom in.
            </p>
            {office.machines.map((m) => (
              <section
                key={m.entry.id}
                className="card history-machine"
                aria-label={`${m.entry.name} history`}
                data-testid="history-machine"
                data-server={m.entry.name}
              >
                <h2 className="history-machine-title">
                  {m.entry.name}
                  {!m.reachable && <span className="muted"> — not answering</span>}
                </h2>
                <ServerCharts machine={m.entry.server_id} name={m.entry.name} range={range} onRangeChange={onRangeChange} />
              </section>
            ))}
            {office.former.map((f) => (
              <FormerHistory key={f.server_id} former={f} range={range} onRangeChange={onRangeChange} />
            ))}
          </div>
        )}
      </div>
    </div>
  );
}

/** A replaced machine's history, kept on this computer until the manager deletes it. */
function FormerHistory({
  former,
  range,
  onRangeChange,
}: {
  former: FormerMachine;
  range: RangeKey;
  onRangeChange: (range: RangeKey) => void;
}) {
  const api = useApi();
  const [confirm, setConfirm] = useState(false);
  const { busy, error, run } = useAction();
  const when = formatDate(former.removed_unix);
  return (
    <section className="card history-machine" aria-label={`${former.name} history`} data-testid="history-former">
      <div className="history-former-head">
        <h2 className="history-machine-title">
          {former.name} <span className="muted">— replaced on {when}</span>
        </h2>
        {!confirm && (
          <button
            type="button"
            className="btn btn-ghost btn-small btn-danger-text"
            data-testid="forget-former"
            onClick={() => setConfirm(true)}
          >
            Delete its history…
          </button>
        )}
      </div>
      {confirm && (
        <ConfirmBox
          label={`Delete the history of ${former.name}`}
          action="Delete its history"
          running="Deleting…"
          busy={busy}
          testId="forget-former-confirm"
          onCancel={() => setConfirm(false)}
          onConfirm={() => void run(() => api.forgetFormer(former.server_id))}
        >
          Delete the history of <strong>{former.name}</strong> that this computer keeps? It cannot be brought back.
        </ConfirmBox>
      )}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <ServerCharts machine={former.server_id} name={former.name} range={range} onRangeChange={onRangeChange} />
    </section>
  );
}

function OfficeHeader({ office, onRemoved }: { office: Office; onRemoved: () => void }) {
  const api = useApi();
  const [mode, setMode] = useState<"view" | "rename" | "remove">("view");
  const [name, setName] = useState(office.pair.name);
  const { busy, error, run: act } = useAction();

  return (
    <header className="office-head">
      {mode === "rename" ? (
        <form
          className="rename-form"
          onSubmit={(e) => {
            e.preventDefault();
            void act(() => api.renameOffice(office.pair.id, name), () => setMode("view"));
          }}
        >
          <label className="visually-hidden" htmlFor="office-name">
            Office name
          </label>
          <input
            id="office-name"
            className="input"
            data-testid="office-name-input"
            value={name}
            maxLength={80}
            autoFocus
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="office-name-save">
            Save
          </button>
          <button type="button" className="btn btn-ghost" onClick={() => setMode("view")} disabled={busy}>
            Cancel
          </button>
        </form>
      ) : (
        <div className="office-title-row">
          <h1 data-testid="office-name">{office.pair.name}</h1>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="rename-office"
            onClick={() => {
              setName(office.pair.name);
              setMode("rename");
            }}
          >
            Rename
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small btn-danger-text"
            data-testid="remove-office"
            onClick={() => setMode("remove")}
          >
            Remove…
          </button>
        </div>
      )}
      {mode === "remove" && (
        <ConfirmBox
          label="Confirm removal"
          action="Remove office"
          running="Removing…"
          busy={busy}
          testId="remove-office-confirm"
          onCancel={() => setMode("view")}
          onConfirm={() => void act(() => api.removeOffice(office.pair.id), onRemoved)}
        >
          Remove <strong>{office.pair.name}</strong> and its {office.machines.length === 1 ? "server" : "two servers"}{" "}
          from this console? The servers keep running and keep each other in sync; only this console stops watching
          them. Their access tokens, and the history this computer kept of them, are deleted from this computer.
        </ConfirmBox>
      )}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </header>
  );
}
