//! Writes: series registration and raw samples (one tick, or a bulk import), with validation.

use std::collections::HashMap;

use sqlx::{Sqlite, Transaction};

use crate::{kind_to_str, rollup, HistoryError, HistoryStore, SeriesDef};

/// Rows per multi-row `INSERT` (3 bound parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 500;

/// Rows per transaction in [`HistoryStore::record_many`].
const ROWS_PER_TRANSACTION: usize = 100_000;

/// A validated raw sample: (series id, t, value).
type RawRow = (i64, i64, f64);

impl HistoryStore {
    /// Inserts or updates the series metadata (label, unit and kind may change between versions).
    pub async fn register(&self, defs: &[SeriesDef]) -> Result<(), HistoryError> {
        let mut tx = self.begin_write().await?;
        for def in defs {
            sqlx::query(
                "INSERT INTO series (name, label, unit, kind) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (name) DO UPDATE SET label = excluded.label, unit = excluded.unit, kind = excluded.kind",
            )
            .bind(&def.name)
            .bind(&def.label)
            .bind(&def.unit)
            .bind(kind_to_str(def.kind))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::debug!(count = defs.len(), "series registered");
        Ok(())
    }

    /// Records one sample tick: every value at time `t`, in one transaction. A sample already
    /// stored for the same series and time is replaced. NaN and infinite values are skipped.
    /// Fails with [`HistoryError::UnknownSeries`], writing nothing, if a name is not registered.
    pub async fn record(&self, t: i64, values: &[(&str, f64)]) -> Result<(), HistoryError> {
        let ids = self.series_ids().await?;
        let rows = values
            .iter()
            .map(|&(name, value)| (t, name, value))
            .map(|row| validate(&ids, row))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        insert_raw(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Bulk import (benchmarks, demo seeding): rows of (t, series name, value), validated like
    /// [`record`](Self::record) before anything is written, then written in large transactions.
    /// Unlike a late `record`, rows older than the roll-up watermarks are rolled up by the next
    /// [`roll_up`](Self::roll_up): each transaction rewinds the watermarks to its oldest row.
    pub async fn record_many(&self, rows: &[(i64, &str, f64)]) -> Result<(), HistoryError> {
        let ids = self.series_ids().await?;
        let rows = rows
            .iter()
            .map(|&row| validate(&ids, row))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in rows.chunks(ROWS_PER_TRANSACTION) {
            let mut tx = self.begin_write().await?;
            insert_raw(&mut tx, chunk).await?;
            if let Some(oldest) = chunk.iter().map(|&(_, t, _)| t).min() {
                rollup::rewind(&mut tx, oldest).await?;
            }
            tx.commit().await?;
        }
        tracing::debug!(rows = rows.len(), "bulk samples recorded");
        Ok(())
    }

    /// Every registered series name with its id.
    async fn series_ids(&self) -> Result<HashMap<String, i64>, HistoryError> {
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT name, id FROM series")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }
}

/// Resolves the series name; `Ok(None)` for a value that cannot be stored (NaN, infinite).
fn validate(ids: &HashMap<String, i64>, (t, name, value): (i64, &str, f64)) -> Result<Option<RawRow>, HistoryError> {
    let id = *ids
        .get(name)
        .ok_or_else(|| HistoryError::UnknownSeries(name.to_owned()))?;
    if !value.is_finite() {
        tracing::debug!(series = name, t, value, "skipping a non-finite sample");
        return Ok(None);
    }
    Ok(Some((id, t, value)))
}

/// Writes raw rows with multi-row `INSERT OR REPLACE` statements (the full-size statement is
/// prepared once and cached by the connection).
async fn insert_raw(tx: &mut Transaction<'static, Sqlite>, rows: &[RawRow]) -> Result<(), HistoryError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(chunk.len());
        let mut query = sqlx::query(&sql);
        for &(id, t, value) in chunk {
            query = query.bind(id).bind(t).bind(value);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(64 + rows * 10);
    sql.push_str("INSERT OR REPLACE INTO samples_raw (series_id, t, value) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?)");
    }
    sql
}
