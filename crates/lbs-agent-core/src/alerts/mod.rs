//! The alerts the agent sends itself, so the office learns that a box died without the console
//! open (as Synology, Proxmox or 3CX do): mail over SMTP and webhooks (JSON, ntfy, Gotify).
//!
//! - [`conditions`]: what this box can see and is the one to say (partner silent, not
//!   protected, the PBX, the hold ending, disk, memory);
//! - [`evaluate`]: the incidents, a pure state machine: sent once, reminded every `repeat`,
//!   "over" when they end; maintenance holds what the work causes;
//! - [`wording`]: the words, for an office manager;
//! - [`outbox`]: the durable outbox in `agent.db`; [`smtp`] and [`webhook`]: the channels;
//! - [`run`]: the loops: look every few seconds (and at once on an audit-log entry: role changes
//!   are sent from the log), then deliver with a capped backoff.
//!
//! Architecture Invariant: an alert is written to the outbox in the same transaction as the
//! incident change that caused it, and marked delivered only after its server accepted it.

pub mod conditions;
pub mod evaluate;
pub mod outbox;
mod run;
mod smtp;
pub mod webhook;
pub mod wording;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use lbs_protocol::{
    AlertChannelStatus, AlertTestReport, AlertTestResult, AlertsStatus, EventKind, Maintenance, OpenAlert, Role,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{AlertsConfig, EmailChannel, WebhookChannel};
use crate::failover::events::{EventLog, NewEvent};
use crate::failover::Failover;
use crate::refusal::Refusal;
use crate::role::RoleReader;
pub use run::Inputs;

/// One alert, as stored in the outbox and sent to every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    /// This box's name and server ID.
    pub server: String,
    pub server_id: String,
    /// This box's role when the alert was written.
    pub role: Role,
    pub condition: String,
    /// `firing`, `reminder`, `recovered`, `event` or `test`.
    pub state: String,
    pub title: String,
    pub message: String,
    pub what_to_do: String,
    pub since_unix: i64,
    pub time_unix: i64,
}

impl Alert {
    pub fn text(&self) -> wording::Text {
        wording::Text {
            title: self.title.clone(),
            message: self.message.clone(),
            todo: self.what_to_do.clone(),
        }
    }
}

/// Why a delivery failed, in plain words (with the technical detail in brackets).
#[derive(Debug, Clone, Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// An error and its causes on one line: the cause is often where the meaning is ("certificate
/// signed by unknown authority" under "connection error").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Whether `m` holds alerts at `now` (a maintenance past its end time no longer does, even
/// before it is cleared).
pub fn maintenance_on(m: &Option<Maintenance>, now: i64) -> bool {
    m.as_ref().is_some_and(|m| m.until_unix > now)
}

#[derive(Debug, Clone)]
pub enum Channel {
    Email(EmailChannel),
    Webhook(WebhookChannel),
}

impl Channel {
    pub fn id(&self) -> String {
        match self {
            Channel::Email(c) => c.id(),
            Channel::Webhook(c) => c.id(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Email(_) => "email",
            Channel::Webhook(_) => "webhook",
        }
    }

    /// Delivers `alert` once; answers what the server said.
    pub async fn send(&self, alert: &Alert, delivery_id: &str) -> Result<String, SendError> {
        match self {
            Channel::Email(c) => smtp::send(c, alert, delivery_id).await,
            Channel::Webhook(c) => webhook::send(c, alert, delivery_id).await,
        }
    }
}

/// How one channel is doing, for the status and the metrics.
#[derive(Debug, Clone, Default)]
struct Health {
    failing: bool,
    last_error: Option<String>,
    last_success: Option<i64>,
    next_attempt: Option<i64>,
}

/// The alerts of this box: channels, outbox, what is open now.
pub struct Alerts {
    config: AlertsConfig,
    name: String,
    server_id: String,
    channels: Vec<Channel>,
    outbox: outbox::Outbox,
    health: Mutex<BTreeMap<String, Health>>,
    open: Mutex<Vec<OpenAlert>>,
    /// New rows in the outbox: deliver now.
    wake: tokio::sync::Notify,
    /// (incident, channel) → when its last failure went to the audit log.
    failure_logged: Mutex<HashMap<(String, String), i64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Alerts {
    pub fn new(config: &crate::config::Config, server_id: String, pool: sqlx::SqlitePool) -> Arc<Alerts> {
        let a = &config.alerts;
        let channels: Vec<Channel> = a
            .email
            .iter()
            .cloned()
            .map(Channel::Email)
            .chain(a.webhook.iter().cloned().map(Channel::Webhook))
            .collect();
        let health = channels.iter().map(|c| (c.id(), Health::default())).collect();
        Arc::new(Alerts {
            config: a.clone(),
            name: config.server.name.clone(),
            server_id,
            channels,
            outbox: outbox::Outbox::new(pool),
            health: Mutex::new(health),
            open: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            failure_logged: Mutex::new(HashMap::new()),
        })
    }

    fn channel_ids(&self) -> Vec<String> {
        self.channels.iter().map(Channel::id).collect()
    }

    /// `GET /api/v1/alerts`: each channel's outbox and health, and the problems open now.
    pub async fn status(&self) -> Result<AlertsStatus, Refusal> {
        let queued = self.outbox.queued().await.map_err(Refusal::internal)?;
        let health = lock(&self.health).clone();
        let channels = self
            .channels
            .iter()
            .map(|c| {
                let id = c.id();
                let h = health.get(&id).cloned().unwrap_or_default();
                AlertChannelStatus {
                    queued: queued.get(&id).copied().unwrap_or(0),
                    kind: c.kind().into(),
                    failing: h.failing,
                    last_error: h.last_error,
                    last_success_unix: h.last_success,
                    next_attempt_unix: h.next_attempt,
                    channel: id,
                }
            })
            .collect();
        Ok(AlertsStatus {
            channels,
            open: lock(&self.open).clone(),
        })
    }

    /// `lbs-agent alert test`: one test alert through every channel now, not through the
    /// outbox; each channel's answer. Recorded in the audit log like any alert.
    pub async fn test(&self, failover: &Failover, actor: &str) -> AlertTestReport {
        let now = crate::clock::now_unix();
        let role = failover.role().role;
        let mut results = Vec::new();
        for c in &self.channels {
            let id = c.id();
            let text = wording::test(&self.name, &id);
            let alert = Alert {
                id: uuid::Uuid::new_v4().to_string(),
                server: self.name.clone(),
                server_id: self.server_id.clone(),
                role,
                condition: "test".into(),
                state: "test".into(),
                title: text.title,
                message: text.message,
                what_to_do: text.todo,
                since_unix: now,
                time_unix: now,
            };
            let delivery = format!("<{}@{}.lbs-agent>", uuid::Uuid::new_v4(), self.server_id);
            let (ok, answer) = match c.send(&alert, &delivery).await {
                Ok(answer) => (true, answer),
                Err(e) => (false, e.0),
            };
            let (kind, verb) = if ok {
                (EventKind::AlertSent, "reached")
            } else {
                (EventKind::AlertFailed, "did not reach")
            };
            Audit::of(failover)
                .record(kind, actor, format!("test alert {verb} {id}: {answer}"))
                .await;
            results.push(AlertTestResult {
                channel: id,
                kind: c.kind().into(),
                ok,
                answer,
            });
        }
        AlertTestReport { results }
    }
}

/// Where the alerts write in the audit log: the log, and this box's role to write it at.
#[derive(Clone)]
pub struct Audit {
    events: EventLog,
    role: RoleReader,
}

impl Audit {
    pub fn new(events: EventLog, role: RoleReader) -> Audit {
        Audit { events, role }
    }

    pub fn of(failover: &Failover) -> Audit {
        Audit::new(failover.events.clone(), failover.role_reader())
    }

    /// An entry at this box's role and epoch now.
    async fn record(&self, kind: EventKind, actor: &str, message: String) {
        let role = self.role.get();
        self.events
            .record(NewEvent {
                kind,
                role: role.role,
                epoch: role.epoch,
                actor,
                reason: None,
                message,
            })
            .await;
    }
}
