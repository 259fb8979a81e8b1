//! A planned switchover: run by the backup (a primary forwards it), which asks the primary to
//! stop and flush (the handover, the primary's side, below), waits until it holds every change,
//! then promotes itself. Nothing is lost: the PBX is stopped before the last changes are collected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::{HandoverRequest, HandoverResponse, HandoverStep, Heartbeat, Role, RoleChange, SwitchoverRequest};

use lbs_protocol::EventKind;

use super::{clean, lock, Backlog, Failover, Refusal, Steps};
use crate::clock::now_unix;
use crate::peer::{CallError, Peer};
use crate::role::RoleState;
use crate::units::human_secs;

impl Failover {
    /// A switchover the office manager asked of the partner (the primary), which forwards it:
    /// this box, the backup, runs it.
    pub async fn switchover_for_partner(
        &self,
        peer: &Peer,
        req: lbs_protocol::ForwardedSwitchover,
    ) -> Result<RoleChange, Refusal> {
        if self.role().role == Role::Primary {
            return Err(Refusal::conflict(
                "both boxes say they are the primary; wait a few seconds for the older one to step down",
            ));
        }
        let actor = format!("{} (asked on {})", req.actor, peer.name);
        self.switchover(req.request, &actor).await
    }

    pub async fn switchover(&self, req: SwitchoverRequest, actor: &str) -> Result<RoleChange, Refusal> {
        let reason = clean(req.reason.clone());
        if req.override_guards && reason.is_none() {
            return Err(Refusal::bad_request(
                "overriding the switchover's guards needs a reason, which goes into the audit log",
            ));
        }
        let own = self.role();
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
        let now = self.role();
        let message = match change {
            Ok(dropped) => self.primary_message(&steps, dropped),
            Err(why) => why.message,
        };
        let overridden = if problems.is_empty() {
            String::new()
        } else {
            format!(" (guards overridden: {})", problems.join(" "))
        };
        self.record(
            EventKind::Switchover,
            actor,
            reason.as_deref(),
            format!("switchover from {}: {message}{overridden}", peer.name),
        )
        .await;
        Ok(self.finish("switchover", false, &now, steps, started, message))
    }

    /// Why switching over now is not advised: the hold period, changes still to copy.
    pub(super) async fn switchover_guards(&self, peer: &Peer, hb: &Heartbeat) -> Vec<String> {
        let mut problems = Vec::new();
        // By the primary's own clock (just asked): not the clocks' difference.
        let held = super::clock_skew::role_for_secs(hb, std::time::Duration::ZERO);
        let hold = self.config.failover.hold;
        // A primary since the pair was set up has nothing to copy back: no hold.
        if held < hold && hb.took_over() {
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
        // What this box has fetched but not applied, or what the primary says it has not applied
        // (which also counts what it has not fetched yet), whichever is more.
        let pending = self.sync.queue.pending().await.unwrap_or_default();
        let theirs = Backlog::from(hb.unapplied_files, hb.unapplied_bytes, hb.unapplied_oldest_unix);
        let ours = Backlog::of(&pending);
        let worst = match (ours, theirs) {
            (Some(a), Some(b)) => Some(if b.files > a.files { b } else { a }),
            (a, b) => a.or(b),
        };
        if let Some(backlog) = worst {
            problems.push(format!(
                "{} changes ({}) are still to copy from {}, the oldest for {}.",
                backlog.files,
                crate::units::human_bytes(backlog.bytes),
                peer.name,
                human_secs(backlog.oldest_secs)
            ));
        }
        problems
    }

    pub(super) async fn run_switchover(
        &self,
        peer: &Peer,
        steps: &mut Steps<'_>,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<u64, Refusal> {
        let next_epoch = self.next_epoch(&self.role());
        let ask = |step| HandoverRequest {
            step,
            actor: actor.to_owned(),
            reason: reason.map(str::to_owned),
            next_epoch: (step == HandoverStep::Complete).then_some(next_epoch),
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
                    Err(Refusal::unavailable(detail.join("; ")))
                } else {
                    Ok(detail.join("; "))
                }
            })
            .await;
        let Some(prepared) = prepared.filter(|_| ok) else {
            let _ = self.call_handover(peer, ask(HandoverStep::Abort)).await;
            return Err(Refusal::internal(format!(
                "The switchover was stopped before anything changed: {} could not prepare. It stays the primary.",
                peer.name
            )));
        };
        // 2. Every change reaches this box.
        let label = format!("Copy every last change from {}", peer.name);
        let drained = steps.run("drain", label, self.drain(&prepared)).await;
        if !drained {
            let _ = self.call_handover(peer, ask(HandoverStep::Abort)).await;
            return Err(Refusal::internal(format!(
                "The switchover was called off: not every change reached this box in time. {} started its PBX again and stays the primary.",
                peer.name
            )));
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
            return Err(Refusal::internal(format!(
                "The switchover was called off: {} did not confirm it became the backup, so this box did not take over.",
                peer.name
            )));
        }
        // 4. This box becomes the primary.
        // At the epoch the old primary recorded with `Complete`.
        self.become_primary(steps, next_epoch).await.ok_or_else(|| {
            Refusal::internal(format!(
                "{} is now a backup, but this box could not write its new role to disk, so both boxes are backups and \
                 the phones are down: check the disk holding {}, then run `lbs-agent promote` on this box",
                peer.name,
                self.config.server.state_dir.display()
            ))
        })
    }

    /// Waits until this box follows the primary's journal up to `head` with nothing pending.
    pub(super) async fn drain(&self, p: &HandoverResponse) -> Result<String, Refusal> {
        let t = Instant::now();
        let deadline = t + Duration::from_secs(self.config.failover.drain_timeout);
        loop {
            let cursor = self.sync.queue.cursor().await.map_err(Refusal::internal)?;
            let empty = self.sync.queue.is_empty().await.map_err(Refusal::internal)?;
            if let Some((journal, fetched)) = cursor {
                if journal == p.journal_id && fetched >= p.head && empty {
                    return Ok(format!("every change is here ({} ms)", t.elapsed().as_millis()));
                }
            }
            if Instant::now() > deadline {
                let pending = self.sync.queue.pending().await.unwrap_or_default();
                let files: u64 = pending.values().map(|t| t.files).sum();
                return Err(Refusal::internal(format!(
                    "after {}, {files} changes were still missing",
                    human_secs(self.config.failover.drain_timeout)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(super) async fn call_handover(&self, peer: &Peer, req: HandoverRequest) -> Result<HandoverResponse, Refusal> {
        let client = self.sync.client_for(peer).map_err(Refusal::internal)?;
        let request = client
            .post(crate::peer::url(&peer.address, "/handover"))
            .json(&req)
            .timeout(Duration::from_secs(self.config.pbx.command_timeout * 3 + 60));
        crate::peer::call(request).await.map_err(|e| match e {
            CallError::Silent(why) => Refusal::unavailable(format!("{} does not answer ({why})", peer.name)),
            CallError::Refused(_, why) => Refusal::unavailable(format!("{} refused: {why}", peer.name)),
            CallError::Unreadable(why) => {
                Refusal::unavailable(format!("{} sent an answer that could not be read: {why}", peer.name))
            }
        })
    }

    /// A switchover asked of the primary: the backup runs it.
    pub(super) async fn forward_switchover(
        &self,
        peer: &Peer,
        req: SwitchoverRequest,
        actor: &str,
    ) -> Result<RoleChange, Refusal> {
        let client = self.sync.client_for(peer).map_err(Refusal::internal)?;
        let body = lbs_protocol::ForwardedSwitchover {
            request: req,
            actor: actor.to_owned(),
        };
        let request = client
            .post(crate::peer::url(&peer.address, "/switchover"))
            .json(&body)
            .timeout(Duration::from_secs(self.config.failover.drain_timeout + 300));
        crate::peer::call(request).await.map_err(|e| match e {
            CallError::Silent(why) => Refusal::unavailable(format!(
                "{} does not answer ({why}); a planned switchover needs both boxes",
                peer.name
            )),
            CallError::Refused(reqwest::StatusCode::BAD_REQUEST, why) => Refusal::bad_request(why),
            CallError::Refused(reqwest::StatusCode::CONFLICT, why) => Refusal::conflict(why),
            CallError::Refused(_, why) => Refusal::unavailable(format!("{}: {why}", peer.name)),
            CallError::Unreadable(why) => {
                Refusal::internal(format!("{} sent an answer that could not be read: {why}", peer.name))
            }
        })
    }

    // ---- Handover (the primary's side of a switchover) -----------------------------------

    pub async fn handover(self: &Arc<Self>, req: HandoverRequest) -> Result<HandoverResponse, Refusal> {
        let _g = self.changing.lock().await;
        let own = self.role();
        let actor = format!("{} (switchover run by the partner)", req.actor);
        let mut steps = self.steps("Handing over");
        match req.step {
            HandoverStep::Prepare => {
                if own.role != Role::Primary {
                    return Err(Refusal::conflict(format!("{} is not the primary", self.name())));
                }
                let since = Instant::now();
                *lock(&self.handover) = Some(since);
                self.stand_down(&mut steps, &own).await;
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
                    return Err(Refusal::conflict(format!(
                        "{} is not handing over; the switchover must start again",
                        self.name()
                    )));
                }
                // The partner's coming epoch, recorded now: see `HandoverRequest::next_epoch`.
                let mut next = RoleState {
                    role: Role::Backup,
                    since_unix: now_unix(),
                    promoted: Some(false),
                    ..own
                };
                if let (Some(epoch), Some(peer)) = (req.next_epoch, self.peer().await) {
                    if epoch > next.epoch {
                        next.epoch = epoch;
                        next.epoch_owner = peer.server_id;
                    }
                }
                let ok = steps
                    .run("persist", "Record the new role: backup".into(), self.set_role(next))
                    .await;
                if !ok {
                    return Err(Refusal::internal("cannot record the new role"));
                }
                *lock(&self.handover) = None;
                *lock(&self.busy) = None;
                self.record(
                    EventKind::Switchover,
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
            journal_id: self.sync.journal.id().await?,
            head: self.sync.journal.head().await?,
            steps: steps.list,
        })
    }

    /// The switchover was called off: run the PBX and hold the address again.
    pub(super) async fn abort_handover(&self, actor: &str) {
        let _g = self.changing.lock().await;
        if lock(&self.handover).take().is_none() {
            return;
        }
        let own = self.role();
        if own.role != Role::Primary {
            return;
        }
        let mut steps = self.steps("Calling off the switchover");
        self.primary_steps(&mut steps, &own, false).await;
        *lock(&self.busy) = None;
        self.record(
            EventKind::SwitchoverCalledOff,
            actor,
            None,
            format!(
                "the switchover was called off; {} runs the PBX again as the primary",
                self.name()
            ),
        )
        .await;
    }
}
