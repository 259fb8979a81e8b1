//! Every graph reaches now: a range answered from a coarse table includes, after that table's last
//! roll-up, the newer rows of the finer tables and the raw samples, in buckets of the same width.

use lbs_history::{HistoryPoint, HistoryResponse, Resolution};

use crate::{hq, round9, tuples, Fixture, T0};

/// A sample every 10 s from `start` until before `now`, with values that differ from one another.
fn samples(start: i64, now: i64) -> Vec<(i64, f64)> {
    (start..now)
        .step_by(10)
        .map(|t| (t, ((t * 7_919) % 1_000) as f64 / 10.0))
        .collect()
}

/// Records `data` as the agent does (one tick at a time, rolling up after each), so every table
/// ends where a running agent's would.
async fn record_live(f: &Fixture, data: &[(i64, f64)], now: i64) {
    for &(t, v) in data {
        f.store.record(t, &[("cpu", v)]).await.unwrap();
        f.store.roll_up(t + 1).await.unwrap();
    }
    f.store.roll_up(now).await.unwrap();
}

/// What each bucket of `resp` must hold: min, average and max of exactly the samples in it.
fn exact(resp: &HistoryResponse, data: &[(i64, f64)]) -> Vec<(i64, f64, f64, f64)> {
    let w = resp.bucket_secs;
    let mut out: Vec<(i64, f64, f64, f64)> = Vec::new();
    let mut i = 0;
    while resp.from + i * w < resp.to {
        let (lo, hi) = (resp.from + i * w, (resp.from + (i + 1) * w).min(resp.to));
        let inside: Vec<f64> = data.iter().filter(|(t, _)| *t >= lo && *t < hi).map(|s| s.1).collect();
        if !inside.is_empty() {
            let min = inside.iter().copied().fold(f64::INFINITY, f64::min);
            let max = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let avg = inside.iter().sum::<f64>() / inside.len() as f64;
            out.push((lo, min, round9(avg), max));
        }
        i += 1;
    }
    out
}

fn last(resp: &HistoryResponse) -> &HistoryPoint {
    resp.points.last().expect("at least one point")
}

#[tokio::test]
async fn an_agent_started_this_hour_shows_its_first_minutes_on_a_year_graph() {
    let f = Fixture::new().await;
    let now = T0 + 25 * 60 + 7;
    let data = samples(T0, now);
    record_live(&f, &data, now).await;
    // No hour has completed yet: the hour table is empty.
    assert_eq!(f.scalar("SELECT count(*) FROM rollup_hour").await, Some(0));

    let year = f.store.query(&hq("cpu", now - 365 * 86_400, now, 1_000)).await.unwrap();
    assert_eq!(year.resolution, Resolution::Hour);
    assert_eq!(tuples(&year), exact(&year, &data), "every sample, each counted once");
    assert_eq!(year.points.len(), 1);

    // A 12-hour graph (minute table) reaches the samples of the current minute too. (It starts on
    // a minute, so that each roll-up row falls into the bucket its samples do.)
    let day = f.store.query(&hq("cpu", T0 - 11 * 3_600, now, 500)).await.unwrap();
    assert_eq!(day.resolution, Resolution::Minute);
    assert_eq!(tuples(&day), exact(&day, &data));
    assert!(
        last(&day).t + day.bucket_secs > data.last().unwrap().0,
        "the newest sample is drawn"
    );
}

#[tokio::test]
async fn every_range_ends_at_the_newest_sample_with_each_sample_counted_once() {
    let f = Fixture::new().await;
    // 30 hours, ending 20 min 34 s into an hour: the hour table ends 20 min ago, the ten-minute
    // table 34 s ago, the minute table at the current minute; the raw samples reach now.
    let now = T0 + 29 * 3_600 + 20 * 60 + 34;
    let data = samples(T0, now);
    f.store
        .record_many(&data.iter().map(|&(t, v)| (t, "cpu", v)).collect::<Vec<_>>())
        .await
        .unwrap();
    f.store.roll_up(now).await.unwrap();
    assert_eq!(f.scalar("SELECT max(t) FROM rollup_hour").await, Some(T0 + 28 * 3_600));

    for (points, resolution, width) in [
        (6, Resolution::Hour, 18_000),
        (100, Resolution::TenMinute, 1_200),
        (1_000, Resolution::Minute, 120),
    ] {
        let resp = f.store.query(&hq("cpu", T0, now, points)).await.unwrap();
        assert_eq!((resp.resolution, resp.bucket_secs), (resolution, width));
        // The same, even buckets as before; the last one holds the newest samples.
        assert!(resp.points.iter().all(|p| (p.t - T0) % width == 0));
        assert_eq!(tuples(&resp), exact(&resp, &data), "{points} points");
        let newest = data.last().unwrap().0;
        assert_eq!(last(&resp).t, T0 + (newest - T0) / width * width, "{points} points");
    }
}

#[tokio::test]
async fn a_copy_reaches_its_newest_copied_minute() {
    // The source has 3 h 25 min of samples; the copy holds the roll-ups of its completed periods
    // (hours, ten-minute periods, minutes), as the console copies them, and no raw samples.
    let source = Fixture::new().await;
    let now = T0 + 3 * 3_600 + 25 * 60 + 30;
    let data = samples(T0, now);
    record_live(&source, &data, now).await;
    let copy = Fixture::new().await;
    for (resolution, width) in [
        (Resolution::Hour, 3_600),
        (Resolution::TenMinute, 600),
        (Resolution::Minute, 60),
    ] {
        let end = now - now.rem_euclid(width);
        let answer = source
            .store
            .query(&hq("cpu", T0, end, ((end - T0) / width) as u32))
            .await
            .unwrap();
        assert_eq!(answer.resolution, resolution);
        copy.store
            .copy_rollups("cpu", resolution, &answer.points)
            .await
            .unwrap();
    }
    let copied_until = now - now.rem_euclid(60);
    let copied: Vec<(i64, f64)> = data.iter().copied().filter(|(t, _)| *t < copied_until).collect();
    // A 30-day graph from the copy (ten-minute table, 1-hour buckets) ends at the last copied
    // minute, its hours weighed like its minutes, second for second.
    let month = copy.store.query(&hq("cpu", T0, T0 + 30 * 86_400, 1_000)).await.unwrap();
    assert_eq!((month.resolution, month.bucket_secs), (Resolution::TenMinute, 3_000));
    assert_eq!(tuples(&month), exact(&month, &copied));
    let year = copy
        .store
        .query(&hq("cpu", T0, T0 + 365 * 86_400, 1_000))
        .await
        .unwrap();
    assert_eq!(year.resolution, Resolution::Hour);
    assert_eq!(tuples(&year), exact(&year, &copied));
}
