//! What `GET /api/v1/failover` shows, and the PBX watch that feeds part of it.

use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{FailoverStatus, HoldStatus, PbxStatus, Role};

use lbs_protocol::EventKind;

use super::{lock, Backlog, Failover, Refusal};
use crate::clock::now_unix;

impl Failover {
    pub async fn status(&self) -> Result<FailoverStatus, Refusal> {
        let own = self.role();
        let partner = self.partner_view();
        let peer = self.peer().await;
        let now = now_unix();
        // (how long the current primary has held the role, whether it took it from its partner,
        // files and bytes not yet on the backup, whether the backup is caught up)
        let (primary_for, took_over, files, bytes, caught_up) = match own.role {
            Role::Primary => {
                let acked = self.sync.tracker.peer_acked();
                let pending = self.sync.journal.pending_after(acked).await?;
                let caught_up = peer.is_some() && partner.reachable && Backlog::of(&pending).is_none();
                let (files, bytes) = totals(&pending);
                (
                    Some((now - own.since_unix).max(0) as u64),
                    own.took_over(),
                    files,
                    bytes,
                    caught_up,
                )
            }
            Role::Backup => {
                let pending = self.sync.queue.pending().await?;
                let primary = partner.last.as_ref().filter(|hb| hb.role == Role::Primary);
                let link_ok = self
                    .sync
                    .tracker
                    .link_view()
                    .is_some_and(|l| l.state == lbs_protocol::SyncLinkState::Ok);
                // The primary also counts what this box has not fetched yet.
                let (mut files, mut bytes) = totals(&pending);
                let mut theirs_ok = true;
                if let Some(hb) = primary {
                    files = files.max(hb.unapplied_files);
                    bytes = bytes.max(hb.unapplied_bytes);
                    theirs_ok =
                        Backlog::from(hb.unapplied_files, hb.unapplied_bytes, hb.unapplied_oldest_unix).is_none();
                }
                let caught_up = Backlog::of(&pending).is_none() && theirs_ok && link_ok;
                let took_over = primary.is_none_or(|hb| hb.took_over());
                // By the primary's own clock: the hold does not depend on the clocks agreeing.
                let primary_for = primary.and_then(|_| partner.role_for_secs());
                (primary_for, took_over, files, bytes, caught_up)
            }
        };
        let hold = self.config.failover.hold;
        let held = primary_for;
        let pbx = lock(&self.pbx_view).clone();
        let handing_over = lock(&self.handover).is_some();
        let busy = lock(&self.busy).clone();
        let last_change = lock(&self.last_change).clone();
        let mut address = self.address.status().await;
        if let Some(p) = &peer {
            address.warning = self.address.partner_warning(&p.name, &p.address).await;
        }
        let quarantined_files = self.quarantine.open_count().await?;
        Ok(FailoverStatus {
            role: own.role,
            standing: self.role.standing(),
            epoch: own.epoch,
            epoch_owner: own.epoch_owner.clone(),
            role_since_unix: own.since_unix,
            busy,
            hold: HoldStatus {
                hold_secs: hold,
                primary_for_secs: held,
                // A primary since the pair was set up: no hold to wait out.
                remaining_secs: held.map(|h| if took_over { hold.saturating_sub(h) } else { 0 }),
                took_over,
                caught_up,
                pending_files: files,
                pending_bytes: bytes,
            },
            pbx: PbxStatus {
                managed: self.pbx.managed(),
                running: pbx.running,
                // Not before a box starting as the primary has asked its partner.
                should_run: own.role == Role::Primary
                    && !handing_over
                    && self.autopilot.fenced().is_none()
                    && self.role.standing() != lbs_protocol::RoleStanding::Unconfirmed,
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
                checked: partner.checked(),
                role: partner.last.as_ref().map(|h| h.role),
                epoch: partner.last.as_ref().map(|h| h.epoch),
                role_since_unix: partner.role_since_here(),
                last_contact_unix: partner.last_contact,
                message: partner.message.clone(),
                clock_offset_secs: partner.clock.map(|c| c.offset_secs()),
                clock_problem: partner.clock.and_then(|c| {
                    let name = peer.as_ref().map_or("the partner", |p| p.name.as_str());
                    c.problem(name, self.clock_tolerance_ms())
                }),
            },
            quarantined_files,
            last_change,
            autopilot: Some(self.autopilot_status().await),
        })
    }
}

/// Files and bytes over all categories.
fn totals(pending: &std::collections::HashMap<String, lbs_sync::journal::Tally>) -> (u64, u64) {
    pending.values().fold((0, 0), |(f, b), t| (f + t.files, b + t.bytes))
}

/// What became of a PBX the agent found running on the backup.
enum Stopped {
    /// Stopped, as the stop command's step says.
    By(String),
    /// No stop command is configured.
    NoCommand,
    /// The stop command failed, or the PBX still runs.
    Failed(String),
}

/// What the audit log and the status say when the PBX was found running on the backup: why it is
/// stopped, what became of it, how to try this box's PBX instead, and, during maintenance (whose
/// alert about it is held), that maintenance does not keep it running.
fn pbx_on_backup(stopped: Stopped, in_maintenance: bool) -> String {
    let what = match stopped {
        Stopped::By(how) => format!("the agent stopped it ({how})"),
        Stopped::NoCommand => {
            "no stop command is configured ([pbx] stop), so the agent could not stop it; stop it by hand".into()
        }
        Stopped::Failed(e) => format!("the agent could not stop it ({e}); stop it by hand"),
    };
    let maintenance = if in_maintenance {
        " Maintenance does not change this: it is the one thing the agent still does on its own."
    } else {
        ""
    };
    format!(
        "The PBX was running on this backup box, beside the primary: two running PBXs would split the phones \
         (both could answer calls and register the trunks). {what}.{maintenance} To try this box's PBX, switch \
         over (`lbs-agent switchover`, or Switch over in the console)."
    )
}

/// Checks, every `check_interval`, that the PBX runs where it should: on the backup it must not
/// (it could answer phones or register trunks beside the primary), so the agent stops it and
/// records the violation, during maintenance too (the one automatic action maintenance does not
/// hold back: it keeps the office from two PBXs, it does not act on the pair); on the primary a
/// stopped PBX is reported.
pub(super) async fn watch_pbx(f: Arc<Failover>) {
    let mut tick = tokio::time::interval(Duration::from_secs(f.config.pbx.check_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if f.config.pbx.running.is_empty() {
            continue;
        }
        // Not while a role change is starting or stopping it.
        let Ok(guard) = f.changing.try_lock() else { continue };
        let own = f.role();
        let running = f.pbx.running().await;
        let handing_over = lock(&f.handover).is_some();
        let problem = match (own.role, running) {
            (Role::Backup, Some(true)) => {
                let stopped = match f.pbx.stop().await {
                    Ok(_) if !f.pbx.managed() => Stopped::NoCommand,
                    Ok(how) => Stopped::By(how),
                    Err(e) => Stopped::Failed(e.to_string()),
                };
                let message = pbx_on_backup(stopped, f.maintenance.active_now().is_some());
                f.record(EventKind::PbxViolation, "the agent", None, message.clone())
                    .await;
                Some(message)
            }
            (Role::Primary, Some(false)) if f.autopilot.fenced().is_some() => f.autopilot.fenced().map(|fence| fence.message),
            // A fence whose stop failed, or a PBX someone started since: it must not run while
            // the partner may take over.
            (Role::Primary, Some(true)) if f.autopilot.fenced().is_some() => {
                let mut steps = f.steps("Fencing");
                f.stop_steps(&mut steps, &own).await;
                *lock(&f.busy) = None;
                let outcome = steps
                    .list
                    .iter()
                    .map(|s| format!("{}: {}", s.label, s.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                let message = format!(
                    "The PBX was running on this primary although it is fenced (cut off from its partner and the \
                     vote, which may let the partner take over): the agent stopped it again ({outcome})."
                );
                f.record(EventKind::PbxViolation, "the agent", None, message.clone()).await;
                Some(message)
            }
            (Role::Primary, Some(false))
                if !handing_over && f.role.standing() != lbs_protocol::RoleStanding::Unconfirmed =>
            {
                Some(
                "The PBX is not running on the primary, so phones cannot call. Start it (`lbs-agent promote` checks \
                 and starts it) and look at the PBX's own log."
                    .to_string(),
                )
            }
            _ => None,
        };
        drop(guard);
        let mut view = lock(&f.pbx_view);
        view.running = running;
        view.problem = problem;
        view.checked = Some(now_unix());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pbx_stopped_on_the_backup_says_why_and_how_to_try_it_even_during_maintenance() {
        let usual = pbx_on_backup(Stopped::By("stopped with `pbx-stop`".into()), false);
        assert!(usual.contains("two running PBXs would split the phones"), "{usual}");
        assert!(
            usual.contains("the agent stopped it (stopped with `pbx-stop`)"),
            "{usual}"
        );
        assert!(usual.contains("To try this box's PBX, switch over"), "{usual}");
        assert!(!usual.contains("Maintenance"), "{usual}");
        assert!(pbx_on_backup(Stopped::NoCommand, false).contains("no stop command is configured"));
        let during = pbx_on_backup(Stopped::By("stopped".into()), true);
        assert!(during.contains("Maintenance does not change this"), "{during}");
        let failed = pbx_on_backup(Stopped::Failed("exit status 1".into()), true);
        assert!(
            failed.contains("could not stop it (exit status 1); stop it by hand"),
            "{failed}"
        );
    }
}
