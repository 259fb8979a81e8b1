//! Reintegration, and the role found at start. A primary that learns of a higher epoch lost its
//! role while away: it records that it is a backup (stepping down), stops the PBX and lets the
//! address go, sets aside what it wrote that the partner never got, then starts receiving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::{Heartbeat, Role, RoleStanding};

use lbs_protocol::EventKind;

use super::{lock, quarantine, Failover, Steps};
use crate::clock::now_unix;
use crate::role::{Reintegration, RoleState};

impl Failover {
    /// This primary learned of a higher epoch: it lost its role while away. It records at once
    /// that it is a backup (stepping down), stops the PBX and lets the address go, sets aside
    /// what it wrote that the partner never got, and then starts receiving.
    pub(super) async fn reintegrate(self: &Arc<Self>, hb: Heartbeat) {
        let _g = self.changing.lock().await;
        let own = self.role();
        if own.role != Role::Primary || (hb.epoch, hb.epoch_owner.as_str()) <= own.rank() {
            return;
        }
        let started = (now_unix(), Instant::now());
        let acked = self.sync.journal.peer_acked().await.unwrap_or(0);
        let mut steps = self.steps("Reintegrating");
        // The new role is recorded before anything is stopped: from this moment this box says
        // it is a backup stepping down, never a second primary while its PBX takes its time.
        let next = RoleState {
            role: Role::Backup,
            epoch: hb.epoch,
            epoch_owner: hb.epoch_owner.clone(),
            since_unix: now_unix(),
            reintegrating: Some(Reintegration {
                acked,
                lost_epoch: own.epoch,
            }),
            promoted: Some(false),
        };
        self.role.set_standing(RoleStanding::SteppingDown);
        let recorded = steps
            .run("persist", "Record the new role: backup".into(), self.set_role(next))
            .await;
        if !recorded {
            // Without the record a restart would come back as the primary; stopping the PBX
            // anyway keeps the phones on one box.
            tracing::error!("cannot record the new role; stopping the PBX anyway");
        }
        self.record(
            EventKind::Reintegrating,
            "the agent",
            None,
            format!(
                "the partner is the primary at epoch {} (this box had epoch {}): this box is becoming the backup and stops its PBX",
                hb.epoch, own.epoch
            ),
        )
        .await;
        self.stop_steps(&mut steps, &own).await;
        self.role.set_standing(RoleStanding::Settled);
        self.finish_reintegration(&mut steps).await;
        let now = self.role();
        let message = steps
            .list
            .iter()
            .find(|s| s.step == "quarantine")
            .map(|s| s.detail.clone())
            .unwrap_or_default();
        self.finish("reintegrate", false, &now, steps, started, message);
    }

    /// Tries again to finish a reintegration whose quarantine step failed (the heartbeat calls
    /// it); does nothing while another role change runs.
    pub(super) async fn resume_reintegration(&self) {
        let Ok(_g) = self.changing.try_lock() else { return };
        if self.role().reintegrating.is_none() {
            return;
        }
        let mut steps = self.steps("Reintegrating");
        self.finish_reintegration(&mut steps).await;
        *lock(&self.busy) = None;
    }

    /// The quarantine part of a reintegration (also resumed at start after a crash).
    pub(super) async fn finish_reintegration(&self, steps: &mut Steps<'_>) {
        let own = self.role();
        let Some(r) = own.reintegrating else { return };
        let label = "Set aside the files written here since the partner's last copy".to_string();
        let moved = steps.run("quarantine", label, quarantine::set_aside(self, r)).await;
        if !moved {
            // Nothing is applied from the new primary until the move succeeded; the heartbeat
            // tries again.
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
            EventKind::Reintegrated,
            "the agent",
            None,
            format!("reintegrated as the backup ({detail}); {quarantined}"),
        )
        .await;
    }

    /// The role found at start: resume a reintegration; as the primary, ask the partner first
    /// (an old primary coming back must not start its PBX beside the new one), then make sure
    /// the PBX runs and the address is here; as the backup, make sure the PBX is stopped.
    pub(super) async fn settle_at_start(self: &Arc<Self>) {
        let own = self.role();
        if own.reintegrating.is_some() {
            let _g = self.changing.lock().await;
            let mut steps = self.steps("Reintegrating");
            // A crash may have come between recording the role and stopping the PBX.
            if self.pbx.managed() {
                self.stop_steps(&mut steps, &own).await;
            }
            self.finish_reintegration(&mut steps).await;
            *lock(&self.busy) = None;
            return;
        }
        match own.role {
            Role::Primary => {
                // Standing is `Unconfirmed` until the partner has been asked (see `RoleWriter::load`).
                let mut answered = false;
                if let Some(peer) = self.peer().await {
                    if let Ok(hb) = self.heartbeat_now(&peer, Duration::from_secs(3)).await {
                        if (hb.epoch, hb.epoch_owner.as_str()) > own.rank() {
                            self.reintegrate(hb).await;
                            return;
                        }
                        answered = true;
                    }
                }
                // With automatic failover, a silent partner may have taken over meanwhile: the
                // vote says whether the PBX may run (else this box starts fenced).
                if !answered && self.autopilot.configured() && !self.may_start_as_primary().await {
                    self.role.set_standing(RoleStanding::Settled);
                    return;
                }
                let _g = self.changing.lock().await;
                // The partner's own heartbeat (or a pairing) may have made this box a backup
                // while it waited for the lock: act on the role as it is now.
                let own = self.role();
                if own.role != Role::Primary {
                    return;
                }
                self.role.set_standing(RoleStanding::Settled);
                let mut steps = self.steps("Starting as the primary");
                self.primary_steps(&mut steps, &own, false).await;
                *lock(&self.busy) = None;
                if !steps.ok() {
                    let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
                    self.record(
                        EventKind::StepFailed,
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
}
