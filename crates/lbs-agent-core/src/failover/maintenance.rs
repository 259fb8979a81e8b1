//! Maintenance for the pair, spread to both boxes: set or ended on the box that is asked, told to
//! the partner at once (`POST /peer/v1/maintenance`), adopted from every heartbeat the partner
//! sends or answers (so a box that was away learns it when it is back), and ended by itself at
//! its time. Every change lands in each box's audit log. The record and its merge rule are
//! `crate::maintenance`.

use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{
    EventKind, MaintenanceAnswer, MaintenanceEndRequest, MaintenanceRecord, MaintenanceRequest, PartnerNotice,
};

use super::Failover;
use crate::clock::now_unix;
use crate::maintenance::{self, Change};
use crate::peer::{CallError, Peer};
use crate::refusal::Refusal;

/// How long telling the partner may take: a person waits for the answer.
const TELL_TIMEOUT: Duration = Duration::from_secs(4);

/// Who acts when the time runs out.
const BY_ITSELF: &str = "the agent";

impl Failover {
    /// `POST /api/v1/maintenance`: maintenance for the pair from now. `actor` is who asked (for
    /// the audit log), `by` who does the work (the request's `by`, else the token's name).
    pub async fn start_maintenance(
        &self,
        req: MaintenanceRequest,
        actor: &str,
        by: &str,
    ) -> Result<MaintenanceAnswer, Refusal> {
        let by = req.by.as_deref().unwrap_or(by);
        let setting = maintenance::setting(req.for_secs, &req.reason, by, now_unix())?;
        let change = self.maintenance.start(setting, now_unix())?;
        self.audit_maintenance(change.as_ref(), actor, None).await;
        Ok(self.answer_after_change(change.is_some()).await)
    }

    /// `DELETE /api/v1/maintenance`: ends the maintenance for the pair now, by the request's
    /// `by`, else `by` (the token's name).
    pub async fn end_maintenance(
        &self,
        req: MaintenanceEndRequest,
        actor: &str,
        by: &str,
    ) -> Result<MaintenanceAnswer, Refusal> {
        let by = maintenance::who(req.by.as_deref().unwrap_or(by))?;
        let change = self.maintenance.end(&by, now_unix())?;
        self.audit_maintenance(change.as_ref(), actor, None).await;
        Ok(self.answer_after_change(change.is_some()).await)
    }

    /// `GET /api/v1/maintenance`.
    pub fn maintenance_now(&self) -> MaintenanceAnswer {
        MaintenanceAnswer {
            maintenance: self.maintenance.active_now(),
            changed: false,
            partner: PartnerNotice::NotAsked,
        }
    }

    /// After a change here, the partner is told; nothing to tell when nothing changed.
    async fn answer_after_change(&self, changed: bool) -> MaintenanceAnswer {
        let partner = match (self.peer().await, changed) {
            (None, _) => PartnerNotice::Unpaired,
            (Some(_), false) => PartnerNotice::NotAsked,
            (Some(peer), true) => self.tell_partner(&peer).await,
        };
        MaintenanceAnswer {
            maintenance: self.maintenance.active_now(),
            changed,
            partner,
        }
    }

    /// Sends this box's record to the partner and takes its answer (the partner's record after
    /// merging, which may be newer still).
    async fn tell_partner(&self, peer: &Peer) -> PartnerNotice {
        let Some(record) = self.maintenance.record() else {
            return PartnerNotice::NotAsked;
        };
        let sent = async {
            let client = self
                .sync
                .client_for(peer)
                .map_err(|e| CallError::Silent(e.to_string()))?;
            let request = client
                .post(crate::peer::url(&peer.address, "/maintenance"))
                .json(&record)
                .timeout(TELL_TIMEOUT);
            crate::peer::call::<Option<MaintenanceRecord>>(request).await
        }
        .await;
        match sent {
            Ok(theirs) => {
                self.adopt_maintenance(theirs, &peer.name).await;
                PartnerNotice::Told {
                    name: peer.name.clone(),
                }
            }
            Err(e) => {
                let message = match e {
                    CallError::Silent(why) => format!("{} at {} does not answer ({why})", peer.name, peer.address),
                    CallError::Refused(status, _) if status == reqwest::StatusCode::NOT_FOUND => {
                        format!("{}'s agent is older and has no maintenance mode; upgrade it", peer.name)
                    }
                    CallError::Refused(_, why) => format!("{} refused it: {why}", peer.name),
                    CallError::Unreadable(why) => format!("{} answered something unreadable: {why}", peer.name),
                };
                tracing::warn!(partner = %peer.name, problem = %message, "the partner was not told of the maintenance; the heartbeat will tell it");
                PartnerNotice::NotTold {
                    name: peer.name.clone(),
                    message,
                }
            }
        }
    }

    /// `POST /peer/v1/maintenance`: the partner's record, adopted if newer; answers this box's.
    pub async fn maintenance_from_partner(
        &self,
        peer: &Peer,
        record: MaintenanceRecord,
    ) -> Result<Option<MaintenanceRecord>, Refusal> {
        maintenance::check_record(&record, now_unix())?;
        self.adopt_maintenance(Some(record), &peer.name).await;
        Ok(self.maintenance.record())
    }

    /// Takes the partner's record (from a heartbeat or a call) when it wins over this box's.
    pub(super) async fn adopt_maintenance(&self, record: Option<MaintenanceRecord>, from: &str) {
        let Some(record) = record else { return };
        match self.maintenance.adopt(record.clone(), now_unix()) {
            Ok(change) => {
                let actor = format!("{from} (the partner)");
                self.audit_maintenance(change.as_ref(), &actor, Some(from)).await;
            }
            // Every heartbeat carries it again: warn once per record, not once a second.
            Err(e) if self.maintenance.newly_refused(&record) => {
                tracing::warn!(partner = from, error = %e, "the partner's maintenance record was not taken")
            }
            Err(e) => tracing::debug!(partner = from, error = %e, "the partner's maintenance record, refused again"),
        }
    }

    async fn audit_maintenance(&self, change: Option<&Change>, actor: &str, from: Option<&str>) {
        let Some(change) = change else { return };
        let kind = match change {
            Change::Started { .. } => EventKind::MaintenanceStarted,
            Change::Ended { .. } => EventKind::MaintenanceEnded,
        };
        let reason = change.setting().reason.clone();
        self.record(kind, actor, Some(&reason), change.message(from)).await;
    }
}

/// The longest the timer sleeps: the wall clock can jump.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long to sleep from `now_ms` until `until` (Unix seconds), at most [`MAX_WAIT`]; saturating,
/// since `until` may be any time a record carries.
fn wait_until(until: i64, now_ms: i64) -> Duration {
    let left = until.saturating_mul(1000).saturating_sub(now_ms);
    Duration::from_millis(left.clamp(0, MAX_WAIT.as_millis() as i64) as u64)
}

/// Ends the maintenance at its time: sleeps until the record in force ends (waking at least once
/// a minute, since the wall clock can jump), or until the record changes.
pub(super) async fn run_timer(f: Arc<Failover>) {
    let mut changes = f.maintenance.watch();
    loop {
        if let Some(change) = f.maintenance.expire(now_unix()) {
            f.audit_maintenance(Some(&change), BY_ITSELF, None).await;
        }
        let wait = match f.maintenance.next_end() {
            Some(until) => wait_until(until, crate::clock::now_unix_ms()),
            None => MAX_WAIT,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_sleeps_until_the_end_at_most_a_minute_whatever_the_times() {
        assert_eq!(wait_until(100, 99_500), Duration::from_millis(500));
        assert_eq!(wait_until(100, 100_000), Duration::ZERO);
        assert_eq!(wait_until(100, 200_000), Duration::ZERO, "past: at once");
        assert_eq!(wait_until(10_000, 0), MAX_WAIT);
        assert_eq!(wait_until(i64::MAX, 0), MAX_WAIT, "no overflow");
        assert_eq!(wait_until(i64::MIN, i64::MAX), Duration::ZERO);
        assert_eq!(wait_until(0, i64::MIN), MAX_WAIT);
    }
}
