// Maintenance mode on the office view: the note that says it is on (with "End maintenance"),
// and the dialog that starts it — how long, why, who does the work. Which server it goes
// through, why it cannot, the lengths offered and every sentence come from lbs-console-core
// (`maintenance.rs`); this file only renders them.

import { useId, useState } from "react";

import "../styles/maintenance.css";
import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { Modal } from "../components/Modal";
import type { MaintenanceDone } from "../generated/MaintenanceDone";
import type { MaintenanceLength } from "../generated/MaintenanceLength";
import type { MaintenanceOffer } from "../generated/MaintenanceOffer";
import type { OfficeView } from "../generated/OfficeView";

/** "Another number of hours" as seconds, or null when it is not a number above zero. */
export function customHours(text: string): number | null {
  const hours = Number(text.trim().replace(",", "."));
  if (!text.trim() || !Number.isFinite(hours) || hours <= 0) return null;
  return Math.round(hours * 3600);
}

/** "Another number of hours" as a length within the offer's limits (the agents'), or null. */
export function customLength(text: string, offer: MaintenanceOffer): MaintenanceLength | null {
  const secs = customHours(text);
  if (secs === null || secs < offer.min_secs || secs > offer.max_secs) return null;
  return { kind: "for", secs };
}

function Wrench() {
  return (
    <svg className="maintenance-icon" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
      <path
        d="M14.7 6.3a4 4 0 0 0-5.4 5.1L4 16.7V20h3.3l5.3-5.3a4 4 0 0 0 5.1-5.4l-2.5 2.5-2.6-.7-.7-2.6z"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.8"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** While maintenance is on: what it is, what it means, and the way to end it. */
export function MaintenanceNote({
  office,
  onChange,
  onDone,
}: {
  office: OfficeView;
  onChange: () => void;
  onDone: (done: MaintenanceDone) => void;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const m = office.maintenance;
  if (!m) return null;
  const blocked = office.maintenance_offer.blocked;

  const end = async () => {
    setBusy(true);
    setError(null);
    try {
      onDone(await api.maintenanceEnd(office.pair.id, office.maintenance_offer.by));
    } catch (e) {
      setError(toConsoleError(e).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="maintenance-note" data-testid="maintenance-note" aria-label="Maintenance">
      <Wrench />
      <div className="maintenance-text">
        <p className="maintenance-sentence" data-testid="maintenance-sentence">
          {m.sentence}
        </p>
        <p className="maintenance-detail">{m.detail}</p>
        {error && (
          <p className="inline-error" role="alert">
            {error}
          </p>
        )}
      </div>
      <div className="maintenance-actions">
        <button
          type="button"
          className="btn btn-secondary"
          data-testid="end-maintenance"
          disabled={busy || blocked !== null}
          onClick={() => void end()}
        >
          {busy ? "Ending…" : "End maintenance"}
        </button>
        <button
          type="button"
          className="btn btn-ghost btn-small"
          data-testid="change-maintenance"
          disabled={busy || blocked !== null}
          onClick={onChange}
        >
          Change…
        </button>
        {blocked && <p className="disabled-reason">{blocked}</p>}
      </div>
    </section>
  );
}

/** The "Maintenance…" dialog: a length, a reason (required), who does the work. */
export function MaintenanceDialog({
  office,
  onClose,
  onDone,
}: {
  office: OfficeView;
  onClose: () => void;
  onDone: (done: MaintenanceDone) => void;
}) {
  const api = useApi();
  // Fixed when the dialog opens: the poller's snapshots keep arriving meanwhile.
  const [offer] = useState(() => office.maintenance_offer);
  const changing = office.maintenance !== null;
  // An index into the offer's choices: "until the end of the day" is counted when the form is sent.
  const [choice, setChoice] = useState<number | "custom">(Math.min(1, offer.choices.length - 1));
  const [hours, setHours] = useState("");
  const [reason, setReason] = useState(changing ? (office.maintenance?.setting.reason ?? "") : "");
  const [by, setBy] = useState(offer.by ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = { reason: useId(), by: useId(), hours: useId(), group: useId() };
  const servers = office.machines.map((m) => m.entry.name).join(" and ");

  const length = choice === "custom" ? customLength(hours, offer) : (offer.choices[choice]?.length ?? null);
  const missing =
    length === null
      ? `Type a number of hours: a maintenance lasts ${offer.limits}.`
      : !reason.trim()
        ? "Say why, in a few words: it is shown to everyone who looks at this office."
        : null;

  const start = async () => {
    if (length === null || missing) return;
    setBusy(true);
    setError(null);
    try {
      onDone(await api.maintenanceStart(office.pair.id, length, reason.trim(), by.trim() || null));
    } catch (e) {
      setError(toConsoleError(e).message);
      setBusy(false);
    }
  };

  return (
    <Modal title={changing ? `Change the maintenance of ${office.pair.name}` : `Maintenance for ${office.pair.name}`} onClose={onClose} className="maintenance-dialog">
      <form
        className="confirm-form"
        data-testid="maintenance-dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <p className="maintenance-intro">
          While someone works on {servers}, maintenance holds the alerts the work would cause and nothing happens
          automatically. The copy between the servers keeps running, and it ends by itself at the time you choose.
        </p>
        <fieldset className="maintenance-lengths" aria-describedby={ids.group}>
          <legend className="field-label">How long</legend>
          <div className="maintenance-choices" role="radiogroup">
            {offer.choices.map((c, i) => (
              <label key={c.label} className="maintenance-choice">
                <input
                  type="radio"
                  name="maintenance-length"
                  data-testid="maintenance-length"
                  checked={choice === i}
                  onChange={() => setChoice(i)}
                />
                {c.label}
              </label>
            ))}
            <label className="maintenance-choice maintenance-custom">
              <input
                type="radio"
                name="maintenance-length"
                data-testid="maintenance-length-custom"
                checked={choice === "custom"}
                onChange={() => setChoice("custom")}
              />
              Another length:
              <input
                id={ids.hours}
                className="input maintenance-hours"
                data-testid="maintenance-hours"
                inputMode="decimal"
                aria-label="Number of hours"
                value={hours}
                placeholder="3"
                onFocus={() => setChoice("custom")}
                onChange={(e) => {
                  setChoice("custom");
                  setHours(e.target.value);
                }}
              />
              hours
            </label>
          </div>
          <p className="hint maintenance-limit" id={ids.group}>
            A maintenance lasts {offer.limits}. You can end it earlier.
          </p>
        </fieldset>
        <label className="field" htmlFor={ids.reason}>
          <span className="field-label">Why</span>
          <input
            id={ids.reason}
            className="input"
            data-testid="maintenance-reason"
            data-autofocus
            value={reason}
            maxLength={200}
            placeholder="For example: replacing the disk of PBX A"
            required
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
        <label className="field" htmlFor={ids.by}>
          <span className="field-label">Who is doing the work</span>
          <input
            id={ids.by}
            className="input"
            data-testid="maintenance-by"
            value={by}
            maxLength={100}
            placeholder="Your name or your IT contractor's"
            onChange={(e) => setBy(e.target.value)}
          />
        </label>
        {error && (
          <p className="inline-error" role="alert" data-testid="maintenance-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          {missing && (
            <p className="disabled-reason maintenance-missing" data-testid="maintenance-missing">
              {missing}
            </p>
          )}
          <button type="button" className="btn btn-ghost" data-testid="maintenance-cancel" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" data-testid="maintenance-start" disabled={busy || missing !== null}>
            {busy ? "Starting…" : changing ? "Change maintenance" : "Start maintenance"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
