//! The primary's part: keep the journal true. At start (and at every full scan, re-hashing
//! everything) each source is dumped if it is a database category, then scanned; between scans
//! the watcher's batches refresh just the places that changed; each database category is also
//! dumped by its own task (`dumper`: on its interval and when its files are written), whose
//! results this loop journals. Scan problems and skipped entries go to the tracker for the status.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::Role;
use lbs_sync::paths::RelPath;
use lbs_sync::watch::{watch, Dirty, Watcher};
use tokio::sync::mpsc;

use super::dumper::{self, Dumped};
use super::{Source, SyncEngine};
use crate::clock::now_unix;
use crate::refusal::Refusal;

/// How long watcher events are gathered before acting: short, since a voicemail should reach the
/// backup in well under a second.
const WATCH_WINDOW: Duration = Duration::from_millis(20);

pub async fn run(engine: Arc<SyncEngine>) {
    loop {
        engine.until_role(Role::Primary).await;
        tracing::info!("sync: this box is the primary; journaling the categories");
        serve(&engine).await;
        engine.tracker.counting_started(std::iter::empty());
    }
}

struct Watching {
    _watcher: Watcher,
    rx: mpsc::Receiver<Vec<Dirty>>,
    roots: HashSet<PathBuf>,
}

/// Runs until the box stops being the primary.
async fn serve(e: &Arc<SyncEngine>) {
    // Watch first, then scan: a file written during the first scan is still seen. Until the
    // first scan of a category is done, the status says it is still being counted. The
    // databases' own files are watched before their first dump for the same reason.
    let mut watching = start_watch(e, None);
    let database_watches: Vec<_> = e
        .sources
        .categories
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.dump.is_empty())
        .map(|(i, c)| (i, dumper::arm(e, c)))
        .collect();
    e.tracker
        .counting_started(e.sources.categories.iter().map(|c| c.name.as_str()));
    full_pass(e, false).await;
    // The first pass just dumped every database: each task's next dump is one interval away,
    // or sooner if its database is written.
    let (dumped_tx, mut dumped) = mpsc::channel::<Dumped>(16);
    let mut dumpers = tokio::task::JoinSet::new();
    for (index, watch) in database_watches {
        dumpers.spawn(dumper::run(e.clone(), index, watch, dumped_tx.clone()));
    }
    drop(dumped_tx);
    let mut unsettled: Vec<Dirty> = Vec::new();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    let mut full = tokio::time::interval(Duration::from_secs(e.config.full_scan_interval));
    // Dumps written but not journaled yet (the scan failed): looked at again at their next turn.
    let mut unjournaled: HashSet<String> = HashSet::new();
    let mut role_check = tokio::time::interval(Duration::from_secs(1));
    full.tick().await;
    loop {
        let next_batch = async {
            match watching.as_mut() {
                Some(w) => w.rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            batch = next_batch => match batch {
                Some(batch) => unsettled.extend(refresh(e, batch).await),
                None => watching = None,
            },
            // Files that were being written while hashed are looked at again shortly.
            _ = retry.tick(), if !unsettled.is_empty() => {
                let again = std::mem::take(&mut unsettled);
                unsettled = refresh(e, again).await;
            }
            _ = full.tick() => {
                full_pass(e, true).await;
                // Roots that appeared (or vanished) since get watched (or not).
                watching = start_watch(e, watching);
            }
            Some(d) = dumped.recv() => journal_dump(e, d, &mut unjournaled).await,
            _ = role_check.tick() => {
                if e.role().role != Role::Primary {
                    tracing::info!("sync: this box is no longer the primary; journaling stops");
                    dumpers.abort_all();
                    dumper::forget(e);
                    return;
                }
            }
        }
    }
}

/// Watches every root that exists; keeps the current watcher if that set did not change.
fn start_watch(e: &SyncEngine, current: Option<Watching>) -> Option<Watching> {
    let roots: Vec<(String, PathBuf)> = e
        .sources
        .all()
        .iter()
        .filter(|s| s.root.is_dir())
        .map(|s| (s.key.clone(), s.root.clone()))
        .collect();
    let set: HashSet<PathBuf> = roots.iter().map(|(_, r)| r.clone()).collect();
    if let Some(w) = current {
        if w.roots == set {
            return Some(w);
        }
    }
    if roots.is_empty() {
        return None;
    }
    match watch(roots, WATCH_WINDOW) {
        Ok((watcher, rx)) => Some(Watching {
            _watcher: watcher,
            rx,
            roots: set,
        }),
        Err(err) => {
            // Without the watcher changes still arrive, at the next full scan.
            tracing::error!(error = %err, "sync: cannot watch the category folders; relying on full scans");
            None
        }
    }
}

/// Refreshes the places a watcher batch names; returns those to look at again (files still being
/// written, or a refresh that failed).
async fn refresh(e: &SyncEngine, batch: Vec<Dirty>) -> Vec<Dirty> {
    let mut unsettled = Vec::new();
    for d in batch {
        if let Some(source) = e.sources.get(&d.category) {
            match scan(e, source, d.under.as_ref(), false).await {
                Ok(0) => {}
                Ok(_) => unsettled.push(d),
                // Looked at again shortly: a change must never be lost to a passing error.
                Err(msg) => {
                    e.tracker.error(&source.category, msg.message, now_unix());
                    unsettled.push(d);
                }
            }
        }
    }
    e.refresh_head().await;
    unsettled
}

/// Dumps, then scans every source; a category's error is set or cleared by what this pass saw.
async fn full_pass(e: &SyncEngine, verify: bool) {
    let mut problems: HashMap<String, String> = dump_all(e).await;
    for c in &e.sources.categories {
        for source in e.sources.all().iter().filter(|s| s.category == c.name) {
            // Files being written now are the watcher's (or the next pass's) to pick up.
            if let Err(msg) = scan(e, source, None, verify).await {
                problems.entry(source.category.clone()).or_insert(msg.message);
            }
        }
        // Counted, even if a root could not be read: the error says so instead.
        e.tracker.counting_done(&c.name);
    }
    e.refresh_head().await;
    let now = now_unix();
    for c in &e.sources.categories {
        match problems.remove(&c.name) {
            Some(msg) => e.tracker.error(&c.name, msg, now),
            None => e.tracker.clear_error(&c.name),
        }
    }
}

/// Brings the journal up to date at once: dumps (if `dump`), then a scan of every source. A
/// switchover and a reintegration call it, so the last changes before a role change are known.
/// Returns what it found, or the first problem.
pub async fn flush(e: &SyncEngine, dump: bool) -> Result<String, Refusal> {
    let mut problems: Vec<String> = Vec::new();
    if dump {
        problems.extend(dump_all(e).await.into_values());
    }
    for source in e.sources.all() {
        if let Err(msg) = scan(e, source, None, false).await {
            problems.push(msg.message);
        }
    }
    e.refresh_head().await;
    let head = e.journal.head().await.map_err(Refusal::from)?;
    match problems.first() {
        Some(p) => Err(Refusal::internal(p.clone())),
        None => Ok(format!(
            "every category is journaled{} (up to change {head})",
            if dump { " and every database dumped" } else { "" }
        )),
    }
}

/// Journals one file again: the partner asked for a version that is no longer what is on disk
/// (a recording still being written), so the newer one is recorded and its change follows.
pub async fn rejournal(e: &SyncEngine, key: &str, rel: &RelPath) {
    let Some(source) = e.sources.get(key) else { return };
    if let Err(msg) = scan(e, source, Some(rel), false).await {
        tracing::warn!(source = %key, path = %rel, problem = %msg, "sync: cannot journal a changed file again");
    }
    e.refresh_head().await;
}

/// Journals what a category's dump task wrote; a dump that did not change costs nothing more (no
/// journal refresh, nothing for the backup). A failure is the category's error, and the last
/// good dump stays as it was.
async fn journal_dump(e: &SyncEngine, d: Dumped, unjournaled: &mut HashSet<String>) {
    let Some(c) = e.sources.categories.get(d.index) else {
        return;
    };
    let now = now_unix();
    match d.result {
        Err(err) => {
            tracing::error!(category = %c.name, error = %err, "sync: dump failed");
            e.tracker.error(&c.name, err.to_string(), now);
            return;
        }
        Ok(written) => {
            e.tracker.clear_error(&c.name);
            if !written && !unjournaled.contains(&c.name) {
                return;
            }
        }
    }
    // Dump files are written atomically; pick the new one up without waiting for inotify.
    let Some(file) = c.dump_file.as_deref().and_then(|f| RelPath::parse(f).ok()) else {
        return;
    };
    let Some(source) = e.sources.get(&super::sources::key(&c.name, 0)) else {
        return;
    };
    match scan(e, source, Some(&file), false).await {
        Ok(_) => {
            unjournaled.remove(&c.name);
        }
        Err(msg) => {
            e.tracker.error(&c.name, msg.message, now);
            unjournaled.insert(c.name.clone());
        }
    }
    e.refresh_head().await;
}

async fn dump_all(e: &SyncEngine) -> HashMap<String, String> {
    let mut problems = HashMap::new();
    if e.dumps_held() {
        // The received dumps stay as they are (and are journaled as they are) until the
        // promotion has loaded them; the next scheduled dump takes over.
        tracing::debug!("sync: dumps held while a promotion loads the received ones");
        return problems;
    }
    for c in e.sources.categories.iter().filter(|c| !c.dump.is_empty()) {
        if let Err(err) = super::dump::dump_locked(e, c).await {
            tracing::error!(category = %c.name, error = %err, "sync: dump failed");
            problems.insert(c.name.clone(), err.to_string());
        }
    }
    problems
}

/// Scans one source (or a place in it); returns how many files were still being written.
async fn scan(e: &SyncEngine, s: &Source, under: Option<&RelPath>, verify: bool) -> Result<u64, Refusal> {
    let counted = match under {
        None => e.tracker.counter(&s.category),
        Some(_) => None,
    }
    .unwrap_or_default();
    match e
        .journal
        .refresh_counting(&s.key, &s.root, &s.select, under, verify, now_unix(), counted)
        .await
    {
        Ok(report) => {
            if !report.skipped.is_empty() {
                tracing::debug!(source = %s.key, skipped = ?report.skipped, "sync: entries not copied");
            }
            if report.deleted > 0 {
                let place = under.map_or_else(|| s.root.display().to_string(), |u| u.to_string());
                tracing::info!(source = %s.key, %place, files = report.deleted, "sync: files deleted on this box");
            }
            e.tracker.skipped(&s.category, report.skipped, under.is_none());
            Ok(report.unsettled)
        }
        Err(err) => {
            tracing::warn!(source = %s.key, error = %err, "sync: scan failed");
            Err(Refusal::internal(format!("cannot read {}: {err}", s.root.display())))
        }
    }
}
