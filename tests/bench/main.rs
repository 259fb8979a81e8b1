//! `lbs-bench`: prints the agent's figures (not a test: nothing here passes or fails).
//!
//! - idle RSS and CPU of a running agent sampling every 5 s (aim: < 30 MB, < 1 % of a core);
//! - time to answer `/metrics/history` over HTTPS for 30 days of data at 1,000 points (aim: < 20 ms).
//!
//! Run with `scripts/bench.sh` (release build). `LBS_BENCH_IDLE_SECS` sets the idle window.

use std::time::{Duration, Instant};

use lbs_protocol::HistoryResponse;
use lbs_tests::{percentile, proc_usage, Agent};

#[tokio::main]
async fn main() {
    let idle_secs: u64 = std::env::var("LBS_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!("lbs-bench: agent {}", lbs_tests::agent_bin().display());

    // 1. Idle footprint, after 30 days of history are in place.
    let mut agent = Agent::init_with("bench", "5s");
    let seeded = Instant::now();
    let out = agent.cli(&["demo", "seed-history", "--days", "30"]);
    assert!(
        out.status.success(),
        "seeding failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("seeded 30 days of history in {:.1} s", seeded.elapsed().as_secs_f64());
    agent.start();
    let pid = agent.pid().expect("agent pid");
    tokio::time::sleep(Duration::from_secs(10)).await; // warm-up: first roll-ups, first samples
    let (cpu0, _) = proc_usage(pid).expect("proc stats");
    let t0 = Instant::now();
    let mut max_rss = 0;
    while t0.elapsed() < Duration::from_secs(idle_secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some((_, rss)) = proc_usage(pid) {
            max_rss = max_rss.max(rss);
        }
    }
    let (cpu1, rss_end) = proc_usage(pid).expect("proc stats");
    let cpu_pct = 100.0 * (cpu1 - cpu0) / t0.elapsed().as_secs_f64();
    println!("idle over {idle_secs} s at a 5 s interval: CPU {cpu_pct:.2} % of one core (aim < 1 %), RSS {:.1} MB at end, {:.1} MB max (aim < 30 MB)",
        rss_end as f64 / 1024.0, max_rss as f64 / 1024.0);

    // 2. History queries over HTTPS, one keep-alive connection like the console's.
    let http = agent.http();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let url = agent.url(&format!(
        "/api/v1/metrics/history?series=cpu.usage&from={}&to={now}&points=1000",
        now - 30 * 86_400
    ));
    let mut times = Vec::new();
    let mut points = 0;
    for i in 0..120 {
        let t = Instant::now();
        let resp: HistoryResponse = http
            .get(&url)
            .bearer_auth(&agent.link.token)
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        if i >= 20 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        points = resp.points.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "/metrics/history, 30 days → {points} points, 100 requests over HTTPS: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (aim < 20 ms)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or_default()
    );
    let size = std::fs::metadata(agent.state_dir().join("history.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let series: lbs_protocol::SeriesList = http
        .get(agent.url("/api/v1/metrics/series"))
        .bearer_auth(&agent.link.token)
        .send()
        .await
        .expect("series")
        .json()
        .await
        .expect("json");
    println!(
        "history.db with 30 days of {} series: {:.1} MB",
        series.series.len(),
        size as f64 / 1e6
    );
    agent.stop();
}
