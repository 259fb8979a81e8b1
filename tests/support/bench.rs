//! What the sync benchmarks share: trees of files, waiting for a copy, and the change-to-backup
//! latency of new voicemails (not tests: nothing here passes or fails, it measures).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lbs_protocol::SyncStatus;

use crate::{noise, percentile, Agent};

/// A size from the environment, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes `content` at `root/rel`, making its folders.
pub fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// `GET /api/v1/sync`, or `None` while the agent does not answer.
pub async fn sync_status(agent: &Agent, http: &reqwest::Client) -> Option<SyncStatus> {
    http.get(agent.url("/api/v1/sync"))
        .bearer_auth(&agent.link.token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Waits until the primary `a` has journaled `files` files (its first scan, hashing everything).
pub async fn wait_journaled(a: &Agent, files: u64) {
    let http = a.http();
    loop {
        let s = sync_status(a, &http).await;
        if s.is_some_and(|s| s.categories.iter().map(|c| c.local_files).sum::<u64>() == files) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the backup `b` holds `files` files and has nothing pending.
pub async fn wait_copied(b: &Agent, files: u64) {
    let http = b.http();
    loop {
        if let Some(s) = sync_status(b, &http).await {
            let held: u64 = s.categories.iter().map(|c| c.local_files).sum();
            let pending: u64 = s.categories.iter().map(|c| c.pending_files).sum();
            if held == files && pending == 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Latencies in milliseconds, with their figures.
pub struct Latencies(pub Vec<f64>);

impl Latencies {
    pub fn p50(&self) -> f64 {
        percentile(&self.0, 0.5)
    }
    pub fn p99(&self) -> f64 {
        percentile(&self.0, 0.99)
    }
    pub fn max(&self) -> f64 {
        self.0.last().copied().unwrap_or_default()
    }
}

/// Writes `samples` new 40 KB voicemails into `from`, one at a time (50 ms apart), each timed
/// until it is complete in `to` (the backup's copy of the same folder).
pub async fn voicemail_latency(from: &Path, to: &Path, prefix: &str, samples: usize) -> Latencies {
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("{prefix}{i:05}.wav");
        let content = noise(900_000 + i as u64, 40_000);
        let target = to.join(&name);
        let t = Instant::now();
        write(from, &name, &content);
        while !target.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "latency sample {i} never arrived"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lat.sort_by(f64::total_cmp);
    Latencies(lat)
}

/// Writes a 40 KB voicemail into `from` every `every` while `go_on()` holds, each timed until it
/// is complete in `to`; ends once every one written has arrived.
pub async fn voicemails_while(from: &Path, to: &Path, every: Duration, mut go_on: impl FnMut() -> bool) -> Latencies {
    let mut waiting: Vec<(PathBuf, Instant)> = Vec::new();
    let mut lat = Vec::new();
    let mut next = Instant::now();
    let mut i = 0u64;
    let mut writing = true;
    while writing || !waiting.is_empty() {
        let now = Instant::now();
        writing = writing && go_on();
        if writing && now >= next {
            let name = format!("load{i:05}.wav");
            write(from, &name, &noise(2_000_000 + i, 40_000));
            waiting.push((to.join(&name), now));
            next += every;
            i += 1;
        }
        waiting.retain(|(path, since)| {
            if path.exists() {
                lat.push(since.elapsed().as_secs_f64() * 1000.0);
                return false;
            }
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "{} never arrived",
                path.display()
            );
            true
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    lat.sort_by(f64::total_cmp);
    Latencies(lat)
}

/// The resident memory of process `pid`, in MB.
pub fn rss_mb(pid: u32) -> f64 {
    crate::proc_usage(pid)
        .map(|(_, kib)| kib as f64 * 1.024 / 1000.0)
        .unwrap_or(0.0)
}

/// The part of `pid`'s resident memory that is its own (heap, stacks: `RssAnon`), in MB; the rest
/// is mapped files (the binary, libraries, SQLite's memory-mapped pages), shared with the page cache.
pub fn anon_mb(pid: u32) -> f64 {
    status_mb(pid, "RssAnon:")
}

/// The most resident memory `pid` ever held (`VmHWM`), in MB: a burst's peak, since handed back.
pub fn peak_mb(pid: u32) -> f64 {
    status_mb(pid, "VmHWM:")
}

/// A figure in kB of `/proc/<pid>/status`, in MB.
fn status_mb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib * 1.024 / 1000.0)
}

/// The CPU time process `pid` used so far, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    crate::proc_usage(pid).map(|(c, _)| c).unwrap_or(0.0)
}

/// The share of one core `pid` uses over `window`, in percent.
pub async fn cpu_percent(pid: u32, window: Duration) -> f64 {
    let before = cpu_secs(pid);
    let t = Instant::now();
    tokio::time::sleep(window).await;
    100.0 * (cpu_secs(pid) - before) / t.elapsed().as_secs_f64()
}
