//! Promote and demote, and the steps they share: the primary's (restore, start the PBX, take the
//! address, check the PBX answers) and their reverse.

use std::time::Instant;

use lbs_protocol::{DemoteRequest, PromoteRequest, Role, RoleChange};

use lbs_protocol::EventKind;

use super::{clean, lock, Failover, Refusal, Steps};
use crate::clock::now_unix;
use crate::role::RoleState;

impl Failover {
    pub async fn promote(&self, req: PromoteRequest, actor: &str) -> Result<RoleChange, Refusal> {
        let reason = clean(req.reason);
        if req.force && reason.is_none() {
            return Err(Refusal::bad_request(
                "a forced promotion (unplanned failover) needs a reason, e.g. \"PBX A does not start; unplugged at 10:40\"",
            ));
        }
        let _g = self.changing.lock().await;
        let started = (now_unix(), Instant::now());
        let own = self.role();
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
        let epoch = self.next_epoch(&own);
        let Some(dropped) = self.become_primary(&mut steps, epoch).await else {
            let why = steps.list.last().map(|s| s.detail.clone()).unwrap_or_default();
            return Err(Refusal::conflict(format!(
                "this box could not write its new role to disk ({why}); nothing changed. Check the disk holding {}, then promote again",
                self.config.server.state_dir.display()
            )));
        };
        let kind = if req.force {
            "promoted (unplanned failover)"
        } else {
            "promoted"
        };
        let message = self.primary_message(&steps, dropped);
        self.record(
            EventKind::Promoted,
            actor,
            reason.as_deref(),
            format!("{kind}: {message}"),
        )
        .await;
        let now = self.role();
        Ok(self.finish("promote", false, &now, steps, started, message))
    }

    /// The epoch this box takes when it becomes the primary: above its own and any it heard.
    pub(super) fn next_epoch(&self, own: &RoleState) -> u64 {
        let seen = lock(&self.partner).last.as_ref().map_or(0, |hb| hb.epoch);
        own.epoch.max(seen) + 1
    }

    /// Takes the primary role at `epoch` (from `next_epoch`), then runs the primary's steps.
    /// Returns the pending changes dropped (data the old primary never delivered), or `None` if
    /// the new role could not be recorded (then nothing changed).
    pub(super) async fn become_primary(&self, steps: &mut Steps<'_>, epoch: u64) -> Option<u64> {
        let next = RoleState {
            role: Role::Primary,
            epoch,
            epoch_owner: self.identity.server_id.clone(),
            since_unix: now_unix(),
            reintegrating: None,
            promoted: Some(true),
        };
        // No dump on this box until the received dumps are loaded and the PBX runs on them:
        // the sync starts dumping as soon as the role says primary (see `hold_dumps`).
        let _hold = self.sync.hold_dumps();
        // Also across a failed restore or a restart: until each is loaded, nothing dumps over it.
        let databases = self.sync.sources.categories.iter().filter(|c| !c.restore.is_empty());
        if let Err(e) = self.sync.restores_to_do(databases.map(|c| c.name.clone())) {
            tracing::error!(error = %e, "cannot record the restores still to do; they run in this promotion only");
        }
        let label = format!("Record the new role: primary at epoch {}", next.epoch);
        if !steps.run("persist", label, self.set_role(next.clone())).await {
            return None;
        }
        // Until it holds the vote's leader key, a primary made by a person does not fence itself
        // (the autopilot's own promotion holds it already and clears this at once).
        self.autopilot.person_made_primary();
        // What the old primary never delivered cannot be fetched any more; it is quarantined
        // there when that box comes back.
        let dropped = self.sync.queue.clear_pending().await.unwrap_or(0);
        self.primary_steps(steps, &next, true).await;
        Some(dropped)
    }

    pub(super) fn primary_message(&self, steps: &Steps, dropped: u64) -> String {
        let mut m = if steps.ok() {
            format!("{} is now the primary and the PBX answers.", self.name())
        } else {
            let failed: Vec<&str> = steps.list.iter().filter(|s| !s.ok).map(|s| s.label.as_str()).collect();
            format!(
                "{} is now the primary, but some steps failed ({}); fix the cause, then promote again to retry them \
                 (a database that could not be loaded is loaded when the agent starts again: systemctl restart lbs-agent).",
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

    /// Restore (on a real promotion, and whatever a promotion left to load), start the PBX,
    /// take the address, check the PBX answers.
    pub(super) async fn primary_steps(&self, steps: &mut Steps<'_>, role: &RoleState, restore: bool) {
        let to_load = self
            .sync
            .sources
            .categories
            .iter()
            .filter(|c| !c.restore.is_empty() && (restore || self.sync.restore_pending(&c.name)));
        for c in to_load {
            let label = format!("Load the latest {} dump", c.label());
            let loaded = steps
                .run("restore", label, async {
                    crate::sync::dump::restore(c)
                        .await
                        .map(|_| "loaded".to_string())
                        .map_err(Refusal::internal)
                })
                .await;
            if loaded {
                self.sync.restore_done(&c.name);
            }
        }
        steps.run("start_pbx", "Start the PBX".into(), self.pbx.start()).await;
        let ctx = self.hook_context(role);
        steps
            .run(
                "take_address",
                self.address.step_label("Move the address to this box"),
                self.address.take(&ctx),
            )
            .await;
        steps
            .run(
                "check_pbx",
                "Check that the PBX answers".into(),
                self.pbx.wait_answering(),
            )
            .await;
    }

    /// Stop the PBX and let the address go (demotion, handover, reintegration).
    pub(super) async fn stop_steps(&self, steps: &mut Steps<'_>, role: &RoleState) {
        steps.run("stop_pbx", "Stop the PBX".into(), self.pbx.stop()).await;
        let ctx = self.hook_context(role);
        steps
            .run(
                "release_address",
                self.address.step_label("Release the address"),
                self.address.release(&ctx),
            )
            .await;
    }

    /// What a primary does before it hands over (a demotion, a switchover's prepare): stop the
    /// PBX, let the address go, then dump the databases and journal every last change.
    pub(super) async fn stand_down(&self, steps: &mut Steps<'_>, role: &RoleState) {
        self.stop_steps(steps, role).await;
        steps
            .run(
                "final_dump",
                "Final dump of the databases and journal of every change".into(),
                async {
                    crate::sync::primary::flush(&self.sync, true)
                        .await
                        .map_err(Refusal::internal)
                },
            )
            .await;
    }

    // ---- Demote ---------------------------------------------------------------------------

    pub async fn demote(&self, req: DemoteRequest, actor: &str) -> Result<RoleChange, Refusal> {
        let reason = clean(req.reason);
        let _g = self.changing.lock().await;
        let started = (now_unix(), Instant::now());
        let own = self.role();
        let mut steps = self.steps("Demoting");
        if own.role == Role::Backup {
            self.stop_steps(&mut steps, &own).await;
            let message = format!(
                "{} is already a backup; the PBX is stopped and the address released.",
                self.name()
            );
            return Ok(self.finish("demote", true, &own, steps, started, message));
        }
        self.stand_down(&mut steps, &own).await;
        let next = RoleState {
            role: Role::Backup,
            since_unix: now_unix(),
            promoted: Some(false),
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
        self.record(EventKind::Demoted, actor, reason.as_deref(), message.clone())
            .await;
        Ok(self.finish("demote", false, &next, steps, started, message))
    }
}
