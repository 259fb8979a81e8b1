//! The durable outbox in `agent.db`: one row per alert per channel, written in the same
//! transaction as the incident change (or the audit-log cursor) that caused it. A row is marked
//! delivered only after its server accepted it, so a restart — even after SIGKILL — loses none;
//! each row's Message-ID is fixed when it is written, so a resend after a crash between
//! "accepted" and "marked" is recognisable as the same mail.

use std::collections::BTreeMap;

use sqlx::SqlitePool;
use thiserror::Error;

use super::evaluate::{Change, Incident};
use super::Alert;

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("the alert outbox in agent.db failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("an alert in the outbox could not be read: {0}")]
    Json(#[from] serde_json::Error),
}

/// Delivered rows are kept this long (for the status and an inquiry), then pruned.
pub const KEEP_DELIVERED_SECS: i64 = 30 * 86_400;

#[derive(Clone)]
pub struct Outbox {
    pool: SqlitePool,
}

/// An alert waiting for one channel.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub channel: String,
    pub message_id: String,
    pub incident: String,
    pub alert: Alert,
    pub attempts: i64,
}

/// What is due now.
#[derive(Debug, Default)]
pub struct Due {
    pub pending: Vec<Pending>,
    /// Rows whose alert cannot be read: they can never be sent.
    pub unreadable: Vec<Unreadable>,
}

/// A row whose alert cannot be read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: i64,
    pub channel: String,
    /// Why, as the JSON reader says it.
    pub error: String,
}

impl Outbox {
    pub fn new(pool: SqlitePool) -> Outbox {
        Outbox { pool }
    }

    pub async fn incidents(&self) -> Result<Vec<Incident>, OutboxError> {
        let rows: Vec<(String, i64, i64, Option<i64>, String)> =
            sqlx::query_as("SELECT condition, since_unix, notified, last_sent_unix, title FROM alert_incidents")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(key, since, notified, last_sent, title)| Incident {
                key,
                since,
                notified: notified != 0,
                last_sent,
                title,
            })
            .collect())
    }

    /// The last audit-log entry looked at; `None` the first time.
    pub async fn cursor(&self) -> Result<Option<i64>, OutboxError> {
        Ok(sqlx::query_scalar("SELECT last_event FROM alert_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores the incident changes, the new cursor and one row per alert per channel, at once.
    pub async fn commit(
        &self,
        changes: &[Change],
        cursor: Option<i64>,
        alerts: &[(String, Alert)],
        channels: &[String],
        server_id: &str,
    ) -> Result<(), OutboxError> {
        let mut tx = self.pool.begin().await?;
        for change in changes {
            match change {
                Change::Open(i) => {
                    sqlx::query(
                        "INSERT INTO alert_incidents (condition, since_unix, notified, last_sent_unix, title) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (condition) DO UPDATE SET \
                         since_unix = ?2, notified = ?3, last_sent_unix = ?4, title = ?5",
                    )
                    .bind(&i.key)
                    .bind(i.since)
                    .bind(i64::from(i.notified))
                    .bind(i.last_sent)
                    .bind(&i.title)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Close(key) => {
                    sqlx::query("DELETE FROM alert_incidents WHERE condition = ?")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        if let Some(c) = cursor {
            sqlx::query(
                "INSERT INTO alert_cursor (id, last_event) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET last_event = ?1",
            )
            .bind(c)
            .execute(&mut *tx)
            .await?;
        }
        for (incident, alert) in alerts {
            let json = serde_json::to_string(alert)?;
            for channel in channels {
                let message_id = format!("<{}@{}.lbs-agent>", uuid::Uuid::new_v4(), server_id);
                sqlx::query(
                    "INSERT INTO alert_outbox (channel, message_id, incident, state, alert, created_unix, next_attempt_unix) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(channel)
                .bind(&message_id)
                .bind(incident)
                .bind(&alert.state)
                .bind(&json)
                .bind(alert.time_unix)
                .bind(alert.time_unix)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Undelivered rows due at `now`, oldest first. Each row is read on its own: one that cannot
    /// be (an alert written by another version of the agent) is returned apart, to be given up,
    /// and never stops the others.
    pub async fn due(&self, now: i64, limit: u32) -> Result<Due, OutboxError> {
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, channel, message_id, incident, alert, attempts FROM alert_outbox \
             WHERE delivered_unix IS NULL AND next_attempt_unix <= ? ORDER BY id LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Due::default();
        for (id, channel, message_id, incident, alert, attempts) in rows {
            match serde_json::from_str(&alert) {
                Ok(alert) => due.pending.push(Pending {
                    id,
                    channel,
                    message_id,
                    incident,
                    alert,
                    attempts,
                }),
                Err(e) => due.unreadable.push(Unreadable {
                    id,
                    channel,
                    error: e.to_string(),
                }),
            }
        }
        Ok(due)
    }

    /// When the next undelivered row is due, if any.
    pub async fn next_due(&self) -> Result<Option<i64>, OutboxError> {
        Ok(
            sqlx::query_scalar("SELECT min(next_attempt_unix) FROM alert_outbox WHERE delivered_unix IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn delivered(&self, id: i64, now: i64, answer: &str) -> Result<(), OutboxError> {
        sqlx::query("UPDATE alert_outbox SET delivered_unix = ?, answer = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(now)
            .bind(answer)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A failed attempt on `id`; every alert waiting for the same channel waits until `next`
    /// (the server is down for all of them).
    pub async fn failed(&self, id: i64, channel: &str, error: &str, next: i64) -> Result<(), OutboxError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE alert_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?")
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE alert_outbox SET next_attempt_unix = max(next_attempt_unix, ?) \
             WHERE channel = ? AND delivered_unix IS NULL",
        )
        .bind(next)
        .bind(channel)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes every undelivered row due now: at start, since a restart is how a fixed setting
    /// (a password, a `ca_file`) takes effect.
    pub async fn retry_now(&self, now: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE alert_outbox SET next_attempt_unix = min(next_attempt_unix, ?) WHERE delivered_unix IS NULL",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Undelivered rows per channel.
    pub async fn queued(&self) -> Result<BTreeMap<String, u64>, OutboxError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT channel, count(*) FROM alert_outbox WHERE delivered_unix IS NULL GROUP BY channel")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(c, n)| (c, n.max(0) as u64)).collect())
    }

    /// Removes delivered rows older than [`KEEP_DELIVERED_SECS`], and the undelivered rows of
    /// channels no longer configured (returned, to be logged).
    pub async fn prune(&self, now: i64, channels: &[String]) -> Result<Vec<(String, u64)>, OutboxError> {
        sqlx::query("DELETE FROM alert_outbox WHERE delivered_unix IS NOT NULL AND delivered_unix < ?")
            .bind(now - KEEP_DELIVERED_SECS)
            .execute(&self.pool)
            .await?;
        let mut dropped = Vec::new();
        for (channel, n) in self.queued().await? {
            if !channels.contains(&channel) {
                sqlx::query("DELETE FROM alert_outbox WHERE channel = ? AND delivered_unix IS NULL")
                    .bind(&channel)
                    .execute(&self.pool)
                    .await?;
                dropped.push((channel, n));
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(title: &str, t: i64) -> Alert {
        Alert {
            id: format!("id-{title}"),
            server: "PBX A".into(),
            server_id: "srv-a".into(),
            role: lbs_protocol::Role::Primary,
            condition: "partner_silent".into(),
            state: "firing".into(),
            title: title.into(),
            message: "m".into(),
            what_to_do: "t".into(),
            since_unix: t,
            time_unix: t,
        }
    }

    #[tokio::test]
    async fn a_row_that_cannot_be_read_is_set_apart_and_the_others_are_due() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(crate::db::open(&dir.path().join("agent.db")).await.unwrap());
        let channels = ["mail".to_string()];
        outbox
            .commit(&[], None, &[("memory".into(), alert("one", 100))], &channels, "srv-a")
            .await
            .unwrap();
        // As an older or newer agent may have left it.
        sqlx::query("UPDATE alert_outbox SET alert = '{\"title\": 1}'")
            .execute(&outbox.pool)
            .await
            .unwrap();
        outbox
            .commit(&[], None, &[("memory".into(), alert("two", 101))], &channels, "srv-a")
            .await
            .unwrap();
        let due = outbox.due(200, 10).await.unwrap();
        assert_eq!(due.pending.len(), 1);
        assert_eq!(due.pending[0].alert.title, "two");
        assert_eq!(due.unreadable.len(), 1);
        assert_eq!(due.unreadable[0].channel, "mail");
        assert!(
            due.unreadable[0]
                .error
                .starts_with("invalid type: integer `1`, expected a string"),
            "{:?}",
            due.unreadable
        );
    }

    #[tokio::test]
    async fn rows_survive_a_reopen_and_wait_together_when_their_channel_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        let channels = ["mail".to_string(), "hook".to_string()];
        {
            let outbox = Outbox::new(crate::db::open(&path).await.unwrap());
            assert_eq!(outbox.cursor().await.unwrap(), None);
            let incident = Incident {
                key: "partner_silent".into(),
                since: 100,
                notified: true,
                last_sent: Some(100),
                title: "x".into(),
            };
            outbox
                .commit(
                    &[Change::Open(incident)],
                    Some(7),
                    &[
                        ("partner_silent".into(), alert("one", 100)),
                        ("partner_silent".into(), alert("two", 101)),
                    ],
                    &channels,
                    "srv-a",
                )
                .await
                .unwrap();
        }
        // As after a restart: the same file opened again.
        let outbox = Outbox::new(crate::db::open(&path).await.unwrap());
        assert_eq!(outbox.cursor().await.unwrap(), Some(7));
        assert_eq!(outbox.incidents().await.unwrap().len(), 1);
        let due = outbox.due(200, 10).await.unwrap().pending;
        assert_eq!(due.len(), 4);
        let ids: std::collections::BTreeSet<&str> = due.iter().map(|p| p.message_id.as_str()).collect();
        assert_eq!(ids.len(), 4, "each row its own Message-ID");
        let first_mail = due.iter().find(|p| p.channel == "mail").unwrap();
        outbox
            .failed(first_mail.id, "mail", "connection refused", 300)
            .await
            .unwrap();
        let due = outbox.due(200, 10).await.unwrap().pending;
        assert!(due.iter().all(|p| p.channel == "hook"), "the mail rows wait: {due:?}");
        for p in &due {
            outbox.delivered(p.id, 200, "HTTP 200").await.unwrap();
        }
        assert_eq!(
            outbox.queued().await.unwrap(),
            BTreeMap::from([("mail".to_string(), 2)])
        );
        assert_eq!(outbox.next_due().await.unwrap(), Some(300));
        let again = outbox.due(300, 10).await.unwrap().pending;
        assert_eq!(again.len(), 2);
        assert_eq!(
            again[0].message_id, first_mail.message_id,
            "a retry keeps its Message-ID"
        );
        assert_eq!(again[0].attempts, 1);
        // A channel taken out of the configuration: its rows go; delivered rows age out.
        let dropped = outbox.prune(300, &["hook".to_string()]).await.unwrap();
        assert_eq!(dropped, [("mail".to_string(), 2)]);
        outbox.prune(200 + KEEP_DELIVERED_SECS + 1, &channels).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_outbox")
            .fetch_one(&outbox.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
