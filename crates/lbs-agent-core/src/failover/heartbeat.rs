//! The heartbeat: every `heartbeat_interval` each agent tells its partner who it is, its role and
//! epoch (`POST /peer/v1/heartbeat`, mutual TLS) and hears the same back. The status shows the
//! partner's reachability, role, epoch and last contact from it; a primary that hears of a higher
//! epoch reintegrates within one interval.

use std::sync::Arc;
use std::time::Duration;

use super::Failover;

/// How long one heartbeat waits for its answer: long enough for a busy partner, short enough
/// that "unreachable" shows within seconds.
pub fn timeout(interval: Duration) -> Duration {
    (interval * 2).max(Duration::from_millis(1500))
}

pub async fn run(f: Arc<Failover>) {
    let interval = Duration::from_millis(f.config.failover.heartbeat_interval_ms);
    let timeout = timeout(interval);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if f.role().reintegrating.is_some() {
            f.resume_reintegration().await;
        }
        let Some(peer) = f.peer.read().await.clone() else {
            f.forget_partner();
            continue;
        };
        match f.heartbeat_now(&peer, timeout).await {
            Ok(hb) => {
                // A reintegration takes a while; the heartbeat keeps beating meanwhile.
                let f = f.clone();
                tokio::spawn(async move { f.on_heartbeat(hb, true).await });
            }
            Err(msg) => tracing::debug!(peer = %peer.name, problem = %msg, "heartbeat: no answer"),
        }
    }
}
