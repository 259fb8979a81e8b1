//! Telling systemd how the agent is doing (`Type=notify`): ready once it listens, a watchdog
//! ping only while it really works, a one-line status for `systemctl status`, and "stopping".
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call here does nothing.

use lbs_protocol::{FailoverStatus, Maintenance, Role, RoleStanding};
use std::sync::Arc;

use lbs_agent_core::agent::Agent as AppState;

/// The agent listens and its tasks run: systemd may start what comes after it.
pub fn ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

pub fn stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

/// With `WatchdogSec=` set, pings systemd three times per period, but only after the agent's
/// runtime has run this task and its own database has answered within a third of the period. A hung agent stops pinging and systemd restarts it. Each round also
/// refreshes the status line from the failover status, when that answers in time.
pub async fn watchdog(state: Arc<AppState>) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = timeout / 3;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Alive: the runtime runs this task and the agent's database answers. Cheap on purpose:
        // a first copy of a large spool must not look hung.
        let alive = tokio::time::timeout(period, state.peers.load()).await;
        match alive {
            Ok(Ok(_)) => notify(&[sd_notify::NotifyState::Watchdog]),
            Ok(Err(e)) => tracing::warn!(error = %e, "watchdog: the agent's database does not answer"),
            Err(_) => tracing::warn!(
                "watchdog: the agent did not answer itself within {} s; systemd restarts it if this goes on",
                period.as_secs()
            ),
        }
        // The status line is a courtesy: it never holds the ping back.
        if let Ok(Ok(status)) = tokio::time::timeout(period, state.failover.status()).await {
            let maintenance = state.maintenance();
            let line = status_line(&state.config.server.name, &status, maintenance.as_ref());
            notify(&[sd_notify::NotifyState::Status(&line)]);
        }
    }
}

/// e.g. "PBX A: Primary (epoch 3); PBX B answers; the backup has every change", and the
/// maintenance while it is on ("; maintenance until 14:30 by Sam").
pub fn status_line(name: &str, f: &FailoverStatus, maintenance: Option<&Maintenance>) -> String {
    let role = match (f.role, f.standing) {
        (Role::Primary, RoleStanding::Unconfirmed) => "Primary, not confirmed yet",
        (Role::Primary, _) => "Primary",
        (Role::Backup, RoleStanding::SteppingDown) => "Backup, stepping down",
        (Role::Backup, _) => "Backup",
    };
    let partner = &f.partner;
    let other = partner.name.clone().unwrap_or_else(|| "the partner".into());
    let link = match (partner.paired, partner.reachable, partner.checked) {
        (false, _, _) => "not paired".to_string(),
        (true, true, _) => format!("{other} answers"),
        (true, false, false) => format!("{other} not asked yet"),
        (true, false, true) => format!("{other} does NOT answer"),
    };
    let mut line = format!("{name}: {role} (epoch {}); {link}", f.epoch);
    if partner.paired {
        if f.hold.caught_up {
            line.push_str("; the backup has every change");
        } else {
            line.push_str(&format!("; {} changes not yet on the backup", f.hold.pending_files));
        }
    }
    if let Some(m) = maintenance {
        let until = crate::local_time::clock(m.until_unix, lbs_agent_core::clock::now_unix());
        line.push_str(&format!("; maintenance until {until} by {}", m.set_by));
    }
    if let Some(busy) = &f.busy {
        line.push_str(&format!("; {busy}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_names_the_maintenance_while_it_is_on() {
        let f: FailoverStatus = serde_json::from_value(serde_json::json!({
            "role": "primary", "epoch": 3, "epoch_owner": "a", "role_since_unix": 100, "busy": null,
            "hold": {"hold_secs": 3600, "primary_for_secs": 50, "remaining_secs": 0, "caught_up": true,
                     "pending_files": 0, "pending_bytes": 0},
            "pbx": {"managed": true, "running": true, "should_run": true, "problem": null, "checked_unix": 1},
            "address": {"strategy": "none", "target": "-", "held": false, "problem": null},
            "partner": {"paired": true, "name": "PBX B", "server_id": "b", "address": "10.0.0.12:7443",
                        "reachable": false, "checked": true, "role": null, "epoch": null, "role_since_unix": null,
                        "last_contact_unix": null, "message": null},
            "quarantined_files": 0, "last_change": null
        }))
        .unwrap();
        let plain = status_line("PBX A", &f, None);
        assert_eq!(
            plain,
            "PBX A: Primary (epoch 3); PBX B does NOT answer; the backup has every change"
        );
        let m = Maintenance {
            until_unix: lbs_agent_core::clock::now_unix() + 600,
            reason: "new disk".into(),
            set_by: "Sam".into(),
            set_at_unix: 0,
        };
        let line = status_line("PBX A", &f, Some(&m));
        assert!(line.starts_with(&plain), "{line}");
        assert!(
            line.contains("; maintenance until ") && line.ends_with(" by Sam"),
            "{line}"
        );
    }
}
