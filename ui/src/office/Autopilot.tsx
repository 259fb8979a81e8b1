// Automatic failover ("autopilot") on the office view: one calm line that says whether the pair
// fails over by itself and, when not, why and what to do; the vote's members as each server
// reaches them, folded away while all is well; and the dialog that switches it on or off. Every
// sentence, which server the switch goes through and why it cannot come from lbs-console-core
// (`autopilot.rs`); this file only renders them.

import { useId, useState } from "react";

import "../styles/autopilot.css";
import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { Modal } from "../components/Modal";
import type { AutopilotDone } from "../generated/AutopilotDone";
import type { AutopilotView } from "../generated/AutopilotView";
import type { OfficeView } from "../generated/OfficeView";
import type { VoteView } from "../generated/VoteView";

function Glyph() {
  // Two arrows passing each other: one box hands over to the other.
  return (
    <svg className="autopilot-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
      <path
        d="M4 8h13l-3.5-3.5M20 16H7l3.5 3.5"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.9"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** The vote's members as each server reaches them. */
function Vote({ vote }: { vote: VoteView }) {
  return (
    <details className={`autopilot-vote${vote.trouble ? " trouble" : ""}`} open={vote.trouble} data-testid="autopilot-vote">
      <summary data-testid="autopilot-vote-summary">{vote.summary}</summary>
      <table className="data-table compact autopilot-members">
        <caption className="visually-hidden">The vote&apos;s members, as each server reaches them</caption>
        <thead>
          <tr>
            <th scope="col">Member of the vote</th>
            {vote.seen_from.map((from) => (
              <th key={from} scope="col">
                Seen from {from}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {vote.members.map((m) => (
            <tr key={m.endpoint} data-testid="autopilot-member" data-member={m.name}>
              <th scope="row">
                {m.name}
                <span className="autopilot-endpoint">{m.endpoint}</span>
              </th>
              {m.sights.map((s, i) => (
                <td key={vote.seen_from[i] ?? i} className={s ? (s.reachable ? "tone-ok" : "tone-warn") : "muted"}>
                  {s ? s.text : "Not listed"}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** The office's autopilot line: on or not and why, the switch (or what the contractor does). */
export function AutopilotLine({
  autopilot,
  onSwitch,
  done,
}: {
  autopilot: AutopilotView;
  onSwitch: () => void;
  /** What the last switch answered, while it is still news. */
  done: AutopilotDone | null;
}) {
  const offer = autopilot.offer;
  const reasonId = useId();
  return (
    <section
      className={`autopilot autopilot-${autopilot.level}`}
      data-testid="autopilot"
      data-level={autopilot.level}
      aria-label="Automatic failover"
      aria-live="polite"
    >
      <Glyph />
      <div className="autopilot-text">
        <p className="autopilot-sentence" data-testid="autopilot-sentence">
          <strong>{autopilot.headline}</strong> — {autopilot.text}
        </p>
        {autopilot.next && (
          <p className="autopilot-next" data-testid="autopilot-next">
            {autopilot.next}
          </p>
        )}
        {autopilot.notes.length > 0 && (
          <ul className="autopilot-notes" data-testid="autopilot-notes">
            {autopilot.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        )}
        {done && (
          <p className={done.partner_not_told ? "autopilot-result warn" : "autopilot-result inline-ok"} role="status" data-testid="autopilot-result">
            {done.message}
          </p>
        )}
      </div>
      {offer && (
        <div className="autopilot-actions">
          <button
            type="button"
            className="btn btn-ghost"
            data-testid="autopilot-switch"
            disabled={offer.blocked !== null}
            aria-describedby={offer.blocked ? reasonId : undefined}
            onClick={onSwitch}
          >
            {offer.label}
          </button>
          {offer.blocked && (
            <p className="disabled-reason" id={reasonId} data-testid="autopilot-blocked">
              {offer.blocked}
            </p>
          )}
        </div>
      )}
      {autopilot.vote && <Vote vote={autopilot.vote} />}
    </section>
  );
}

/** Switching automatic failover on or off: what it does and does not do, why, who. */
export function AutopilotDialog({
  office,
  onClose,
  onDone,
}: {
  office: OfficeView;
  onClose: () => void;
  onDone: (done: AutopilotDone) => void;
}) {
  const api = useApi();
  // Fixed when the dialog opens: the poller's snapshots keep arriving meanwhile.
  const [offer] = useState(() => office.autopilot.offer);
  const [reason, setReason] = useState("");
  const [by, setBy] = useState(offer?.by ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ids = { reason: useId(), by: useId() };
  if (!offer) return null;
  const on = !offer.on;
  const missing = !on && !reason.trim() ? "Say why you switch it off: it is shown to everyone who looks at this office." : null;

  const send = async () => {
    if (missing) return;
    setBusy(true);
    setError(null);
    try {
      onDone(await api.autopilotSet(office.pair.id, on, reason.trim() || null, by.trim() || null));
    } catch (e) {
      setError(toConsoleError(e).message);
      setBusy(false);
    }
  };

  return (
    <Modal
      title={on ? `Switch automatic failover on for ${office.pair.name}` : `Switch automatic failover off for ${office.pair.name}`}
      onClose={onClose}
      className="autopilot-dialog"
    >
      <form
        className="confirm-form"
        data-testid="autopilot-dialog"
        data-on={String(on)}
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <div className="autopilot-explanation" data-testid="autopilot-explanation">
          <p className="field-label">What automatic failover does, and does not do</p>
          <ul>
            {offer.explanation.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
        {on && offer.not_armed_yet && (
          <div className="banner banner-warning banner-compact" data-testid="autopilot-not-armed-yet">
            <div className="banner-body">
              <p className="banner-title">It will not be armed at once</p>
              <p>{offer.not_armed_yet}</p>
            </div>
          </div>
        )}
        {!on && (
          <p className="autopilot-off-warning" data-testid="autopilot-off-warning">
            <strong>Switched off, nothing happens by itself:</strong> if the primary fails, someone must fail over from
            this console with the failover wizard. Both servers keep copying and keep their alerts.
          </p>
        )}
        <label className="field" htmlFor={ids.reason}>
          <span className="field-label">{on ? "Why (optional)" : "Why"}</span>
          <input
            id={ids.reason}
            className="input"
            data-testid="autopilot-reason"
            data-autofocus
            value={reason}
            maxLength={200}
            placeholder={on ? "For example: the witness is back" : "For example: moving the witness to the new rack"}
            required={!on}
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
        <label className="field" htmlFor={ids.by}>
          <span className="field-label">Who</span>
          <input
            id={ids.by}
            className="input"
            data-testid="autopilot-by"
            value={by}
            maxLength={100}
            placeholder="Your name"
            onChange={(e) => setBy(e.target.value)}
          />
        </label>
        {error && (
          <p className="inline-error" role="alert" data-testid="autopilot-error">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          {missing && (
            <p className="disabled-reason autopilot-missing" data-testid="autopilot-missing">
              {missing}
            </p>
          )}
          <button type="button" className="btn btn-ghost" data-testid="autopilot-cancel" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button
            type="submit"
            className={`btn ${on ? "btn-primary" : "btn-danger"}`}
            data-testid="autopilot-send"
            disabled={busy || missing !== null}
          >
            {busy ? (on ? "Switching on…" : "Switching off…") : on ? "Switch on" : "Switch off"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
