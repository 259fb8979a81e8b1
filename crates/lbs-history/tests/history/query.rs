//! Range queries: exact aggregates, resolution choice, bucket bounds, validation.

use lbs_history::{HistoryError, Resolution};

use crate::{hq, round9, tuples, Fixture, T0};

#[tokio::test]
async fn raw_query_gives_exact_min_avg_max() {
    let f = Fixture::new().await;
    // 1..=6 every 5 s, then a gap, then 10 and 20.
    for (i, v) in [1.0, 2.0, 3.0, 4.0, 5.0, 6.0].into_iter().enumerate() {
        f.store.record(T0 + 5 * i as i64, &[("cpu", v)]).await.unwrap();
    }
    f.store.record(T0 + 50, &[("cpu", 10.0)]).await.unwrap();
    f.store.record(T0 + 55, &[("cpu", 20.0)]).await.unwrap();

    let resp = f.store.query(&hq("cpu", T0, T0 + 60, 6)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Raw, 10));
    assert_eq!((resp.series.as_str(), resp.from, resp.to), ("cpu", T0, T0 + 60));
    // Buckets [T0+30, T0+50) are empty and omitted.
    assert_eq!(
        tuples(&resp),
        [
            (T0, 1.0, 1.5, 2.0),
            (T0 + 10, 3.0, 3.5, 4.0),
            (T0 + 20, 5.0, 5.5, 6.0),
            (T0 + 50, 10.0, 15.0, 20.0)
        ]
    );

    // `from` inclusive, `to` exclusive, buckets start at `from` even when unaligned.
    let resp = f.store.query(&hq("cpu", T0 + 5, T0 + 50, 1)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Raw, 45));
    assert_eq!(tuples(&resp), [(T0 + 5, 2.0, 4.0, 6.0)]);
    // Other series are not mixed in.
    assert!(f
        .store
        .query(&hq("mem", T0, T0 + 60, 6))
        .await
        .unwrap()
        .points
        .is_empty());
}

#[tokio::test]
async fn invalid_queries_are_rejected_with_plain_messages() {
    let f = Fixture::new().await;
    let cases = [
        (hq("cpu", T0, T0, 10), "`to` must be after `from`"),
        (hq("cpu", T0, T0 - 1, 10), "`to` must be after `from`"),
        (hq("cpu", T0, T0 + 60, 0), "points must be between 1 and 10000"),
        (hq("cpu", T0, T0 + 60, 10_001), "points must be between 1 and 10000"),
        (
            hq("cpu", T0 - 6 * 366 * 86_400, T0, 100),
            "the range may span at most 5 years",
        ),
        (hq("cpu", i64::MIN, i64::MAX, 100), "the range may span at most 5 years"),
    ];
    for (q, want) in cases {
        match f.store.query(&q).await {
            Err(HistoryError::InvalidQuery(msg)) => assert_eq!(msg, want, "{q:?}"),
            other => panic!("{q:?}: expected InvalidQuery, got {other:?}"),
        }
    }
    assert!(f
        .store
        .query(&hq("cpu", T0 - 5 * 365 * 86_400, T0, 10_000))
        .await
        .is_ok());
}

/// Three days of one sample a minute, value = minute index within its hour (0..59).
async fn three_days() -> (Fixture, i64, i64) {
    let f = Fixture::new().await;
    let (start, end) = (T0, T0 + 3 * 86_400);
    let rows: Vec<(i64, &str, f64)> = (start..end)
        .step_by(60)
        .map(|t| (t, "cpu", ((t - start) / 60 % 60) as f64))
        .collect();
    f.store.record_many(&rows).await.unwrap();
    f.store.roll_up(end).await.unwrap();
    (f, start, end)
}

#[tokio::test]
async fn query_picks_the_table_by_bucket_width() {
    let (f, start, end) = three_days().await;
    let hour_before_end = end - 3_600;

    // 1 hour / 100 points = 36 s buckets -> raw.
    let resp = f.store.query(&hq("cpu", hour_before_end, end, 100)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Raw, 36));
    // 1 hour / 60 points = 60 s buckets -> minute roll-ups, one per minute.
    let resp = f.store.query(&hq("cpu", hour_before_end, end, 60)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Minute, 60));
    assert_eq!(resp.points.len(), 60);
    assert_eq!(tuples(&resp)[7], (hour_before_end + 420, 7.0, 7.0, 7.0));
    // 1 day / 200 points = 432 s -> minute table, rounded up to 480 s; 8 minutes per bucket.
    let resp = f.store.query(&hq("cpu", start, start + 86_400, 200)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Minute, 480));
    assert_eq!(resp.points.len(), 180);
    assert_eq!(tuples(&resp)[1], (start + 480, 8.0, 11.5, 15.0));
    // 1 day / 100 points = 864 s -> ten-minute table, rounded up to 1200 s; 20 minutes per bucket.
    let resp = f.store.query(&hq("cpu", start, start + 86_400, 100)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::TenMinute, 1_200));
    assert_eq!(resp.points.len(), 72);
    assert_eq!(tuples(&resp)[1], (start + 1_200, 20.0, 29.5, 39.0));
    // 3 days / 10 points = 25920 s -> hour table, rounded up to 28800 s (8 h), so 9 buckets.
    let resp = f.store.query(&hq("cpu", start, end, 10)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Hour, 28_800));
    assert_eq!(resp.points.len(), 9);
    assert_eq!(tuples(&resp)[0], (start, 0.0, 29.5, 59.0));
    // The raw table no longer holds the first day (2-day retention), yet the hour answer covers it.
    assert_eq!(f.scalar("SELECT min(t) FROM samples_raw").await, Some(end - 2 * 86_400));
}

#[tokio::test]
async fn never_more_points_than_asked_and_buckets_are_aligned_on_from() {
    let (f, start, end) = three_days().await;
    let spans = [
        1,
        59,
        61,
        599,
        3_601,
        7_321,
        86_399,
        86_401,
        2 * 86_400 + 7,
        3 * 86_400 - 1,
    ];
    let points = [1u32, 2, 3, 7, 10, 59, 60, 61, 100, 999, 1_000, 10_000];
    for span in spans {
        for &n in &points {
            let from = end - span - 13; // unaligned on purpose
            let from = from.max(start);
            let resp = f.store.query(&hq("cpu", from, from + span, n)).await.unwrap();
            assert!(
                resp.points.len() <= n as usize,
                "span {span} points {n}: {}",
                resp.points.len()
            );
            assert!(resp.bucket_secs >= 1);
            // The table is chosen by the bucket width before rounding up to the table's period.
            let (expect, period) = match (span + i64::from(n) - 1) / i64::from(n) {
                b if b >= 3_600 => (Resolution::Hour, 3_600),
                b if b >= 600 => (Resolution::TenMinute, 600),
                b if b >= 60 => (Resolution::Minute, 60),
                _ => (Resolution::Raw, 1),
            };
            assert_eq!(resp.resolution, expect, "span {span} points {n}");
            assert_eq!(resp.bucket_secs % period, 0);
            let mut last = None;
            for p in &resp.points {
                assert_eq!((p.t - from) % resp.bucket_secs, 0);
                assert!(p.t >= from && p.t < from + span);
                assert!(last.is_none_or(|l| l < p.t), "ascending");
                assert!(p.min <= p.avg + 1e-9 && p.avg <= p.max + 1e-9);
                last = Some(p.t);
            }
        }
    }
}

#[tokio::test]
async fn minute_and_hour_buckets_weight_the_average_by_sample_count() {
    let f = Fixture::new().await;
    // Minute 0: twelve samples 0..=11 (avg 5.5). Minute 1: two samples 100 and 200 (avg 150).
    let mut rows: Vec<(i64, &str, f64)> = (0..12).map(|i| (T0 + i * 5, "cpu", i as f64)).collect();
    rows.extend([(T0 + 60, "cpu", 100.0), (T0 + 90, "cpu", 200.0)]);
    f.store.record_many(&rows).await.unwrap();
    f.store.roll_up(T0 + 2 * 3_600).await.unwrap();

    let weighted = round9((12.0 * 5.5 + 2.0 * 150.0) / 14.0);
    let resp = f.store.query(&hq("cpu", T0, T0 + 120, 1)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Minute, 120));
    assert_eq!(tuples(&resp), [(T0, 0.0, weighted, 200.0)]);
    let resp = f.store.query(&hq("cpu", T0, T0 + 3_600, 1)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Hour, 3_600));
    assert_eq!(tuples(&resp), [(T0, 0.0, weighted, 200.0)]);
}

#[tokio::test]
async fn the_largest_query_gets_all_its_buckets() {
    let f = Fixture::new().await;
    let rows: Vec<(i64, &str, f64)> = (0..10_000).map(|i| (T0 + i, "cpu", i as f64)).collect();
    f.store.record_many(&rows).await.unwrap();
    let resp = f.store.query(&hq("cpu", T0, T0 + 10_000, 10_000)).await.unwrap();
    assert_eq!((resp.resolution, resp.bucket_secs), (Resolution::Raw, 1));
    assert_eq!(resp.points.len(), 10_000);
    assert_eq!(tuples(&resp)[9_999], (T0 + 9_999, 9_999.0, 9_999.0, 9_999.0));
    // A range ending mid-bucket: the last bucket is cut at `to`.
    let resp = f.store.query(&hq("cpu", T0, T0 + 25, 2)).await.unwrap();
    assert_eq!(tuples(&resp), [(T0, 0.0, 6.0, 12.0), (T0 + 13, 13.0, 18.5, 24.0)]);
}
