//! Query benchmark: a store holding 30 days at a 5 s interval for 20 series (raw trimmed to the last
//! 2 days by retention, minute roll-ups for all 30 days), then 50 queries of 30 days for 1,000
//! points. Prints seeding time, p50/p99 query latency and the database file size.
//!
//! Run: `cargo bench -p lbs-history`. Set `LBS_HISTORY_BENCH_DIR` to keep the database in that
//! directory instead of a temp dir (e.g. to look at query plans with the `sqlite3` shell); a
//! database already there is reused without seeding.

use std::time::{Duration, Instant};

use lbs_history::{HistoryQuery, HistoryStore, Retention, SeriesDef, SeriesKind};

const SERIES: usize = 20;
const DAYS: i64 = 30;
const INTERVAL: i64 = 5;
const QUERIES: usize = 50;
const END: i64 = 1_700_006_400; // midnight UTC

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::var_os("LBS_HISTORY_BENCH_DIR").map_or_else(|| temp.path().to_path_buf(), Into::into);
    let path = dir.join("history.db");
    let reuse = path.exists();
    let store = HistoryStore::open(&path, Retention::default()).await?;
    let names: Vec<String> = (0..SERIES).map(|i| format!("bench.s{i:02}")).collect();
    let defs: Vec<SeriesDef> = names
        .iter()
        .map(|name| SeriesDef {
            name: name.clone(),
            label: name.clone(),
            unit: "percent".into(),
            kind: SeriesKind::Resources,
        })
        .collect();
    store.register(&defs).await?;
    if reuse {
        println!("reusing {}", path.display());
    } else {
        seed(&store, &names).await?;
    }
    // Steady state: one tick recorded, then roll-ups within a minute and across a minute boundary.
    let values: Vec<(&str, f64)> = names.iter().map(|n| (n.as_str(), 1.0)).collect();
    let tick = Instant::now();
    store.record(END, &values).await?;
    let record_ms = ms(tick.elapsed());
    let tick = Instant::now();
    store.roll_up(END + 5).await?;
    let roll_noop_ms = ms(tick.elapsed());
    let tick = Instant::now();
    store.roll_up(END + 60).await?;
    let roll_minute_ms = ms(tick.elapsed());
    println!(
        "record one tick: {record_ms:.2} ms; roll_up: {roll_noop_ms:.2} ms (nothing due), \
         {roll_minute_ms:.2} ms (a minute due)"
    );

    let mut times = Vec::with_capacity(QUERIES);
    let mut points = 0;
    let mut resolution = None;
    for i in 0..QUERIES {
        let q = HistoryQuery {
            series: names[i % SERIES].clone(),
            from: END - DAYS * 86_400,
            to: END,
            points: 1_000,
        };
        let t = Instant::now();
        let resp = store.query(&q).await?;
        times.push(t.elapsed());
        points = resp.points.len();
        resolution = Some((resp.resolution, resp.bucket_secs));
    }
    times.sort();
    let pct = |p: f64| ms(times[((p * QUERIES as f64).ceil() as usize).clamp(1, QUERIES) - 1]);
    println!(
        "{QUERIES} queries of {DAYS} days for 1000 points ({resolution:?}, {points} points): \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50),
        pct(0.99),
        ms(times[QUERIES - 1])
    );

    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = dir.join("history.db-wal");
    println!(
        "database file: {:.1} MiB (+ WAL {:.1} MiB)",
        size(&path) as f64 / 1_048_576.0,
        size(&wal) as f64 / 1_048_576.0
    );
    Ok(())
}

/// Seeds the store a day at a time, rolling up after each day as the running agent would have.
async fn seed(store: &HistoryStore, names: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let start = END - DAYS * 86_400;
    let seeding = Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for day in 0..DAYS {
        let day_start = start + day * 86_400;
        let mut rows = Vec::with_capacity(SERIES * (86_400 / INTERVAL) as usize);
        for t in (day_start..day_start + 86_400).step_by(INTERVAL as usize) {
            for (i, name) in names.iter().enumerate() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let wave = ((t as f64 / 3_600.0) + i as f64).sin() * 30.0 + 50.0;
                rows.push((t, name.as_str(), wave + (rng % 1_000) as f64 / 100.0));
            }
        }
        store.record_many(&rows).await?;
        store.roll_up(day_start + 86_400).await?;
    }
    let seeded_rows = SERIES as i64 * DAYS * 86_400 / INTERVAL;
    println!(
        "seeded {seeded_rows} samples ({SERIES} series x {DAYS} days at {INTERVAL} s) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
