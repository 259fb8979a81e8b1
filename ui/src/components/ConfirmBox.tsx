// An inline "are you sure?" for a change that cannot be undone from here: what will happen, in
// words, then "Keep it" and the action.

import type { ReactNode } from "react";

interface ConfirmBoxProps {
  label: string;
  children: ReactNode;
  /** The action's button, and what it says while the action runs. */
  action: string;
  running: string;
  busy: boolean;
  testId: string;
  onConfirm: () => void;
  onCancel: () => void;
}

export function ConfirmBox({ label, children, action, running, busy, testId, onConfirm, onCancel }: ConfirmBoxProps) {
  return (
    <div className="confirm-box" role="group" aria-label={label}>
      <p>{children}</p>
      <div className="confirm-actions">
        <button type="button" className="btn btn-ghost" onClick={onCancel} disabled={busy}>
          Keep it
        </button>
        <button type="button" className="btn btn-danger" data-testid={testId} disabled={busy} onClick={onConfirm}>
          {busy ? running : action}
        </button>
      </div>
    </div>
  );
}
