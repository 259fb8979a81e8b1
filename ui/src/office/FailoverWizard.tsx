// The failover wizard, step by step, cancellable until it runs:
//  1. what is wrong (or what would change), and how old the backup's copy is;
//  2. the confirmation: for an unplanned failover, the old primary is off and the backup's name
//     typed; for a planned switchover, why nothing is lost, and a typed reason to override the
//     hold or pending changes;
//  3. the run, each step shown as the backup reports it;
//  4. the result: the phones' downtime, what to do next, and a report to save.
// What it offers, what stands in the way and what step 2 asks for come from lbs-console-core
// (`pair::assess`); the same guards are checked again there (`pair::check`) before anything is
// asked. With automatic failover set up and the primary silent, step 1 says whether the backup
// takes over by itself, and what the wizard adds (also lbs-console-core's words). This file only
// renders them.

import { useEffect, useId, useState } from "react";

import "../styles/autopilot.css";
import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { Modal } from "../components/Modal";
import { formatBytes } from "../format/bytes";
import { formatDuration } from "../format/duration";
import type { Assessment } from "../generated/Assessment";
import type { OfficeView } from "../generated/OfficeView";
import type { RoleChange } from "../generated/RoleChange";
import { officePair } from "./pair";
import { downtimeSecs, formatDowntime, reportText } from "./report";

type Step = "assess" | "confirm" | "run" | "result";

const STEP_NAMES: Record<Step, string> = {
  assess: "What is happening",
  confirm: "Confirm",
  run: "Switching",
  result: "Result",
};

export function FailoverWizard({ office, onClose }: { office: OfficeView; onClose: () => void }) {
  const api = useApi();
  // Fixed when the wizard opens: the snapshots that follow flip the roles as it succeeds.
  const [pair] = useState(() => officePair(office));
  const [offer] = useState(() => office.failover);
  const [step, setStep] = useState<Step>("assess");
  const [assessment, setAssessment] = useState<Assessment | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [offConfirmed, setOffConfirmed] = useState(false);
  const [typedName, setTypedName] = useState("");
  const [reason, setReason] = useState("");
  const [progress, setProgress] = useState<string[]>([]);
  const [change, setChange] = useState<RoleChange | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const ids = { off: useId(), name: useId(), reason: useId() };

  const primaryId = pair?.primary.entry.id ?? "";
  const backupId = pair?.backup.entry.id ?? "";

  useEffect(() => {
    if (!primaryId || !backupId) return;
    let cancelled = false;
    api.failoverAssess(primaryId, backupId).then(
      (a) => {
        if (!cancelled) setAssessment(a);
      },
      (e: unknown) => {
        if (!cancelled) setError(toConsoleError(e).message);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, primaryId, backupId]);

  // While it runs, the backup's "busy" line is each step as it happens.
  useEffect(() => {
    if (step !== "run" || !backupId) return;
    let stopped = false;
    const poll = async () => {
      while (!stopped) {
        try {
          const f = await api.failoverStatus(backupId);
          const busy = f.busy;
          if (busy) setProgress((p) => (p[p.length - 1] === busy ? p : [...p, busy]));
        } catch {
          // The backup is busy switching; the next poll will tell.
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    void poll();
    return () => {
      stopped = true;
    };
  }, [api, step, backupId]);

  if (!pair) return null;
  const planned = assessment?.kind === "planned";
  const unplanned = assessment?.kind === "unplanned";
  const warnings = assessment?.warnings ?? [];
  // Step 2's button: each thing lbs-console-core asks for (`Assessment.needs`) is given.
  const canConfirm =
    assessment !== null &&
    assessment.kind !== null &&
    (!assessment.needs.old_primary_off || offConfirmed) &&
    (!assessment.needs.typed_name || typedName.trim() === assessment.confirm_name) &&
    (!assessment.needs.reason || reason.trim().length > 0);

  const run = async () => {
    setStep("run");
    setError(null);
    setProgress([]);
    try {
      const c = await api.failoverRun(primaryId, backupId, {
        typed_name: typedName,
        old_primary_off: offConfirmed,
        override_reason: reason.trim() ? reason.trim() : null,
      });
      setChange(c);
      setStep("result");
    } catch (e) {
      setError(toConsoleError(e).message);
      setStep("confirm");
    }
  };

  const downtime = change ? downtimeSecs(change, planned, pair?.primary.last_answer_unix ?? null) : null;
  const saveReport = async () => {
    if (!change || !assessment) return;
    const text = reportText({
      office: office.pair.name,
      assessment,
      change,
      downtime,
      overrideReason: reason.trim() || null,
      at: new Date(),
    });
    try {
      const path = await api.saveFile(`lbs-failover-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-")}.txt`, text);
      setSaved(path ? `Saved to ${path}` : null);
    } catch (e) {
      setError(toConsoleError(e).message);
    }
  };

  // The dashboard's words until the assessment arrives; the two come from the same rule.
  const title = assessment?.title ?? offer.label;
  const closable = step !== "run";

  return (
    <Modal title={title} onClose={closable ? onClose : () => {}} className="wizard">
      <ol className="wizard-steps" aria-label="Steps">
        {(Object.keys(STEP_NAMES) as Step[]).map((s, i) => (
          <li key={s} aria-current={s === step ? "step" : undefined} className={s === step ? "current" : undefined}>
            <span className="wizard-step-number">{i + 1}</span> {STEP_NAMES[s]}
          </li>
        ))}
      </ol>

      <div className="wizard-body" data-testid="wizard" data-step={step} data-kind={assessment?.kind ?? ""}>
        {error && (
          <div className="banner banner-danger" role="alert" data-testid="wizard-error">
            <div className="banner-body">
              <p>{error}</p>
            </div>
          </div>
        )}

        {step === "assess" &&
          (assessment === null ? (
            !error && (
              <p className="muted" aria-busy="true">
                Asking both servers how things stand…
              </p>
            )
          ) : (
            <>
              {assessment.autopilot && (
                <div
                  className={`banner banner-compact ${assessment.autopilot.waiting ? "banner-info" : "banner-warning"}`}
                  role="status"
                  data-testid="wizard-autopilot"
                  data-waiting={String(assessment.autopilot.waiting)}
                >
                  <div className="banner-body">
                    <p className="banner-title">{assessment.autopilot.title}</p>
                    <p>{assessment.autopilot.text}</p>
                  </div>
                </div>
              )}
              <ul className="fact-list" data-testid="wizard-facts">
                {assessment.facts.map((f) => (
                  <li key={f.text} className={f.ok ? "fact-ok" : "fact-bad"}>
                    <span aria-hidden="true">{f.ok ? "✓" : "!"}</span> {f.text}
                  </li>
                ))}
              </ul>
              {assessment.categories.length > 0 && (
                <table className="data-table compact">
                  <caption>How current {assessment.backup_name}'s copy is</caption>
                  <thead>
                    <tr>
                      <th scope="col">What</th>
                      <th scope="col">Not yet copied</th>
                      <th scope="col">Oldest change waiting</th>
                    </tr>
                  </thead>
                  <tbody>
                    {assessment.categories.map((c) => (
                      <tr key={c.label}>
                        <th scope="row">{c.label}</th>
                        <td>{c.pending_files === 0 ? "Nothing" : `${c.pending_files} files (${formatBytes(c.pending_bytes)})`}</td>
                        <td>{c.behind_secs === 0 ? "—" : formatDuration(c.behind_secs)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {assessment.blockers.length > 0 && (
                <div className="banner banner-danger" role="alert" data-testid="wizard-blockers">
                  <div className="banner-body">
                    <p className="banner-title">This cannot be done now</p>
                    {assessment.blockers.map((b) => (
                      <p key={b}>{b}</p>
                    ))}
                  </div>
                </div>
              )}
            </>
          ))}

        {step === "confirm" && assessment && unplanned && (
          <div className="confirm-form">
            <p>
              <strong>{assessment.primary_state}</strong> {assessment.backup_name} will start the phone
              system with the copy it has. If {assessment.primary_name} is still running somewhere, two servers would
              answer the phones and changes would be split between them.
            </p>
            {assessment.needs.old_primary_off && (
              <label className="check" htmlFor={ids.off}>
                <input
                  id={ids.off}
                  type="checkbox"
                  data-testid="confirm-off"
                  checked={offConfirmed}
                  onChange={(e) => setOffConfirmed(e.target.checked)}
                />
                I have switched {assessment.primary_name} off, or unplugged its network cable.
              </label>
            )}
            {assessment.needs.typed_name && (
              <label className="field" htmlFor={ids.name}>
                <span className="field-label">
                  Type <strong>{assessment.confirm_name}</strong> to confirm
                </span>
                <input
                  id={ids.name}
                  className="input"
                  data-testid="confirm-name"
                  autoComplete="off"
                  value={typedName}
                  onChange={(e) => setTypedName(e.target.value)}
                />
              </label>
            )}
          </div>
        )}

        {step === "confirm" && assessment && planned && (
          <div className="confirm-form">
            <p data-testid="no-data-lost">
              <strong>No data will be lost.</strong> {assessment.primary_name} stops its phone system first, then{" "}
              {assessment.backup_name} copies every last change before it starts its own, and the phones' address moves
              to it. Calls in progress are cut; phones reconnect within seconds.
            </p>
            {warnings.length > 0 && (
              <div className="banner banner-warning" role="alert" data-testid="wizard-warnings">
                <div className="banner-body">
                  <p className="banner-title">We advise against switching now</p>
                  {warnings.map((w) => (
                    <p key={w}>{w}</p>
                  ))}
                </div>
              </div>
            )}
            {assessment.needs.reason && (
              <label className="field" htmlFor={ids.reason}>
                <span className="field-label">To go ahead anyway, say why (kept in both servers' audit log)</span>
                <textarea
                  id={ids.reason}
                  className="input"
                  data-testid="override-reason"
                  rows={2}
                  value={reason}
                  onChange={(e) => setReason(e.target.value)}
                />
              </label>
            )}
          </div>
        )}

        {step === "confirm" && assessment && !canConfirm && (
          <p className="disabled-reason" data-testid="run-disabled-reason">
            {assessment.needs.hint}
          </p>
        )}

        {step === "run" && (
          <div className="run-steps" aria-live="polite" data-testid="wizard-running">
            <p>
              <span className="spinner" aria-hidden="true" /> {pair.backup.entry.name} is taking over. Do not close the
              console; this usually takes a few seconds.
            </p>
            <ol className="live-steps">
              {progress.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ol>
          </div>
        )}

        {step === "result" && change && (
          <div className="result" data-testid="wizard-result" data-ok={String(change.ok)}>
            <div className={`banner ${change.ok ? "banner-ok" : "banner-danger"}`} role="status">
              <div className="banner-body">
                <p className="banner-title">
                  {change.ok ? `${pair.backup.entry.name} is now the primary` : "The switch did not complete"}
                </p>
                <p>{change.message}</p>
                <p data-testid="downtime">Phones without a primary: {formatDowntime(downtime)}.</p>
              </div>
            </div>
            <ol className="step-results">
              {change.steps.map((s) => (
                <li key={s.step} className={s.ok ? "fact-ok" : "fact-bad"}>
                  <span aria-hidden="true">{s.ok ? "✓" : "✗"}</span> <strong>{s.label}</strong>{" "}
                  <span className="muted">({s.took_ms} ms)</span> — {s.detail}
                </li>
              ))}
            </ol>
            <p className="next-step">
              <strong>What next: </strong>
              {change.ok
                ? unplanned
                  ? `Have ${pair.primary.entry.name} repaired. When it is back on the network it rejoins as the backup by itself and copies what it missed; files it wrote after the failure are set aside (see Sync). Wait at least an hour before switching back.`
                  : `${pair.primary.entry.name} is now the backup and keeps a live copy. Nothing else to do.`
                : "Read the failed step above; it says what to fix. Then start the wizard again: steps already done are checked, not repeated."}
            </p>
            {saved && (
              <p className="inline-ok" role="status" data-testid="report-saved">
                {saved}
              </p>
            )}
          </div>
        )}
      </div>

      <div className="dialog-actions">
        {step === "assess" && (
          <>
            <button type="button" className="btn btn-ghost" onClick={onClose} data-testid="wizard-cancel">
              Cancel
            </button>
            <button
              type="button"
              className="btn btn-primary"
              data-testid="wizard-next"
              disabled={!assessment || assessment.kind === null}
              onClick={() => setStep("confirm")}
            >
              Next
            </button>
          </>
        )}
        {step === "confirm" && (
          <>
            <button type="button" className="btn btn-ghost" onClick={onClose} data-testid="wizard-cancel">
              Cancel
            </button>
            <button type="button" className="btn btn-secondary" onClick={() => setStep("assess")}>
              Back
            </button>
            <button
              type="button"
              className={`btn ${unplanned || warnings.length > 0 ? "btn-danger" : "btn-primary"}`}
              data-testid="wizard-run"
              disabled={!canConfirm}
              onClick={() => void run()}
            >
              {assessment?.run_label}
            </button>
          </>
        )}
        {step === "result" && (
          <>
            <button type="button" className="btn btn-secondary" data-testid="save-report" onClick={() => void saveReport()}>
              Save report…
            </button>
            <button type="button" className="btn btn-primary" data-testid="wizard-done" onClick={onClose}>
              Done
            </button>
          </>
        )}
      </div>
    </Modal>
  );
}
