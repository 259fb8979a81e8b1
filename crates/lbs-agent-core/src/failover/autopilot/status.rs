//! What a box says about automatic failover: the facts the rules read, the blockers in the office
//! manager's words, and one summary sentence.

use std::time::{Duration, Instant};

use lbs_protocol::{AutomaticFailover, AutopilotBlocker, AutopilotSettings, AutopilotStatus, BlockerKind, Role};

use super::policy::{self, Facts};
use crate::clock::now_unix;
use crate::config::Prefer;
use crate::failover::{lock, Failover};

/// Whole seconds or minutes, as a person says them.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else {
        format!("{} h", s / 3600)
    }
}

impl Failover {
    /// What the rules read, as this box knows it now.
    pub(crate) async fn autopilot_facts(&self) -> Facts {
        let ap = &self.autopilot;
        let own = self.role();
        let lag = match own.role {
            // The backup's lag as the primary last said it (by the primary's own clock).
            Role::Backup => lock(&self.partner)
                .last
                .as_ref()
                .filter(|hb| hb.role == Role::Primary)
                .map(|hb| {
                    if hb.unapplied_files == 0 {
                        Duration::ZERO
                    } else {
                        let now = hb.now_unix_ms.map_or_else(now_unix, |ms| ms / 1000);
                        Duration::from_secs(hb.unapplied_oldest_unix.map_or(0, |o| (now - o).max(0) as u64))
                    }
                }),
            Role::Primary => {
                let acked = self.sync.tracker.peer_acked();
                let pending = self.sync.journal.pending_after(acked).await.unwrap_or_default();
                let oldest = pending.values().filter_map(|t| t.oldest_unix).min();
                Some(Duration::from_secs(
                    oldest.map_or(0, |o| (now_unix() - o).max(0) as u64),
                ))
            }
        };
        let partner_epoch = lock(&self.partner).last.as_ref().map(|hb| hb.epoch);
        let partner_answered = lock(&self.partner).last.is_some();
        let live = ap.live();
        let witness = ap.vote.as_ref().map(|v| v.witness_index());
        let members = ap.vote.as_ref().map(|v| v.members()).unwrap_or_default();
        Facts {
            configured: ap.configured,
            paired: self.peer.try_read().map(|p| p.is_some()).unwrap_or(true),
            // An agent that answers without saying anything of the autopilot is an older one.
            partner_configured: live
                .partner
                .as_ref()
                .map(|p| p.configured)
                .or(partner_answered.then_some(false)),
            partner_agrees: live.partner.as_ref().is_some_and(|p| p.switch == ap.switch()),
            switched_on: ap.switched_on(),
            maintenance: self.maintenance.active_now().is_some(),
            quorum: live.quorum,
            // Not asked yet (just started) is not out of reach: no warning before the first answer.
            witness_reachable: witness
                .and_then(|i| members.get(i))
                .is_none_or(|m| m.reachable || m.unreachable_since_unix.is_none()),
            lag,
            prefer_service: self.config.failover.prefer == Prefer::Service,
            caught_up_within: Duration::from_secs(self.config.failover.caught_up_within),
            flap_guard_left: live.guard_until.map(|u| u.saturating_duration_since(Instant::now())),
            primary_without_key: match own.role {
                Role::Primary => live
                    .leader
                    .as_ref()
                    .is_none_or(|l| l.record.server_id != self.identity.server_id),
                Role::Backup => partner_epoch.is_none_or(|e| live.partner_key_epoch != Some(e)),
            },
        }
    }

    /// `GET /api/v1/autopilot`, and `autopilot` in the failover status.
    pub async fn autopilot_status(&self) -> AutopilotStatus {
        let facts = self.autopilot_facts().await;
        let ap = &self.autopilot;
        let me = self.name().to_owned();
        let partner = self.peer_name();
        let own = self.role();
        let (primary, backup) = match own.role {
            Role::Primary => (me.clone(), partner.clone()),
            Role::Backup => (partner.clone(), me.clone()),
        };
        let live = ap.live();
        let now = Instant::now();
        let to_unix = |t: Instant| now_unix() + (t.saturating_duration_since(now).as_secs() as i64);
        let switch = ap.switch();
        let quorum_since = live.quorum_changed_unix;
        let members = ap.vote.as_ref().map(|v| v.members()).unwrap_or_default();
        let witness_since = ap
            .vote
            .as_ref()
            .and_then(|v| members.get(v.witness_index()))
            .and_then(|m| m.unreachable_since_unix);
        let blocker = |kind: BlockerKind| -> AutopilotBlocker {
            let (since, until, message) = match kind {
                BlockerKind::NotSetUp => (
                    None,
                    None,
                    match &ap.problem {
                        Some(p) => format!(
                            "Automatic failover is set up on {me} but cannot work: {p}. Run `lbs-agent witness setup --again` on both boxes."
                        ),
                        None => "Automatic failover is not set up: a person decides each failover. The IT contractor can set it up with a witness machine (`lbs-agent witness setup`, see docs/failover.md).".into(),
                    },
                ),
                BlockerKind::NotPaired => (None, None, format!("{me} has no partner: pair it with its backup first.")),
                BlockerKind::SwitchedOff => {
                    let s = switch.clone();
                    let who = s.as_ref().map_or("someone".to_string(), |s| s.by.clone());
                    let why = s.as_ref().and_then(|s| s.reason.clone()).map(|r| format!(" (\"{r}\")")).unwrap_or_default();
                    (
                        s.map(|s| s.at_unix_ms / 1000),
                        None,
                        format!("{who} switched automatic failover off{why}. Switch it on again when the work is done."),
                    )
                }
                BlockerKind::PartnerNotSetUp => (
                    None,
                    None,
                    match (facts.partner_configured, live.partner.is_some()) {
                        (None, _) => format!("{partner} has not answered since {me}'s agent started: automatic failover waits until it has heard from it once."),
                        (Some(false), false) => format!("{partner} runs an older agent that knows no automatic failover: upgrade it, then run `lbs-agent witness setup` on it."),
                        (Some(false), true) => format!("{partner} is not set up for automatic failover: run `lbs-agent witness setup` on it."),
                        (Some(true), _) => format!("{partner} has not heard of the latest switch yet: automatic failover waits until it has (it learns it from the next heartbeat it answers)."),
                    },
                ),
                BlockerKind::Maintenance => (
                    None,
                    self.maintenance.active_now().map(|m| m.until_unix),
                    "Maintenance is on: nothing happens by itself until it ends.".into(),
                ),
                BlockerKind::NoQuorum => (
                    quorum_since,
                    None,
                    format!(
                        "{me} cannot reach the vote (the witness and {partner}): automatic failover is off until it can. The phones are not affected; check the witness machine and the network."
                    ),
                ),
                BlockerKind::WitnessUnreachable => (
                    witness_since,
                    None,
                    "The witness does not answer. Automatic failover still works, but one more lost box would stop it: check the witness machine.".into(),
                ),
                BlockerKind::BackupBehind => (
                    None,
                    None,
                    match facts.lag {
                        Some(lag) => format!(
                            "{backup} is {} behind {primary} (more than the {} the pair accepts): taking over by itself would lose recordings, so a person decides. It is on again once {backup} has caught up.",
                            span(lag),
                            span(facts.caught_up_within)
                        ),
                        None => format!("{backup} has no recent word from {primary} on how far behind it is: a person decides."),
                    },
                ),
                BlockerKind::FlapGuard => (
                    live.last_automatic.as_ref().map(|l| l.at_unix),
                    live.guard_until.map(to_unix),
                    "An automatic failover happened recently: the next one waits out the flap guard, so a flapping link cannot move the phones back and forth. A person can still fail over.".into(),
                ),
                BlockerKind::NotLeader => (
                    None,
                    None,
                    format!("{primary} has not taken the leader key in the vote yet: automatic failover starts once it has (a few seconds after it becomes the primary, as soon as it reaches the vote)."),
                ),
            };
            AutopilotBlocker {
                kind,
                since_unix: since,
                until_unix: until,
                message,
            }
        };
        let mut blockers: Vec<AutopilotBlocker> = policy::blockers(&facts).into_iter().map(blocker).collect();
        let armed = blockers.is_empty();
        blockers.extend(policy::warnings(&facts).into_iter().map(blocker));
        let about = policy::takeover_after(ap.heartbeat, ap.lease).max(ap.lease) + Duration::from_secs(1);
        let fenced = live.fenced.clone();
        let summary = if let Some(f) = &fenced {
            f.message.clone()
        } else if let Some(why) = live.held.as_ref().filter(|_| own.role == Role::Backup) {
            format!("Held back: {why}")
        } else if armed {
            format!(
                "On autopilot: if {primary} fails, {backup} takes over by itself within about {}.",
                span(about)
            )
        } else if !ap.configured {
            blockers.first().map(|b| b.message.clone()).unwrap_or_default()
        } else {
            format!(
                "Not on autopilot: {}",
                blockers.first().map(|b| b.message.as_str()).unwrap_or("")
            )
        };
        AutopilotStatus {
            configured: ap.configured,
            switch,
            armed,
            blockers,
            members,
            quorum: live.quorum,
            leader: live.leader.as_ref().map(|l| l.record.name.clone()),
            last_automatic: live.last_automatic.as_ref().map(|l| AutomaticFailover {
                at_unix: l.at_unix,
                by: l.name.clone(),
                epoch: l.epoch,
            }),
            fenced,
            held: live.held.clone(),
            settings: AutopilotSettings {
                lease_secs: ap.lease.as_secs(),
                takeover_secs: about.as_secs(),
                prefer_service: self.config.failover.prefer == Prefer::Service,
                caught_up_within_secs: self.config.failover.caught_up_within,
                flap_guard_secs: self.config.failover.flap_guard,
            },
            summary,
        }
    }
}
