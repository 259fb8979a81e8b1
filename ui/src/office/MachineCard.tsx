// One server of an office on the dashboard: who it is, its role, whether it answers, its PBX,
// its address, how long it has been up and when the console last heard from it.

import { statusAdvice, statusWord } from "../api/advice";
import { RoleBadge } from "../components/Badges";
import { formatAgo, formatDuration } from "../format/duration";
import { shortId } from "../format/ids";
import { formatPointTime } from "../format/time";
import type { MachineView } from "../generated/MachineView";
import { MachineActions } from "./MachineActions";

interface Fact {
  label: string;
  value: string;
  tone?: "ok" | "warn" | "bad";
  title?: string;
  testId?: string;
}

function pbxFact(m: MachineView): Fact {
  const pbx = m.failover?.pbx;
  if (!pbx) return { label: "Phone system", value: "Not known" };
  if (pbx.problem) return { label: "Phone system", value: pbx.problem, tone: "bad", testId: "pbx-state" };
  if (!pbx.managed) return { label: "Phone system", value: "Not managed by LBS on this server", testId: "pbx-state" };
  if (pbx.running === null) return { label: "Phone system", value: pbx.should_run ? "Should run (not checked yet)" : "Stopped, as a backup should be" };
  if (pbx.running) {
    return { label: "Phone system", value: pbx.should_run ? "Running" : "Running on the backup!", tone: pbx.should_run ? "ok" : "bad", testId: "pbx-state" };
  }
  return {
    label: "Phone system",
    value: pbx.should_run ? "Stopped: the phones are down" : "Stopped, as a backup should be",
    tone: pbx.should_run ? "bad" : undefined,
    testId: "pbx-state",
  };
}

function addressFact(m: MachineView): Fact | null {
  const a = m.failover?.address;
  if (!a || a.strategy === "none") return null;
  if (a.problem) return { label: "Phone address", value: a.problem, tone: "bad" };
  if (a.warning) return { label: "Phone address", value: a.warning, tone: "warn" };
  return { label: "Phone address", value: `${a.target} — ${a.held ? "held here" : "not here"}`, tone: a.held ? "ok" : undefined };
}

function holdFact(m: MachineView): Fact | null {
  const f = m.failover;
  if (!f || f.role !== "primary") return null;
  const held = f.hold.primary_for_secs;
  if (held === null) return null;
  // The agent leaves the hold at 0 for a pair that has never failed over (`took_over` false).
  const left = f.hold.took_over ? (f.hold.remaining_secs ?? 0) : 0;
  return {
    label: "Primary for",
    value: left > 0 ? `${formatDuration(held)} (settling: ${formatDuration(left)} before switching back is advised)` : formatDuration(held),
    tone: left > 0 ? "warn" : undefined,
    testId: "primary-for",
  };
}

interface MachineCardProps {
  m: MachineView;
  nowMs: number;
  /** The office's name, and whether this is its only server (for the card's actions). */
  office: string;
  alone: boolean;
}

export function MachineCard({ m, nowMs, office, alone }: MachineCardProps) {
  const role = m.failover?.role ?? m.last_role;
  const lastSeen = m.last_answer_unix;
  const facts: Fact[] = [
    { label: "Server ID", value: shortId(m.entry.server_id), title: m.entry.server_id },
    { label: "Address", value: m.entry.address, testId: "machine-address" },
    pbxFact(m),
    addressFact(m),
    holdFact(m),
    { label: "Machine up for", value: m.status ? formatDuration(m.status.host_uptime_secs) : "Not known" },
    {
      label: "Last contact",
      value: m.reachable ? "Now" : lastSeen === null ? "Never, since this console started" : `${formatPointTime(lastSeen, nowMs)} (${formatAgo(nowMs / 1000 - lastSeen)})`,
      tone: m.reachable ? undefined : "bad",
      testId: "last-contact",
    },
    m.status ? { label: "Your access", value: m.status.access === "admin" ? "Administrator" : "View only", testId: "access" } : null,
  ].filter((f): f is Fact => f !== null);
  const advice = m.error ? statusAdvice(m.error.kind) : null;
  return (
    <section
      className={`card machine-card${m.reachable ? "" : " machine-card-down"}`}
      data-testid="machine-card"
      data-server={m.entry.name}
      data-role={role ?? ""}
      data-reachable={String(m.reachable)}
      aria-label={m.entry.name}
    >
      <div className="machine-card-head">
        <h2 className="machine-name">{m.entry.name}</h2>
        {/* A silent box's role may have passed to its partner: it gets its note, not a badge. */}
        {m.reachable && role && <RoleBadge role={role} testId="machine-role" />}
        <span className={`reach reach-${m.reachable ? "reachable" : "unreachable"}`}>
          <span className="reach-dot" aria-hidden="true" />
          <span className="reach-text" data-testid="machine-reach">
            {m.reachable ? "Online" : m.error ? statusWord(m.error.kind) : "Not answering"}
          </span>
        </span>
      </div>
      {m.silent_note && (
        <p className="machine-silent" data-testid="machine-silent">
          {m.silent_note}
        </p>
      )}
      {m.standing_note && (
        <p className="machine-busy" role="status" data-testid="machine-standing">
          {m.standing_note}
        </p>
      )}
      {m.failover?.busy && (
        <p className="machine-busy" role="status">
          {m.failover.busy}
        </p>
      )}
      {m.error && advice && (
        <div className={`banner banner-${advice.severity} banner-compact`} role="alert" data-testid="machine-error" data-kind={m.error.kind}>
          <div className="banner-body">
            <p className="banner-title">{advice.title}</p>
            <p>{m.error.message}</p>
          </div>
        </div>
      )}
      <dl className={`facts facts-one-column${m.reachable ? "" : " facts-stale"}`}>
        {facts.map((f) => (
          <div key={f.label} className="fact">
            <dt>{f.label}</dt>
            <dd title={f.title} className={f.tone ? `tone-${f.tone}` : undefined} data-testid={f.testId}>
              {f.value}
            </dd>
          </div>
        ))}
      </dl>
      <MachineActions m={m} office={office} alone={alone} />
    </section>
  );
}
