//! One task per database category on the primary: it runs the category's dump on its interval
//! and soon after the database's own files were written (`watch`), by the rules of
//! `dump_timer`, and hands each result to the primary's loop, which journals what was written.
//! A task of its own, so a slow dump (a large MariaDB database) never holds up a voicemail
//! being journaled, nor another category's dump.
//!
//! A watched path that does not exist or cannot be watched does not stop anything: it is
//! logged once and shown in the status (`watch_problem`), the interval dump goes on, and the
//! watch is armed again when the path appears (looked at every few seconds).

use std::sync::Arc;
use std::time::Duration;

use lbs_sync::write_watch::WriteWatch;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::dump::DumpError;
use super::dump_timer::DumpTimer;
use super::SyncEngine;
use crate::config::CategoryConfig;

/// How often the watched paths are looked at again (one appeared, a folder was made again).
const RECHECK: Duration = Duration::from_secs(5);
/// While a promotion holds the dumps, how often a due dump checks again.
const HELD_RETRY: Duration = Duration::from_millis(200);

/// What one dump of a category came to.
pub(crate) struct Dumped {
    /// The category's index in `Sources::categories`.
    pub index: usize,
    /// Whether the stored dump changed, or why it could not be made.
    pub result: Result<bool, DumpError>,
}

/// Arms the category's watch, if it has one, and reports what could not be watched. Called
/// before the primary's first dump, so a write between that dump and the task's start is seen.
pub(crate) fn arm(e: &SyncEngine, c: &CategoryConfig) -> Option<WriteWatch> {
    if c.watch.is_empty() {
        return None;
    }
    let watch = WriteWatch::arm(&c.watch);
    report(e, c, &watch);
    Some(watch)
}

/// Logs and records (once per change) which of the category's files are not watched.
fn report(e: &SyncEngine, c: &CategoryConfig, watch: &WriteWatch) {
    let problems = watch.problems();
    let every = crate::units::human_secs(c.dump_every(e.config.dump_interval));
    let problem = (!problems.is_empty()).then(|| {
        format!(
            "Not watched for writes: {}. Until it is, this database is dumped every {every} only.",
            problems.join("; ")
        )
    });
    if !e.tracker.watch_problem(&c.name, problem.clone()) {
        return;
    }
    match problem {
        Some(p) => tracing::warn!(category = %c.name, "sync: {p}"),
        None => {
            let paths: Vec<String> = c.watch.iter().map(|p| p.display().to_string()).collect();
            tracing::info!(category = %c.name, watched = %paths.join(", "), "sync: watching the database's files for writes");
        }
    }
}

/// Forgets what the category's watch reported (the box is no longer the primary).
pub(crate) fn forget(e: &SyncEngine) {
    for c in &e.sources.categories {
        e.tracker.watch_problem(&c.name, None);
    }
}

/// Runs until dropped (the primary's loop aborts it when the box stops being the primary) or
/// until the loop stops listening.
pub(crate) async fn run(e: Arc<SyncEngine>, index: usize, mut watch: Option<WriteWatch>, done: mpsc::Sender<Dumped>) {
    let Some(c) = e.sources.categories.get(index).cloned() else {
        return;
    };
    let every = Duration::from_secs(c.dump_every(e.config.dump_interval).max(1));
    let gap = Duration::from_secs(c.watch_gap());
    let mut timer = DumpTimer::new(every, gap, Instant::now());
    let mut recheck = tokio::time::interval_at(Instant::now() + RECHECK, RECHECK);
    loop {
        // Always Some while no dump runs (and none runs here between iterations).
        let due = timer.next_due().unwrap_or_else(|| Instant::now() + every);
        tokio::select! {
            _ = written(&watch) => timer.written(Instant::now()),
            _ = recheck.tick(), if watch.is_some() => {
                if let Some(old) = watch.as_ref().filter(|w| w.stale()) {
                    let fresh = WriteWatch::arm(&c.watch);
                    report(&e, &c, &fresh);
                    // Writes between the old watch going blind and the new one are unseen: dump
                    // once if anything is watched differently now (not for a path that still
                    // cannot be watched, looked at again every few seconds).
                    if fresh.armed() != old.armed() {
                        timer.written(Instant::now());
                    }
                    watch = Some(fresh);
                }
            }
            _ = tokio::time::sleep_until(due) => {
                if e.dumps_held() {
                    // A promotion is loading the received dumps: nothing is dumped over them.
                    tokio::time::sleep(HELD_RETRY).await;
                    continue;
                }
                let started = Instant::now();
                timer.start(started);
                let result = super::dump::dump_locked(&e, &c).await;
                timer.finished(Instant::now(), started.elapsed(), result.is_ok());
                if done.send(Dumped { index, result }).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn written(watch: &Option<WriteWatch>) {
    match watch {
        Some(w) => w.written().await,
        None => std::future::pending().await,
    }
}
