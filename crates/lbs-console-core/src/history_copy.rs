//! This computer's copy of each machine's resource history, so that a machine that is down, or
//! has been replaced, still shows its past. One `lbs-history` file per machine (named by its
//! server ID, so a box removed and added again keeps its past), filled from the agent's own
//! roll-ups: minutes for the last week, ten-minute periods and hours as far back as the agent
//! keeps them. Each refresh asks only for the periods completed since the last one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use lbs_history::{period_start, HistoryStore, Resolution, Retention, SeriesDef};
use lbs_protocol::{HistoryQuery, HistoryResponse, SeriesInfo};
use tokio::sync::Mutex;

use crate::client::AgentClient;
use crate::error::Error;

/// One roll-up table to copy: its period, how far back a first copy reaches.
struct Level {
    resolution: Resolution,
    width: i64,
    reach: i64,
}

const DAY: i64 = 86_400;

const LEVELS: [Level; 3] = [
    Level {
        resolution: Resolution::Hour,
        width: 3_600,
        reach: 730 * DAY,
    },
    Level {
        resolution: Resolution::TenMinute,
        width: 600,
        reach: 45 * DAY,
    },
    // Minutes serve ranges under a week; longer ones read ten-minute periods anyway.
    Level {
        resolution: Resolution::Minute,
        width: 60,
        reach: 7 * DAY,
    },
];

/// The agent answers at most this many buckets per question.
const MAX_POINTS: i64 = lbs_history::MAX_POINTS as i64;

/// Questions per series and table in one refresh: enough for a first copy, bounded if a
/// misbehaving agent keeps answering short.
const MAX_ASKS: usize = 4;

/// Series copied at once from one machine.
const PARALLEL: usize = 4;

pub struct HistoryCopy {
    dir: PathBuf,
    open: Mutex<HashMap<String, HistoryStore>>,
}

fn storage(e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("history copy: {e}"))
}

impl HistoryCopy {
    pub fn new(dir: &Path) -> HistoryCopy {
        HistoryCopy {
            dir: dir.to_owned(),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn path(&self, server_id: &str) -> Result<PathBuf, Error> {
        // Server IDs are UUIDs; anything else must not become a path.
        if server_id.is_empty() || !server_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::InvalidInput(format!("\"{server_id}\" is not a server ID.")));
        }
        Ok(self.dir.join(format!("{server_id}.db")))
    }

    /// Whether this computer holds a copy of the machine's history.
    pub fn exists(&self, server_id: &str) -> bool {
        self.path(server_id).is_ok_and(|p| p.exists())
    }

    async fn store(&self, server_id: &str) -> Result<HistoryStore, Error> {
        let path = self.path(server_id)?;
        let mut open = self.open.lock().await;
        if let Some(store) = open.get(server_id) {
            return Ok(store.clone());
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| storage(format!("cannot create {}: {e}", self.dir.display())))?;
        // No raw samples in a copy; its roll-ups are kept as long as the agent keeps its own.
        let retention = Retention {
            raw_secs: 0,
            ..Retention::default()
        };
        let store = HistoryStore::open(&path, retention).await.map_err(storage)?;
        open.insert(server_id.to_owned(), store.clone());
        Ok(store)
    }

    /// Copies what the agent recorded since the last refresh. Returns the rows copied.
    pub async fn refresh(&self, server_id: &str, agent: &AgentClient, now: i64) -> Result<usize, Error> {
        let list = agent.series().await?.series;
        let store = self.store(server_id).await?;
        let defs: Vec<SeriesDef> = list
            .iter()
            .map(|s| SeriesDef {
                name: s.name.clone(),
                label: s.label.clone(),
                unit: s.unit.clone(),
                kind: s.kind,
            })
            .collect();
        store.register(&defs).await.map_err(storage)?;
        // A few series at a time: the agent answers them in parallel, and the copy writes while
        // the next answer is on its way. (The futures are collected first: a stream of closures
        // over borrowed series is not `Send` for every lifetime, which the app's poller needs.)
        let copies: Vec<_> = list.iter().map(|s| copy_series(&store, agent, s, now)).collect();
        let copied: Vec<usize> = futures_util::stream::iter(copies)
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        store.trim(now).await.map_err(storage)?;
        Ok(copied.into_iter().sum())
    }

    /// The series of the copy, newest time included; `None` when there is no copy.
    pub async fn series(&self, server_id: &str) -> Result<Option<Vec<SeriesInfo>>, Error> {
        if !self.exists(server_id) {
            return Ok(None);
        }
        let store = self.store(server_id).await?;
        Ok(Some(store.series().await.map_err(storage)?))
    }

    /// Answers from the copy, at minute resolution or coarser: it holds no raw samples.
    pub async fn query(&self, server_id: &str, q: &HistoryQuery) -> Result<HistoryResponse, Error> {
        if !self.exists(server_id) {
            return Err(Error::NotFound);
        }
        let span = q.to.saturating_sub(q.from);
        let q = HistoryQuery {
            points: q.points.min(u32::try_from(span / 60).unwrap_or(u32::MAX).max(1)),
            ..q.clone()
        };
        let store = self.store(server_id).await?;
        store.query(&q).await.map_err(|e| match e {
            lbs_history::HistoryError::InvalidQuery(m) => Error::InvalidInput(m),
            lbs_history::HistoryError::UnknownSeries(_) => Error::NotFound,
            e => storage(e),
        })
    }

    /// Deletes the copy (when its office is removed).
    pub async fn forget(&self, server_id: &str) -> Result<(), Error> {
        let path = self.path(server_id)?;
        if let Some(store) = self.open.lock().await.remove(server_id) {
            store.close().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(storage(format!("cannot delete {}: {e}", file.display()))),
            }
        }
        Ok(())
    }
}

/// Copies one series, every table.
async fn copy_series(store: &HistoryStore, agent: &AgentClient, s: &SeriesInfo, now: i64) -> Result<usize, Error> {
    let Some(first) = s.first_unix else {
        return Ok(0);
    };
    let mut copied = 0;
    for level in &LEVELS {
        copied += copy_level(store, agent, s, first, level, now).await?;
    }
    Ok(copied)
}

/// Copies one series' completed periods of one table, oldest first, from where the copy ends.
async fn copy_level(
    store: &HistoryStore,
    agent: &AgentClient,
    s: &SeriesInfo,
    first: i64,
    level: &Level,
    now: i64,
) -> Result<usize, Error> {
    let w = level.width;
    let end = period_start(now, w);
    let earliest = period_start(first.max(now - level.reach), w);
    let mut from = match store.last_rollup(&s.name, level.resolution).await.map_err(storage)? {
        Some(last) => (last + w).max(earliest),
        None => earliest,
    };
    let mut copied = 0;
    for _ in 0..MAX_ASKS {
        if end - from < w {
            break;
        }
        let to = end.min(from + MAX_POINTS * w);
        let q = HistoryQuery {
            series: s.name.clone(),
            from,
            to,
            points: ((to - from) / w) as u32,
        };
        let answer = agent.history(&q).await?;
        if answer.resolution != level.resolution || answer.bucket_secs != w {
            tracing::warn!(series = %s.name, ?answer.resolution, "history copy: the agent answered at another resolution");
            break;
        }
        copied += store
            .copy_rollups(&s.name, level.resolution, &answer.points)
            .await
            .map_err(storage)?;
        from = to;
    }
    Ok(copied)
}
