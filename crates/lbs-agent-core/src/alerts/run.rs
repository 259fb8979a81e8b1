//! The two loops: `watch` looks at the box every few seconds (and at once when the audit log or
//! the maintenance changes), turns what it sees into incidents and writes their alerts to the
//! outbox; `deliver` sends what the outbox holds, retrying a failing channel with a capped
//! backoff.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{Event, EventKind, Maintenance, OpenAlert, Role};
use tokio::sync::watch;

use super::conditions::{self, Facts, HealthFacts, HoldFacts, PartnerFacts, Streaks, SyncFacts};
use super::evaluate::{Evaluator, Notice, NoticeState};
use super::outbox::Pending;
use super::{lock, wording, Alert, Alerts, Audit, SendError};
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
        let audit = Audit::of(&inputs.failover);
        vec![
            tokio::spawn(watch_loop(self.clone(), inputs)),
            tokio::spawn(deliver_loop(self.clone(), audit)),
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
        clock_offset_secs: p.clock_offset_secs,
        clock_problem: p.clock_problem.clone(),
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
        autopilot: status.autopilot.filter(|a| a.configured),
        health: health_facts(f, status.role, &status.partner),
    })
}

/// The machines compared, as `GET /api/v1/health` compares them.
fn health_facts(f: &Failover, role: Role, partner: &lbs_protocol::PartnerStatus) -> Option<HealthFacts> {
    let own = f.inventory.current()?;
    let mut this = (*own.inventory).clone();
    this.role = role;
    let received = f
        .inventory
        .partner()
        .filter(|r| partner.paired && partner.server_id.as_deref() == Some(r.inventory.server_id.as_str()));
    let (differences, known) = match received {
        Some(r) => {
            let mut other = (*r.inventory).clone();
            other.role = partner.role.unwrap_or(other.role);
            (crate::inventory::health(this, Some(other), None).differences, true)
        }
        None => (crate::inventory::parity::alone(&this), false),
    };
    let (failing_disks, rest): (Vec<_>, Vec<_>) = differences
        .into_iter()
        .filter(|d| d.severity == lbs_protocol::Severity::Critical)
        .partition(|d| d.code == "disk_failing");
    Some(HealthFacts {
        failing_disks: failing_disks
            .into_iter()
            .filter(|d| d.server_id.as_deref() == Some(own.inventory.server_id.as_str()))
            .collect(),
        critical: known.then_some(rest),
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

/// After the database refused a read or a write, the least rest before the outbox is read again
/// (a new alert's wake-up does not cut it short): a full disk is no reason to spin.
const DB_RETRY: Duration = Duration::from_secs(5);
/// Rows read from the outbox at once.
const BATCH: u32 = 50;

async fn deliver_loop(a: Arc<Alerts>, audit: Audit) {
    if let Err(e) = a.outbox.retry_now(now_unix()).await {
        tracing::warn!(error = %e, "alerts: cannot make the waiting alerts due");
    }
    let mut sender = Sender::new(a, audit);
    loop {
        let mut pass = sender.pass(now_unix()).await;
        let next_due = match sender.a.outbox.next_due().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot read the outbox");
                pass.db_error = true;
                None
            }
        };
        let Some(rest) = sender.rest(&pass, next_due, now_unix()) else {
            continue;
        };
        tokio::time::sleep(rest.floor).await;
        tokio::select! {
            _ = sender.a.wake.notified() => {}
            _ = tokio::time::sleep(rest.then) => {}
        }
    }
}

/// What one pass over the outbox did, for the rest after it.
#[derive(Debug, Default)]
struct Pass {
    /// Rows left the due set as recorded (delivered, given up, or put off): more may wait.
    progressed: bool,
    /// The database refused a read or a write.
    db_error: bool,
}

/// How long to rest after a pass: `floor` whatever happens, then up to `then` unless woken.
#[derive(Debug, PartialEq)]
struct Rest {
    floor: Duration,
    then: Duration,
}

/// An alert its server took (or that was given up) which the outbox could not mark: it is not
/// sent again, only the marking is retried (a sent mail repeated every pass would flood the
/// office while the disk is full).
struct Unmarked {
    at: i64,
    answer: String,
}

/// A channel whose failure the outbox could not record: its backoff is kept here instead.
struct Held {
    until: i64,
    attempts: i64,
}

/// The sending side: the outbox's due rows to their channels, with what the database could not
/// record kept in memory until it can.
struct Sender {
    a: Arc<Alerts>,
    audit: Audit,
    channels: Vec<String>,
    last_prune: i64,
    unmarked: BTreeMap<i64, Unmarked>,
    held: HashMap<String, Held>,
}

impl Sender {
    fn new(a: Arc<Alerts>, audit: Audit) -> Sender {
        Sender {
            channels: a.channel_ids(),
            a,
            audit,
            last_prune: 0,
            unmarked: BTreeMap::new(),
            held: HashMap::new(),
        }
    }

    /// Sends what is due at `now`, once.
    async fn pass(&mut self, now: i64) -> Pass {
        let mut pass = Pass::default();
        if now - self.last_prune >= 3600 {
            self.last_prune = now;
            match self.a.outbox.prune(now, &self.channels).await {
                Ok(dropped) => {
                    for (channel, n) in dropped {
                        tracing::warn!(%channel, alerts = n, "alerts for a channel no longer configured were dropped");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "alerts: cannot prune the outbox"),
            }
        }
        // What was sent but not marked: only the marking is tried again.
        let ids: Vec<i64> = self.unmarked.keys().copied().collect();
        for id in ids {
            let Some(u) = self.unmarked.get(&id) else { continue };
            match self.a.outbox.delivered(id, u.at, &u.answer).await {
                Ok(()) => {
                    self.unmarked.remove(&id);
                    pass.progressed = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "alerts: still cannot mark a sent alert delivered; it is not sent again");
                    pass.db_error = true;
                    break;
                }
            }
        }
        let due = match self.a.outbox.due(now, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot read the outbox");
                pass.db_error = true;
                return pass;
            }
        };
        for u in due.unreadable {
            if self.unmarked.contains_key(&u.id) {
                continue;
            }
            let why = format!(
                "an alert in the outbox could not be read and was given up ({})",
                u.error
            );
            tracing::error!(channel = %u.channel, "alerts: {why}");
            self.audit
                .record(EventKind::AlertFailed, "the agent", format!("{}: {why}", u.channel))
                .await;
            self.mark(u.id, now, why, &mut pass).await;
        }
        let mut blocked: HashSet<String> = HashSet::new();
        for p in due.pending {
            let held = self.held.get(&p.channel).is_some_and(|h| h.until > now);
            if held || blocked.contains(&p.channel) || self.unmarked.contains_key(&p.id) {
                continue;
            }
            let Some(channel) = self.a.channels.iter().find(|c| c.id() == p.channel) else {
                continue;
            };
            if now - p.alert.time_unix > GIVE_UP_SECS {
                let why = format!(
                    "alert given up after {} undelivered: {}",
                    wording::span(GIVE_UP_SECS as u64),
                    p.alert.title
                );
                self.audit
                    .record(EventKind::AlertFailed, "the agent", format!("{}: {why}", p.channel))
                    .await;
                self.mark(p.id, now, why, &mut pass).await;
                continue;
            }
            match channel.send(&p.alert, &p.message_id).await {
                Ok(answer) => {
                    let at = now_unix();
                    self.held.remove(&p.channel);
                    {
                        let mut health = lock(&self.a.health);
                        let h = health.entry(p.channel.clone()).or_default();
                        h.failing = false;
                        h.last_error = None;
                        h.last_success = Some(at);
                        h.next_attempt = None;
                    }
                    lock(&self.a.failure_logged).remove(&(p.incident.clone(), p.channel.clone()));
                    tracing::info!(channel = %p.channel, %answer, "alert delivered: {}", p.alert.title);
                    let entry = format!("alert sent to {} ({answer}): {}", p.channel, p.alert.title);
                    self.mark(p.id, at, answer, &mut pass).await;
                    self.audit.record(EventKind::AlertSent, "the agent", entry).await;
                }
                Err(err) => {
                    blocked.insert(p.channel.clone());
                    self.failed(&p, err, now, &mut pass).await;
                }
            }
        }
        pass
    }

    /// Marks `id` done with `answer`; if the outbox refuses, keeps it in memory so that it is not
    /// sent again.
    async fn mark(&mut self, id: i64, at: i64, answer: String, pass: &mut Pass) {
        match self.a.outbox.delivered(id, at, &answer).await {
            Ok(()) => pass.progressed = true,
            Err(e) => {
                tracing::error!(error = %e, "alerts: done, but cannot mark it in the outbox; it is not sent again");
                pass.db_error = true;
                self.unmarked.insert(id, Unmarked { at, answer });
            }
        }
    }

    /// A delivery that failed: the channel waits out its backoff, in the outbox or, if the
    /// outbox refuses, here.
    async fn failed(&mut self, p: &Pending, err: SendError, now: i64, pass: &mut Pass) {
        let attempts = p.attempts.max(self.held.get(&p.channel).map_or(0, |h| h.attempts)) + 1;
        let next = now + backoff(attempts);
        match self.a.outbox.failed(p.id, &p.channel, &err.0, next).await {
            Ok(()) => {
                self.held.remove(&p.channel);
                pass.progressed = true;
            }
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot record a failed delivery; the retry waits all the same");
                pass.db_error = true;
                self.held.insert(p.channel.clone(), Held { until: next, attempts });
            }
        }
        {
            let mut health = lock(&self.a.health);
            let h = health.entry(p.channel.clone()).or_default();
            h.failing = true;
            h.last_error = Some(err.0.clone());
            h.next_attempt = Some(next);
        }
        tracing::warn!(channel = %p.channel, problem = %err, "alert not delivered; retried later");
        let key = (p.incident.clone(), p.channel.clone());
        let due_log = {
            let mut logged = lock(&self.a.failure_logged);
            let last = logged.get(&key).copied();
            let due = last.is_none_or(|t| now - t >= FAILURE_LOG_EVERY);
            if due {
                logged.insert(key, now);
            }
            due
        };
        if due_log {
            let waiting = self
                .a
                .outbox
                .queued()
                .await
                .ok()
                .and_then(|q| q.get(&p.channel).copied())
                .unwrap_or(1);
            self.audit
                .record(
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

    /// The rest after `pass`, or `None` to go on at once (more rows were due than one pass
    /// reads). While the database refuses anything, never less than [`DB_RETRY`].
    fn rest(&self, pass: &Pass, next_due: Option<i64>, now: i64) -> Option<Rest> {
        let wait = Duration::from_secs(next_due.map_or(60, |t| (t - now).clamp(0, 60)) as u64);
        if pass.db_error || !self.unmarked.is_empty() || !self.held.is_empty() {
            return Some(Rest {
                floor: DB_RETRY,
                then: wait.saturating_sub(DB_RETRY),
            });
        }
        if wait.is_zero() && pass.progressed {
            return None;
        }
        Some(Rest {
            floor: Duration::ZERO,
            then: wait.max(Duration::from_secs(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::webhook::receiver::Receiver;
    use super::*;
    use crate::failover::events::EventLog;
    use crate::failover::RoleWriter;
    use crate::role::RoleState;

    /// A box with one webhook channel to `url`, its outbox in a real `agent.db`.
    struct Bench {
        _dir: tempfile::TempDir,
        pool: sqlx::SqlitePool,
        alerts: Arc<Alerts>,
        audit: Audit,
        _role: RoleWriter,
    }

    impl Bench {
        async fn new(url: &str) -> Bench {
            let dir = tempfile::tempdir().unwrap();
            let text = format!(
                "[server]\nname = \"PBX A\"\nstate_dir = \"{}\"\n[[alerts.webhook]]\nurl = \"{url}\"\n",
                dir.path().display()
            );
            let config = crate::config::Config::parse(&text, &dir.path().join("agent.toml")).unwrap();
            let pool = crate::db::open(&dir.path().join("agent.db")).await.unwrap();
            RoleState::initial(Role::Primary).create(dir.path()).unwrap();
            let (role, reader) = RoleWriter::load(dir.path()).unwrap();
            let audit = Audit::new(EventLog::new(pool.clone(), "srv-a".into()), reader);
            let alerts = Alerts::new(&config, "srv-a".into(), pool.clone());
            Bench {
                _dir: dir,
                pool,
                alerts,
                audit,
                _role: role,
            }
        }

        /// One alert written to the outbox, as the watch loop writes it.
        async fn alert(&self, title: &str, now: i64) {
            let text = wording::Text {
                title: title.into(),
                message: "m".into(),
                todo: "t".into(),
            };
            let alert = self.alerts.alert(Role::Primary, "memory", "firing", &text, now, now);
            let channels = self.alerts.channel_ids();
            self.alerts
                .outbox
                .commit(&[], None, &[("memory".into(), alert)], &channels, "srv-a")
                .await
                .unwrap();
        }

        /// The database refuses every change to the outbox, as a full disk does.
        async fn refuse_writes(&self, refuse: bool) {
            let sql = if refuse {
                "CREATE TRIGGER full_disk BEFORE UPDATE ON alert_outbox \
                 BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            } else {
                "DROP TRIGGER full_disk"
            };
            sqlx::query(sql).execute(&self.pool).await.unwrap();
        }

        /// The audit log's entries of `kind`.
        async fn entries(&self, kind: EventKind) -> Vec<String> {
            let log = self.audit.events.list(100, None).await.unwrap();
            log.into_iter().filter(|e| e.kind == kind).map(|e| e.message).collect()
        }
    }

    #[tokio::test]
    async fn an_alert_sent_but_not_marked_is_never_sent_again() {
        let receiver = Receiver::start("200 OK").await;
        let bench = Bench::new(&format!("{}/lbs", receiver.base)).await;
        let now = now_unix();
        bench.alert("PBX A is using 97% of its memory", now).await;
        bench.refuse_writes(true).await;
        let mut sender = Sender::new(bench.alerts.clone(), bench.audit.clone());

        let pass = sender.pass(now).await;
        assert_eq!(receiver.requests(), 1);
        assert!(pass.db_error, "{pass:?}");
        let next_due = bench.alerts.outbox.next_due().await.unwrap();
        assert_eq!(next_due, Some(now), "the row is still due in the outbox");
        let rest = sender
            .rest(&pass, next_due, now)
            .expect("a rest after a database error");
        assert!(rest.floor >= DB_RETRY, "{rest:?}");
        // The disk stays full: passes retry the marking, and send nothing.
        for later in [now + 5, now + 10, now + 15] {
            let pass = sender.pass(later).await;
            assert!(pass.db_error, "{pass:?}");
            assert!(sender.rest(&pass, next_due, later).is_some_and(|r| r.floor >= DB_RETRY));
        }
        assert_eq!(receiver.requests(), 1, "sent once");
        // Room again: the row is marked with the first delivery's answer, and nothing is sent.
        bench.refuse_writes(false).await;
        let pass = sender.pass(now + 20).await;
        assert!(!pass.db_error && pass.progressed, "{pass:?}");
        assert_eq!(receiver.requests(), 1);
        assert_eq!(bench.alerts.outbox.next_due().await.unwrap(), None);
        let answer: Option<String> = sqlx::query_scalar("SELECT answer FROM alert_outbox")
            .fetch_one(&bench.pool)
            .await
            .unwrap();
        assert_eq!(answer.as_deref(), Some("HTTP 200 OK"));
        assert_eq!(bench.entries(EventKind::AlertSent).await.len(), 1);
        let rest = sender.rest(&pass, None, now + 20).unwrap();
        assert_eq!(rest.floor, Duration::ZERO, "no database error left: {rest:?}");
    }

    #[tokio::test]
    async fn a_failure_the_outbox_cannot_record_still_backs_off() {
        let receiver = Receiver::start("503 Service Unavailable").await;
        let bench = Bench::new(&format!("{}/lbs", receiver.base)).await;
        let now = now_unix();
        bench.alert("PBX A is using 97% of its memory", now).await;
        bench.refuse_writes(true).await;
        let mut sender = Sender::new(bench.alerts.clone(), bench.audit.clone());
        let pass = sender.pass(now).await;
        assert!(pass.db_error, "{pass:?}");
        assert_eq!(receiver.requests(), 1);
        // Within the backoff (5 s), however often the loop looks: no retry.
        for later in [now, now + 1, now + 2] {
            let pass = sender.pass(later).await;
            assert!(sender
                .rest(&pass, Some(later), later)
                .is_some_and(|r| r.floor >= DB_RETRY));
        }
        assert_eq!(receiver.requests(), 1);
        // After it: one retry, and the next backoff is longer (10 s) though nothing was recorded.
        sender.pass(now + 6).await;
        assert_eq!(receiver.requests(), 2);
        sender.pass(now + 12).await;
        assert_eq!(receiver.requests(), 2, "the second backoff is 10 s");
        sender.pass(now + 16).await;
        assert_eq!(receiver.requests(), 3);
        assert_eq!(
            bench.entries(EventKind::AlertFailed).await.len(),
            1,
            "one entry for the problem"
        );
    }

    #[tokio::test]
    async fn an_unreadable_row_is_given_up_and_the_others_go() {
        let receiver = Receiver::start("200 OK").await;
        let bench = Bench::new(&format!("{}/lbs", receiver.base)).await;
        let now = now_unix();
        // A row another version of the agent wrote, before a good one.
        sqlx::query(
            "INSERT INTO alert_outbox (channel, message_id, incident, state, alert, created_unix, next_attempt_unix) \
             VALUES (?, '<x@srv-a.lbs-agent>', 'memory', 'firing', '{\"id\": 7, \"severity\": \"high\"}', ?, ?)",
        )
        .bind(&bench.alerts.channel_ids()[0])
        .bind(now)
        .bind(now)
        .execute(&bench.pool)
        .await
        .unwrap();
        bench.alert("PBX A is using 97% of its memory", now).await;
        let mut sender = Sender::new(bench.alerts.clone(), bench.audit.clone());
        let pass = sender.pass(now).await;
        assert!(pass.progressed && !pass.db_error, "{pass:?}");
        assert_eq!(receiver.requests(), 1, "the good alert went");
        assert_eq!(
            bench.alerts.outbox.next_due().await.unwrap(),
            None,
            "nothing left waiting"
        );
        let failed = bench.entries(EventKind::AlertFailed).await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].contains("could not be read and was given up") && failed[0].contains("invalid type"),
            "{failed:?}"
        );
        sender.pass(now + 1).await;
        assert_eq!(bench.entries(EventKind::AlertFailed).await.len(), 1);
        assert_eq!(receiver.requests(), 1);
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        let waits: Vec<i64> = (1..=9).map(backoff).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
