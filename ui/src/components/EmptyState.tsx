// What the main area shows before any server is added: what this is and how to start.

import { Logo } from "./Logo";

export function EmptyState({ onAdd }: { onAdd: () => void }) {
  return (
    <section className="empty-state" aria-labelledby="empty-title">
      <Logo size={72} />
      <h1 id="empty-title">Welcome to LBS Console</h1>
      <p>
        Add your phone servers to watch them here. On each server, the installer printed a connection link that starts
        with <code>lbs://</code>
      </p>
      <p className="muted">You will see at a glance whether each server is running, which one is the primary, and how busy they are.</p>
      <button type="button" className="btn btn-primary btn-large" data-testid="add-server" onClick={onAdd}>
        Add a server
      </button>
    </section>
  );
}
