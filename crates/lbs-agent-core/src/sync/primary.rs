//! The primary's part: keep the journal true. At start (and at every full scan, re-hashing
//! everything) each source is dumped if it is a database category, then scanned; between scans
//! the watcher's batches refresh just the places that changed; each database category is also
//! dumped on its own interval (`DumpSchedule`). Scan problems and skipped entries go to the
//! tracker for the status.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::Role;
use lbs_sync::paths::RelPath;
use lbs_sync::watch::{watch, Dirty, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Source, SyncEngine};
use crate::clock::now_unix;
use crate::config::CategoryConfig;
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
    // first scan of a category is done, the status says it is still being counted.
    let mut watching = start_watch(e, None);
    e.tracker
        .counting_started(e.sources.categories.iter().map(|c| c.name.as_str()));
    full_pass(e, false).await;
    let mut unsettled: Vec<Dirty> = Vec::new();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    let mut full = tokio::time::interval(Duration::from_secs(e.config.full_scan_interval));
    // The first pass just dumped every database: each is next due one interval from now.
    let mut dumps = DumpSchedule::new(&e.sources.categories, e.config.dump_interval, Instant::now());
    // Dumps written but not journaled yet (the scan failed): looked at again at their next turn.
    let mut unjournaled: HashSet<String> = HashSet::new();
    let mut role_check = tokio::time::interval(Duration::from_secs(1));
    full.tick().await;
    loop {
        let next_dump = dumps.next_due();
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
            _ = tokio::time::sleep_until(next_dump.unwrap_or_else(Instant::now)), if next_dump.is_some() => {
                let due = dumps.take_due(Instant::now());
                dump_pass(e, &due, &mut unjournaled).await;
            }
            _ = role_check.tick() => {
                if e.role().role != Role::Primary {
                    tracing::info!("sync: this box is no longer the primary; journaling stops");
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

/// When each database category's dump command runs next: every category on its own interval
/// (`dump_interval` of the category, else of `[sync]`), so the phones' registrations can be
/// dumped every second while a large database is dumped every minute.
struct DumpSchedule {
    /// (index in the categories, interval, next run)
    due: Vec<(usize, Duration, Instant)>,
}

impl DumpSchedule {
    fn new(categories: &[CategoryConfig], default: u64, now: Instant) -> DumpSchedule {
        let due = categories
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.dump.is_empty())
            .map(|(i, c)| {
                let every = Duration::from_secs(c.dump_every(default).max(1));
                (i, every, now + every)
            })
            .collect();
        DumpSchedule { due }
    }

    /// The earliest next run, if any category has a dump.
    fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(_, _, at)| *at).min()
    }

    /// The categories due at `now`, each rescheduled one interval after `now` (a dump that took
    /// long is not run again at once to catch up).
    fn take_due(&mut self, now: Instant) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, every, at) in &mut self.due {
            if *at <= now {
                out.push(*i);
                *at = now + *every;
            }
        }
        out
    }
}

/// Runs the dump commands of the categories `due` (indexes); a dump that changed is journaled
/// right away, one that did not costs nothing more (no journal refresh, nothing for the backup).
async fn dump_pass(e: &SyncEngine, due: &[usize], unjournaled: &mut HashSet<String>) {
    if e.dumps_held() {
        tracing::debug!("sync: dumps held while a promotion loads the received ones");
        return;
    }
    let now = now_unix();
    let mut journaled = false;
    for c in due.iter().filter_map(|i| e.sources.categories.get(*i)) {
        match super::dump::dump(c).await {
            Err(err) => {
                tracing::error!(category = %c.name, error = %err, "sync: dump failed");
                e.tracker.error(&c.name, err.to_string(), now);
                continue;
            }
            Ok(written) => {
                e.tracker.clear_error(&c.name);
                if !written && !unjournaled.contains(&c.name) {
                    continue;
                }
            }
        }
        // Dump files are written atomically; pick the new one up without waiting for inotify.
        let Some(file) = c.dump_file.as_deref().and_then(|f| RelPath::parse(f).ok()) else {
            continue;
        };
        let Some(source) = e.sources.get(&super::sources::key(&c.name, 0)) else {
            continue;
        };
        journaled = true;
        match scan(e, source, Some(&file), false).await {
            Ok(_) => {
                unjournaled.remove(&c.name);
            }
            Err(msg) => {
                e.tracker.error(&c.name, msg.message, now);
                unjournaled.insert(c.name.clone());
            }
        }
    }
    if journaled {
        e.refresh_head().await;
    }
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
        if let Err(err) = super::dump::dump(c).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn category(name: &str, dump: bool, every: Option<u64>) -> CategoryConfig {
        let text = format!(
            "name = \"{name}\"\nroots = [\"/var/lib/lbs-agent/{name}\"]\n{}",
            if dump {
                "dump = [\"true\"]\ndump_file = \"x.sql\"\n"
            } else {
                ""
            }
        );
        let mut c: CategoryConfig = toml::from_str(&text).unwrap();
        c.dump_interval = every;
        c
    }

    #[test]
    fn each_database_is_dumped_on_its_own_interval() {
        let t0 = Instant::now();
        let cats = [
            category("voicemail", false, None),
            category("registrations", true, Some(1)),
            category("astdb", true, None),
        ];
        let mut s = DumpSchedule::new(&cats, 60, t0);
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(1)));
        assert!(s.take_due(t0 + Duration::from_millis(999)).is_empty());
        // Every second the registrations; the other database once a minute; never the folder.
        let mut runs = vec![0; 3];
        for sec in 1..=120 {
            for i in s.take_due(t0 + Duration::from_secs(sec)) {
                runs[i] += 1;
            }
        }
        assert_eq!(runs, vec![0, 120, 2]);
        // A late wake-up runs a due dump once, not once per missed interval.
        let late = t0 + Duration::from_secs(200);
        assert_eq!(s.take_due(late), vec![1, 2]);
        assert_eq!(s.next_due(), Some(late + Duration::from_secs(1)));
    }

    #[test]
    fn no_database_no_schedule() {
        let s = DumpSchedule::new(&[category("voicemail", false, None)], 60, Instant::now());
        assert_eq!(s.next_due(), None);
    }
}
