//! Copies: a store filled with another store's roll-up answers answers like the original.

use lbs_history::{HistoryError, HistoryPoint, Resolution, Retention};

use crate::{defs, hq, tuples, Fixture, T0};

/// Two hours of `cpu` samples every 10 s in `f`, rolled up.
async fn sampled() -> Fixture {
    let f = Fixture::new().await;
    let rows: Vec<(i64, &str, f64)> = (0..720).map(|i| (T0 + 10 * i, "cpu", (i % 37) as f64)).collect();
    f.store.record_many(&rows).await.unwrap();
    f.store.roll_up(T0 + 7_200).await.unwrap();
    f
}

#[tokio::test]
async fn copied_rollups_answer_like_the_original() {
    let source = sampled().await;
    let copy = Fixture::new().await;
    for (resolution, width) in [
        (Resolution::Minute, 60),
        (Resolution::TenMinute, 600),
        (Resolution::Hour, 3_600),
    ] {
        let answer = source
            .store
            .query(&hq("cpu", T0, T0 + 7_200, (7_200 / width) as u32))
            .await
            .unwrap();
        assert_eq!((answer.resolution, answer.bucket_secs), (resolution, width));
        let n = copy
            .store
            .copy_rollups("cpu", resolution, &answer.points)
            .await
            .unwrap();
        assert_eq!(n, answer.points.len());
        assert_eq!(
            copy.store.last_rollup("cpu", resolution).await.unwrap(),
            Some(T0 + 7_200 - width)
        );
    }
    // The same questions get the same answers, at every resolution the copy holds.
    for points in [120, 12, 2, 1] {
        let q = hq("cpu", T0, T0 + 7_200, points);
        let (a, b) = (
            source.store.query(&q).await.unwrap(),
            copy.store.query(&q).await.unwrap(),
        );
        assert_eq!((a.resolution, a.bucket_secs), (b.resolution, b.bucket_secs));
        assert_eq!(tuples(&a), tuples(&b), "{points} points");
    }
    // The copy lists the series with its times, like the original.
    let listed = copy.store.series().await.unwrap();
    let cpu = listed.iter().find(|s| s.name == "cpu").unwrap();
    assert_eq!((cpu.first_unix, cpu.last_unix), (Some(T0), Some(T0 + 7_140)));
}

#[tokio::test]
async fn copying_again_replaces_rather_than_doubles() {
    let copy = Fixture::new().await;
    let p = |avg| HistoryPoint {
        t: T0,
        min: avg,
        avg,
        max: avg,
    };
    copy.store
        .copy_rollups("cpu", Resolution::Minute, &[p(1.0)])
        .await
        .unwrap();
    copy.store
        .copy_rollups("cpu", Resolution::Minute, &[p(3.0)])
        .await
        .unwrap();
    let answer = copy.store.query(&hq("cpu", T0, T0 + 60, 1)).await.unwrap();
    assert_eq!(tuples(&answer), [(T0, 3.0, 3.0, 3.0)]);
}

#[tokio::test]
async fn bad_copies_are_refused_and_write_nothing() {
    let copy = Fixture::new().await;
    let p = HistoryPoint {
        t: T0,
        min: 1.0,
        avg: 1.0,
        max: 1.0,
    };
    assert!(matches!(
        copy.store.copy_rollups("nope", Resolution::Minute, std::slice::from_ref(&p)).await,
        Err(HistoryError::UnknownSeries(name)) if name == "nope"
    ));
    assert!(matches!(
        copy.store
            .copy_rollups("cpu", Resolution::Raw, std::slice::from_ref(&p))
            .await,
        Err(HistoryError::InvalidQuery(_))
    ));
    let nan = HistoryPoint { avg: f64::NAN, ..p };
    assert_eq!(
        copy.store
            .copy_rollups("cpu", Resolution::Minute, &[nan])
            .await
            .unwrap(),
        0
    );
    assert_eq!(copy.store.last_rollup("cpu", Resolution::Minute).await.unwrap(), None);
}

#[tokio::test]
async fn trim_keeps_each_table_for_its_retention() {
    let copy = Fixture::with_retention(Retention {
        raw_secs: 60,
        minute_secs: 3_600,
        hour_secs: 86_400,
    })
    .await;
    copy.store.register(&defs()).await.unwrap();
    let at = |t| HistoryPoint {
        t,
        min: 1.0,
        avg: 1.0,
        max: 1.0,
    };
    let old = T0 - 7_200;
    for r in [Resolution::Minute, Resolution::TenMinute, Resolution::Hour] {
        copy.store.copy_rollups("cpu", r, &[at(old), at(T0)]).await.unwrap();
    }
    copy.store.trim(T0 + 60).await.unwrap();
    let count = |table: &str| format!("SELECT count(*) FROM {table} WHERE t = {old}");
    assert_eq!(copy.scalar(&count("rollup_minute")).await, Some(0));
    assert_eq!(copy.scalar(&count("rollup_ten_minute")).await, Some(0));
    assert_eq!(copy.scalar(&count("rollup_hour")).await, Some(1));
    assert_eq!(
        copy.store.last_rollup("cpu", Resolution::Minute).await.unwrap(),
        Some(T0)
    );
}
