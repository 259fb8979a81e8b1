//! Reads: the series list, the latest value of each series, and bucketed range queries that pick
//! the raw, minute, ten-minute or hour table by bucket width, and reach now through the finer
//! tables.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{
    HistoryError, HistoryPoint, HistoryQuery, HistoryResponse, HistoryStore, Resolution, SeriesInfo, StoredKind,
    MAX_POINTS, MAX_RANGE_SECS,
};

/// Each series with its first/last time in every table and its latest raw value. The correlated
/// subqueries are answered from the (series_id, t) primary keys.
const SERIES_SQL: &str = "SELECT s.name, s.label, s.unit, s.kind, \
    (SELECT min(t) FROM samples_raw WHERE series_id = s.id), \
    (SELECT max(t) FROM samples_raw WHERE series_id = s.id), \
    (SELECT min(t) FROM rollup_minute WHERE series_id = s.id), \
    (SELECT max(t) FROM rollup_minute WHERE series_id = s.id), \
    (SELECT min(t) FROM rollup_hour WHERE series_id = s.id), \
    (SELECT max(t) FROM rollup_hour WHERE series_id = s.id), \
    (SELECT value FROM samples_raw WHERE series_id = s.id ORDER BY t DESC LIMIT 1) \
    FROM series s ORDER BY s.name";

/// Bucketed aggregation over one table. Parameters: ?1 from, ?2 bucket width, ?3 series id,
/// ?4 to, ?5 bucket count, ?6 the first time read from this table (rows before it are answered by
/// a coarser table), ?7 the first bucket holding it. Each row is (bucket, min, sum of values
/// weighted by sample count, max, sample count), so that the parts of one bucket read from
/// different tables add up.
///
/// Each bucket index from `bucket_index` (the outer loop, forced by `CROSS JOIN`) seeks its time
/// range in the (series_id, t) primary key, so rows arrive grouped by bucket already and SQLite
/// aggregates them without sorting: 1.6-2x faster in `benches/query.rs` than `GROUP BY (t - from) / width`,
/// which sorts every row.
macro_rules! bucket_sql {
    ($aggregates:literal, $table:literal) => {
        concat!(
            "SELECT b.i, ",
            $aggregates,
            " FROM bucket_index b CROSS JOIN ",
            $table,
            " r ON r.series_id = ?3 AND r.t >= max(?1 + b.i * ?2, ?6) AND r.t < min(?1 + (b.i + 1) * ?2, ?4) \
             WHERE b.i >= ?7 AND b.i < ?5 GROUP BY b.i ORDER BY b.i"
        )
    };
}

/// Roll-up rows carry min/avg/max of `n` samples: the bucket's average is weighted by `n`.
macro_rules! rollup_sql {
    ($table:literal) => {
        bucket_sql!("min(r.min), sum(r.avg * r.n), max(r.max), sum(r.n)", $table)
    };
}

const RAW_SQL: &str = bucket_sql!("min(r.value), sum(r.value), max(r.value), count(*)", "samples_raw");
const MINUTE_SQL: &str = rollup_sql!("rollup_minute");
const TEN_MINUTE_SQL: &str = rollup_sql!("rollup_ten_minute");
const HOUR_SQL: &str = rollup_sql!("rollup_hour");

/// One table a range is read from (indexed finest first, as [`Resolution`] orders them): its
/// bucket query, period, and how to find where its rows of a series end.
struct Table {
    sql: &'static str,
    /// The period of one row; 0 for raw samples, the finest table (never asked where it ends).
    period: i64,
    last_sql: &'static str,
}

const TABLES: [Table; 4] = [
    Table {
        sql: RAW_SQL,
        period: 0,
        last_sql: "",
    },
    Table {
        sql: MINUTE_SQL,
        period: 60,
        last_sql: "SELECT max(t) FROM rollup_minute WHERE series_id = ?1",
    },
    Table {
        sql: TEN_MINUTE_SQL,
        period: 600,
        last_sql: "SELECT max(t) FROM rollup_ten_minute WHERE series_id = ?1",
    },
    Table {
        sql: HOUR_SQL,
        period: 3_600,
        last_sql: "SELECT max(t) FROM rollup_hour WHERE series_id = ?1",
    },
];

/// One bucket's aggregate, as read from one or more tables.
#[derive(Clone, Copy)]
struct Bucket {
    min: f64,
    sum: f64,
    max: f64,
    n: i64,
}

impl Bucket {
    fn add(&mut self, other: Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.n += other.n;
    }
}

impl HistoryStore {
    /// All registered series, by name, with the first and last sample time found in any table.
    pub async fn series(&self) -> Result<Vec<SeriesInfo>, HistoryError> {
        let rows = sqlx::query(SERIES_SQL).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok(series_row(row)?.0)).collect()
    }

    /// The latest raw sample of every series that has one: (info, t, value). For Prometheus export.
    pub async fn latest(&self) -> Result<Vec<(SeriesInfo, i64, f64)>, HistoryError> {
        let rows = sqlx::query(SERIES_SQL).fetch_all(&self.pool).await?;
        let mut latest = Vec::with_capacity(rows.len());
        for row in &rows {
            if let (info, Some((t, value))) = series_row(row)? {
                latest.push((info, t, value));
            }
        }
        Ok(latest)
    }

    /// Answers a range query with at most `q.points` buckets, from the coarsest table whose
    /// resolution fits the bucket width. Empty buckets are omitted.
    ///
    /// The range reaches now: a coarse table ends at its last roll-up (up to an hour ago, or
    /// nothing at all on a box started this hour), so the time after its last row is read from
    /// the next finer table, and so on down to the raw samples, into buckets of the same width.
    /// Each period is read from one table only, so nothing is counted twice.
    pub async fn query(&self, q: &HistoryQuery) -> Result<HistoryResponse, HistoryError> {
        let (bucket_secs, resolution) = plan(q)?;
        let id = self.series_id(&q.series).await?;
        let count = ceil_div(q.to - q.from, bucket_secs);
        let coarsest = match resolution {
            Resolution::Raw => 0,
            Resolution::Minute => 1,
            Resolution::TenMinute => 2,
            Resolution::Hour => 3,
        };
        let mut buckets: std::collections::BTreeMap<i64, Bucket> = std::collections::BTreeMap::new();
        // Where the tables read so far stop answering.
        let mut covered = q.from;
        for table in TABLES[..=coarsest].iter().rev() {
            if covered >= q.to {
                break;
            }
            let first_bucket = (covered - q.from) / bucket_secs;
            let rows: Vec<(i64, f64, f64, f64, i64)> = sqlx::query_as(table.sql)
                .bind(q.from)
                .bind(bucket_secs)
                .bind(id)
                .bind(q.to)
                .bind(count)
                .bind(covered)
                .bind(first_bucket)
                .fetch_all(&self.pool)
                .await?;
            for (i, min, sum, max, n) in rows {
                let part = Bucket { min, sum, max, n };
                buckets.entry(i).and_modify(|b| b.add(part)).or_insert(part);
            }
            if table.period > 0 {
                let last: Option<i64> = sqlx::query_scalar(table.last_sql)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                if let Some(last) = last {
                    covered = covered.max(last + table.period);
                }
            }
        }
        let points: Vec<HistoryPoint> = buckets
            .into_iter()
            .filter(|(_, b)| b.n > 0)
            .map(|(i, b)| HistoryPoint {
                t: q.from + i * bucket_secs,
                min: b.min,
                avg: b.sum / b.n as f64,
                max: b.max,
            })
            .collect();
        debug_assert!(points.len() <= q.points as usize);
        Ok(HistoryResponse {
            series: q.series.clone(),
            from: q.from,
            to: q.to,
            bucket_secs,
            resolution,
            points,
        })
    }
}

/// Validates a query and picks its bucket width and table: the width is the range divided by the
/// points (rounded up, at least 1 s); an hour or more reads hour roll-ups, a minute or more minute
/// roll-ups, else raw samples. For roll-ups the width is rounded up to whole minutes / hours.
fn plan(q: &HistoryQuery) -> Result<(i64, Resolution), HistoryError> {
    if !(1..=MAX_POINTS).contains(&q.points) {
        return Err(HistoryError::InvalidQuery(format!(
            "points must be between 1 and {MAX_POINTS}"
        )));
    }
    if q.to <= q.from {
        return Err(HistoryError::InvalidQuery("`to` must be after `from`".into()));
    }
    let span = match q.to.checked_sub(q.from) {
        Some(span) if span <= MAX_RANGE_SECS => span,
        _ => return Err(HistoryError::InvalidQuery("the range may span at most 5 years".into())),
    };
    let bucket = ceil_div(span, i64::from(q.points)).max(1);
    Ok(if bucket >= 3_600 {
        (round_up(bucket, 3_600), Resolution::Hour)
    } else if bucket >= 600 {
        (round_up(bucket, 600), Resolution::TenMinute)
    } else if bucket >= 60 {
        (round_up(bucket, 60), Resolution::Minute)
    } else {
        (bucket, Resolution::Raw)
    })
}

fn round_up(value: i64, multiple: i64) -> i64 {
    ceil_div(value, multiple) * multiple
}

/// `a / b` rounded up, for `a >= 0`, `b > 0` (the signed `div_ceil` is not stable).
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

/// Decodes a row of [`SERIES_SQL`] into the series info and its latest raw sample, if any.
fn series_row(row: &SqliteRow) -> Result<(SeriesInfo, Option<(i64, f64)>), HistoryError> {
    let kind: String = row.try_get(3)?;
    let times = (4..10)
        .map(|i| row.try_get::<Option<i64>, _>(i))
        .collect::<Result<Vec<_>, _>>()?;
    let first_unix = [times[0], times[2], times[4]].into_iter().flatten().min();
    let last_unix = [times[1], times[3], times[5]].into_iter().flatten().max();
    let latest_value: Option<f64> = row.try_get(10)?;
    let info = SeriesInfo {
        name: row.try_get(0)?,
        label: row.try_get(1)?,
        unit: row.try_get(2)?,
        kind: kind.parse::<StoredKind>()?.0,
        first_unix,
        last_unix,
    };
    Ok((info, times[1].zip(latest_value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: i64, to: i64, points: u32) -> HistoryQuery {
        HistoryQuery {
            series: "cpu.usage".into(),
            from,
            to,
            points,
        }
    }

    #[test]
    fn plan_picks_resolution_by_bucket_width() {
        assert_eq!(plan(&q(0, 1_000, 1_000)).unwrap(), (1, Resolution::Raw));
        assert_eq!(plan(&q(0, 100, 1_000)).unwrap(), (1, Resolution::Raw));
        assert_eq!(plan(&q(0, 59_000, 1_000)).unwrap(), (59, Resolution::Raw));
        assert_eq!(plan(&q(0, 59_001, 1_000)).unwrap(), (60, Resolution::Minute));
        assert_eq!(plan(&q(0, 60_001, 1_000)).unwrap(), (120, Resolution::Minute));
        assert_eq!(plan(&q(0, 599_000, 1_000)).unwrap(), (600, Resolution::Minute));
        assert_eq!(plan(&q(0, 599_001, 1_000)).unwrap(), (600, Resolution::TenMinute));
        assert_eq!(plan(&q(0, 30 * 86_400, 1_000)).unwrap(), (3_000, Resolution::TenMinute));
        assert_eq!(plan(&q(0, 3_600_000, 1_000)).unwrap(), (3_600, Resolution::Hour));
        assert_eq!(plan(&q(0, 3_600_001, 1_000)).unwrap(), (7_200, Resolution::Hour));
    }

    #[test]
    fn plan_rejects_bad_ranges_and_points() {
        let msg = |q: HistoryQuery| match plan(&q) {
            Err(HistoryError::InvalidQuery(m)) => m,
            other => panic!("expected InvalidQuery, got {other:?}"),
        };
        assert_eq!(msg(q(10, 10, 5)), "`to` must be after `from`");
        assert_eq!(msg(q(10, 0, 5)), "`to` must be after `from`");
        assert_eq!(msg(q(0, 10, 0)), "points must be between 1 and 10000");
        assert_eq!(msg(q(0, 10, 10_001)), "points must be between 1 and 10000");
        assert_eq!(msg(q(0, MAX_RANGE_SECS + 1, 5)), "the range may span at most 5 years");
        assert_eq!(msg(q(i64::MIN, i64::MAX, 5)), "the range may span at most 5 years");
        assert!(plan(&q(0, MAX_RANGE_SECS, 10_000)).is_ok());
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::Retention;

    /// The performance of range queries rests on these plans: bucket numbers as the outer loop, a
    /// primary-key range seek per bucket, and no sorting.
    #[tokio::test]
    async fn range_queries_seek_the_primary_key_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(&dir.path().join("h.db"), Retention::default())
            .await
            .unwrap();
        for sql in [RAW_SQL, MINUTE_SQL, TEN_MINUTE_SQL, HOUR_SQL] {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.pool)
                .await
                .unwrap();
            let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
            assert_eq!(plan.len(), 2, "{plan:?}");
            assert!(plan[0].starts_with("SEARCH b USING INTEGER PRIMARY KEY"), "{plan:?}");
            assert!(
                plan[1].contains("USING PRIMARY KEY (series_id=? AND t>? AND t<?)"),
                "{plan:?}"
            );
        }
        let buckets: i64 = sqlx::query_scalar("SELECT count(*) FROM bucket_index WHERE i >= 0 AND i < ?1")
            .bind(i64::from(MAX_POINTS))
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(buckets, i64::from(MAX_POINTS));
    }
}
