//! Roles and failover: the one place that changes this box's role.
//!
//! - [`Failover::promote`]: backup → primary (unplanned failover needs `force` and a reason).
//! - [`Failover::demote`]: primary → backup (PBX stopped, address released, final dump, flushed).
//! - [`Failover::switchover`]: a planned handover with nothing lost, run by the backup, which
//!   asks the primary to stop and flush ([`Failover::handover`]), waits until it holds every
//!   change, then promotes itself.
//! - The heartbeat ([`heartbeat`]) and reintegration ([`Failover::on_heartbeat`]): a primary
//!   that learns of a higher epoch demotes itself at once and quarantines what it wrote since the
//!   partner last acknowledged ([`quarantine`]).
//! - [`trash`]: files deleted on the primary, kept by the backup, put back on the primary.
//! - `maintenance`: the pair's maintenance mode, told to the partner, carried by the heartbeat
//!   and ended at its time (the record is `crate::maintenance`). An automatic action checks
//!   `self.maintenance.active_now()` first and does nothing while it is on.
//! - `autopilot`: automatic failover (opt-in) by the vote of a witness: the backup takes over a
//!   primary that is gone, a primary cut off from everything fences itself.
//! - `clock_skew`: whether the partner's clock agrees with this box's, measured at every
//!   heartbeat it answers ([`Failover::partner_clock`]).
//!
//! Architecture Invariant: the new role is persisted (fsync) before any step acts on it, and one
//! role change runs at a time (`changing`). Every change, refusal and violation goes to the audit
//! log ([`events`]) with who asked.

pub mod address;
mod autopilot;
mod clock_skew;
pub mod events;
pub(crate) mod heartbeat;
mod inventory;
mod maintenance;
mod pairing;
mod partner;
pub(crate) mod pbx;
mod promote;
pub mod quarantine;
mod reintegrate;
pub mod sip;
mod status;
mod switchover;
pub mod trash;
mod writer;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lbs_protocol::{EventKind, Heartbeat, Role, RoleChange, StepReport};
use tokio::sync::RwLock;

use crate::clock::now_unix;
use crate::config::Config;
use crate::identity::Identity;
use crate::maintenance::MaintenanceState;
use crate::peer::{Peer, PeerStore};
use crate::refusal::Refusal;
use crate::role::{RoleReader, RoleState};
use crate::sync::SyncEngine;
pub use clock_skew::ClockSkew;
use events::{EventLog, NewEvent};
pub use writer::RoleWriter;

/// What the heartbeat knows of the partner.
#[derive(Debug, Clone, Default)]
pub struct PartnerView {
    pub last: Option<Heartbeat>,
    pub reachable: bool,
    pub last_contact: Option<i64>,
    pub message: Option<String>,
    /// The partner's clock against this box's, at the last heartbeat it answered.
    pub clock: Option<ClockSkew>,
    /// When the last heartbeat exchange ended (answered or not).
    checked: Option<Instant>,
    /// When the partner was last heard (an answer or a heartbeat it sent), by the monotonic
    /// clock: the autopilot measures silence with it, so a clock jump cannot fake one.
    heard: Option<Instant>,
    /// The partner was out of reach: once it is back as a backup, the primary announces its
    /// address again (the partner may have held the floating address while it was away).
    announce: bool,
}

#[derive(Debug, Clone, Default)]
struct PbxView {
    running: Option<bool>,
    problem: Option<String>,
    checked: Option<i64>,
}

pub struct Failover {
    config: Config,
    identity: Arc<Identity>,
    /// The only writer of the role (see `writer`).
    role: RoleWriter,
    peer: Arc<RwLock<Option<Peer>>>,
    peers: PeerStore,
    pub sync: Arc<SyncEngine>,
    pub events: EventLog,
    /// The pair's maintenance (see `maintenance`): read it before any automatic action.
    pub maintenance: MaintenanceState,
    pub quarantine: lbs_sync::quarantine::QuarantineStore,
    pbx: pbx::Pbx,
    address: address::Address,
    /// One role change at a time.
    changing: tokio::sync::Mutex<()>,
    /// The step running now, for the status.
    busy: Mutex<Option<String>>,
    last_change: Mutex<Option<RoleChange>>,
    partner: Mutex<PartnerView>,
    pbx_view: Mutex<PbxView>,
    /// Primary side of a switchover: since when the PBX is stopped for the handover.
    handover: Mutex<Option<Instant>>,
    /// Automatic failover (opt-in; see `autopilot`).
    autopilot: autopilot::Autopilot,
    /// What this box is made of, and the partner's as last received (see `inventory`).
    pub inventory: Arc<crate::inventory::Inventory>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A reason as given, or `None` if it is blank.
fn clean(reason: Option<String>) -> Option<String> {
    reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty())
}

/// A UDP socket connected to `target` (for the SIP and DNS exchanges).
pub(crate) async fn udp_to(target: std::net::SocketAddr) -> Result<tokio::net::UdpSocket, Refusal> {
    let bind: std::net::SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| Refusal::internal(format!("cannot open a UDP socket: {e}")))?;
    socket
        .connect(target)
        .await
        .map_err(|e| Refusal::internal(format!("cannot reach {target}: {e}")))?;
    Ok(socket)
}

/// Changes this old or this many bytes make a backlog. Younger ones are the live sync at work
/// (a busy PBX nearly always has a change in flight): a switchover waits for those anyway.
const LIVE_LAG_SECS: u64 = 10;
const LIVE_BYTES: u64 = 50_000_000;

/// What the backup still has to apply, when it is more than the live sync in flight.
struct Backlog {
    files: u64,
    bytes: u64,
    oldest_secs: u64,
}

impl Backlog {
    fn of(pending: &std::collections::HashMap<String, lbs_sync::journal::Tally>) -> Option<Backlog> {
        let files = pending.values().map(|t| t.files).sum();
        let bytes = pending.values().map(|t| t.bytes).sum();
        Backlog::from(files, bytes, pending.values().filter_map(|t| t.oldest_unix).min())
    }

    fn from(files: u64, bytes: u64, oldest: Option<i64>) -> Option<Backlog> {
        let oldest_secs = oldest.map_or(0, |o| (now_unix() - o).max(0) as u64);
        (files > 0 && (oldest_secs > LIVE_LAG_SECS || bytes > LIVE_BYTES)).then_some(Backlog {
            files,
            bytes,
            oldest_secs,
        })
    }
}

/// The steps of one role change, as they run.
struct Steps<'a> {
    failover: &'a Failover,
    action: &'static str,
    list: Vec<StepReport>,
}

impl Steps<'_> {
    async fn run<F: Future<Output = Result<String, Refusal>>>(&mut self, step: &str, label: String, work: F) -> bool {
        *lock(&self.failover.busy) = Some(format!("{}: {label}", self.action));
        let t = Instant::now();
        let result = work.await;
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e.message);
        if ok {
            tracing::info!(step, %detail, "{label}");
        } else {
            tracing::error!(step, %detail, "{label}: failed");
        }
        self.list.push(StepReport {
            step: step.into(),
            label,
            ok,
            detail,
            took_ms: t.elapsed().as_millis() as u64,
        });
        ok
    }

    fn ok(&self) -> bool {
        self.list.iter().all(|s| s.ok)
    }
}

impl Failover {
    pub fn new(
        config: Config,
        identity: Arc<Identity>,
        role: RoleWriter,
        peer: Arc<RwLock<Option<Peer>>>,
        peers: PeerStore,
        sync: Arc<SyncEngine>,
        events: EventLog,
    ) -> Arc<Failover> {
        let inventory =
            crate::inventory::Inventory::new(&config, identity.server_id.clone(), role.reader(), sync.clone());
        Arc::new(Failover {
            pbx: pbx::Pbx::new(config.pbx.clone()),
            address: address::Address::new(config.takeover.clone()),
            // Kept beside the role record in the state directory.
            maintenance: MaintenanceState::open(&config.server.state_dir),
            autopilot: autopilot::Autopilot::open(&config),
            config,
            identity,
            role,
            peer,
            peers,
            quarantine: sync.quarantine.clone(),
            sync,
            events,
            changing: tokio::sync::Mutex::new(()),
            busy: Mutex::new(None),
            last_change: Mutex::new(None),
            partner: Mutex::new(PartnerView::default()),
            pbx_view: Mutex::new(PbxView::default()),
            handover: Mutex::new(None),
            inventory,
        })
    }

    /// Settles the role found at start, and starts the heartbeat, the PBX watch, the
    /// maintenance timer, the autopilot and the reading of the box's inventory.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let f = self.clone();
        let settle = tokio::spawn(async move { f.settle_at_start().await });
        vec![
            settle,
            tokio::spawn(heartbeat::run(self.clone())),
            tokio::spawn(status::watch_pbx(self.clone())),
            tokio::spawn(maintenance::run_timer(self.clone())),
            tokio::spawn(autopilot::keep_vote(self.clone())),
            tokio::spawn(autopilot::watch(self.clone())),
            self.inventory.spawn(),
        ]
    }

    pub fn role(&self) -> RoleState {
        self.role.get()
    }

    /// A read-only view of the role, for the parts of the agent that only look at it.
    pub fn role_reader(&self) -> RoleReader {
        self.role.reader()
    }

    /// A new list of steps for the role change `action` ("Promoting", …).
    fn steps(&self, action: &'static str) -> Steps<'_> {
        Steps {
            failover: self,
            action,
            list: Vec::new(),
        }
    }

    async fn peer(&self) -> Option<Peer> {
        self.peer.read().await.clone()
    }

    fn name(&self) -> &str {
        &self.config.server.name
    }

    /// This box's heartbeat: who it is, its role and epoch, its maintenance record, and (as the
    /// primary) what the partner has not applied yet.
    pub async fn own_heartbeat(&self) -> Heartbeat {
        let role = self.role();
        let unapplied = match role.role {
            Role::Primary => {
                let acked = self.sync.tracker.peer_acked();
                self.sync.journal.pending_after(acked).await.unwrap_or_default()
            }
            Role::Backup => Default::default(),
        };
        Heartbeat {
            server_id: self.identity.server_id.clone(),
            role: role.role,
            epoch: role.epoch,
            epoch_owner: role.epoch_owner.clone(),
            role_since_unix: role.since_unix,
            promoted: Some(role.took_over()),
            unapplied_files: unapplied.values().map(|t| t.files).sum(),
            unapplied_bytes: unapplied.values().map(|t| t.bytes).sum(),
            unapplied_oldest_unix: unapplied.values().filter_map(|t| t.oldest_unix).min(),
            maintenance: self.maintenance.record(),
            now_unix_ms: Some(crate::clock::now_unix_ms()),
            autopilot: Some(self.autopilot.advert()),
            inventory: self.inventory.digest(),
            versions: crate::compat::ours(),
        }
    }

    /// Persists `next` (fsync), then makes it the running role and wakes the sync loops.
    /// Callers hold `changing`.
    async fn set_role(&self, next: RoleState) -> Result<String, Refusal> {
        self.role.set(next.clone()).map_err(Refusal::internal)?;
        self.sync.role_changed();
        Ok(format!("this box is now the {} at epoch {}", next.role, next.epoch))
    }

    fn hook_context(&self, role: &RoleState) -> address::hook::Context {
        address::hook::Context {
            role: role.role.to_string(),
            epoch: role.epoch,
            server_id: self.identity.server_id.clone(),
            server_name: self.name().to_owned(),
        }
    }

    async fn record(&self, kind: EventKind, actor: &str, reason: Option<&str>, message: String) {
        let role = self.role();
        self.events
            .record(NewEvent {
                kind,
                role: role.role,
                epoch: role.epoch,
                actor,
                reason,
                message,
            })
            .await;
    }

    /// Refuses a request: recorded in the audit log, answered with the reason.
    async fn refuse<T>(&self, action: &str, actor: &str, reason: Option<&str>, why: String) -> Result<T, Refusal> {
        self.record(EventKind::Refused, actor, reason, format!("{action} refused: {why}"))
            .await;
        Err(Refusal::conflict(why))
    }

    fn finish(
        &self,
        action: &str,
        already: bool,
        role: &RoleState,
        steps: Steps,
        started: (i64, Instant),
        message: String,
    ) -> RoleChange {
        *lock(&self.busy) = None;
        let change = RoleChange {
            action: action.into(),
            already,
            role: role.role,
            epoch: role.epoch,
            ok: steps.ok(),
            message,
            steps: steps.list,
            started_unix: started.0,
            took_ms: started.1.elapsed().as_millis() as u64,
        };
        *lock(&self.last_change) = Some(change.clone());
        change
    }
}
