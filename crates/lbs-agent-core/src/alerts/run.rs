//! The two loops: `watch` looks at the box every few seconds (and at once when the audit log or
//! the maintenance changes), turns what it sees into incidents and writes their alerts to the
//! outbox; `deliver` sends what the outbox holds, retrying a failing channel with a capped
//! backoff.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{Event, EventKind, Maintenance, OpenAlert, Role};
use tokio::sync::watch;

use super::conditions::{self, Facts, HoldFacts, PartnerFacts, Streaks, SyncFacts};
use super::evaluate::{Evaluator, Notice, NoticeState};
use super::{lock, record, wording, Alert, Alerts};
use crate::clock::now_unix;
use crate::failover::Failover;
use crate::sampler::Latest;
use crate::sync::SyncEngine;

/// What the alerts look at, wired by the daemon.
pub struct Inputs {
    pub failover: Arc<Failover>,
    pub sync: Arc<SyncEngine>,
    /// The sampler's latest resources.
    pub resources: watch::Receiver<Option<Latest>>,
    /// The active maintenance (None when off).
    pub maintenance: watch::Receiver<Option<Maintenance>>,
}

/// How often the box is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// Retries of a failing channel: 5 s, 10 s, 20 s … up to this.
const MAX_BACKOFF_SECS: i64 = 300;
/// A channel still failing for the same incident goes to the audit log again after this.
const FAILURE_LOG_EVERY: i64 = 3600;
/// Alerts still undelivered after this long are given up (and recorded).
const GIVE_UP_SECS: i64 = 7 * 86_400;

impl Alerts {
    pub fn spawn(self: &Arc<Self>, inputs: Inputs) -> Vec<tokio::task::JoinHandle<()>> {
        let failover = inputs.failover.clone();
        vec![
            tokio::spawn(watch_loop(self.clone(), inputs)),
            tokio::spawn(deliver_loop(self.clone(), failover)),
        ]
    }

    fn alert(&self, role: Role, condition: &str, state: &str, text: &wording::Text, since: i64, now: i64) -> Alert {
        Alert {
            id: uuid::Uuid::new_v4().to_string(),
            server: self.name.clone(),
            server_id: self.server_id.clone(),
            role,
            condition: condition.into(),
            state: state.into(),
            title: text.title.clone(),
            message: text.message.clone(),
            what_to_do: text.todo.clone(),
            since_unix: since,
            time_unix: now,
        }
    }

    fn notice_alert(&self, role: Role, n: &Notice, now: i64) -> Alert {
        let lasted = wording::span((now - n.since).max(0) as u64);
        let mut text = n.text.clone();
        match n.state {
            NoticeState::Firing => {}
            NoticeState::Reminder => {
                text.title = format!("Still: {}", text.title);
                text.message = format!(
                    "{} This has lasted {lasted} (since {}).",
                    text.message,
                    wording::when(n.since)
                );
            }
            NoticeState::Recovered => {
                text.title = format!("Resolved: {}", text.title);
                text.message = format!("{} The problem lasted {lasted}.", text.message);
            }
        }
        let condition = n.key.split(':').next().unwrap_or(&n.key);
        let condition = if condition == "disk" { n.key.as_str() } else { condition };
        self.alert(role, condition, n.state.as_str(), &text, n.since, now)
    }

    /// The alerts an audit-log entry calls for: role changes and a step-down that set files
    /// aside, sent by the box they happened on (a switchover by the new primary only).
    async fn for_event(&self, f: &Failover, facts: &Facts, e: &Event) -> Option<(String, Alert)> {
        let me = &self.name;
        let partner = facts.partner.as_ref().map(|p| p.name.as_str());
        let reason = e.reason.as_deref();
        let (condition, text) = match e.kind {
            EventKind::Promoted if e.role == Role::Primary => {
                let unplanned = e.message.starts_with("promoted (unplanned");
                (
                    "role_change",
                    wording::promoted(me, unplanned, &e.actor, reason, partner, e.at_unix),
                )
            }
            EventKind::Switchover if e.role == Role::Primary => (
                "role_change",
                wording::switched_over(me, partner, &e.actor, reason, e.at_unix),
            ),
            EventKind::Demoted => ("role_change", wording::demoted(me, &e.actor, reason, e.at_unix)),
            EventKind::SwitchoverCalledOff => ("role_change", wording::switchover_called_off(me, &e.message)),
            EventKind::Reintegrated => {
                let files = f.quarantine.open_count().await.unwrap_or(0);
                if files == 0 {
                    return None;
                }
                ("stepped_down", wording::stepped_down(me, partner, files))
            }
            _ => return None,
        };
        let alert = self.alert(e.role, condition, "event", &text, e.at_unix, now_unix());
        Some((format!("event:{}", e.id), alert))
    }
}

async fn watch_loop(a: Arc<Alerts>, mut i: Inputs) {
    let started = now_unix();
    let f = i.failover.clone();
    let stored = match a.outbox.incidents().await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "alerts: cannot read the open problems; starting without them");
            Vec::new()
        }
    };
    let mut evaluator = Evaluator::new(stored, a.config.repeat);
    let mut streaks = Streaks::default();
    let mut cursor = match a.outbox.cursor().await {
        Ok(Some(c)) => c,
        // The first start: what the audit log already holds is history, not news.
        _ => f.events.newest_id().await.unwrap_or(0),
    };
    let mut log = f.events.subscribe();
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let channels = a.channel_ids();
    // A sender gone (at shutdown) must not wake the loop forever.
    let (mut log_open, mut maintenance_open) = (true, true);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = log.changed(), if log_open => log_open = r.is_ok(),
            r = i.maintenance.changed(), if maintenance_open => maintenance_open = r.is_ok(),
        }
        let now = now_unix();
        let Some(facts) = gather(&a, &i, now, started).await else {
            continue;
        };
        let failing = streaks.update(now, &facts.sync.errors);
        let open: Vec<String> = evaluator.open().map(|o| o.key.clone()).collect();
        let observations = conditions::observe(&facts, &a.config, &failing, &open);
        let maintenance = super::maintenance_on(&i.maintenance.borrow(), now);
        let step = evaluator.step(now, &observations, maintenance);
        let mut alerts: Vec<(String, Alert)> = step
            .notices
            .iter()
            .map(|n| (n.key.clone(), a.notice_alert(facts.role, n, now)))
            .collect();
        let mut next_cursor = cursor;
        match f.events.since(cursor, 200).await {
            Ok(events) => {
                for e in &events {
                    next_cursor = e.id;
                    alerts.extend(a.for_event(&f, &facts, e).await);
                }
            }
            Err(e) => tracing::warn!(error = %e, "alerts: cannot read the audit log"),
        }
        if !step.changes.is_empty() || !alerts.is_empty() || next_cursor != cursor {
            let saved = a
                .outbox
                .commit(&step.changes, Some(next_cursor), &alerts, &channels, &a.server_id)
                .await;
            match saved {
                Ok(()) => {
                    cursor = next_cursor;
                    for (_, alert) in &alerts {
                        tracing::info!(condition = %alert.condition, state = %alert.state, "alert: {}", alert.title);
                    }
                    if !alerts.is_empty() {
                        a.wake.notify_one();
                    }
                }
                Err(e) => {
                    // Nothing was stored: start again from what is, so the next look repeats
                    // this one's decisions.
                    tracing::error!(error = %e, "alerts: cannot store the alerts; trying again");
                    evaluator = Evaluator::new(a.outbox.incidents().await.unwrap_or_default(), a.config.repeat);
                }
            }
        }
        *lock(&a.open) = evaluator
            .open()
            .map(|o| OpenAlert {
                condition: o.key.clone(),
                title: o.title.clone(),
                since_unix: o.since,
                sent: o.notified,
            })
            .collect();
    }
}

/// One snapshot of this box, or `None` if its status cannot be read now.
async fn gather(a: &Alerts, i: &Inputs, now: i64, started: i64) -> Option<Facts> {
    let f = &i.failover;
    let status = match f.status().await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e.message, "alerts: the failover status cannot be read now");
            return None;
        }
    };
    let p = &status.partner;
    let partner = p.paired.then(|| PartnerFacts {
        name: p.name.clone().unwrap_or_else(|| "the partner".into()),
        reachable: p.reachable,
        checked: p.checked,
        last_contact: p.last_contact_unix,
        role: p.role,
    });
    let hold = (status.role == Role::Primary).then(|| HoldFacts {
        epoch: status.epoch,
        hold_secs: status.hold.hold_secs,
        primary_for_secs: status.hold.primary_for_secs.unwrap_or(0),
        caught_up: status.hold.caught_up,
    });
    Some(Facts {
        now,
        me: a.name.clone(),
        role: status.role,
        role_since: status.role_since_unix,
        started,
        partner,
        pbx: status.pbx,
        hold,
        sync: sync_facts(&i.sync, f, status.role, now).await,
        resources: i.resources.borrow().clone(),
    })
}

/// What the copy looks like from here: the backup's lag, and the errors now.
async fn sync_facts(e: &SyncEngine, f: &Failover, role: Role, now: i64) -> SyncFacts {
    let mut errors: Vec<(String, String)> = e
        .sources
        .categories
        .iter()
        .filter_map(|c| {
            let problem = e.tracker.category(&c.name).last_error?;
            Some((c.label(), problem.message))
        })
        .collect();
    let mut behind = None;
    let mut seen_working = true;
    if role == Role::Backup {
        let link = e.tracker.link_view();
        seen_working = link.as_ref().is_some_and(|l| l.last_contact.is_some());
        if let Some(link) = link {
            if matches!(
                link.state,
                lbs_protocol::SyncLinkState::Unreachable | lbs_protocol::SyncLinkState::Refused
            ) {
                errors.push((
                    "from the primary".into(),
                    link.message.unwrap_or_else(|| "the primary cannot be reached".into()),
                ));
            }
        }
        let pending = crate::sync::status::pending(e).await.unwrap_or_default();
        let mut files: u64 = pending.values().map(|t| t.files).sum();
        let mut bytes: u64 = pending.values().map(|t| t.bytes).sum();
        let mut oldest = pending.values().filter_map(|t| t.oldest_unix).min();
        // What the primary holds that this box has not even fetched yet.
        if let Some(hb) = f.partner_view().last.filter(|hb| hb.role == Role::Primary) {
            files = files.max(hb.unapplied_files);
            bytes = bytes.max(hb.unapplied_bytes);
            oldest = match (oldest, hb.unapplied_oldest_unix) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        behind = oldest
            .filter(|_| files > 0)
            .map(|o| ((now - o).max(0) as u64, files, bytes));
    }
    SyncFacts {
        behind,
        errors,
        seen_working,
    }
}

fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 12) - 1;
    (5_i64 << exp).min(MAX_BACKOFF_SECS)
}

async fn deliver_loop(a: Arc<Alerts>, f: Arc<Failover>) {
    let channels = a.channel_ids();
    if let Err(e) = a.outbox.retry_now(now_unix()).await {
        tracing::warn!(error = %e, "alerts: cannot make the waiting alerts due");
    }
    let mut last_prune = 0;
    loop {
        let now = now_unix();
        if now - last_prune >= 3600 {
            last_prune = now;
            match a.outbox.prune(now, &channels).await {
                Ok(dropped) => {
                    for (channel, n) in dropped {
                        tracing::warn!(%channel, alerts = n, "alerts for a channel no longer configured were dropped");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "alerts: cannot prune the outbox"),
            }
        }
        let due = match a.outbox.due(now, 50).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let mut blocked: HashSet<String> = HashSet::new();
        let attempted = !due.is_empty();
        for p in due {
            if blocked.contains(&p.channel) {
                continue;
            }
            let Some(channel) = a.channels.iter().find(|c| c.id() == p.channel) else {
                continue;
            };
            if now - p.alert.time_unix > GIVE_UP_SECS {
                let why = format!(
                    "alert given up after {} undelivered: {}",
                    wording::span(GIVE_UP_SECS as u64),
                    p.alert.title
                );
                if let Err(e) = a.outbox.delivered(p.id, now, &why).await {
                    tracing::error!(error = %e, "alerts: cannot mark an alert given up");
                }
                record(&f, EventKind::AlertFailed, "the agent", format!("{}: {why}", p.channel)).await;
                continue;
            }
            match channel.send(&p.alert, &p.message_id).await {
                Ok(answer) => {
                    let at = now_unix();
                    if let Err(e) = a.outbox.delivered(p.id, at, &answer).await {
                        // Sent but not marked: it goes again, with the same Message-ID.
                        tracing::error!(error = %e, "alerts: sent, but cannot mark it delivered");
                    }
                    {
                        let mut health = lock(&a.health);
                        let h = health.entry(p.channel.clone()).or_default();
                        h.failing = false;
                        h.last_error = None;
                        h.last_success = Some(at);
                        h.next_attempt = None;
                    }
                    lock(&a.failure_logged).remove(&(p.incident.clone(), p.channel.clone()));
                    tracing::info!(channel = %p.channel, %answer, "alert delivered: {}", p.alert.title);
                    record(
                        &f,
                        EventKind::AlertSent,
                        "the agent",
                        format!("alert sent to {} ({answer}): {}", p.channel, p.alert.title),
                    )
                    .await;
                }
                Err(err) => {
                    let next = now_unix() + backoff(p.attempts + 1);
                    if let Err(e) = a.outbox.failed(p.id, &p.channel, &err.0, next).await {
                        tracing::error!(error = %e, "alerts: cannot record a failed delivery");
                    }
                    blocked.insert(p.channel.clone());
                    {
                        let mut health = lock(&a.health);
                        let h = health.entry(p.channel.clone()).or_default();
                        h.failing = true;
                        h.last_error = Some(err.0.clone());
                        h.next_attempt = Some(next);
                    }
                    tracing::warn!(channel = %p.channel, problem = %err, "alert not delivered; retried later");
                    let key = (p.incident.clone(), p.channel.clone());
                    let due_log = {
                        let mut logged = lock(&a.failure_logged);
                        let last = logged.get(&key).copied();
                        let due = last.is_none_or(|t| now - t >= FAILURE_LOG_EVERY);
                        if due {
                            logged.insert(key, now);
                        }
                        due
                    };
                    if due_log {
                        let waiting = a
                            .outbox
                            .queued()
                            .await
                            .ok()
                            .and_then(|q| q.get(&p.channel).copied())
                            .unwrap_or(1);
                        record(
                            &f,
                            EventKind::AlertFailed,
                            "the agent",
                            format!(
                                "alert not delivered to {} ({waiting} waiting, retried until delivered): {}: {}",
                                p.channel, p.alert.title, err
                            ),
                        )
                        .await;
                    }
                }
            }
        }
        let wait = match a.outbox.next_due().await {
            Ok(Some(t)) => (t - now_unix()).clamp(0, 60),
            _ => 60,
        };
        if wait == 0 && attempted {
            continue;
        }
        tokio::select! {
            _ = a.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(wait.max(1) as u64)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_five_minutes() {
        let waits: Vec<i64> = (1..=9).map(backoff).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
