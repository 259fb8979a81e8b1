// What the main area shows before any server is added: what this is and how to start.

import { Logo } from "./Logo";

export function EmptyState({ onAdd }: { onAdd: () => void }) {
  return (
    <section className="empty-state" aria-labelledby="empty-title">
      <Logo size={72} />
      <h1 id="empty-title">Welcome to LBS Console</h1>
      <p>
        Add your office's two phone servers to watch them here: the primary and its live backup. Your IT contractor set
        them up and gave you a connection link that starts with <code>lbs://</code>. Add it: once the two servers are
        paired, the console brings in the partner too, as one office.
      </p>
      <p className="muted">You will see at a glance whether the office is protected, which server runs the phones, and how current the backup's copy is. If the primary fails, the console walks you through making the backup the primary.</p>
      <button type="button" className="btn btn-primary btn-large" data-testid="add-server" onClick={onAdd}>
        Add a server
      </button>
    </section>
  );
}
