//! The autopilot at work: `keep_vote` talks to the vote (the primary renews its lease and holds
//! the leader key; the backup reads who holds it), `watch` decides every 100 ms (the primary
//! fences itself, a fenced primary resumes, the backup takes over). Acting goes through
//! `Failover`: its role-change lock, its steps and its audit log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::{
    AutopilotAdvert, AutopilotAnswer, AutopilotRequest, EventKind, Fence, PartnerNotice, PromoteRequest, Role,
    RoleStanding,
};

use super::policy::{self, Verdict};
use crate::clock::{now_unix, now_unix_ms};
use crate::failover::{lock, Failover};
use crate::refusal::Refusal;
use crate::vote::{LastAutomatic, LeaderRecord};

const ACTOR: &str = "autopilot";

/// How often the vote is read and the lease renewed: four times a lease, at least every 2.5 s.
fn vote_step(lease: Duration) -> Duration {
    (lease / 4).clamp(Duration::from_millis(250), Duration::from_millis(2500))
}

/// How often the primary checks that etcd's own leader is not on its box.
const LEADERSHIP_EVERY: Duration = Duration::from_secs(5);

/// How often a backup reads the leader key while its primary is silent.
const WATCH_CLOSELY: Duration = Duration::from_millis(200);

/// Reads and renews in the vote, for as long as the agent runs.
pub(crate) async fn keep_vote(f: Arc<Failover>) {
    let ap = &f.autopilot;
    let Some(vote) = ap.vote.clone() else { return };
    let step = vote_step(ap.lease);
    // Each member's own answer, for the status, on its own clock: a silent member must not
    // delay the renewals.
    let members = vote.clone();
    tokio::spawn(async move {
        loop {
            members.check_members().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    loop {
        let started = Instant::now();
        let role = f.role();
        let holding =
            role.role == Role::Primary && f.role.standing() != RoleStanding::Unconfirmed || ap.live().taking_over;
        let ok = if holding {
            hold_key(&f, &vote, &role).await
        } else {
            watch_key(&f, &vote).await
        };
        f.autopilot.set_quorum(ok);
        // A backup whose primary is silent reads the key often: the takeover waits on the read
        // that finds it gone.
        let next = if !holding && partner_silent_for(&f).is_some() {
            WATCH_CLOSELY
        } else {
            step
        };
        tokio::time::sleep(next.saturating_sub(started.elapsed())).await;
    }
}

impl super::Autopilot {
    fn set_quorum(&self, quorum: bool) {
        let mut live = self.live();
        if live.quorum != quorum || live.quorum_changed_unix.is_none() {
            if live.quorum_changed_unix.is_some() {
                if quorum {
                    tracing::info!("the vote answers again: automatic failover can work");
                } else {
                    tracing::warn!("no majority of the vote answers: automatic failover is off until it does (the phones are not affected)");
                }
            }
            live.quorum = quorum;
            live.quorum_changed_unix = Some(now_unix());
        }
    }

    fn leader_record(f: &Failover, epoch: u64) -> LeaderRecord {
        LeaderRecord {
            server_id: f.identity.server_id.clone(),
            name: f.name().to_owned(),
            epoch,
        }
    }
}

/// The primary's turn: a lease that lives, and the leader key under it naming this box. Only a
/// renewal that proves both counts for the fence's clock. Returns whether the vote answered.
async fn hold_key(f: &Failover, vote: &crate::vote::Vote, role: &crate::role::RoleState) -> bool {
    let ap = &f.autopilot;
    let sent = Instant::now();
    let current = ap.live().lease;
    let lease = match current {
        Some(id) => match vote.keep_alive(id).await {
            Ok(true) => id,
            Ok(false) => {
                tracing::warn!("the primary's lease in the vote had expired; taking a new one");
                ap.live().lease = None;
                return true;
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot renew the lease");
                return false;
            }
        },
        None => match vote.grant(ap.lease.as_secs()).await {
            Ok(id) => {
                ap.live().lease = Some(id);
                id
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot take a lease");
                return false;
            }
        },
    };
    let record = super::Autopilot::leader_record(f, role.epoch);
    let holder = match vote.claim(&record, lease).await {
        Ok(None) => {
            tracing::info!(epoch = role.epoch, "this box holds the leader key in the vote");
            Some(record.clone())
        }
        Ok(Some(held)) if held.record.server_id == record.server_id => {
            if held.lease == lease && held.record == record {
                Some(record.clone())
            } else {
                // This box's key from before a restart, or an older epoch: move it over.
                match vote.reclaim(&held, &record, lease).await {
                    Ok(true) => Some(record.clone()),
                    Ok(false) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot move the leader key to the new lease");
                        return false;
                    }
                }
            }
        }
        Ok(Some(other)) => {
            tracing::warn!(holder = %other.record.name, epoch = other.record.epoch, "the leader key is held by the partner");
            let mut live = ap.live();
            live.leader = Some(other);
            live.leader_read = Some(Instant::now());
            return true;
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot take the leader key");
            return false;
        }
    };
    if holder.is_some()
        && ap
            .live()
            .leadership_checked
            .is_none_or(|t| t.elapsed() >= LEADERSHIP_EVERY)
    {
        ap.live().leadership_checked = Some(Instant::now());
        if let Err(e) = vote.keep_leadership_away().await {
            tracing::debug!(error = %e, "cannot check etcd's leadership");
        }
    }
    let mut live = ap.live();
    if let Some(record) = holder {
        live.renewed = Some(sent);
        live.by_a_person = false;
        live.leader = Some(crate::vote::Leader {
            record,
            lease,
            mod_revision: 0,
        });
        live.leader_read = Some(Instant::now());
    }
    true
}

/// The backup's turn (or a primary not yet confirmed): let go of any lease, read who holds the
/// key and the last automatic failover. Returns whether the vote answered.
async fn watch_key(f: &Failover, vote: &crate::vote::Vote) -> bool {
    let ap = &f.autopilot;
    let old = {
        let mut live = ap.live();
        if live.taking_over {
            // The lease is the takeover's: the next turn holds it.
            return true;
        }
        live.renewed = None;
        live.lease.take()
    };
    if let Some(id) = old {
        // This box stopped being the primary: its key goes at once rather than at expiry.
        if let Err(e) = vote.revoke(id).await {
            tracing::debug!(error = %e, "cannot give the lease back; it expires by itself");
        }
    }
    let leader = match vote.leader().await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the leader key");
            return false;
        }
    };
    let last = vote.last_automatic().await;
    let partner_id = f
        .peer
        .try_read()
        .ok()
        .and_then(|p| p.as_ref().map(|p| p.server_id.clone()));
    let mut live = ap.live();
    if let Some(l) = leader
        .as_ref()
        .filter(|l| Some(&l.record.server_id) == partner_id.as_ref())
    {
        live.partner_key_epoch = Some(l.record.epoch);
    }
    live.leader = leader;
    live.leader_read = Some(Instant::now());
    if let Ok(last) = last {
        note_last_automatic(&mut live, last, ap_guard(f));
    }
    true
}

fn ap_guard(f: &Failover) -> Duration {
    Duration::from_secs(f.config.failover.flap_guard)
}

/// Takes the last automatic failover read from the vote; its guard's end is set by this box's
/// monotonic clock from the age the record has by the wall clock when first seen.
fn note_last_automatic(live: &mut super::Live, last: Option<LastAutomatic>, guard: Duration) {
    let Some(last) = last else { return };
    if live.last_automatic.as_ref() == Some(&last) {
        return;
    }
    let age = Duration::from_secs(now_unix().saturating_sub(last.at_unix).max(0) as u64);
    if let Some(left) = guard.checked_sub(age) {
        let until = Instant::now() + left;
        live.guard_until = Some(live.guard_until.map_or(until, |u| u.max(until)));
    }
    live.last_automatic = Some(last);
}

/// Decides, every 100 ms, for as long as the agent runs.
pub(crate) async fn watch(f: Arc<Failover>) {
    if !f.autopilot.configured {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let role = f.role();
        if role.role == Role::Primary {
            {
                let mut live = f.autopilot.live();
                live.taking_over = false;
                live.held = None;
            }
            primary_turn(&f).await;
        } else {
            {
                let mut live = f.autopilot.live();
                live.fenced = None;
                live.backup_answers = None;
            }
            backup_turn(&f).await;
        }
    }
}

/// Since when the partner has been silent, by the monotonic clock (`None`: it answers). A
/// partner never heard since start counts as silent since start.
fn partner_silent_for(f: &Failover) -> Option<Duration> {
    let p = lock(&f.partner);
    if p.reachable {
        return None;
    }
    let since = p.heard.unwrap_or(f.autopilot.live().started);
    Some(since.elapsed())
}

async fn primary_turn(f: &Arc<Failover>) {
    let ap = &f.autopilot;
    if f.role.standing() == RoleStanding::Unconfirmed || lock(&f.handover).is_some() {
        return;
    }
    let (fenced, since_renewal, holds_key) = {
        let live = ap.live();
        (
            live.fenced.is_some(),
            live.renewed.unwrap_or(live.started).elapsed(),
            live.renewed.is_some_and(|t| t.elapsed() < ap.lease / 2),
        )
    };
    let silent = partner_silent_for(f);
    if !fenced {
        // Whatever the switch says: the partner may have been switched on meanwhile. A box a
        // person made the primary waits until it has held the key (see `Live::by_a_person`).
        let by_a_person = ap.live().by_a_person;
        if !by_a_person && policy::primary_must_fence(since_renewal, silent, ap.heartbeat, ap.lease) {
            f.fence(since_renewal, silent.unwrap_or_default()).await;
        }
        return;
    }
    let partner_id = f
        .peer
        .try_read()
        .ok()
        .and_then(|p| p.as_ref().map(|p| p.server_id.clone()));
    let backup_answers = {
        let mut live = ap.live();
        if silent.is_some() {
            // Only answers in a row count.
            live.backup_answers = None;
        }
        // The vote naming the partner (read while this box could not hold the key) overrules
        // what its heartbeats say.
        let partner_holds_key = live
            .leader
            .as_ref()
            .is_some_and(|l| Some(&l.record.server_id) == partner_id.as_ref());
        live.backup_answers
            .filter(|_| !partner_holds_key)
            .map(|(t, n)| (t.elapsed(), n))
    };
    if policy::fenced_may_resume(holds_key, backup_answers, ap.heartbeat) {
        f.unfence(holds_key).await;
    }
}

impl Failover {
    /// Cut off from its partner and the vote, the primary stops its PBX and lets the address go
    /// before its lease can pass to the partner. It keeps the role: it resumes if nobody took
    /// over, and reintegrates as usual if somebody did.
    async fn fence(&self, since_renewal: Duration, silent: Duration) {
        let _g = self.changing.lock().await;
        let own = self.role();
        if own.role != Role::Primary || self.autopilot.fenced().is_some() {
            return;
        }
        let partner = self.peer_name();
        let message = format!(
            "{} lost both {partner} (silent for {} s) and the vote (nothing renewed for {} s): it stopped its phone \
             system and let the address go, so that {partner} can take over without two boxes answering the phones. \
             It runs the phones again by itself if nobody took over; otherwise it becomes the backup when it is back.",
            self.name(),
            silent.as_secs(),
            since_renewal.as_secs()
        );
        tracing::error!(%message, "fencing");
        self.autopilot.live().fenced = Some(Fence {
            since_unix: now_unix(),
            message: message.clone(),
        });
        let mut steps = self.steps("Fencing");
        self.stop_steps(&mut steps, &own).await;
        *lock(&self.busy) = None;
        let outcome = if steps.ok() {
            message
        } else {
            let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
            format!("{message} Some steps failed: {}", failed.join("; "))
        };
        self.record(EventKind::Fenced, ACTOR, None, outcome).await;
    }

    async fn unfence(&self, holds_key: bool) {
        let _g = self.changing.lock().await;
        let own = self.role();
        if own.role != Role::Primary || self.autopilot.fenced().is_none() {
            return;
        }
        let why = if holds_key {
            "it holds the leader key in the vote again, so nobody took over".to_string()
        } else {
            format!("{} answers as its backup, so nobody took over", self.peer_name())
        };
        let mut steps = self.steps("Resuming");
        self.primary_steps(&mut steps, &own, false).await;
        *lock(&self.busy) = None;
        self.autopilot.live().fenced = None;
        let message = if steps.ok() {
            format!("{} runs the phones again: {why}.", self.name())
        } else {
            let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
            format!(
                "{} resumes as the primary ({why}), but some steps failed: {}",
                self.name(),
                failed.join("; ")
            )
        };
        tracing::info!(%message, "fence lifted");
        self.record(EventKind::Unfenced, ACTOR, None, message).await;
    }

    /// What the heartbeat tells the autopilot: the partner's switch and whether it is set up;
    /// and, for a fenced primary, whether the partner answers as its backup.
    pub(crate) async fn autopilot_heard(&self, theirs: Option<AutopilotAdvert>, role: Role, rank: (u64, &str)) {
        let ap = &self.autopilot;
        {
            let own = self.role();
            let mut live = ap.live();
            let below = rank <= own.rank();
            if live.fenced.is_some() && role == Role::Backup && below {
                let (first, n) = live.backup_answers.unwrap_or((Instant::now(), 0));
                live.backup_answers = Some((first, n + 1));
            } else {
                live.backup_answers = None;
            }
            live.partner = theirs.clone();
        }
        let Some(theirs) = theirs else { return };
        if let Some(s) = theirs.switch.as_ref().filter(|s| !plausible(s)) {
            tracing::warn!(by = %s.by.chars().take(40).collect::<String>(), "the partner sent an autopilot switch that is not one line of bounded text; ignored");
            return;
        }
        match ap.merge_switch(theirs.switch) {
            Ok(Some(new)) => {
                let word = if new.on { "on" } else { "off" };
                let reason = new.reason.clone();
                let message = format!(
                    "automatic failover switched {word} by {} (learned from {})",
                    new.by,
                    self.peer_name()
                );
                self.record(EventKind::AutopilotSwitched, "the partner", reason.as_deref(), message)
                    .await;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot save the autopilot switch the partner sent"),
        }
    }

    /// `PUT /api/v1/autopilot`: switches automatic failover on or off for the pair; the partner is
    /// told by a heartbeat at once.
    pub async fn set_autopilot(
        &self,
        req: AutopilotRequest,
        actor: &str,
        by: &str,
    ) -> Result<AutopilotAnswer, Refusal> {
        if !self.autopilot.configured {
            return Err(Refusal::conflict(
                "automatic failover is not set up on this box: the IT contractor sets it up with a witness \
                 (`lbs-agent witness setup`, see docs/failover.md)",
            ));
        }
        let reason = super::super::clean(req.reason);
        if !req.on && reason.is_none() {
            return Err(Refusal::bad_request(
                "say why automatic failover is switched off (e.g. \"moving the witness to the new NAS\"): the office sees it until it is on again",
            ));
        }
        let who = one_line("Who switches it", req.by.as_deref().unwrap_or(by), 100)?;
        if let Some(r) = &reason {
            one_line("The reason", r, 500)?;
        }
        let mut changed = self.autopilot.switched_on() != req.on;
        if changed {
            // A person's change always wins: stamped after the switch it replaces, even if that
            // one came from a partner whose clock ran ahead.
            let after = self
                .autopilot
                .switch()
                .map_or(i64::MIN, |s| s.at_unix_ms.saturating_add(1));
            let switch = lbs_protocol::AutopilotSwitch {
                on: req.on,
                at_unix_ms: now_unix_ms().max(after),
                by: who.clone(),
                reason: reason.clone(),
            };
            changed = self
                .autopilot
                .merge_switch(Some(switch))
                .map_err(|e| Refusal::internal(format!("cannot save the switch: {e}")))?
                .is_some();
        }
        if changed {
            let word = if req.on { "on" } else { "off" };
            self.record(
                EventKind::AutopilotSwitched,
                actor,
                reason.as_deref(),
                format!("automatic failover switched {word} by {who}"),
            )
            .await;
        }
        let told = match (self.peer().await, changed) {
            (Some(peer), true) => {
                let answer = self.heartbeat_now(&peer, Duration::from_secs(4)).await;
                if let Ok(hb) = &answer {
                    // The answer carries the partner's switch: taken now, so this box's status
                    // agrees at once rather than at the next heartbeat.
                    self.autopilot_heard(hb.autopilot.clone(), hb.role, (hb.epoch, hb.epoch_owner.as_str()))
                        .await;
                }
                Some((peer, answer))
            }
            _ => None,
        };
        let partner = match told {
            None if self.peer().await.is_none() => PartnerNotice::Unpaired,
            None => PartnerNotice::NotAsked,
            Some((peer, answer)) => match answer {
                Ok(hb)
                    if hb
                        .autopilot
                        .as_ref()
                        .is_some_and(|a| a.switch == self.autopilot.switch()) =>
                {
                    PartnerNotice::Told { name: peer.name }
                }
                Ok(_) => PartnerNotice::NotTold {
                    name: peer.name.clone(),
                    message: format!(
                        "{}'s agent did not take the setting (an older agent, or not set up for automatic failover)",
                        peer.name
                    ),
                },
                Err(e) => PartnerNotice::NotTold {
                    name: peer.name,
                    message: format!(
                        "{}; it learns the setting from the next heartbeat it answers",
                        e.message
                    ),
                },
            },
        };
        Ok(AutopilotAnswer {
            status: self.autopilot_status().await,
            changed,
            partner,
        })
    }
}

/// A person's text for the switch: one line, bounded, not blank.
fn one_line(what: &str, value: &str, max: usize) -> Result<String, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Refusal::bad_request(format!("{what} is required")));
    }
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Refusal::bad_request(format!(
            "{what} must be one line of at most {max} characters"
        )));
    }
    Ok(value.to_owned())
}

/// A switch from the partner is kept and shown: one line of bounded text, like a person's.
fn plausible(s: &lbs_protocol::AutopilotSwitch) -> bool {
    let line = |t: &str, max: usize| t.chars().count() <= max && !t.chars().any(char::is_control);
    line(&s.by, 100) && s.reason.as_deref().is_none_or(|r| line(r, 500))
}

async fn backup_turn(f: &Arc<Failover>) {
    let ap = &f.autopilot;
    if f.role().reintegrating.is_some() || f.peer().await.is_none() {
        return;
    }
    let Some(silent) = partner_silent_for(f) else {
        let mut live = ap.live();
        live.held = None;
        live.sip_silent_rounds = 0;
        return;
    };
    let facts = f.autopilot_facts().await;
    if !policy::blockers(&facts).is_empty() {
        return;
    }
    // While the primary is silent the backup asks its PBX over SIP about once a second, during
    // the wait for the lease, so a takeover needs no extra wait once the key is gone. A PBX that
    // answers means only the agent is gone: the phones work, nothing moves.
    if silent >= crate::failover::heartbeat::timeout(ap.heartbeat)
        && ap.live().probed.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
    {
        f.probe_partner_pbx().await;
    }
    let (leader_absent, fresh, sip_silent) = {
        let live = ap.live();
        let fresh = live
            .leader_read
            .is_some_and(|t| t.elapsed() <= vote_step(ap.lease) * 2 + Duration::from_millis(500));
        let sip_silent = live.sip_silent_rounds >= policy::SILENT_SIP_ROUNDS
            && live.probed.is_some_and(|t| t.elapsed() < Duration::from_millis(1500));
        (live.leader.is_none(), fresh, sip_silent)
    };
    if sip_silent
        && policy::backup_verdict(&facts, leader_absent && fresh, Some(silent), ap.heartbeat, ap.lease)
            == Verdict::CheckSipThenTakeOver
    {
        f.take_over(silent).await;
    }
}

impl Failover {
    /// One round of SIP OPTIONS to the primary's own address (two tries); counts the rounds
    /// without an answer in a row, and holds the takeover back while the PBX answers or while
    /// there is nowhere to ask.
    async fn probe_partner_pbx(&self) {
        let ap = &self.autopilot;
        let partner = self.peer_name();
        let Some(target) = self.partner_sip().await else {
            {
                let mut live = ap.live();
                live.sip_silent_rounds = 0;
                live.probed = Some(Instant::now());
            }
            self.hold_back(format!(
                "{partner} does not answer, but {} cannot tell where to ask its phone system whether it still \
                 serves: set `partner_sip` in [failover] (e.g. \"192.168.1.11:5060\").",
                self.name()
            ))
            .await;
            return;
        };
        let ping = || crate::failover::sip::options_ping(target, Duration::from_millis(400));
        let answered = ping().await.is_ok() || ping().await.is_ok();
        {
            let mut live = ap.live();
            live.probed = Some(Instant::now());
            live.sip_silent_rounds = if answered { 0 } else { live.sip_silent_rounds + 1 };
        }
        if answered {
            self.hold_back(format!(
                "{partner}'s agent does not answer, but its phone system still answers at {target}: the phones work, \
                 so nothing moved. Restart lbs-agent on {partner} (`systemctl restart lbs-agent`) and look at its log."
            ))
            .await;
        }
    }

    /// The partner's own SIP address, where the backup checks whether its PBX still answers:
    /// `partner_sip`, or the partner's address (a name is looked up) on port 5060.
    async fn partner_sip(&self) -> Option<std::net::SocketAddr> {
        if let Some(a) = self.config.failover.partner_sip {
            return Some(a);
        }
        let peer = self.peer().await?;
        let host = peer.address.rsplit_once(':').map_or(peer.address.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Some(std::net::SocketAddr::new(ip, 5060));
        }
        let lookup = tokio::net::lookup_host((host.to_owned(), 5060));
        match tokio::time::timeout(Duration::from_secs(2), lookup).await {
            Ok(Ok(mut addrs)) => addrs.next(),
            _ => None,
        }
    }

    /// Records once (per incident) why the backup did not take over.
    async fn hold_back(&self, message: String) {
        {
            let mut live = self.autopilot.live();
            if live.held.as_deref() == Some(message.as_str()) {
                return;
            }
            live.held = Some(message.clone());
        }
        tracing::warn!(%message, "automatic failover held back");
        self.record(EventKind::AutopilotHeld, ACTOR, None, message).await;
    }

    /// Takes the leader key, then promotes this box (forced: the primary is gone), then records
    /// the automatic failover in the vote for the flap guard.
    async fn take_over(self: &Arc<Self>, silent: Duration) {
        let ap = &self.autopilot;
        let Some(vote) = ap.vote.clone() else { return };
        let own = self.role();
        let epoch = self.next_epoch(&own);
        let lease = match vote.grant(ap.lease.as_secs()).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "automatic failover: cannot take a lease");
                return;
            }
        };
        let record = super::Autopilot::leader_record(self, epoch);
        match vote.claim(&record, lease).await {
            Ok(None) => {}
            Ok(Some(other)) => {
                tracing::info!(holder = %other.record.name, "automatic failover: the leader key was taken meanwhile");
                let _ = vote.revoke(lease).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "automatic failover: cannot take the leader key");
                let _ = vote.revoke(lease).await;
                return;
            }
        }
        // The keeper renews this lease from now on, while the promotion runs.
        {
            let mut live = ap.live();
            live.leader = Some(crate::vote::Leader {
                record,
                lease,
                mod_revision: 0,
            });
            live.leader_read = Some(Instant::now());
            live.lease = Some(lease);
            live.renewed = Some(Instant::now());
            live.taking_over = true;
        }
        let partner = self.peer_name();
        let reason = format!(
            "automatic failover: {partner} did not answer for {} s, its lease in the vote expired and its phone system \
             did not answer",
            silent.as_secs()
        );
        tracing::warn!(%reason, "taking over");
        let result = self
            .promote(
                PromoteRequest {
                    force: true,
                    reason: Some(reason),
                },
                ACTOR,
            )
            .await;
        let promoted = matches!(&result, Ok(change) if !change.already) && self.role().role == Role::Primary;
        if !promoted {
            let why = match result {
                Ok(change) => change.message,
                Err(e) => e.message,
            };
            ap.live().taking_over = false;
            self.hold_back(format!("automatic failover did not complete: {why}"))
                .await;
            return;
        }
        let last = LastAutomatic {
            at_unix: now_unix(),
            server_id: self.identity.server_id.clone(),
            name: self.name().to_owned(),
            epoch: self.role().epoch,
        };
        {
            let mut live = ap.live();
            live.taking_over = false;
            live.by_a_person = false;
            live.guard_until = Some(Instant::now() + ap_guard(self));
            live.last_automatic = Some(last.clone());
        }
        if let Err(e) = vote.record_automatic(&last).await {
            tracing::warn!(error = %e, "cannot record the automatic failover in the vote; the flap guard holds on this box");
        }
    }

    /// At start, a primary whose partner did not answer asks the vote before it runs the PBX:
    /// if its partner may have taken over meanwhile, it starts fenced.
    pub(in crate::failover) async fn may_start_as_primary(&self) -> bool {
        let ap = &self.autopilot;
        let Some(vote) = ap.vote.clone() else { return true };
        match vote.leader().await {
            Ok(Some(l)) if l.record.server_id == self.identity.server_id => true,
            Ok(Some(l)) => {
                self.start_fenced(format!(
                    "{} started as the primary, but {} holds the leader key in the vote (epoch {}): it took over \
                     while this box was down. The phone system stays stopped; this box becomes the backup when it \
                     hears from {}.",
                    self.name(),
                    l.record.name,
                    l.record.epoch,
                    l.record.name
                ))
                .await;
                false
            }
            // Nobody holds it: this box takes it now, before its PBX runs, so that a takeover
            // under way on the partner either wins first or finds it taken.
            Ok(None) => match self.claim_at_start(&vote).await {
                Ok(None) => true,
                Ok(Some(holder)) => {
                    self.start_fenced(format!(
                        "{} started as the primary, but {} took the leader key in the vote just now: the phone \
                         system stays stopped; this box becomes the backup when it hears from {}.",
                        self.name(),
                        holder,
                        holder
                    ))
                    .await;
                    false
                }
                Err(e) => {
                    self.start_fenced(format!(
                        "{} started as the primary, but could not take the leader key in the vote ({e}): the phone \
                         system stays stopped until this box hears from its partner or holds the key.",
                        self.name()
                    ))
                    .await;
                    false
                }
            },
            Err(e) => {
                self.start_fenced(format!(
                    "{} started as the primary, but neither {} nor the vote answers ({e}): {} may have taken over. \
                     The phone system stays stopped until this box hears from one of them.",
                    self.name(),
                    self.peer_name(),
                    self.peer_name()
                ))
                .await;
                false
            }
        }
    }

    /// Takes a lease and the leader key for this box at its epoch; `Some(name)`: another box
    /// holds it.
    async fn claim_at_start(&self, vote: &crate::vote::Vote) -> Result<Option<String>, crate::vote::VoteError> {
        let ap = &self.autopilot;
        let sent = Instant::now();
        let lease = vote.grant(ap.lease.as_secs()).await?;
        let record = super::Autopilot::leader_record(self, self.role().epoch);
        match vote.claim(&record, lease).await? {
            None => {
                let mut live = ap.live();
                live.lease = Some(lease);
                live.renewed = Some(sent);
                Ok(None)
            }
            Some(other) => {
                let _ = vote.revoke(lease).await;
                Ok(Some(other.record.name))
            }
        }
    }

    /// Starts fenced: the PBX (which may have run on while the agent was down) is stopped and the
    /// address let go, as a fence would.
    async fn start_fenced(&self, message: String) {
        tracing::error!(%message, "starting fenced");
        let _g = self.changing.lock().await;
        self.autopilot.live().fenced = Some(Fence {
            since_unix: now_unix(),
            message: message.clone(),
        });
        let own = self.role();
        let mut steps = self.steps("Fencing");
        self.stop_steps(&mut steps, &own).await;
        *lock(&self.busy) = None;
        let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
        let message = if failed.is_empty() {
            message
        } else {
            format!("{message} Some steps failed: {}", failed.join("; "))
        };
        self.record(EventKind::Fenced, ACTOR, None, message).await;
    }
}
