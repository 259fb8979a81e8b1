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
//!
//! Architecture Invariant: the new role is persisted (fsync) before any step acts on it, and one
//! role change runs at a time (`changing`). Every change, refusal and violation goes to the audit
//! log ([`events`]) with who asked.

pub mod address;
pub mod command;
pub mod events;
pub mod heartbeat;
pub mod pbx;
pub mod quarantine;
pub mod sip;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lbs_protocol::{
    DemoteRequest, FailoverStatus, HandoverRequest, HandoverResponse, HandoverStep, Heartbeat, HoldStatus, PbxStatus,
    PromoteRequest, Role, RoleChange, StepReport, SwitchoverRequest,
};
use thiserror::Error;
use tokio::sync::RwLock;

use crate::clock::now_unix;
use crate::config::Config;
use crate::identity::Identity;
use crate::peer::Peer;
use crate::role::{Reintegration, RoleState};
use crate::sync::SyncEngine;
use events::{EventLog, NewEvent};

#[derive(Debug, Error)]
pub enum FailoverError {
    /// The request is not safe now; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    BadRequest(String),
    /// The partner had to answer and did not.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Internal(String),
}

/// What the heartbeat knows of the partner.
#[derive(Debug, Clone, Default)]
pub struct PartnerView {
    pub last: Option<Heartbeat>,
    pub reachable: bool,
    pub last_contact: Option<i64>,
    pub message: Option<String>,
    /// When the last heartbeat exchange ended (answered or not).
    checked: Option<Instant>,
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
    role: Arc<RwLock<RoleState>>,
    peer: Arc<RwLock<Option<Peer>>>,
    pub sync: Arc<SyncEngine>,
    pub events: EventLog,
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A reason as given, or `None` if it is blank.
fn clean(reason: Option<String>) -> Option<String> {
    reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty())
}

/// A UDP socket connected to `target` (for the SIP and DNS exchanges).
pub(crate) async fn udp_to(target: std::net::SocketAddr) -> Result<tokio::net::UdpSocket, String> {
    let bind: std::net::SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .connect(target)
        .await
        .map_err(|e| format!("cannot reach {target}: {e}"))?;
    Ok(socket)
}

pub fn human_secs(secs: u64) -> String {
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
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
        let now = now_unix();
        let files = pending.values().map(|t| t.files).sum();
        let bytes = pending.values().map(|t| t.bytes).sum();
        let oldest = pending.values().filter_map(|t| t.oldest_unix).min();
        let oldest_secs = oldest.map_or(0, |o| (now - o).max(0) as u64);
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
    async fn run<F: Future<Output = Result<String, String>>>(&mut self, step: &str, label: String, work: F) -> bool {
        *lock(&self.failover.busy) = Some(format!("{}: {label}", self.action));
        let t = Instant::now();
        let result = work.await;
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|e| e);
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
        role: Arc<RwLock<RoleState>>,
        peer: Arc<RwLock<Option<Peer>>>,
        sync: Arc<SyncEngine>,
        events: EventLog,
    ) -> Arc<Failover> {
        Arc::new(Failover {
            pbx: pbx::Pbx::new(config.pbx.clone()),
            address: address::Address::new(config.takeover.clone()),
            config,
            identity,
            role,
            peer,
            quarantine: sync.quarantine.clone(),
            sync,
            events,
            changing: tokio::sync::Mutex::new(()),
            busy: Mutex::new(None),
            last_change: Mutex::new(None),
            partner: Mutex::new(PartnerView::default()),
            pbx_view: Mutex::new(PbxView::default()),
            handover: Mutex::new(None),
        })
    }

    /// Starts the heartbeat and the PBX watch; first settles the role found at start.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let f = self.clone();
        let settle_then_beat = tokio::spawn(async move {
            f.settle_at_start().await;
            heartbeat::run(f).await;
        });
        vec![settle_then_beat, tokio::spawn(watch_pbx(self.clone()))]
    }

    pub async fn role(&self) -> RoleState {
        self.role.read().await.clone()
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

    pub fn own_heartbeat(role: &RoleState, server_id: &str) -> Heartbeat {
        Heartbeat {
            server_id: server_id.to_owned(),
            role: role.role,
            epoch: role.epoch,
            epoch_owner: role.epoch_owner.clone(),
            role_since_unix: role.since_unix,
        }
    }

    /// Persists `next` (fsync), then makes it the running role and wakes the sync loops.
    async fn set_role(&self, next: RoleState) -> Result<String, String> {
        let mut role = self.role.write().await;
        next.save(&self.config.server.state_dir).map_err(|e| e.to_string())?;
        let text = format!("this box is now the {} at epoch {}", next.role, next.epoch);
        *role = next;
        drop(role);
        self.sync.role_changed();
        Ok(text)
    }

    fn hook_context(&self, role: &RoleState) -> address::hook::Context {
        address::hook::Context {
            role: role.role.to_string(),
            epoch: role.epoch,
            server_id: self.identity.server_id.clone(),
            server_name: self.name().to_owned(),
        }
    }

    async fn record(&self, kind: &str, actor: &str, reason: Option<&str>, message: String) {
        let role = self.role().await;
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
    async fn refuse<T>(
        &self,
        action: &str,
        actor: &str,
        reason: Option<&str>,
        why: String,
    ) -> Result<T, FailoverError> {
        self.record("refused", actor, reason, format!("{action} refused: {why}"))
            .await;
        Err(FailoverError::Refused(why))
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

    // ---- The partner ----------------------------------------------------------------------

    /// Exchanges heartbeats with the partner now; records what it said (or that it is silent).
    pub async fn heartbeat_now(&self, peer: &Peer, timeout: Duration) -> Result<Heartbeat, String> {
        let own = Self::own_heartbeat(&self.role().await, &self.identity.server_id);
        let result = async {
            let client = self.sync.client_for(peer)?;
            let response = client
                .post(crate::peer::url(&peer.address, "/heartbeat"))
                .json(&own)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "{} at {} does not answer ({})",
                        peer.name,
                        peer.address,
                        crate::peer::error_chain(&e)
                    )
                })?;
            if !response.status().is_success() {
                let why = crate::peer::refusal_message(response).await;
                return Err(format!("{} refused the heartbeat: {why}", peer.name));
            }
            let hb: Heartbeat = response
                .json()
                .await
                .map_err(|e| format!("{} sent an answer that could not be read: {e}", peer.name))?;
            if hb.server_id != peer.server_id {
                return Err(format!(
                    "the server answering at {} is not {} (it says it is {})",
                    peer.address, peer.name, hb.server_id
                ));
            }
            Ok(hb)
        }
        .await;
        match &result {
            Ok(hb) => self.partner_seen(hb.clone()),
            Err(msg) => {
                let mut p = lock(&self.partner);
                p.reachable = false;
                p.announce = true;
                p.message = Some(msg.clone());
                p.checked = Some(Instant::now());
            }
        }
        result
    }

    /// The partner's role for a promotion's guard: a heartbeat that just went unanswered stands
    /// (a dead box would only make the office wait for another timeout); otherwise ask now.
    async fn ask_partner(&self, peer: &Peer) -> Result<Heartbeat, String> {
        let beat = Duration::from_millis(self.config.failover.heartbeat_interval_ms);
        let recent_silence = {
            let p = lock(&self.partner);
            p.checked
                .is_some_and(|t| t.elapsed() < beat * 2 + Duration::from_millis(500))
                && !p.reachable
        };
        if recent_silence {
            let p = lock(&self.partner);
            return Err(p
                .message
                .clone()
                .unwrap_or_else(|| format!("{} does not answer", peer.name)));
        }
        self.heartbeat_now(peer, Duration::from_millis(1500)).await
    }

    /// Records a heartbeat from the partner (sent or answered).
    pub fn partner_seen(&self, hb: Heartbeat) {
        let mut p = lock(&self.partner);
        p.last = Some(hb);
        p.reachable = true;
        p.last_contact = Some(now_unix());
        p.message = None;
        p.checked = Some(Instant::now());
    }

    pub fn forget_partner(&self) {
        *lock(&self.partner) = PartnerView::default();
    }

    pub fn partner_view(&self) -> PartnerView {
        lock(&self.partner).clone()
    }

    /// Acts on what the partner said: a primary that learns of a higher epoch reintegrates (it
    /// demotes itself at once); a backup just adopts the higher epoch.
    ///
    /// `answer` says the heartbeat is the partner's answer to ours, so it is current. A heartbeat
    /// the partner sent can be old: one sent while the network was cut may arrive after it heals
    /// (TCP keeps retransmitting), so it never makes this box announce its address.
    pub async fn on_heartbeat(self: &Arc<Self>, hb: Heartbeat, answer: bool) {
        let own = self.role().await;
        let partner_below = (hb.epoch, hb.epoch_owner.as_str()) <= own.rank();
        if answer && own.role == Role::Primary && hb.role == Role::Backup && partner_below {
            let announce = std::mem::take(&mut lock(&self.partner).announce);
            if announce {
                self.announce_again(&own).await;
            }
        }
        if (hb.epoch, hb.epoch_owner.as_str()) <= own.rank() {
            return;
        }
        match own.role {
            Role::Primary => self.reintegrate(hb).await,
            Role::Backup => {
                let _g = self.changing.lock().await;
                let own = self.role().await;
                if (hb.epoch, hb.epoch_owner.as_str()) > own.rank() && own.role == Role::Backup {
                    let next = RoleState {
                        epoch: hb.epoch,
                        epoch_owner: hb.epoch_owner.clone(),
                        ..own
                    };
                    match self.set_role(next).await {
                        Ok(_) => tracing::info!(epoch = hb.epoch, "learned the partner's newer epoch"),
                        Err(e) => tracing::error!(error = %e, "cannot record the partner's newer epoch"),
                    }
                }
            }
        }
    }

    /// The partner is back (as a backup): take the address again, so that anything that learned
    /// the partner's hardware address for it while both claimed it learns this box's again.
    async fn announce_again(&self, own: &RoleState) {
        let _g = self.changing.lock().await;
        match self.address.take(&self.hook_context(own)).await {
            Ok(detail) => tracing::info!(%detail, "the partner is back: address announced again"),
            Err(e) => tracing::warn!(error = %e, "the partner is back, but the address could not be announced again"),
        }
    }

    // ---- Promote --------------------------------------------------------------------------

    pub async fn promote(&self, req: PromoteRequest, actor: &str) -> Result<RoleChange, FailoverError> {
        let reason = clean(req.reason);
        if req.force && reason.is_none() {
            return Err(FailoverError::BadRequest(
                "a forced promotion (unplanned failover) needs a reason, e.g. \"PBX A does not start; unplugged at 10:40\"".into(),
            ));
        }
        let _g = self.changing.lock().await;
        let started = (now_unix(), Instant::now());
        let own = self.role().await;
        let mut steps = self.steps("Promoting");
        if own.role == Role::Primary {
            // Idempotent: check that the PBX runs and the address is here, without a restore
            // (that would load an old dump over the live database).
            self.primary_steps(&mut steps, &own, false).await;
            let message = if steps.ok() {
                format!(
                    "{} is already the primary; the PBX and the address were checked.",
                    self.name()
                )
            } else {
                format!("{} is already the primary, but a step failed: see below.", self.name())
            };
            return Ok(self.finish("promote", true, &own, steps, started, message));
        }
        if own.reintegrating.is_some() {
            return self
                .refuse(
                    "promotion",
                    actor,
                    reason.as_deref(),
                    "this box is still setting aside the files it wrote as an old primary; wait until that finishes"
                        .into(),
                )
                .await;
        }
        if let Some(peer) = self.peer().await {
            match self.ask_partner(&peer).await {
                Ok(hb) if hb.role == Role::Primary => {
                    let why = if req.force {
                        format!(
                            "{} answers and is the primary (epoch {}): forcing a promotion now would make two primaries. \
                             Switch {} off or unplug it first, or use a planned switchover",
                            peer.name, hb.epoch, peer.name
                        )
                    } else {
                        format!(
                            "{} answers and is the primary; for a planned handover use switchover, which loses nothing",
                            peer.name
                        )
                    };
                    return self.refuse("promotion", actor, reason.as_deref(), why).await;
                }
                Ok(_) => {}
                Err(msg) if !req.force => {
                    let why = format!(
                        "{msg}. If {} is broken, make sure it is switched off or unplugged, then promote again \
                         confirming that (force) with a reason",
                        peer.name
                    );
                    return self.refuse("promotion", actor, reason.as_deref(), why).await;
                }
                Err(_) => {}
            }
        }
        let change = self.become_primary(&mut steps, &own).await;
        let kind = if req.force {
            "promoted (unplanned failover)"
        } else {
            "promoted"
        };
        let message = self.primary_message(&steps, change);
        self.record("promoted", actor, reason.as_deref(), format!("{kind}: {message}"))
            .await;
        let now = self.role().await;
        Ok(self.finish("promote", false, &now, steps, started, message))
    }

    /// Takes the primary role at a new epoch (above any seen), then runs the primary's steps.
    /// Returns the pending changes dropped (data the old primary never delivered).
    async fn become_primary(&self, steps: &mut Steps<'_>, own: &RoleState) -> u64 {
        let seen = lock(&self.partner).last.as_ref().map_or(0, |hb| hb.epoch);
        let next = RoleState {
            role: Role::Primary,
            epoch: own.epoch.max(seen) + 1,
            epoch_owner: self.identity.server_id.clone(),
            since_unix: now_unix(),
            reintegrating: None,
        };
        let label = format!("Record the new role: primary at epoch {}", next.epoch);
        if !steps.run("persist", label, self.set_role(next.clone())).await {
            return 0;
        }
        // What the old primary never delivered cannot be fetched any more; it is quarantined
        // there when that box comes back.
        let dropped = self.sync.queue.clear_pending().await.unwrap_or(0);
        self.primary_steps(steps, &next, true).await;
        dropped
    }

    fn primary_message(&self, steps: &Steps, dropped: u64) -> String {
        let mut m = if steps.ok() {
            format!("{} is now the primary and the PBX answers.", self.name())
        } else {
            let failed: Vec<&str> = steps.list.iter().filter(|s| !s.ok).map(|s| s.label.as_str()).collect();
            format!(
                "{} is now the primary, but some steps failed ({}); fix the cause, then promote again to retry them.",
                self.name(),
                failed.join(", ")
            )
        };
        if dropped > 0 {
            m.push_str(&format!(
                " {dropped} changes had not reached this box from the old primary; they will be kept in its quarantine when it comes back."
            ));
        }
        m
    }

    /// Restore (on a real promotion), start the PBX, take the address, check the PBX answers.
    async fn primary_steps(&self, steps: &mut Steps<'_>, role: &RoleState, restore: bool) {
        if restore {
            for c in self.sync.sources.categories.iter().filter(|c| !c.restore.is_empty()) {
                let label = format!("Load the latest {} dump", c.label());
                steps
                    .run("restore", label, async {
                        crate::sync::dump::restore(c)
                            .await
                            .map(|_| "loaded".to_string())
                            .map_err(|e| e.to_string())
                    })
                    .await;
            }
        }
        steps.run("start_pbx", "Start the PBX".into(), self.pbx.start()).await;
        let ctx = self.hook_context(role);
        let label = format!("Move the address to this box ({})", self.address.target());
        steps.run("take_address", label, self.address.take(&ctx)).await;
        steps
            .run(
                "check_pbx",
                "Check that the PBX answers".into(),
                self.pbx.wait_answering(),
            )
            .await;
    }

    /// Stop the PBX and let the address go (demotion, handover, reintegration).
    async fn stop_steps(&self, steps: &mut Steps<'_>, role: &RoleState) {
        steps.run("stop_pbx", "Stop the PBX".into(), self.pbx.stop()).await;
        let ctx = self.hook_context(role);
        let label = format!("Release the address ({})", self.address.target());
        steps.run("release_address", label, self.address.release(&ctx)).await;
    }

    /// This box just joined a primary as its backup (pairing): its PBX must not run beside the
    /// primary's, and the address is not its to hold.
    pub async fn joined(&self, partner: &str, actor: &str) {
        let _g = self.changing.lock().await;
        let own = self.role().await;
        let mut steps = self.steps("Joining as the backup");
        self.stop_steps(&mut steps, &own).await;
        *lock(&self.busy) = None;
        let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
        let mut message = format!(
            "paired with {partner}: this box is now its backup (epoch {})",
            own.epoch
        );
        if !failed.is_empty() {
            message.push_str(&format!("; but {}", failed.join("; ")));
        }
        self.record("paired", actor, None, message).await;
    }

    // ---- Demote ---------------------------------------------------------------------------

    pub async fn demote(&self, req: DemoteRequest, actor: &str) -> Result<RoleChange, FailoverError> {
        let reason = clean(req.reason);
        let _g = self.changing.lock().await;
        let started = (now_unix(), Instant::now());
        let own = self.role().await;
        let mut steps = self.steps("Demoting");
        if own.role == Role::Backup {
            self.stop_steps(&mut steps, &own).await;
            let message = format!(
                "{} is already a backup; the PBX is stopped and the address released.",
                self.name()
            );
            return Ok(self.finish("demote", true, &own, steps, started, message));
        }
        self.stop_steps(&mut steps, &own).await;
        steps
            .run(
                "final_dump",
                "Final dump of the databases and journal of every change".into(),
                crate::sync::primary::flush(&self.sync, true),
            )
            .await;
        let next = RoleState {
            role: Role::Backup,
            since_unix: now_unix(),
            ..own
        };
        steps
            .run(
                "persist",
                "Record the new role: backup".into(),
                self.set_role(next.clone()),
            )
            .await;
        let message = if steps.ok() {
            format!(
                "{} is now a backup: the PBX is stopped. Promote the partner to make it the primary.",
                self.name()
            )
        } else {
            format!("{} was demoted but some steps failed: see below.", self.name())
        };
        self.record("demoted", actor, reason.as_deref(), message.clone()).await;
        Ok(self.finish("demote", false, &next, steps, started, message))
    }

    // ---- Switchover (run by the backup) ---------------------------------------------------

    pub async fn switchover(&self, req: SwitchoverRequest, actor: &str) -> Result<RoleChange, FailoverError> {
        let reason = clean(req.reason.clone());
        if req.override_guards && reason.is_none() {
            return Err(FailoverError::BadRequest(
                "overriding the switchover's guards needs a reason, which goes into the audit log".into(),
            ));
        }
        let own = self.role().await;
        let Some(peer) = self.peer().await else {
            return self
                .refuse(
                    "switchover",
                    actor,
                    reason.as_deref(),
                    "this box has no partner; a switchover hands over between two paired boxes".into(),
                )
                .await;
        };
        if own.role == Role::Primary {
            return self.forward_switchover(&peer, req, actor).await;
        }
        let _g = self.changing.lock().await;
        let started = (now_unix(), Instant::now());
        let hb = match self.heartbeat_now(&peer, Duration::from_secs(3)).await {
            Ok(hb) => hb,
            Err(msg) => {
                let why = format!(
                    "{msg}. A planned switchover needs both boxes; if {} is broken, use an unplanned failover (promote with force)",
                    peer.name
                );
                return self.refuse("switchover", actor, reason.as_deref(), why).await;
            }
        };
        if hb.role != Role::Primary {
            let why = format!(
                "{} is not the primary (it is a backup); promote this box instead (no force needed)",
                peer.name
            );
            return self.refuse("switchover", actor, reason.as_deref(), why).await;
        }
        let problems = self.switchover_guards(&peer, &hb).await;
        if !problems.is_empty() && !req.override_guards {
            let why = format!("{} Wait, or override with a reason.", problems.join(" "));
            return self.refuse("switchover", actor, reason.as_deref(), why).await;
        }
        let mut steps = self.steps("Switching over");
        let change = self.run_switchover(&peer, &mut steps, actor, reason.as_deref()).await;
        let now = self.role().await;
        let message = match change {
            Ok(dropped) => self.primary_message(&steps, dropped),
            Err(why) => why,
        };
        let overridden = if problems.is_empty() {
            String::new()
        } else {
            format!(" (guards overridden: {})", problems.join(" "))
        };
        self.record(
            "switchover",
            actor,
            reason.as_deref(),
            format!("switchover from {}: {message}{overridden}", peer.name),
        )
        .await;
        Ok(self.finish("switchover", false, &now, steps, started, message))
    }

    /// Why switching over now is not advised: the hold period, changes still to copy.
    async fn switchover_guards(&self, peer: &Peer, hb: &Heartbeat) -> Vec<String> {
        let mut problems = Vec::new();
        let held = (now_unix() - hb.role_since_unix).max(0) as u64;
        let hold = self.config.failover.hold;
        if held < hold {
            problems.push(format!(
                "{} became the primary {} ago; the hold period is {} so that recordings, voicemail, prompts and \
                 music on hold finish copying back: {} left.",
                peer.name,
                human_secs(held),
                human_secs(hold),
                human_secs(hold - held)
            ));
        }
        let link = self.sync.tracker.link_view();
        match link {
            Some(l) if l.state == lbs_protocol::SyncLinkState::Ok => {}
            Some(l) => problems.push(format!(
                "this box is not receiving from {}: {}.",
                peer.name,
                l.message.unwrap_or_else(|| "no contact yet".into())
            )),
            None => problems.push(format!("this box has not received anything from {} yet.", peer.name)),
        }
        let pending = self.sync.queue.pending().await.unwrap_or_default();
        if let Some(backlog) = Backlog::of(&pending) {
            problems.push(format!(
                "{} changes ({}) are still to copy from {}, the oldest for {}.",
                backlog.files,
                crate::commands::human_bytes(backlog.bytes),
                peer.name,
                human_secs(backlog.oldest_secs)
            ));
        }
        problems
    }

    async fn run_switchover(
        &self,
        peer: &Peer,
        steps: &mut Steps<'_>,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<u64, String> {
        let ask = |step| HandoverRequest {
            step,
            actor: actor.to_owned(),
            reason: reason.map(str::to_owned),
        };
        // 1. The primary stops its PBX and journals its last changes.
        let mut prepared: Option<HandoverResponse> = None;
        let label = format!("Stop the PBX on {} and collect its last changes", peer.name);
        let ok = steps
            .run("prepare", label, async {
                let r = self.call_handover(peer, ask(HandoverStep::Prepare)).await?;
                let detail = r
                    .steps
                    .iter()
                    .map(|s| format!("{}: {}", s.label, s.detail))
                    .collect::<Vec<_>>();
                let failed = r.steps.iter().any(|s| !s.ok);
                prepared = Some(r);
                if failed {
                    Err(detail.join("; "))
                } else {
                    Ok(detail.join("; "))
                }
            })
            .await;
        let Some(prepared) = prepared.filter(|_| ok) else {
            let _ = self.call_handover(peer, ask(HandoverStep::Abort)).await;
            return Err(format!(
                "The switchover was stopped before anything changed: {} could not prepare. It stays the primary.",
                peer.name
            ));
        };
        // 2. Every change reaches this box.
        let label = format!("Copy every last change from {}", peer.name);
        let drained = steps.run("drain", label, self.drain(&prepared)).await;
        if !drained {
            let _ = self.call_handover(peer, ask(HandoverStep::Abort)).await;
            return Err(format!(
                "The switchover was called off: not every change reached this box in time. {} started its PBX again and stays the primary.",
                peer.name
            ));
        }
        // 3. The primary becomes a backup.
        let label = format!("Make {} the backup", peer.name);
        if !steps
            .run("complete", label, async {
                self.call_handover(peer, ask(HandoverStep::Complete))
                    .await
                    .map(|_| "done".to_string())
            })
            .await
        {
            let _ = self.call_handover(peer, ask(HandoverStep::Abort)).await;
            return Err(format!(
                "The switchover was called off: {} did not confirm it became the backup, so this box did not take over.",
                peer.name
            ));
        }
        // 4. This box becomes the primary.
        let own = self.role().await;
        Ok(self.become_primary(steps, &own).await)
    }

    /// Waits until this box follows the primary's journal up to `head` with nothing pending.
    async fn drain(&self, p: &HandoverResponse) -> Result<String, String> {
        let t = Instant::now();
        let deadline = t + Duration::from_secs(self.config.failover.drain_timeout);
        loop {
            let cursor = self.sync.queue.cursor().await.map_err(|e| e.to_string())?;
            let empty = self.sync.queue.is_empty().await.map_err(|e| e.to_string())?;
            if let Some((journal, fetched)) = cursor {
                if journal == p.journal_id && fetched >= p.head && empty {
                    return Ok(format!("every change is here ({} ms)", t.elapsed().as_millis()));
                }
            }
            if Instant::now() > deadline {
                let pending = self.sync.queue.pending().await.unwrap_or_default();
                let files: u64 = pending.values().map(|t| t.files).sum();
                return Err(format!(
                    "after {}, {files} changes were still missing",
                    human_secs(self.config.failover.drain_timeout)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn call_handover(&self, peer: &Peer, req: HandoverRequest) -> Result<HandoverResponse, String> {
        let client = self.sync.client_for(peer)?;
        let response = client
            .post(crate::peer::url(&peer.address, "/handover"))
            .json(&req)
            .timeout(Duration::from_secs(self.config.pbx.command_timeout * 3 + 60))
            .send()
            .await
            .map_err(|e| format!("{} does not answer ({})", peer.name, crate::peer::error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!(
                "{} refused: {}",
                peer.name,
                crate::peer::refusal_message(response).await
            ));
        }
        response
            .json()
            .await
            .map_err(|e| format!("{} sent an answer that could not be read: {e}", peer.name))
    }

    /// A switchover asked of the primary: the backup runs it.
    async fn forward_switchover(
        &self,
        peer: &Peer,
        req: SwitchoverRequest,
        actor: &str,
    ) -> Result<RoleChange, FailoverError> {
        let client = self.sync.client_for(peer).map_err(FailoverError::Internal)?;
        let body = lbs_protocol::ForwardedSwitchover {
            request: req,
            actor: actor.to_owned(),
        };
        let response = client
            .post(crate::peer::url(&peer.address, "/switchover"))
            .json(&body)
            .timeout(Duration::from_secs(self.config.failover.drain_timeout + 300))
            .send()
            .await
            .map_err(|e| {
                FailoverError::Unreachable(format!(
                    "{} does not answer ({}); a planned switchover needs both boxes",
                    peer.name,
                    crate::peer::error_chain(&e)
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| {
                FailoverError::Internal(format!("{} sent an answer that could not be read: {e}", peer.name))
            });
        }
        let why = crate::peer::refusal_message(response).await;
        Err(match status {
            reqwest::StatusCode::BAD_REQUEST => FailoverError::BadRequest(why),
            reqwest::StatusCode::CONFLICT => FailoverError::Refused(why),
            _ => FailoverError::Unreachable(format!("{}: {why}", peer.name)),
        })
    }

    // ---- Handover (the primary's side of a switchover) -----------------------------------

    pub async fn handover(self: &Arc<Self>, req: HandoverRequest) -> Result<HandoverResponse, FailoverError> {
        let _g = self.changing.lock().await;
        let own = self.role().await;
        let actor = format!("{} (switchover run by the partner)", req.actor);
        let mut steps = self.steps("Handing over");
        match req.step {
            HandoverStep::Prepare => {
                if own.role != Role::Primary {
                    return Err(FailoverError::Refused(format!("{} is not the primary", self.name())));
                }
                let since = Instant::now();
                *lock(&self.handover) = Some(since);
                self.stop_steps(&mut steps, &own).await;
                steps
                    .run(
                        "final_dump",
                        "Final dump of the databases and journal of every change".into(),
                        crate::sync::primary::flush(&self.sync, true),
                    )
                    .await;
                // If the backup never finishes the handover, the phones must not stay down.
                let f = self.clone();
                let patience = Duration::from_secs(self.config.failover.drain_timeout + 120);
                tokio::spawn(async move {
                    tokio::time::sleep(patience).await;
                    if *lock(&f.handover) == Some(since) {
                        f.abort_handover("the agent (the partner never finished the switchover)")
                            .await;
                    }
                });
            }
            HandoverStep::Complete => {
                if own.role != Role::Primary || lock(&self.handover).is_none() {
                    return Err(FailoverError::Refused(format!(
                        "{} is not handing over; the switchover must start again",
                        self.name()
                    )));
                }
                let next = RoleState {
                    role: Role::Backup,
                    since_unix: now_unix(),
                    ..own
                };
                let ok = steps
                    .run("persist", "Record the new role: backup".into(), self.set_role(next))
                    .await;
                if !ok {
                    return Err(FailoverError::Internal("cannot record the new role".into()));
                }
                *lock(&self.handover) = None;
                *lock(&self.busy) = None;
                self.record(
                    "switchover",
                    &actor,
                    req.reason.as_deref(),
                    format!(
                        "{} handed the primary role over to its partner and is now the backup",
                        self.name()
                    ),
                )
                .await;
            }
            HandoverStep::Abort => {
                drop(_g);
                self.abort_handover(&actor).await;
            }
        }
        *lock(&self.busy) = None;
        Ok(HandoverResponse {
            journal_id: self
                .sync
                .journal
                .id()
                .await
                .map_err(|e| FailoverError::Internal(e.to_string()))?,
            head: self
                .sync
                .journal
                .head()
                .await
                .map_err(|e| FailoverError::Internal(e.to_string()))?,
            steps: steps.list,
        })
    }

    /// The switchover was called off: run the PBX and hold the address again.
    async fn abort_handover(&self, actor: &str) {
        let _g = self.changing.lock().await;
        if lock(&self.handover).take().is_none() {
            return;
        }
        let own = self.role().await;
        if own.role != Role::Primary {
            return;
        }
        let mut steps = self.steps("Calling off the switchover");
        self.primary_steps(&mut steps, &own, false).await;
        *lock(&self.busy) = None;
        self.record(
            "switchover_called_off",
            actor,
            None,
            format!(
                "the switchover was called off; {} runs the PBX again as the primary",
                self.name()
            ),
        )
        .await;
    }

    // ---- Reintegration --------------------------------------------------------------------

    /// This primary learned of a higher epoch: it lost its role while away. It stops the PBX and
    /// lets the address go at once, records that it is a backup, sets aside what it wrote that
    /// the partner never got, and then starts receiving.
    async fn reintegrate(self: &Arc<Self>, hb: Heartbeat) {
        let _g = self.changing.lock().await;
        let own = self.role().await;
        if own.role != Role::Primary || (hb.epoch, hb.epoch_owner.as_str()) <= own.rank() {
            return;
        }
        let started = (now_unix(), Instant::now());
        let acked = self.sync.journal.peer_acked().await.unwrap_or(0);
        let mut steps = self.steps("Reintegrating");
        self.stop_steps(&mut steps, &own).await;
        let next = RoleState {
            role: Role::Backup,
            epoch: hb.epoch,
            epoch_owner: hb.epoch_owner.clone(),
            since_unix: now_unix(),
            reintegrating: Some(Reintegration {
                acked,
                lost_epoch: own.epoch,
            }),
        };
        steps
            .run("persist", "Record the new role: backup".into(), self.set_role(next))
            .await;
        self.record(
            "reintegrating",
            "the agent",
            None,
            format!(
                "the partner is the primary at epoch {} (this box had epoch {}): this box stopped its PBX and is becoming the backup",
                hb.epoch, own.epoch
            ),
        )
        .await;
        self.finish_reintegration(&mut steps).await;
        let now = self.role().await;
        let message = steps
            .list
            .iter()
            .find(|s| s.step == "quarantine")
            .map(|s| s.detail.clone())
            .unwrap_or_default();
        self.finish("reintegrate", false, &now, steps, started, message);
    }

    /// The quarantine part of a reintegration (also resumed at start after a crash).
    async fn finish_reintegration(&self, steps: &mut Steps<'_>) {
        let own = self.role().await;
        let Some(r) = own.reintegrating else { return };
        let label = "Set aside the files written here since the partner's last copy".to_string();
        let moved = steps.run("quarantine", label, quarantine::set_aside(self, r)).await;
        if !moved {
            // Nothing is applied from the new primary until the move succeeded; retried at start.
            return;
        }
        if let Err(e) = self.sync.queue.restart().await {
            tracing::error!(error = %e, "cannot restart the sync cursor");
            return;
        }
        let next = RoleState {
            reintegrating: None,
            ..own
        };
        steps
            .run(
                "persist",
                "Start receiving from the primary".into(),
                self.set_role(next),
            )
            .await;
        let detail = steps.list.last().map(|s| s.detail.clone()).unwrap_or_default();
        let quarantined = steps
            .list
            .iter()
            .find(|s| s.step == "quarantine")
            .map(|s| s.detail.clone())
            .unwrap_or_default();
        self.record(
            "reintegrated",
            "the agent",
            None,
            format!("reintegrated as the backup ({detail}); {quarantined}"),
        )
        .await;
    }

    /// The role found at start: resume a reintegration; as the primary, ask the partner first
    /// (an old primary coming back must not start its PBX beside the new one), then make sure
    /// the PBX runs and the address is here; as the backup, make sure the PBX is stopped.
    async fn settle_at_start(self: &Arc<Self>) {
        let own = self.role().await;
        if own.reintegrating.is_some() {
            let _g = self.changing.lock().await;
            let mut steps = self.steps("Reintegrating");
            self.finish_reintegration(&mut steps).await;
            *lock(&self.busy) = None;
            return;
        }
        match own.role {
            Role::Primary => {
                if let Some(peer) = self.peer().await {
                    if let Ok(hb) = self.heartbeat_now(&peer, Duration::from_secs(3)).await {
                        if (hb.epoch, hb.epoch_owner.as_str()) > own.rank() {
                            self.reintegrate(hb).await;
                            return;
                        }
                    }
                }
                let _g = self.changing.lock().await;
                let mut steps = self.steps("Starting as the primary");
                self.primary_steps(&mut steps, &own, false).await;
                *lock(&self.busy) = None;
                if !steps.ok() {
                    let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
                    self.record(
                        "step_failed",
                        "the agent",
                        None,
                        format!("starting as the primary: {}", failed.join("; ")),
                    )
                    .await;
                }
            }
            Role::Backup => {
                if self.pbx.managed() {
                    let _g = self.changing.lock().await;
                    let mut steps = self.steps("Starting as the backup");
                    self.stop_steps(&mut steps, &own).await;
                    *lock(&self.busy) = None;
                }
            }
        }
    }

    // ---- Status ---------------------------------------------------------------------------

    pub async fn status(&self) -> Result<FailoverStatus, FailoverError> {
        let own = self.role().await;
        let partner = self.partner_view();
        let peer = self.peer().await;
        let now = now_unix();
        let internal = |e: lbs_sync::journal::JournalError| FailoverError::Internal(e.to_string());
        let (primary_since, pending, caught_up) = match own.role {
            Role::Primary => {
                let acked = self.sync.tracker.peer_acked();
                let pending = self.sync.journal.pending_after(acked).await.map_err(internal)?;
                let caught_up = peer.is_some() && partner.reachable && Backlog::of(&pending).is_none();
                (Some(own.since_unix), pending, caught_up)
            }
            Role::Backup => {
                let pending = self.sync.queue.pending().await.map_err(internal)?;
                let since = partner
                    .last
                    .as_ref()
                    .filter(|hb| hb.role == Role::Primary)
                    .map(|hb| hb.role_since_unix);
                let link_ok = self
                    .sync
                    .tracker
                    .link_view()
                    .is_some_and(|l| l.state == lbs_protocol::SyncLinkState::Ok);
                let caught_up = Backlog::of(&pending).is_none() && link_ok;
                (since, pending, caught_up)
            }
        };
        let (files, bytes) = pending.values().fold((0, 0), |(f, b), t| (f + t.files, b + t.bytes));
        let hold = self.config.failover.hold;
        let held = primary_since.map(|s| (now - s).max(0) as u64);
        let pbx = lock(&self.pbx_view).clone();
        let handing_over = lock(&self.handover).is_some();
        let busy = lock(&self.busy).clone();
        let last_change = lock(&self.last_change).clone();
        let address = self.address.status().await;
        let quarantined_files = self.quarantine.open_count().await.map_err(internal)?;
        Ok(FailoverStatus {
            role: own.role,
            epoch: own.epoch,
            epoch_owner: own.epoch_owner.clone(),
            role_since_unix: own.since_unix,
            busy,
            hold: HoldStatus {
                hold_secs: hold,
                primary_for_secs: held,
                remaining_secs: held.map(|h| hold.saturating_sub(h)),
                caught_up,
                pending_files: files,
                pending_bytes: bytes,
            },
            pbx: PbxStatus {
                managed: self.pbx.managed(),
                running: pbx.running,
                should_run: own.role == Role::Primary && !handing_over,
                problem: pbx.problem,
                checked_unix: pbx.checked,
            },
            address,
            partner: lbs_protocol::PartnerStatus {
                paired: peer.is_some(),
                name: peer.as_ref().map(|p| p.name.clone()),
                server_id: peer.as_ref().map(|p| p.server_id.clone()),
                address: peer.as_ref().map(|p| p.address.clone()),
                reachable: peer.is_some() && partner.reachable,
                role: partner.last.as_ref().map(|h| h.role),
                epoch: partner.last.as_ref().map(|h| h.epoch),
                role_since_unix: partner.last.as_ref().map(|h| h.role_since_unix),
                last_contact_unix: partner.last_contact,
                message: partner.message.clone(),
            },
            quarantined_files,
            last_change,
        })
    }
}

/// Checks, every `check_interval`, that the PBX runs where it should: on the backup it must not
/// (it could answer phones or register trunks beside the primary), so the agent stops it and
/// records the violation; on the primary a stopped PBX is reported.
async fn watch_pbx(f: Arc<Failover>) {
    let mut tick = tokio::time::interval(Duration::from_secs(f.config.pbx.check_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if f.config.pbx.running.is_empty() {
            continue;
        }
        // Not while a role change is starting or stopping it.
        let Ok(guard) = f.changing.try_lock() else { continue };
        let own = f.role().await;
        let running = f.pbx.running().await;
        let handing_over = lock(&f.handover).is_some();
        let problem = match (own.role, running) {
            (Role::Backup, Some(true)) => {
                let stopped = f.pbx.stop().await;
                let what = match &stopped {
                    Ok(_) => "the agent stopped it".to_string(),
                    Err(e) => format!("the agent could not stop it ({e}); stop it by hand"),
                };
                let message = format!(
                    "The PBX was running on this backup box, beside the primary: it could answer phones or register \
                     trunks twice. {what}."
                );
                f.record("pbx_violation", "the agent", None, message.clone()).await;
                Some(message)
            }
            (Role::Primary, Some(false)) if !handing_over => Some(
                "The PBX is not running on the primary, so phones cannot call. Start it (`lbs-agent promote` checks \
                 and starts it) and look at the PBX's own log."
                    .to_string(),
            ),
            _ => None,
        };
        drop(guard);
        let mut view = lock(&f.pbx_view);
        view.running = running;
        view.problem = problem;
        view.checked = Some(now_unix());
    }
}
