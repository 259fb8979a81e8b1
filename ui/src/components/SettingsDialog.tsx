// The console's own settings: whether it starts when the manager logs in, and what closing the
// window does.

import { useEffect, useId, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { Modal } from "./Modal";

export function SettingsDialog({ onClose }: { onClose: () => void }) {
  const api = useApi();
  /** null while the setting is being read. */
  const [atLogin, setAtLogin] = useState<boolean | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const hintId = useId();

  useEffect(() => {
    let live = true;
    api.startAtLogin().then(
      (on) => live && setAtLogin(on),
      (e: unknown) => live && setError(toConsoleError(e).message),
    );
    return () => {
      live = false;
    };
  }, [api]);

  const change = (on: boolean) => {
    setBusy(true);
    setError(null);
    api
      .setStartAtLogin(on)
      .then(setAtLogin, (e: unknown) => setError(toConsoleError(e).message))
      .finally(() => setBusy(false));
  };

  return (
    <Modal title="Settings" onClose={onClose} className="settings-dialog">
      <div className="settings-body" data-testid="settings">
        <label className="setting">
          <input
            type="checkbox"
            data-testid="start-at-login"
            data-autofocus
            checked={atLogin ?? false}
            disabled={atLogin === null || busy}
            aria-describedby={hintId}
            onChange={(e) => change(e.target.checked)}
          />
          <span className="setting-text">
            <span className="setting-label">Start LBS Console when I log in</span>
            <span className="setting-hint" id={hintId}>
              It starts in the tray and keeps watching your offices, so you hear at once when a server stops answering.
            </span>
          </span>
        </label>
        {error && (
          <p className="inline-error" role="alert" data-testid="settings-error">
            {error}
          </p>
        )}
        <p className="settings-note">
          When your desktop shows tray icons, closing the window leaves LBS Console watching from the tray, with its
          notifications; use the tray icon&apos;s menu to open it again or to quit. Without a tray, closing the window
          quits.
        </p>
      </div>
      <div className="dialog-actions">
        <button type="button" className="btn btn-primary" data-testid="settings-done" onClick={onClose}>
          Done
        </button>
      </div>
    </Modal>
  );
}
