//! The agent's resource history: a SQLite file holding raw samples, minute, ten-minute and hour roll-ups,
//! trimmed by retention, answering range queries at a bounded number of points.
//!
//! Architecture Invariant: this crate stores and answers queries only — no HTTP, no sampling, no
//! clock. Callers pass every time (unix seconds, `i64`) in, so it is deterministic under test.
//!
//! Layout: [`HistoryStore::open`] and the shared types live here; writes in `write`, roll-ups and
//! retention in `rollup`, reads in `read`, copies of another store's roll-ups in `copy`; the schema
//! in `migrations/`.

mod copy;
mod error;
mod read;
mod rollup;
mod write;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use error::HistoryError;
pub use lbs_protocol::{HistoryPoint, HistoryQuery, HistoryResponse, Resolution, SeriesInfo, SeriesKind};

/// Most buckets a query may ask for (the migration fills `bucket_index` with as many rows).
pub const MAX_POINTS: u32 = 10_000;

/// Widest range a query may span: five years, leap days included.
pub const MAX_RANGE_SECS: i64 = (5 * 365 + 2) * 86_400;

/// How long each table keeps its rows, in seconds.
#[derive(Debug, Clone)]
pub struct Retention {
    pub raw_secs: i64,
    pub minute_secs: i64,
    pub hour_secs: i64,
}

impl Default for Retention {
    /// Raw 2 days, minute and ten-minute roll-ups 45 days, hour roll-ups 730 days. The query
    /// resolution rule relies on these: at 1,000 points raw covers any range under 16.7 h, minutes
    /// any under 6.9 days, ten-minute roll-ups any under 41.6 days.
    fn default() -> Self {
        Self {
            raw_secs: 2 * 86_400,
            minute_secs: 45 * 86_400,
            hour_secs: 730 * 86_400,
        }
    }
}

/// A series to record, as declared by the sampler.
#[derive(Debug, Clone)]
pub struct SeriesDef {
    pub name: String,
    pub label: String,
    pub unit: String,
    pub kind: SeriesKind,
}

/// Handle on the history database. Cheap to clone: it wraps a connection pool.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    pool: SqlitePool,
    retention: Retention,
}

impl HistoryStore {
    /// Opens or creates the file (WAL journal, `synchronous=NORMAL`, 5 s busy timeout) and brings
    /// its schema up to date with the embedded numbered migrations.
    pub async fn open(path: &Path, retention: Retention) -> Result<Self, HistoryError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(false)
            // Read pages straight from the OS cache: a month of minute roll-ups of one series is
            // larger than SQLite's default 2 MB page cache.
            .pragma("mmap_size", "268435456");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| HistoryError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        tracing::debug!(path = %path.display(), ?retention, "history store open");
        Ok(Self { pool, retention })
    }

    /// Closes the connections (before the file is deleted).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction that takes the write lock at once, so a transaction that reads
    /// before writing never fails to upgrade its lock while another connection writes.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, HistoryError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Spelling of a [`SeriesKind`] in the `series.kind` column (same as its JSON form).
fn kind_to_str(kind: SeriesKind) -> &'static str {
    match kind {
        SeriesKind::Resources => "resources",
        SeriesKind::Network => "network",
        SeriesKind::PbxActivity => "pbx_activity",
        SeriesKind::Sync => "sync",
        SeriesKind::Role => "role",
    }
}

struct StoredKind(SeriesKind);

impl FromStr for StoredKind {
    type Err = HistoryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "resources" => Ok(Self(SeriesKind::Resources)),
            "network" => Ok(Self(SeriesKind::Network)),
            "pbx_activity" => Ok(Self(SeriesKind::PbxActivity)),
            "sync" => Ok(Self(SeriesKind::Sync)),
            "role" => Ok(Self(SeriesKind::Role)),
            other => Err(HistoryError::Corrupt(format!("unknown series kind `{other}`"))),
        }
    }
}

/// Start of the `width`-second period holding `t` (floor, also for negative `t`).
pub fn period_start(t: i64, width: i64) -> i64 {
    t - t.rem_euclid(width)
}
