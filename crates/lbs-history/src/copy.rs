//! A store filled from another store's answers instead of samples: the console keeps a copy of
//! each machine's roll-ups so that a machine that is down, or has been replaced, still shows its
//! past. Rows arrive already rolled up (one answer bucket per minute, ten minutes or hour) and
//! go straight into the matching table; [`HistoryStore::trim`] applies the retention. A copied
//! row weighs the seconds it covers (its `n`), as a sampled row weighs its samples: a query that
//! reaches now merges hour, ten-minute and minute rows into one bucket (see `read.rs`), and an
//! hour must count sixty times a minute there.

use crate::{HistoryError, HistoryPoint, HistoryStore, Resolution};

/// Rows per multi-row `INSERT` (5 bound parameters each).
const ROWS_PER_STATEMENT: usize = 400;

/// The table of a roll-up resolution, and its period in seconds.
fn table(resolution: Resolution) -> Result<(&'static str, i64), HistoryError> {
    match resolution {
        Resolution::Minute => Ok(("rollup_minute", 60)),
        Resolution::TenMinute => Ok(("rollup_ten_minute", 600)),
        Resolution::Hour => Ok(("rollup_hour", 3_600)),
        Resolution::Raw => Err(HistoryError::InvalidQuery(
            "only roll-ups (minute, ten-minute, hour) can be copied".into(),
        )),
    }
}

impl HistoryStore {
    /// Writes `points` (one per roll-up period, as answered at that resolution) into the roll-up
    /// table of `resolution`, replacing rows already there. Non-finite values are skipped. Fails
    /// with [`HistoryError::UnknownSeries`], writing nothing, if `series` is not registered.
    pub async fn copy_rollups(
        &self,
        series: &str,
        resolution: Resolution,
        points: &[HistoryPoint],
    ) -> Result<usize, HistoryError> {
        let (table, period) = table(resolution)?;
        let id = self.series_id(series).await?;
        let rows: Vec<&HistoryPoint> = points
            .iter()
            .filter(|p| [p.min, p.avg, p.max].iter().all(|v| v.is_finite()))
            .collect();
        let mut tx = self.begin_write().await?;
        // Many rows per statement: a first copy writes thousands per series.
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let row = format!("(?, ?, ?, ?, ?, {period})");
            let values = vec![row.as_str(); chunk.len()].join(", ");
            let sql = format!("INSERT OR REPLACE INTO {table} (series_id, t, min, avg, max, n) VALUES {values}");
            let mut q = sqlx::query(&sql);
            for p in chunk {
                q = q.bind(id).bind(p.t).bind(p.min).bind(p.avg).bind(p.max);
            }
            q.execute(&mut *tx).await?;
        }
        let written = rows.len();
        tx.commit().await?;
        Ok(written)
    }

    /// Start of the newest roll-up row of `series` at `resolution`, if any.
    pub async fn last_rollup(&self, series: &str, resolution: Resolution) -> Result<Option<i64>, HistoryError> {
        let (table, _) = table(resolution)?;
        let id = self.series_id(series).await?;
        Ok(
            sqlx::query_scalar(&format!("SELECT max(t) FROM {table} WHERE series_id = ?1"))
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Deletes roll-up rows past their retention, for a store filled by [`copy_rollups`]
    /// (a sampled store trims in [`roll_up`](Self::roll_up)).
    ///
    /// [`copy_rollups`]: Self::copy_rollups
    pub async fn trim(&self, now: i64) -> Result<u64, HistoryError> {
        let r = &self.retention;
        let mut tx = self.begin_write().await?;
        let deleted = crate::rollup::delete_before(
            &mut tx,
            &[
                ("rollup_minute", now - r.minute_secs),
                ("rollup_ten_minute", now - r.minute_secs),
                ("rollup_hour", now - r.hour_secs),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    pub(crate) async fn series_id(&self, name: &str) -> Result<i64, HistoryError> {
        sqlx::query_scalar("SELECT id FROM series WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| HistoryError::UnknownSeries(name.to_owned()))
    }
}
