//! Integration tests of `lbs-history` against real SQLite files in temporary directories.

mod copy;
mod now;
mod query;
mod rollup;
mod store;

use std::path::{Path, PathBuf};

use lbs_history::{HistoryQuery, HistoryStore, Retention, SeriesDef, SeriesKind};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tempfile::TempDir;

/// An hour-aligned time (2023-11-14 22:00:00 UTC), so minute and hour boundaries are easy to read.
pub const T0: i64 = 1_699_999_200;

/// A fresh store in its own temp dir with `cpu`, `mem` and `net.eth0.rx` registered.
pub struct Fixture {
    pub dir: TempDir,
    pub store: HistoryStore,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_retention(Retention::default()).await
    }

    pub async fn with_retention(retention: Retention) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(&db_path(dir.path()), retention).await.unwrap();
        store.register(&defs()).await.unwrap();
        Self { dir, store }
    }

    pub fn path(&self) -> PathBuf {
        db_path(self.dir.path())
    }

    /// A second, independent connection to the file, to inspect tables the API does not expose.
    pub async fn inspect(&self) -> SqlitePool {
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(self.path()))
            .await
            .unwrap()
    }

    pub async fn scalar(&self, sql: &str) -> Option<i64> {
        let pool = self.inspect().await;
        let v = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        v
    }
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("history.db")
}

pub fn def(name: &str, label: &str, unit: &str, kind: SeriesKind) -> SeriesDef {
    SeriesDef {
        name: name.into(),
        label: label.into(),
        unit: unit.into(),
        kind,
    }
}

pub fn defs() -> Vec<SeriesDef> {
    vec![
        def("cpu", "CPU use", "percent", SeriesKind::Resources),
        def("mem", "Memory", "bytes", SeriesKind::Resources),
        def("net.eth0.rx", "eth0 in", "bytes_per_sec", SeriesKind::Network),
    ]
}

pub fn hq(series: &str, from: i64, to: i64, points: u32) -> HistoryQuery {
    HistoryQuery {
        series: series.into(),
        from,
        to,
        points,
    }
}

/// (t, min, avg, max) of every point, avg rounded to 1e-9 to compare floats safely.
pub fn tuples(resp: &lbs_history::HistoryResponse) -> Vec<(i64, f64, f64, f64)> {
    resp.points
        .iter()
        .map(|p| (p.t, p.min, (p.avg * 1e9).round() / 1e9, p.max))
        .collect()
}

pub fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}
