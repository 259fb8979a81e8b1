//! Opening, registration, recording, `series()` and `latest()`.

use lbs_history::{HistoryError, HistoryStore, Resolution, Retention, SeriesKind};

use crate::{db_path, def, defs, hq, Fixture, T0};

#[tokio::test]
async fn open_creates_the_file_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path());
    assert!(!path.exists());
    let store = HistoryStore::open(&path, Retention::default()).await.unwrap();
    assert!(path.exists());
    store.register(&defs()).await.unwrap();
    store.record(T0, &[("cpu", 12.5), ("mem", 1024.0)]).await.unwrap();
    drop(store);

    let store = HistoryStore::open(&path, Retention::default()).await.unwrap();
    let names: Vec<_> = store.series().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["cpu", "mem", "net.eth0.rx"]);
    let resp = store.query(&hq("cpu", T0, T0 + 10, 10)).await.unwrap();
    assert_eq!(crate::tuples(&resp), [(T0, 12.5, 12.5, 12.5)]);
}

#[tokio::test]
async fn open_failure_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("history.db");
    match HistoryStore::open(&path, Retention::default()).await {
        Err(e @ HistoryError::Open { .. }) => {
            let HistoryError::Open { path: p, .. } = &e else {
                unreachable!()
            };
            assert_eq!(p, &path);
            assert!(e.to_string().contains("missing-dir"), "{e}");
        }
        other => panic!("expected Open error, got {other:?}"),
    }
}

#[test]
fn default_retention() {
    let r = Retention::default();
    assert_eq!(
        (r.raw_secs, r.minute_secs, r.hour_secs),
        (2 * 86_400, 45 * 86_400, 730 * 86_400)
    );
}

#[tokio::test]
async fn register_updates_metadata_and_keeps_data() {
    let f = Fixture::new().await;
    f.store.record(T0, &[("cpu", 1.0)]).await.unwrap();
    f.store
        .register(&[def("cpu", "Processor", "ratio", SeriesKind::PbxActivity)])
        .await
        .unwrap();
    let cpu = f
        .store
        .series()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "cpu")
        .unwrap();
    assert_eq!(
        (cpu.label.as_str(), cpu.unit.as_str(), cpu.kind),
        ("Processor", "ratio", SeriesKind::PbxActivity)
    );
    assert_eq!(cpu.first_unix, Some(T0));
    assert_eq!(f.store.series().await.unwrap().len(), 3);
}

#[tokio::test]
async fn unknown_series_is_rejected_and_nothing_is_written() {
    let f = Fixture::new().await;
    let err = f.store.record(T0, &[("cpu", 1.0), ("nope", 2.0)]).await.unwrap_err();
    assert!(matches!(&err, HistoryError::UnknownSeries(n) if n == "nope"), "{err:?}");
    let err = f
        .store
        .record_many(&[(T0, "mem", 1.0), (T0, "nope2", 2.0)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HistoryError::UnknownSeries(n) if n == "nope2"),
        "{err:?}"
    );
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(0));

    let err = f.store.query(&hq("nope", T0, T0 + 60, 10)).await.unwrap_err();
    assert!(matches!(&err, HistoryError::UnknownSeries(n) if n == "nope"), "{err:?}");
    assert_eq!(err.to_string(), "unknown series `nope`");
}

#[tokio::test]
async fn non_finite_values_are_skipped() {
    let f = Fixture::new().await;
    f.store
        .record(T0, &[("cpu", f64::NAN), ("mem", 3.0), ("net.eth0.rx", f64::INFINITY)])
        .await
        .unwrap();
    f.store
        .record_many(&[(T0 + 5, "cpu", f64::NEG_INFINITY), (T0 + 5, "mem", 4.0)])
        .await
        .unwrap();
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(2));
    assert!(f
        .store
        .query(&hq("cpu", T0, T0 + 60, 60))
        .await
        .unwrap()
        .points
        .is_empty());
    let latest = f.store.latest().await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (latest[0].0.name.as_str(), latest[0].1, latest[0].2),
        ("mem", T0 + 5, 4.0)
    );
}

#[tokio::test]
async fn recording_the_same_time_twice_replaces_the_value() {
    let f = Fixture::new().await;
    f.store.record(T0, &[("cpu", 1.0)]).await.unwrap();
    f.store.record(T0, &[("cpu", 7.0)]).await.unwrap();
    let resp = f.store.query(&hq("cpu", T0, T0 + 1, 1)).await.unwrap();
    assert_eq!(crate::tuples(&resp), [(T0, 7.0, 7.0, 7.0)]);
}

#[tokio::test]
async fn series_first_last_and_latest() {
    let f = Fixture::new().await;
    let empty = f.store.series().await.unwrap();
    assert!(empty.iter().all(|s| s.first_unix.is_none() && s.last_unix.is_none()));
    assert!(f.store.latest().await.unwrap().is_empty());

    for i in 0..10 {
        let t = T0 + i * 5;
        f.store
            .record(t, &[("cpu", i as f64), ("mem", 100.0 + i as f64)])
            .await
            .unwrap();
    }
    f.store.record(T0 + 100, &[("cpu", 42.0)]).await.unwrap();
    let series = f.store.series().await.unwrap();
    let by_name = |n: &str| series.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(
        (by_name("cpu").first_unix, by_name("cpu").last_unix),
        (Some(T0), Some(T0 + 100))
    );
    assert_eq!(
        (by_name("mem").first_unix, by_name("mem").last_unix),
        (Some(T0), Some(T0 + 45))
    );
    let rx = by_name("net.eth0.rx");
    assert_eq!(
        (rx.first_unix, rx.last_unix, rx.unit.as_str()),
        (None, None, "bytes_per_sec")
    );
    assert_eq!(rx.kind, SeriesKind::Network);

    let latest: Vec<_> = f
        .store
        .latest()
        .await
        .unwrap()
        .into_iter()
        .map(|(info, t, v)| (info.name, info.last_unix, t, v))
        .collect();
    assert_eq!(
        latest,
        [
            ("cpu".to_string(), Some(T0 + 100), T0 + 100, 42.0),
            ("mem".to_string(), Some(T0 + 45), T0 + 45, 109.0)
        ]
    );
}

#[tokio::test]
async fn series_first_comes_from_roll_ups_once_raw_is_trimmed() {
    let f = Fixture::new().await;
    let start = T0 - 10 * 86_400;
    let rows: Vec<(i64, &str, f64)> = (0..10 * 24).map(|h| (start + h * 3_600, "cpu", 1.0)).collect();
    f.store.record_many(&rows).await.unwrap();
    f.store.record(T0, &[("cpu", 2.0)]).await.unwrap();
    f.store.roll_up(T0 + 60).await.unwrap();
    let cpu = f
        .store
        .series()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "cpu")
        .unwrap();
    assert_eq!((cpu.first_unix, cpu.last_unix), (Some(start), Some(T0)));
    assert_eq!(f.scalar("SELECT min(t) FROM samples_raw").await, Some(T0 - 47 * 3_600));
    let resp = f.store.query(&hq("cpu", start, T0 + 60, 100)).await.unwrap();
    assert_eq!(resp.resolution, Resolution::Hour);
    assert_eq!(resp.points.first().map(|p| p.t), Some(start));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_roll_ups_do_not_fail() {
    let f = Fixture::new().await;
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50i64 {
                let t = T0 + i * 4 + w;
                store.record(t, &[("cpu", 1.0), ("mem", 2.0)]).await.unwrap();
                if i % 5 == 0 {
                    store.roll_up(t).await.unwrap();
                }
                store.series().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(f.scalar("SELECT count(*) FROM samples_raw").await, Some(400));
}
