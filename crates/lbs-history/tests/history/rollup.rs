//! Roll-ups: correctness, completed periods only, incrementality, idempotence, late samples,
//! retention.

use lbs_history::{Resolution, Retention};

use crate::{hq, round9, tuples, Fixture, T0};

/// (t, min, avg, max, n) of every row of a roll-up table, for one series name.
async fn rows(f: &Fixture, table: &str) -> Vec<(i64, f64, f64, f64, i64)> {
    let pool = f.inspect().await;
    let sql = format!(
        "SELECT r.t, r.min, r.avg, r.max, r.n FROM {table} r JOIN series s ON s.id = r.series_id \
         WHERE s.name = 'cpu' ORDER BY r.t"
    );
    let rows: Vec<(i64, f64, f64, f64, i64)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|(t, a, b, c, n)| (t, a, round9(b), c, n))
        .collect()
}

#[tokio::test]
async fn minute_and_hour_roll_ups_are_correct() {
    let f = Fixture::new().await;
    // Hour T0: minute 0 has 0..=11 every 5 s, minute 1 has 100 and 200, minute 59 has 7.
    // Hour T0+3600: one sample in its first minute.
    let mut data: Vec<(i64, &str, f64)> = (0..12).map(|i| (T0 + i * 5, "cpu", i as f64)).collect();
    data.extend([
        (T0 + 60, "cpu", 100.0),
        (T0 + 90, "cpu", 200.0),
        (T0 + 3_599, "cpu", 7.0),
    ]);
    data.push((T0 + 3_600 + 10, "cpu", -1.0));
    f.store.record_many(&data).await.unwrap();

    // Nothing is complete yet at T0 + 59.
    f.store.roll_up(T0 + 59).await.unwrap();
    assert!(rows(&f, "rollup_minute").await.is_empty());

    // At T0+3600+30: all minutes of hour T0 are complete (and the hour itself); minute T0+3600 is not.
    f.store.roll_up(T0 + 3_600 + 30).await.unwrap();
    assert_eq!(
        rows(&f, "rollup_minute").await,
        [
            (T0, 0.0, 5.5, 11.0, 12),
            (T0 + 60, 100.0, 150.0, 200.0, 2),
            (T0 + 3_540, 7.0, 7.0, 7.0, 1)
        ]
    );
    let weighted = round9((12.0 * 5.5 + 2.0 * 150.0 + 7.0) / 15.0);
    assert_eq!(rows(&f, "rollup_hour").await, [(T0, 0.0, weighted, 200.0, 15)]);

    // One minute later the minute T0+3600 completes; its hour does not.
    f.store.roll_up(T0 + 3_660).await.unwrap();
    assert_eq!(
        rows(&f, "rollup_minute").await.last(),
        Some(&(T0 + 3_600, -1.0, -1.0, -1.0, 1))
    );
    assert_eq!(rows(&f, "rollup_hour").await.len(), 1);
    f.store.roll_up(T0 + 7_200).await.unwrap();
    assert_eq!(
        rows(&f, "rollup_hour").await.last(),
        Some(&(T0 + 3_600, -1.0, -1.0, -1.0, 1))
    );
}

#[tokio::test]
async fn roll_up_is_idempotent_and_incremental() {
    // Store A rolls up every 10 s as samples arrive, and twice at each time; store B once at the end.
    let a = Fixture::new().await;
    let b = Fixture::new().await;
    let end = T0 + 2 * 3_600;
    let mut t = T0 - 17;
    while t < end {
        let v = ((t * 7919) % 1_000) as f64 / 10.0;
        a.store.record(t, &[("cpu", v), ("mem", -v)]).await.unwrap();
        b.store.record(t, &[("cpu", v), ("mem", -v)]).await.unwrap();
        a.store.roll_up(t).await.unwrap();
        a.store.roll_up(t).await.unwrap();
        t += 10;
    }
    a.store.roll_up(end).await.unwrap();
    a.store.roll_up(end).await.unwrap();
    b.store.roll_up(end).await.unwrap();

    let minutes = rows(&a, "rollup_minute").await;
    assert_eq!(minutes.len(), 2 * 60 + 1);
    assert_eq!(minutes, rows(&b, "rollup_minute").await);
    assert_eq!(rows(&a, "rollup_hour").await, rows(&b, "rollup_hour").await);
    assert_eq!(rows(&a, "rollup_hour").await.len(), 3); // the first sample is in hour T0 - 3600
                                                        // Every raw sample is counted exactly once at each level.
    let raw = a.scalar("SELECT count(*) FROM samples_raw").await;
    assert_eq!(a.scalar("SELECT sum(n) FROM rollup_minute").await, raw);
    assert_eq!(
        a.scalar("SELECT sum(n) FROM rollup_hour WHERE t >= 1699999200").await,
        Some(2 * 2 * 360)
    );
}

#[tokio::test]
async fn late_samples_do_not_corrupt_roll_ups() {
    let f = Fixture::new().await;
    f.store
        .record_many(&[(T0, "cpu", 1.0), (T0 + 30, "cpu", 3.0)])
        .await
        .unwrap();
    f.store.roll_up(T0 + 120).await.unwrap();
    let before = rows(&f, "rollup_minute").await;
    assert_eq!(before, [(T0, 1.0, 2.0, 3.0, 2)]);

    // Late: into an already rolled-up minute, and into an earlier empty minute.
    f.store.record(T0 + 45, &[("cpu", 100.0)]).await.unwrap();
    f.store.record(T0 - 600, &[("cpu", 50.0)]).await.unwrap();
    // Early: a sample ahead of `now`.
    f.store.record(T0 + 600, &[("cpu", 9.0)]).await.unwrap();
    f.store.roll_up(T0 + 180).await.unwrap();
    f.store.roll_up(T0 + 180).await.unwrap();
    assert_eq!(rows(&f, "rollup_minute").await, before);

    // The raw table keeps them and answers with them.
    let resp = f.store.query(&hq("cpu", T0 - 600, T0 + 601, 1_000)).await.unwrap();
    assert_eq!(resp.resolution, Resolution::Raw);
    assert_eq!(resp.points.len(), 5);
    // Once its minute completes, the early sample is rolled up normally.
    f.store.roll_up(T0 + 3_600).await.unwrap();
    assert_eq!(
        rows(&f, "rollup_minute").await.last(),
        Some(&(T0 + 600, 9.0, 9.0, 9.0, 1))
    );
    assert_eq!(rows(&f, "rollup_hour").await, [(T0, 1.0, round9(13.0 / 3.0), 9.0, 3)]);
}

#[tokio::test]
async fn retention_deletes_old_rows_in_each_table_and_keeps_newer_ones() {
    let retention = Retention {
        raw_secs: 3_600,
        minute_secs: 3 * 3_600,
        hour_secs: 10 * 3_600,
    };
    let f = Fixture::with_retention(retention).await;
    let end = T0 + 12 * 3_600;
    let data: Vec<(i64, &str, f64)> = (T0..end).step_by(60).map(|t| (t, "cpu", 1.0)).collect();
    f.store.record_many(&data).await.unwrap();
    f.store.roll_up(end).await.unwrap();

    let range = |table: &str| format!("SELECT min(t) FROM {table}");
    let count = |table: &str| format!("SELECT count(*) FROM {table}");
    assert_eq!(f.scalar(&range("samples_raw")).await, Some(end - 3_600));
    assert_eq!(f.scalar(&count("samples_raw")).await, Some(60));
    assert_eq!(f.scalar(&range("rollup_minute")).await, Some(end - 3 * 3_600));
    assert_eq!(f.scalar(&count("rollup_minute")).await, Some(180));
    // Ten-minute roll-ups are kept as long as minute roll-ups.
    assert_eq!(f.scalar(&range("rollup_ten_minute")).await, Some(end - 3 * 3_600));
    assert_eq!(f.scalar(&count("rollup_ten_minute")).await, Some(18));
    assert_eq!(f.scalar(&range("rollup_hour")).await, Some(end - 10 * 3_600));
    assert_eq!(f.scalar(&count("rollup_hour")).await, Some(10));

    // A later roll-up trims further, by the new `now`.
    f.store.roll_up(end + 1_800).await.unwrap();
    assert_eq!(f.scalar(&range("samples_raw")).await, Some(end - 1_800));
    // Minute rows go by whole ten-minute periods and ten-minute rows by whole hours, so the
    // period they roll into is never re-rolled from a part.
    assert_eq!(f.scalar(&range("rollup_minute")).await, Some(end - 3 * 3_600 + 1_800));
    assert_eq!(f.scalar(&range("rollup_ten_minute")).await, Some(end - 3 * 3_600));
    assert_eq!(f.scalar(&range("rollup_hour")).await, Some(end - 9 * 3_600));

    // Queries still answer from what is left.
    let resp = f.store.query(&hq("cpu", end - 60, end, 60)).await.unwrap();
    assert_eq!(tuples(&resp), [(end - 60, 1.0, 1.0, 1.0)]);
}

#[tokio::test]
async fn retention_never_deletes_raw_rows_not_rolled_up_yet() {
    let retention = Retention {
        raw_secs: 1,
        minute_secs: 1,
        hour_secs: 1,
    };
    let f = Fixture::with_retention(retention).await;
    f.store
        .record_many(&[(T0 + 10, "cpu", 4.0), (T0 + 20, "cpu", 6.0)])
        .await
        .unwrap();
    // now = T0 + 40: the minute is not complete, so its raw rows must stay even though they are
    // older than one second.
    f.store.roll_up(T0 + 40).await.unwrap();
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(2));
    // Raw rows go by whole minutes: this one once `now - 1 s` is past its end.
    f.store.roll_up(T0 + 60).await.unwrap();
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(2));
    f.store.roll_up(T0 + 61).await.unwrap();
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(0));
    assert_eq!(rows(&f, "rollup_minute").await, [(T0, 4.0, 5.0, 6.0, 2)]);
}

#[tokio::test]
async fn a_bulk_import_into_the_past_is_rolled_up_by_the_next_roll_up() {
    let f = Fixture::new().await;
    let now = T0 + 10 * 86_400;
    // The agent has been running: watermarks are at `now`.
    f.store.record(now - 5, &[("cpu", 1.0)]).await.unwrap();
    f.store.roll_up(now).await.unwrap();
    // Demo seeding: five days of the past, one sample a minute, a day per call.
    for day in 0..5 {
        let day_start = now - (5 - day) * 86_400;
        let rows: Vec<(i64, &str, f64)> = (day_start..day_start + 86_400)
            .step_by(60)
            .map(|t| (t, "mem", 2.0))
            .collect();
        f.store.record_many(&rows).await.unwrap();
        f.store.roll_up(now + day).await.unwrap(); // as a concurrent sampler would
    }
    f.store.roll_up(now + 60).await.unwrap();
    let sum = |sql: &str| sql.replace("{}", "(SELECT id FROM series WHERE name = 'mem')");
    assert_eq!(
        f.scalar(&sum("SELECT count(*) FROM rollup_minute WHERE series_id = {}"))
            .await,
        Some(5 * 1_440)
    );
    assert_eq!(
        f.scalar(&sum("SELECT sum(n) FROM rollup_hour WHERE series_id = {}"))
            .await,
        Some(5 * 1_440)
    );
    // Raw kept only for the last two days, and the older part is still answered from roll-ups.
    assert_eq!(
        f.scalar(&sum("SELECT min(t) FROM samples_raw WHERE series_id = {}"))
            .await,
        Some(now + 60 - 2 * 86_400)
    );
    let resp = f.store.query(&hq("mem", now - 5 * 86_400, now, 100)).await.unwrap();
    assert_eq!(
        (resp.resolution, resp.bucket_secs, resp.points.len()),
        (Resolution::Hour, 7_200, 60)
    );
    // The live series' roll-ups were left as they were.
    assert_eq!(rows(&f, "rollup_minute").await, [(now - 60, 1.0, 1.0, 1.0, 1)]);
}
