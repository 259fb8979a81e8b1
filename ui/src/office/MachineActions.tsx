// The foot of a server's card: follow the box to a new address, give the console a new access
// token, or take the box out of the office when it is being replaced (its history stays here).

import { useState, type ReactNode } from "react";

import { useApi } from "../api/context";
import { ConfirmBox } from "../components/ConfirmBox";
import type { MachineView } from "../generated/MachineView";
import { useAction } from "../hooks/useAction";

interface MachineActionsProps {
  m: MachineView;
  office: string;
  /** The office's only server cannot be taken out on its own. */
  alone: boolean;
}

export function MachineActions({ m, office, alone }: MachineActionsProps) {
  const api = useApi();
  const [mode, setMode] = useState<"idle" | "address" | "token" | "remove">("idle");
  /** What is typed in the open form: the new address, or the new token. */
  const [value, setValue] = useState("");
  const { busy, error, setError, run } = useAction();
  const name = m.entry.name;
  const aloneId = `alone-${m.entry.id}`;

  const act = (what: () => Promise<unknown>) => run(what, () => setMode("idle"));
  const open = (next: "address" | "token" | "remove") => {
    setError(null);
    setValue(next === "address" ? m.entry.address : "");
    setMode(next);
  };

  return (
    <div className="machine-actions">
      {mode === "idle" && (
        <div className="machine-actions-row">
          <button type="button" className="btn btn-ghost btn-small" data-testid="change-address" onClick={() => open("address")}>
            Change address…
          </button>
          <button type="button" className="btn btn-ghost btn-small" data-testid="change-token" onClick={() => open("token")}>
            New access token…
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small btn-danger-text"
            data-testid="remove-server"
            disabled={alone}
            aria-describedby={alone ? aloneId : undefined}
            onClick={() => open("remove")}
          >
            Replace this machine…
          </button>
          {alone && (
            <p className="disabled-reason" id={aloneId}>
              The office&apos;s only server: to stop watching it, remove the office.
            </p>
          )}
        </div>
      )}
      {mode === "address" && (
        <OneFieldForm
          id={`address-${m.entry.id}`}
          label={`New address of ${name} (host:port)`}
          help="For a server that moved to another network address. The console checks that the same machine answers there, with the certificate it trusts."
          value={value}
          onChange={setValue}
          testId="address"
          canSave={!busy}
          busy={busy}
          onSubmit={() => void act(() => api.changeAddress(m.entry.id, value))}
          onCancel={() => setMode("idle")}
        />
      )}
      {mode === "token" && (
        <OneFieldForm
          id={`token-${m.entry.id}`}
          label={`New access token for ${name}`}
          help={
            <>
              For a token that was revoked, or to trade a view-only token for an administrator&apos;s. Create one on the
              server with <code>lbs-agent token create</code>. The console checks it with {name} before keeping it in
              this computer&apos;s keyring.
            </>
          }
          secret
          value={value}
          onChange={setValue}
          testId="token-change"
          canSave={!busy && value.trim() !== ""}
          busy={busy}
          onSubmit={() => void act(() => api.changeToken(m.entry.id, value))}
          onCancel={() => setMode("idle")}
        />
      )}
      {mode === "remove" && (
        <ConfirmBox
          label={`Replace ${name}`}
          action={`Take ${name} out`}
          running="Taking it out…"
          busy={busy}
          testId="remove-server-confirm"
          onCancel={() => setMode("idle")}
          onConfirm={() => void act(() => api.removeServer(m.entry.id))}
        >
          Take <strong>{name}</strong> out of {office}? Do this when the machine is being replaced. The console stops
          watching it and deletes its access token from this computer. Its history stays here, under History. Then add
          the new machine with &ldquo;Add the partner&rdquo;.
        </ConfirmBox>
      )}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

interface OneFieldFormProps {
  id: string;
  label: string;
  help: ReactNode;
  value: string;
  onChange: (value: string) => void;
  /** A secret is typed without showing it, and never autocompleted. */
  secret?: boolean;
  /** Test ids: `<testId>-input` and `<testId>-save`. */
  testId: string;
  canSave: boolean;
  busy: boolean;
  onSubmit: () => void;
  onCancel: () => void;
}

/** One field to change on the card, with what it is for, Save and Cancel. */
function OneFieldForm({ id, label, help, value, onChange, secret = false, testId, canSave, busy, onSubmit, onCancel }: OneFieldFormProps) {
  return (
    <form
      className="machine-address-form"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <label htmlFor={id}>{label}</label>
      <p className="hint">{help}</p>
      <div className="machine-address-row">
        <input
          id={id}
          className="input"
          type={secret ? "password" : "text"}
          autoComplete={secret ? "off" : undefined}
          data-testid={`${testId}-input`}
          value={value}
          autoFocus
          spellCheck={false}
          onChange={(e) => onChange(e.target.value)}
        />
        <button
          type="submit"
          className="btn btn-primary btn-small"
          disabled={!canSave}
          data-testid={`${testId}-save`}
        >
          {busy ? "Checking…" : "Save"}
        </button>
        <button type="button" className="btn btn-ghost btn-small" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
