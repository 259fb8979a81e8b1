//! The audit log (`GET /api/v1/events`): every role change, refusal and violation, who asked for
//! it and why, in `agent.db`. Also written to the log, so `journalctl` tells the same story.

use lbs_protocol::{Event, EventKind, Role};
use sqlx::SqlitePool;

use crate::clock::now_unix;

#[derive(Clone)]
pub struct EventLog {
    pool: SqlitePool,
    server_id: String,
    /// The id of the newest entry written, so a reader (the alerts) wakes at once.
    newest: std::sync::Arc<tokio::sync::watch::Sender<i64>>,
}

/// What is recorded; the time, the box and the id are added by the log.
pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub role: Role,
    pub epoch: u64,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub message: String,
}

impl EventLog {
    pub fn new(pool: SqlitePool, server_id: String) -> Self {
        EventLog {
            pool,
            server_id,
            newest: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Changes whenever an entry is written: its id.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<i64> {
        self.newest.subscribe()
    }

    /// The id of the newest entry (0 for none).
    pub async fn newest_id(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM events")
            .fetch_one(&self.pool)
            .await
    }

    /// Oldest first: up to `limit` entries with an id above `after`.
    pub async fn since(&self, after: i64, limit: u32) -> Result<Vec<Event>, sqlx::Error> {
        self.page("id > ?1 ORDER BY id ASC", Some(after), limit).await
    }

    /// Records an event. A failure to record is logged, never allowed to stop a role change.
    pub async fn record(&self, e: NewEvent<'_>) {
        tracing::info!(kind = e.kind.as_str(), role = %e.role, epoch = e.epoch, actor = e.actor, reason = ?e.reason, "{}", e.message);
        let result = sqlx::query(
            "INSERT INTO events (at_unix, kind, role, epoch, actor, reason, message) VALUES (?, ?, ?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(now_unix())
        .bind(e.kind.as_str())
        .bind(e.role.to_string())
        .bind(e.epoch as i64)
        .bind(e.actor)
        .bind(e.reason)
        .bind(&e.message)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => {
                let id: i64 = sqlx::Row::get(&row, 0);
                self.newest.send_replace(id);
            }
            Err(err) => tracing::error!(error = %err, "cannot write to the audit log"),
        }
    }

    /// Newest first: up to `limit` events with an id below `before`.
    pub async fn list(&self, limit: u32, before: Option<i64>) -> Result<Vec<Event>, sqlx::Error> {
        self.page("?1 IS NULL OR id < ?1 ORDER BY id DESC", before, limit).await
    }

    /// The entries `filter` (with `?1` bound to `bound`) picks, up to `limit`.
    async fn page(&self, filter: &str, bound: Option<i64>, limit: u32) -> Result<Vec<Event>, sqlx::Error> {
        type Row = (i64, i64, String, String, i64, String, Option<String>, String);
        let sql = format!(
            "SELECT id, at_unix, kind, role, epoch, actor, reason, message FROM events WHERE {filter} LIMIT ?2"
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at_unix, kind, role, epoch, actor, reason, message)| Event {
                id,
                at_unix,
                server_id: self.server_id.clone(),
                // Text in the database, so an older or newer build's kinds still read.
                kind: EventKind::parse(&kind),
                role: if role == "primary" { Role::Primary } else { Role::Backup },
                epoch: epoch.max(0) as u64,
                actor,
                reason,
                message,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_listed_newest_first_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(
            crate::db::open(&dir.path().join("agent.db")).await.unwrap(),
            "id-a".into(),
        );
        for (i, kind) in ["promoted", "refused", "demoted", "from_a_newer_agent"]
            .iter()
            .enumerate()
        {
            log.record(NewEvent {
                kind: EventKind::parse(kind),
                role: Role::Primary,
                epoch: i as u64 + 1,
                actor: "lbs-agent CLI",
                reason: Some("test"),
                message: format!("event {i}"),
            })
            .await;
        }
        let all = log.list(10, None).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [
                EventKind::Other,
                EventKind::Demoted,
                EventKind::Refused,
                EventKind::Promoted
            ]
        );
        let older = log.list(10, Some(all[0].id)).await.unwrap();
        assert_eq!(older.len(), 3);
        assert_eq!(log.list(1, None).await.unwrap()[0].server_id, "id-a");
    }
}
