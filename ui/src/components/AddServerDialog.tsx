// The "Add a server" dialog: paste a connection link, or type address + token and confirm the fingerprint.

import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { formatFingerprint } from "../format/fingerprint";
import type { AddedServer } from "../generated/AddedServer";
import type { ProbeResult } from "../generated/ProbeResult";
import type { ServerEntry } from "../generated/ServerEntry";
import { Modal } from "./Modal";

export type AddTab = "link" | "manual";

interface AddServerDialogProps {
  onClose: () => void;
  onAdded: (entry: ServerEntry) => void;
  /** Adds the server to this office (the partner of its one server); none: its own office. */
  office?: { id: string; name: string } | null;
  initialTab?: AddTab;
}

type Busy = null | "link" | "probe" | "confirm";

const TABS: readonly { key: AddTab; label: string }[] = [
  { key: "link", label: "Paste a connection link" },
  { key: "manual", label: "Address and token" },
];

export function AddServerDialog({ onClose, onAdded, initialTab = "link", office = null }: AddServerDialogProps) {
  const api = useApi();
  const ids = useId();
  const [tab, setTab] = useState<AddTab>(initialTab);
  const [link, setLink] = useState("");
  const [address, setAddress] = useState("");
  const [token, setToken] = useState("");
  const [probe, setProbe] = useState<ProbeResult | null>(null);
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<string | null>(null);
  // Added, but the partner it reported could not be brought in: say so before closing.
  const [partial, setPartial] = useState<AddedServer | null>(null);
  const tabRefs = useRef<Record<AddTab, HTMLButtonElement | null>>({ link: null, manual: null });
  const confirmHeadingRef = useRef<HTMLHeadingElement>(null);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (probe) confirmHeadingRef.current?.focus();
  }, [probe]);

  const selectTab = (next: AddTab, focus = false) => {
    setTab(next);
    setError(null);
    if (focus) tabRefs.current[next]?.focus();
  };

  const onTabKeyDown = (event: KeyboardEvent<HTMLButtonElement>) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight" && event.key !== "Home" && event.key !== "End") return;
    event.preventDefault();
    const i = TABS.findIndex((t) => t.key === tab);
    const next =
      event.key === "Home"
        ? 0
        : event.key === "End"
          ? TABS.length - 1
          : (i + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length;
    const target = TABS[next];
    if (target) selectTab(target.key, true);
  };

  const run = async (kind: Exclude<Busy, null>, action: () => Promise<void>) => {
    setBusy(kind);
    setError(null);
    try {
      await action();
    } catch (e) {
      // The back end's sentence is shown as is.
      if (mounted.current) setError(toConsoleError(e).message);
    } finally {
      if (mounted.current) setBusy(null);
    }
  };

  const submitLink = (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    const text = link.trim();
    if (!text) {
      setError("Paste the connection link first. It starts with lbs://");
      return;
    }
    void run("link", async () => {
      const added = await api.addServerLink(text, office?.id);
      if (added.partner_problem && mounted.current) setPartial(added);
      else onAdded(added.server);
    });
  };

  const submitProbe = (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    if (!address.trim()) {
      setError("Type the server's address first, for example 192.168.1.20:7443.");
      return;
    }
    if (!token.trim()) {
      setError("Type the access token first. The server's installer printed it.");
      return;
    }
    void run("probe", async () => {
      const result = await api.probeServer(address.trim());
      if (mounted.current) setProbe(result);
    });
  };

  const confirm = () => {
    if (!probe || busy) return;
    void run("confirm", async () => onAdded(await api.addServerManual(probe.address, token.trim(), probe.fingerprint, office?.id)));
  };

  const cancelConfirm = () => {
    setProbe(null);
    setError(null);
  };

  const title = office ? `Add the partner to ${office.name}` : "Add a server";

  if (partial) {
    // Added, with a word about the partner; closing goes on as after any add.
    const done = () => onAdded(partial.server);
    return (
      <Modal title={title} onClose={done} className="add-dialog">
        <div className="tab-panel" data-testid="partner-problem">
          <p>
            <strong>{partial.server.name}</strong> was added. It is paired with a partner, but the console could not
            add that one now:
          </p>
          <p className="warning-text">{partial.partner_problem}</p>
          <p className="hint">
            Add the partner later with &ldquo;Add the partner&rdquo; in the office, using the partner&apos;s own link.
          </p>
          <div className="dialog-actions">
            <button type="button" className="btn btn-primary" data-autofocus onClick={done}>
              Done
            </button>
          </div>
        </div>
      </Modal>
    );
  }

  const errorBox = error ? (
    <p className="inline-error" role="alert" data-testid="dialog-error">
      {error}
    </p>
  ) : null;

  return (
    <Modal
      title={title}
      onClose={onClose}
      className="add-dialog"
    >
      <div className="tabs" role="tablist" aria-label="How to add the server">
        {TABS.map((t) => (
          <button
            key={t.key}
            ref={(el) => {
              tabRefs.current[t.key] = el;
            }}
            type="button"
            role="tab"
            id={`${ids}-tab-${t.key}`}
            aria-selected={tab === t.key}
            aria-controls={`${ids}-panel-${t.key}`}
            tabIndex={tab === t.key ? 0 : -1}
            className="tab"
            data-testid={`tab-${t.key}`}
            onClick={() => selectTab(t.key)}
            onKeyDown={onTabKeyDown}
          >
            {t.label}
          </button>
        ))}
      </div>

      {tab === "link" && (
        <form
          className="tab-panel"
          role="tabpanel"
          id={`${ids}-panel-link`}
          aria-labelledby={`${ids}-tab-link`}
          onSubmit={submitLink}
          noValidate
        >
          <p className="hint">
            When a server was set up, it printed a connection link that starts with <code>lbs://</code>. Copy it and
            paste it here: it holds everything the console needs to connect safely. A paired server brings its partner
            in with it.
          </p>
          <label className="field">
            <span className="field-label">Connection link</span>
            <textarea
              data-testid="link-input"
              data-autofocus
              rows={4}
              value={link}
              onChange={(e) => setLink(e.target.value)}
              placeholder="lbs://192.168.1.20:7443/?fp=…&token=…"
              spellCheck={false}
              autoComplete="off"
              autoCapitalize="off"
            />
          </label>
          {errorBox}
          <SubmitActions busy={busy} action="link" testId="link-submit" label="Add server" busyLabel="Adding…" onCancel={onClose} />
        </form>
      )}

      {tab === "manual" && !probe && (
        <form
          className="tab-panel"
          role="tabpanel"
          id={`${ids}-panel-manual`}
          aria-labelledby={`${ids}-tab-manual`}
          onSubmit={submitProbe}
          noValidate
        >
          <p className="hint">
            If you have the server&apos;s address and an access token instead of a link, type them here. The console
            will then show you the server&apos;s fingerprint to check.
          </p>
          <label className="field">
            <span className="field-label">Server address</span>
            <input
              data-testid="address-input"
              data-autofocus
              type="text"
              value={address}
              onChange={(e) => setAddress(e.target.value)}
              placeholder="192.168.1.20:7443"
              spellCheck={false}
              autoComplete="off"
              autoCapitalize="off"
            />
          </label>
          <label className="field">
            <span className="field-label">Access token</span>
            <input
              data-testid="token-input"
              type="password"
              value={token}
              onChange={(e) => setToken(e.target.value)}
              spellCheck={false}
              autoComplete="off"
            />
          </label>
          {errorBox}
          <SubmitActions busy={busy} action="probe" testId="probe-submit" label="Check this server" busyLabel="Checking…" onCancel={onClose} />
        </form>
      )}

      {tab === "manual" && probe && (
        <div className="tab-panel" role="tabpanel" id={`${ids}-panel-manual`} aria-labelledby={`${ids}-tab-manual`}>
          <h3 className="step-title" ref={confirmHeadingRef} tabIndex={-1}>
            Check the server&apos;s fingerprint
          </h3>
          <p className="hint">
            The server at <strong>{probe.address}</strong> presented this fingerprint:
          </p>
          <pre className="fingerprint" data-testid="fingerprint" aria-label="Certificate fingerprint">
            {formatFingerprint(probe.fingerprint)}
          </pre>
          <p className="warning-text">
            Make sure this matches the fingerprint the server printed (run <code>lbs-agent status</code> on it). If it
            does not match, do not continue: someone may be in between.
          </p>
          {errorBox}
          <div className="dialog-actions">
            <button type="button" className="btn btn-ghost" onClick={cancelConfirm} disabled={busy !== null}>
              Cancel
            </button>
            <button
              type="button"
              className="btn btn-primary"
              data-testid="fingerprint-confirm"
              onClick={confirm}
              disabled={busy !== null}
              aria-busy={busy === "confirm"}
            >
              {busy === "confirm" ? "Adding…" : "It matches — add server"}
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}

/** Cancel and the submit button of one of the dialog's forms, busy while `action` runs. */
function SubmitActions(props: {
  busy: Busy;
  action: Exclude<Busy, null>;
  testId: string;
  label: string;
  busyLabel: string;
  onCancel: () => void;
}) {
  const { busy, action } = props;
  return (
    <div className="dialog-actions">
      <button type="button" className="btn btn-ghost" onClick={props.onCancel}>
        Cancel
      </button>
      <button
        type="submit"
        className="btn btn-primary"
        data-testid={props.testId}
        disabled={busy !== null}
        aria-busy={busy === action}
      >
        {busy === action ? props.busyLabel : props.label}
      </button>
    </div>
  );
}
