// The banner in a server card when the server does not answer: what happened and what to do.

import { statusAdvice } from "../api/advice";
import type { CommandError } from "../api/errors";
import { formatAgo } from "../format/duration";
import { CodeText } from "./CodeText";

interface StatusBannerProps {
  error: CommandError;
  /** When the server last answered (ms), if ever. */
  lastOkMs: number | null;
  nowMs: number;
}

export function StatusBanner({ error, lastOkMs, nowMs }: StatusBannerProps) {
  const advice = statusAdvice(error.kind);
  return (
    <div className={`banner banner-${advice.severity}`} role="alert" data-testid="status-error" data-kind={error.kind}>
      <span className="banner-icon" aria-hidden="true">
        {advice.severity === "danger" ? "!" : "i"}
      </span>
      <div className="banner-body">
        <p className="banner-title">{advice.title}</p>
        <p>{error.message}</p>
        {advice.action && (
          <p>
            <CodeText text={advice.action} />
          </p>
        )}
        <p className="banner-note">
          {lastOkMs === null
            ? "The console has not heard from this server since it started."
            : `Below is what the server last reported, ${formatAgo(Math.max(0, (nowMs - lastOkMs) / 1000))}.`}
        </p>
      </div>
    </div>
  );
}
