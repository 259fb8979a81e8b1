//! Roles and failover: promote, demote, switchover, the hold period, the heartbeat, the audit log
//! and the quarantine.
//!
//! The console reads [`FailoverStatus`] (`GET /api/v1/failover`), asks for role changes with
//! [`PromoteRequest`], [`DemoteRequest`] and [`SwitchoverRequest`] and gets a [`RoleChange`] back,
//! reads [`EventList`] and [`QuarantineList`]. The agents exchange [`Heartbeat`]s and run a
//! switchover's handover with [`HandoverRequest`] under `/peer/v1`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{EventKind, Role, RoleStanding};

/// `POST /api/v1/promote` (admin): make this backup the primary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PromoteRequest {
    /// An unplanned failover: the caller asserts that the old primary is off or cut off. Needs a
    /// `reason`. Without it, promotion is refused unless the partner answers as a backup (or
    /// there is no partner).
    #[serde(default)]
    pub force: bool,
    pub reason: Option<String>,
}

/// `POST /api/v1/demote` (admin): make this primary a backup (PBX stopped, final dump, flushed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DemoteRequest {
    pub reason: Option<String>,
}

/// `POST /api/v1/switchover` (admin, either box): a planned handover between two live boxes
/// with no data lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SwitchoverRequest {
    /// Go ahead although the hold period is not over or changes are pending (the handover then
    /// waits, PBX stopped, until the backup has everything). Needs a `reason`, kept in the audit log.
    #[serde(default)]
    pub override_guards: bool,
    pub reason: Option<String>,
}

/// The outcome of a promote, demote or switchover: what was done, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RoleChange {
    /// `promote`, `demote`, `switchover` or `reintegrate`.
    pub action: String,
    /// Nothing to do: the box already held the role asked for (its steps were checked again).
    pub already: bool,
    pub role: Role,
    #[ts(type = "number")]
    pub epoch: u64,
    /// Every step finished well.
    pub ok: bool,
    /// One plain sentence: what happened and what to do next.
    pub message: String,
    pub steps: Vec<StepReport>,
    #[ts(type = "number")]
    pub started_unix: i64,
    #[ts(type = "number")]
    pub took_ms: u64,
}

/// One step of a role change, e.g. "Start the PBX".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StepReport {
    /// Stable key: `persist`, `restore`, `start_pbx`, `take_address`, `check_pbx`, `stop_pbx`,
    /// `release_address`, `final_dump`, `drain`, `quarantine`, `promote_partner`, …
    pub step: String,
    /// For a person, e.g. "Move the address pbx.office.lan to this box".
    pub label: String,
    pub ok: bool,
    /// What happened, or what went wrong and how to fix it.
    pub detail: String,
    #[ts(type = "number")]
    pub took_ms: u64,
}

/// `GET /api/v1/failover`: this box's role, the hold period, the PBX, the address and the partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FailoverStatus {
    pub role: Role,
    /// Whether the role is settled (see `RoleStanding`); absent from older agents.
    #[serde(default)]
    pub standing: RoleStanding,
    #[ts(type = "number")]
    pub epoch: u64,
    /// The box that took the primary role at this epoch (epochs compare as (number, this)).
    pub epoch_owner: String,
    /// When this box took its current role.
    #[ts(type = "number")]
    pub role_since_unix: i64,
    /// A role change in progress, e.g. "Promoting: starting the PBX".
    pub busy: Option<String>,
    pub hold: HoldStatus,
    pub pbx: PbxStatus,
    pub address: AddressStatus,
    pub partner: PartnerStatus,
    /// Files set aside by a reintegration, waiting for someone to look at them.
    #[ts(type = "number")]
    pub quarantined_files: u64,
    /// The last role change this agent ran.
    pub last_change: Option<RoleChange>,
    /// Automatic failover as this box sees it; absent from older agents.
    #[serde(default)]
    pub autopilot: Option<crate::AutopilotStatus>,
}

/// The hold after a box becomes primary, before switching back is advised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HoldStatus {
    /// The configured hold period.
    #[ts(type = "number")]
    pub hold_secs: u64,
    /// How long the current primary has held the role (known on the primary, and on the backup
    /// from the heartbeat).
    #[ts(type = "number | null")]
    pub primary_for_secs: Option<u64>,
    /// Seconds left; 0 when the hold is over, or when there is none (see `took_over`).
    #[ts(type = "number | null")]
    pub remaining_secs: Option<u64>,
    /// The current primary took the role from its partner (a failover or a switchover), so
    /// switching back waits out the hold. `false` for a primary since the pair was set up: the
    /// pair has never failed over, nothing needs copying back, there is no hold. (Agents from
    /// before this field: assumed `true`, as they applied the hold to every primary.)
    #[serde(default = "assumed_took_over")]
    pub took_over: bool,
    /// The backup has every change the primary has.
    pub caught_up: bool,
    #[ts(type = "number")]
    pub pending_files: u64,
    #[ts(type = "number")]
    pub pending_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PbxStatus {
    /// Start and stop commands are configured.
    pub managed: bool,
    /// As last checked (`null`: no check command configured, or not checked yet).
    pub running: Option<bool>,
    /// Whether it should run: on the primary yes, on the backup never.
    pub should_run: bool,
    /// A violation or failure in plain words (e.g. the PBX runs on the backup).
    pub problem: Option<String>,
    #[ts(type = "number | null")]
    pub checked_unix: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AddressStatus {
    /// `dns`, `vip`, `hook` or `none`.
    pub strategy: String,
    /// What moves, e.g. "pbx.office.lan → 10.0.0.11" or "10.0.0.10 on eth0".
    pub target: String,
    /// This box holds the address now (as far as it knows).
    pub held: bool,
    pub problem: Option<String>,
    /// A setting that will not work when it is needed, e.g. a floating address that cannot
    /// reach a partner on another network; absent from older agents.
    #[serde(default)]
    pub warning: Option<String>,
}

/// The partner as the heartbeat sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PartnerStatus {
    pub paired: bool,
    pub name: Option<String>,
    pub server_id: Option<String>,
    pub address: Option<String>,
    pub reachable: bool,
    /// A heartbeat has been tried since pairing or start: until then `reachable` is false
    /// because nothing has been asked yet, not because the partner is silent.
    #[serde(default = "crate::tried")]
    pub checked: bool,
    pub role: Option<Role>,
    #[ts(type = "number | null")]
    pub epoch: Option<u64>,
    #[ts(type = "number | null")]
    pub role_since_unix: Option<i64>,
    #[ts(type = "number | null")]
    pub last_contact_unix: Option<i64>,
    /// Why it is not reachable, in plain words.
    pub message: Option<String>,
    /// How far the partner's clock is ahead of this box's (negative: behind), in seconds, as
    /// measured at the last heartbeat it answered; absent until then, and with older agents.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub clock_offset_secs: Option<i64>,
    /// The two clocks differ by more than the round trip can explain plus 30 s, in words; `None`
    /// when they agree or it is not known. The maintenance and the audit log compare times
    /// written on both boxes, so they need both clocks right.
    #[serde(default)]
    pub clock_problem: Option<String>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Event {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub at_unix: i64,
    /// The box that wrote it.
    pub server_id: String,
    pub kind: EventKind,
    /// Role after the event.
    pub role: Role,
    #[ts(type = "number")]
    pub epoch: u64,
    /// Who asked: "token 3f2a… (office laptop)", "lbs-agent CLI", "the partner", "the agent".
    pub actor: String,
    pub reason: Option<String>,
    pub message: String,
}

/// `GET /api/v1/events?limit=&before=`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EventList {
    pub events: Vec<Event>,
}

/// A file set aside by a reintegration: written on this box while it was a primary that had
/// lost its role, and different from the new primary's copy. Never deleted by the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QuarantineEntry {
    #[ts(type = "number")]
    pub id: i64,
    pub category: String,
    /// The root key (`<category>:<n>`) and path inside it where the file lived.
    pub source: String,
    pub path: String,
    #[ts(type = "number")]
    pub size: u64,
    #[ts(type = "number")]
    pub quarantined_unix: i64,
    /// The epoch this box had lost when it wrote the file.
    #[ts(type = "number")]
    pub lost_epoch: u64,
    /// Where the file is kept on this box.
    pub stored_at: String,
    #[ts(type = "number | null")]
    pub restored_unix: Option<i64>,
}

/// `GET /api/v1/quarantine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QuarantineList {
    pub entries: Vec<QuarantineEntry>,
}

/// `POST /api/v1/quarantine/restore` (admin): put a quarantined file back where it was, on the
/// primary (directly if this box is the primary, through the partner otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RestoreRequest {
    #[ts(type = "number")]
    pub id: i64,
    /// Replace a different file at that path on the primary (it goes to the primary's trash).
    #[serde(default)]
    pub replace: bool,
}

// ---- Between the agents (not exported to TypeScript) ----------------------------------------

/// `POST /peer/v1/heartbeat`, both ways: who I am and what role I hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub server_id: String,
    pub role: Role,
    pub epoch: u64,
    pub epoch_owner: String,
    pub role_since_unix: i64,
    /// The sender took its role by a promotion (see `HoldStatus::took_over`); `None` from agents
    /// before it was sent, which are assumed to have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<bool>,
    /// From a primary: what its partner has not yet applied (fetched or not), by the primary's
    /// journal and the partner's acknowledgement — the backup's own queue cannot see what it
    /// has not fetched yet.
    #[serde(default)]
    pub unapplied_files: u64,
    #[serde(default)]
    pub unapplied_bytes: u64,
    #[serde(default)]
    pub unapplied_oldest_unix: Option<i64>,
    /// The sender's latest maintenance record (on or ended), so the two boxes agree on it even
    /// when one was away when it changed; absent from older agents.
    #[serde(default)]
    pub maintenance: Option<crate::MaintenanceRecord>,
    /// The sender's clock when it wrote the heartbeat (Unix milliseconds), so that each box can
    /// tell when the other's clock is wrong; absent from older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now_unix_ms: Option<i64>,
    /// Whether the sender is set up for automatic failover, and the pair's switch as it knows
    /// it; absent from older agents (which are not set up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopilot: Option<crate::AutopilotAdvert>,
    /// A digest of the sender's inventory (`GET /peer/v1/inventory`): the partner fetches the
    /// inventory again when it changes; absent from older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<String>,
    /// The sender's agent version and API range.
    #[serde(flatten)]
    pub versions: crate::AgentVersions,
}

impl Heartbeat {
    /// Whether the sender took its role by a promotion (an older agent is assumed to have).
    pub fn took_over(&self) -> bool {
        self.promoted.unwrap_or(true)
    }
}

fn assumed_took_over() -> bool {
    true
}

/// `POST /peer/v1/handover`: the backup runs a switchover and tells the primary each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverStep {
    /// Stop the PBX, release the address, final dump, journal everything; keep serving the sync.
    Prepare,
    /// The backup has everything: become the backup.
    Complete,
    /// Give up: start the PBX and take the address again.
    Abort,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoverRequest {
    pub step: HandoverStep,
    /// Who asked for the switchover, for the primary's audit log.
    pub actor: String,
    pub reason: Option<String>,
    /// With `Complete`: the epoch the backup takes next as the primary. The old primary records
    /// it before the backup claims it, so that if the new primary dies at once, a promotion of
    /// the old one ranks above it (it would otherwise tie, and lose on the server ID).
    #[serde(default)]
    pub next_epoch: Option<u64>,
}

/// The primary's answer: its journal head after the final flush, and the steps it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoverResponse {
    pub journal_id: String,
    pub head: i64,
    pub steps: Vec<StepReport>,
}

/// `POST /peer/v1/switchover`: the primary forwards a switchover asked of it to the backup,
/// which runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedSwitchover {
    pub request: SwitchoverRequest,
    pub actor: String,
}

/// `POST /peer/v1/hashes`: the current version of some files, by (source, path); `None` if absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashesRequest {
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashesResponse {
    pub hashes: Vec<Option<String>>,
}

/// `POST /peer/v1/restore?source=&path=&hash=&replace=`: a quarantined file, or a deleted one
/// from the trash, sent back to the primary (the body is the content, at most [`RESTORE_MAX`]).
/// A different file at that path without `replace` is refused with 412 (`different_file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreQuery {
    pub source: String,
    pub path: String,
    pub hash: String,
    #[serde(default)]
    pub replace: bool,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
}

/// The largest file put back through `/peer/v1/restore` in one request.
pub const RESTORE_MAX: u64 = 1 << 30;
