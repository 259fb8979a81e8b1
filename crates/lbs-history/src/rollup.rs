//! Roll-ups and retention: minute roll-ups from raw samples, ten-minute roll-ups from minutes,
//! hour roll-ups from ten-minute roll-ups, watermarks in `meta`, and deletion of rows past their
//! retention (the ten-minute table is kept as long as the minute table).
//!
//! Watermark `W` of a table means: every period starting before `W` has been rolled up, so each
//! call only reads the periods completed since the last one, and calling again is a no-op.
//! A live sample (`record`) arriving for a period already rolled up stays in the raw table but is
//! not counted in the roll-ups (correcting them would mean rereading a period on every write). A
//! bulk import (`record_many`) instead rewinds the watermarks to its oldest row, so the next call
//! re-rolls from there: retention only ever deletes whole periods, so every period re-rolled from
//! raw rows has all of its rows (an imported period older than the raw retention replaces the
//! roll-up it had).

use sqlx::{Sqlite, Transaction};

use crate::{period_start, HistoryError, HistoryStore};

const MINUTE: i64 = 60;
const TEN_MINUTES: i64 = 600;
const HOUR: i64 = 3_600;
const MINUTE_WATERMARK: &str = "rollup_minute_watermark";
const TEN_MINUTE_WATERMARK: &str = "rollup_ten_minute_watermark";
const HOUR_WATERMARK: &str = "rollup_hour_watermark";

/// One roll-up step: which table it reads and writes, and how.
struct Level {
    width: i64,
    watermark_key: &'static str,
    source: &'static str,
    /// Inserts the roll-up rows of periods starting in [?1, ?2).
    insert_sql: &'static str,
}

const MINUTES: Level = Level {
    width: MINUTE,
    watermark_key: MINUTE_WATERMARK,
    source: "samples_raw",
    insert_sql: "INSERT OR REPLACE INTO rollup_minute (series_id, t, min, avg, max, n) \
                 SELECT series_id, t - (((t % 60) + 60) % 60) AS p, min(value), avg(value), max(value), count(*) \
                 FROM samples_raw WHERE t >= ?1 AND t < ?2 GROUP BY series_id, p",
};

const TENS: Level = Level {
    width: TEN_MINUTES,
    watermark_key: TEN_MINUTE_WATERMARK,
    source: "rollup_minute",
    insert_sql: "INSERT OR REPLACE INTO rollup_ten_minute (series_id, t, min, avg, max, n) \
                 SELECT series_id, t - (((t % 600) + 600) % 600) AS p, min(min), sum(avg * n) / sum(n), max(max), \
                 sum(n) FROM rollup_minute WHERE t >= ?1 AND t < ?2 GROUP BY series_id, p",
};

const HOURS: Level = Level {
    width: HOUR,
    watermark_key: HOUR_WATERMARK,
    source: "rollup_ten_minute",
    insert_sql: "INSERT OR REPLACE INTO rollup_hour (series_id, t, min, avg, max, n) \
                 SELECT series_id, t - (((t % 3600) + 3600) % 3600) AS p, min(min), sum(avg * n) / sum(n), max(max), \
                 sum(n) FROM rollup_ten_minute WHERE t >= ?1 AND t < ?2 GROUP BY series_id, p",
};

impl HistoryStore {
    /// Rolls up every completed minute not yet rolled up, then every completed hour from the minute
    /// roll-ups, then deletes rows past retention in each table — all in one transaction.
    /// Idempotent and incremental: cheap when called every few seconds.
    pub async fn roll_up(&self, now: i64) -> Result<(), HistoryError> {
        let mut tx = self.begin_write().await?;
        let minute_done = roll_level(&mut tx, &MINUTES, period_start(now, MINUTE)).await?;
        // A ten-minute period is complete once all of its minutes are rolled up; an hour, once
        // all of its ten-minute periods are.
        let ten_done = match minute_done {
            Some(done) => roll_level(&mut tx, &TENS, period_start(done, TEN_MINUTES)).await?,
            None => None,
        };
        let hour_done = match ten_done {
            Some(done) => roll_level(&mut tx, &HOURS, period_start(done, HOUR)).await?,
            None => None,
        };

        // Delete whole periods only (see the module doc), and never rows the next coarser table
        // has not absorbed yet (matters only with retentions shorter than a minute / an hour).
        let r = &self.retention;
        let raw_cutoff = period_start(now - r.raw_secs, MINUTE).min(minute_done.unwrap_or(i64::MIN));
        let minute_cutoff = period_start(now - r.minute_secs, TEN_MINUTES).min(ten_done.unwrap_or(i64::MIN));
        let ten_cutoff = period_start(now - r.minute_secs, HOUR).min(hour_done.unwrap_or(i64::MIN));
        let hour_cutoff = now - r.hour_secs;
        let deleted = delete_before(
            &mut tx,
            &[
                ("samples_raw", raw_cutoff),
                ("rollup_minute", minute_cutoff),
                ("rollup_ten_minute", ten_cutoff),
                ("rollup_hour", hour_cutoff),
            ],
        )
        .await?;
        tx.commit().await?;
        if deleted > 0 {
            tracing::debug!(now, deleted, "history retention applied");
        }
        Ok(())
    }
}

/// Rolls up the periods of `level` starting in [watermark, target) and advances the watermark.
/// Without a watermark yet, starts at the oldest source row. Returns the watermark after the step,
/// `None` while there is nothing to roll up at all.
async fn roll_level(
    tx: &mut Transaction<'static, Sqlite>,
    level: &Level,
    target: i64,
) -> Result<Option<i64>, HistoryError> {
    let start = match read_watermark(tx, level.watermark_key).await? {
        Some(watermark) => watermark,
        None => {
            let oldest: Option<i64> = sqlx::query_scalar(&format!("SELECT min(t) FROM {}", level.source))
                .fetch_one(&mut **tx)
                .await?;
            match oldest {
                Some(t) => period_start(t, level.width),
                None => return Ok(None),
            }
        }
    };
    if target <= start {
        // Nothing completed since the last call (or the clock went back): keep the watermark.
        return Ok(Some(start));
    }
    let rows = sqlx::query(level.insert_sql)
        .bind(start)
        .bind(target)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
        .bind(level.watermark_key)
        .bind(target)
        .execute(&mut **tx)
        .await?;
    tracing::trace!(table = level.source, from = start, to = target, rows, "rolled up");
    Ok(Some(target))
}

/// Moves both watermarks back to the periods holding `oldest`, so the next roll-up includes rows
/// imported into the past. Run in the importing transaction, before any roll-up can trim them.
pub(crate) async fn rewind(tx: &mut Transaction<'static, Sqlite>, oldest: i64) -> Result<(), HistoryError> {
    for (key, width) in [
        (MINUTE_WATERMARK, MINUTE),
        (TEN_MINUTE_WATERMARK, TEN_MINUTES),
        (HOUR_WATERMARK, HOUR),
    ] {
        sqlx::query("UPDATE meta SET value = min(value, ?2) WHERE key = ?1")
            .bind(key)
            .bind(period_start(oldest, width))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Deletes each table's rows older than its cutoff; returns how many went.
pub(crate) async fn delete_before(
    tx: &mut Transaction<'static, Sqlite>,
    cutoffs: &[(&str, i64)],
) -> Result<u64, HistoryError> {
    let mut deleted = 0;
    for (table, cutoff) in cutoffs {
        deleted += sqlx::query(&format!("DELETE FROM {table} WHERE t < ?1"))
            .bind(cutoff)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

async fn read_watermark(tx: &mut Transaction<'static, Sqlite>, key: &str) -> Result<Option<i64>, HistoryError> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?)
}
