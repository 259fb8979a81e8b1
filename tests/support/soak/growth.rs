//! Bounded growth: once per simulated day, for each box, the agent's resident memory and open
//! files (`/proc/<pid>`, the agent found by its config path on its command line), the sizes
//! of `sync.db` and `history.db` (and, apart, their write-ahead logs) and of the trash, and the
//! files the box holds. `Growth::summary` gives each figure's growth per simulated day over the
//! last third of the run (after warm-up).
//!
//! The journal has a row per file, so `sync.db` grows with the tree, and the writer's tree grows:
//! recordings it abandons stay, as a PBX's do. What must not grow is the journal's size per file
//! (tombstones pruned, nothing else kept): that is a figure of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock::SimClock;

#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub rss_kib: u64,
    pub fds: u64,
    pub sync_db: u64,
    pub sync_wal: u64,
    pub history_db: u64,
    pub history_wal: u64,
    pub trash: u64,
    /// Files in the data root (the agent's own `.lbs-sync` left out).
    pub files: u64,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub day: f64,
    /// Box a, then box b.
    pub boxes: [Reading; 2],
}

pub struct Growth {
    pub samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Where one box's figures are read.
#[derive(Debug, Clone)]
pub struct BoxFiles {
    pub config: PathBuf,
    pub state: PathBuf,
    pub root: PathBuf,
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn tree_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn tree_files(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.file_name() != ".lbs-sync")
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_files(&e.path()),
            _ => 1,
        })
        .sum()
}

/// The `lbs-agent run` process whose command line names `config`.
fn agent_pid(config: &Path) -> Option<u32> {
    let want = config.to_str()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_run = args.contains(&b"run".as_slice()) && args.contains(&want.as_bytes());
        let is_agent = args.first().is_some_and(|a| a.ends_with(b"lbs-agent"));
        (is_run && is_agent).then_some(pid)
    })
}

pub fn read(b: &BoxFiles) -> Reading {
    let (rss_kib, fds) = agent_pid(&b.config)
        .map(|pid| {
            let rss = crate::proc_usage(pid).map_or(0, |(_, rss)| rss);
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
            (rss, fds)
        })
        .unwrap_or((0, 0));
    Reading {
        rss_kib,
        fds,
        sync_db: size(&b.state.join("sync.db")),
        sync_wal: size(&b.state.join("sync.db-wal")),
        history_db: size(&b.state.join("history.db")),
        history_wal: size(&b.state.join("history.db-wal")),
        trash: tree_size(&b.root.join(".lbs-sync/trash")),
        files: tree_files(&b.root),
    }
}

impl Growth {
    /// Samples at every simulated day's end (and once at the start).
    pub fn start(clock: &SimClock, boxes: [BoxFiles; 2]) -> Growth {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, flag) = (samples.clone(), stop.clone());
        let speed = clock.speed();
        let started = std::time::Instant::now();
        let thread = std::thread::spawn(move || {
            let mut next_day = 0.0;
            while !flag.load(Ordering::SeqCst) {
                let day = started.elapsed().as_secs_f64() * speed / 86_400.0;
                if day >= next_day {
                    out.lock().expect("growth").push(Sample {
                        day,
                        boxes: [read(&boxes[0]), read(&boxes[1])],
                    });
                    next_day = day.floor() + 1.0;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Growth {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples.lock().expect("growth").clone()
    }
}

impl Drop for Growth {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A figure: its name, its unit, how it is read from a reading.
type Figure = (&'static str, &'static str, fn(&Reading) -> u64);

/// One figure's growth per simulated day after warm-up, the larger of the two boxes', and its
/// largest value: (name, unit, growth per day, max). The growth compares the largest value of the
/// run's last third with that of its middle third, over the days between them: agents restarted
/// by faults start small (and one that is down reads 0, left out), so single samples say little,
/// while a leak raises every third's peak.
pub fn summary(samples: &[Sample]) -> Vec<(&'static str, &'static str, f64, u64)> {
    // The write-ahead logs are bounded by SQLite's checkpoints (and emptied by them): their
    // largest size is the figure that matters.
    let figures: [Figure; 9] = [
        ("agent memory (RSS)", "KiB", |r| r.rss_kib),
        ("open files", "fds", |r| r.fds),
        ("sync.db", "KiB", |r| r.sync_db / 1024),
        ("sync.db-wal", "KiB", |r| r.sync_wal / 1024),
        ("history.db", "KiB", |r| r.history_db / 1024),
        ("history.db-wal", "KiB", |r| r.history_wal / 1024),
        ("trash", "KiB", |r| r.trash / 1024),
        ("files on the box", "files", |r| r.files),
        ("sync.db per file", "B", |r| r.sync_db / r.files.max(1)),
    ];
    let Some(last) = samples.last() else { return Vec::new() };
    let third = last.day / 3.0;
    figures
        .iter()
        .map(|(name, unit, f)| {
            let mut growth = 0.0f64;
            let mut max = 0;
            for b in 0..2 {
                // An agent that is down has no memory or files to read: not a sample.
                let up = |s: &&Sample| s.boxes[b].rss_kib > 0;
                let peak = |from: f64, to: f64| {
                    samples
                        .iter()
                        .filter(up)
                        .filter(|s| s.day >= from && s.day <= to)
                        .map(|s| f(&s.boxes[b]))
                        .max()
                };
                max = max.max(samples.iter().filter(up).map(|s| f(&s.boxes[b])).max().unwrap_or(0));
                if let (Some(middle), Some(end)) = (peak(third, 2.0 * third), peak(2.0 * third, last.day)) {
                    if third > 0.0 {
                        growth = growth.max((end as f64 - middle as f64) / third);
                    }
                }
            }
            (*name, *unit, growth, max)
        })
        .collect()
}
