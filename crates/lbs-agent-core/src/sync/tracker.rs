//! What the sync engine has seen lately, kept in memory for the status: per category the last
//! success, the last error (in plain words), skipped entries and a throughput meter; for the link
//! to the partner its state and last contact; and what the partner last reported.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lbs_protocol::{SkippedFile, SyncLinkState, SyncProblem};

/// Throughput is averaged over this window.
const METER_WINDOW: Duration = Duration::from_secs(10);
/// Skipped entries kept per category for the status (the log has them all).
const MAX_SKIPPED: usize = 20;

#[derive(Default)]
struct Meter(VecDeque<(Instant, u64)>);

impl Meter {
    fn add(&mut self, bytes: u64) {
        let now = Instant::now();
        self.0.push_back((now, bytes));
        self.trim(now);
    }
    fn trim(&mut self, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > METER_WINDOW)
        {
            self.0.pop_front();
        }
    }
    fn rate(&mut self) -> f64 {
        self.trim(Instant::now());
        self.0.iter().map(|(_, b)| *b).sum::<u64>() as f64 / METER_WINDOW.as_secs_f64()
    }
}

#[derive(Default)]
struct CategoryTrack {
    last_success: Option<i64>,
    last_error: Option<SyncProblem>,
    meter: Meter,
    skipped: Vec<SkippedFile>,
    /// The database files of the category that are not watched for writes now, in words.
    watch_problem: Option<String>,
}

pub struct Link {
    pub state: SyncLinkState,
    pub message: Option<String>,
    pub last_contact: Option<i64>,
}

#[derive(Default)]
struct Inner {
    categories: HashMap<String, CategoryTrack>,
    link: Option<Link>,
    /// Per source key: files and bytes on the partner, as last reported.
    peer_totals: HashMap<String, (u64, u64)>,
    /// The partner's acknowledged sequence (primary side).
    peer_acked: i64,
    /// Whether the partner mirrors folders (it said so in its last pull).
    peer_folders: bool,
    /// Primary side: categories whose first full scan runs, with the files looked at so far.
    counting: HashMap<String, Arc<AtomicU64>>,
    /// Backup side: what the primary last said it is still counting.
    peer_counting: HashMap<String, u64>,
    /// Backup side: the last page did not reach the primary's head (more pages follow).
    behind_head: bool,
    /// Every byte moved (served or installed) since start, for the link's capacity.
    moved_total: u64,
}

#[derive(Default)]
pub struct Tracker(Mutex<Inner>);

/// What the status needs of one category.
pub struct CategoryView {
    pub last_success: Option<i64>,
    pub last_error: Option<SyncProblem>,
    pub throughput_bps: f64,
    pub skipped: Vec<SkippedFile>,
    pub watch_problem: Option<String>,
}

impl Tracker {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic while holding the lock cannot leave the numbers inconsistent in a harmful way.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// A file of `category` applied (backup), or the category caught up. Not a time the category
    /// was in sync while the primary is still counting it: its first scan records its files in
    /// batches as it goes, so the backup copies some before the primary knows them all.
    pub fn success(&self, category: &str, now: i64) {
        self.with(|i| {
            let counting = i.peer_counting.contains_key(category);
            let c = i.categories.entry(category.into()).or_default();
            if !counting {
                c.last_success = Some(now);
            }
            c.last_error = None;
        });
    }

    pub fn error(&self, category: &str, message: String, now: i64) {
        self.with(|i| {
            i.categories.entry(category.into()).or_default().last_error = Some(SyncProblem { message, at_unix: now })
        });
    }

    pub fn clear_error(&self, category: &str) {
        self.with(|i| {
            if let Some(c) = i.categories.get_mut(category) {
                c.last_error = None;
            }
        });
    }

    /// Records what of the category's database is not watched (`None`: all of it is); returns
    /// whether that changed, so the caller logs a change once.
    pub fn watch_problem(&self, category: &str, problem: Option<String>) -> bool {
        self.with(|i| {
            let slot = &mut i.categories.entry(category.into()).or_default().watch_problem;
            if *slot == problem {
                return false;
            }
            *slot = problem;
            true
        })
    }

    pub fn moved(&self, category: &str, bytes: u64) {
        self.with(|i| {
            i.categories.entry(category.into()).or_default().meter.add(bytes);
            i.moved_total = i.moved_total.saturating_add(bytes);
        });
    }

    /// Every byte moved since start (served as primary, installed as backup).
    pub fn moved_total(&self) -> u64 {
        self.with(|i| i.moved_total)
    }

    /// Records entries a scan did not copy: a full scan (`replace`) gives the whole list, a
    /// refresh of one place adds to it.
    pub fn skipped(&self, category: &str, list: Vec<(String, String)>, replace: bool) {
        self.with(|i| {
            let known = &mut i.categories.entry(category.into()).or_default().skipped;
            if replace {
                known.clear();
            }
            for (path, reason) in list {
                if known.len() < MAX_SKIPPED && !known.iter().any(|k| k.path == path) {
                    known.push(SkippedFile { path, reason });
                }
            }
        });
    }

    pub fn link(&self, state: SyncLinkState, message: Option<String>, now: i64) {
        self.with(|i| {
            let last_contact = match state {
                SyncLinkState::Ok => Some(now),
                _ => i.link.as_ref().and_then(|l| l.last_contact),
            };
            i.link = Some(Link {
                state,
                message,
                last_contact,
            });
        });
    }

    pub fn link_view(&self) -> Option<Link> {
        self.with(|i| {
            i.link.as_ref().map(|l| Link {
                state: l.state,
                message: l.message.clone(),
                last_contact: l.last_contact,
            })
        })
    }

    /// Records what the partner reported; returns whether its acknowledged sequence changed.
    pub fn peer_report(&self, totals: impl IntoIterator<Item = (String, u64, u64)>, acked: Option<i64>) -> bool {
        self.with(|i| {
            i.peer_totals = totals.into_iter().map(|(k, f, b)| (k, (f, b))).collect();
            match acked {
                Some(a) if a != i.peer_acked => {
                    i.peer_acked = a;
                    true
                }
                _ => false,
            }
        })
    }

    /// The first full scan of `categories` starts (this box just took the primary's role).
    pub fn counting_started<'a>(&self, categories: impl IntoIterator<Item = &'a str>) {
        self.with(|i| {
            i.counting = categories
                .into_iter()
                .map(|c| (c.to_owned(), Arc::new(AtomicU64::new(0))))
                .collect()
        });
    }

    /// The counter a scan of `category` adds to while it is being counted.
    pub fn counter(&self, category: &str) -> Option<Arc<AtomicU64>> {
        self.with(|i| i.counting.get(category).cloned())
    }

    /// The first full scan of `category` is done (its files are all in the journal).
    pub fn counting_done(&self, category: &str) {
        self.with(|i| {
            i.counting.remove(category);
        });
    }

    /// Files counted so far per category still being counted by this box (as primary).
    pub fn counting(&self) -> HashMap<String, u64> {
        self.with(|i| {
            i.counting
                .iter()
                .map(|(c, n)| (c.clone(), n.load(Ordering::Relaxed)))
                .collect()
        })
    }

    /// Backup side: the primary answered a pull. Its totals, its counting and whether this box
    /// has yet to queue changes it holds (`unqueued`) change together with the link, under one
    /// lock: a status read in between would otherwise see a fresh contact with nothing counting
    /// and nothing pending, and say "in sync" with the first page still in memory.
    pub fn primary_answered(
        &self,
        totals: impl IntoIterator<Item = (String, u64, u64)>,
        counting: impl IntoIterator<Item = (String, u64)>,
        unqueued: bool,
        now: i64,
    ) {
        self.with(|i| {
            i.peer_totals = totals.into_iter().map(|(k, f, b)| (k, (f, b))).collect();
            i.peer_counting = counting.into_iter().collect();
            i.behind_head = unqueued;
            i.link = Some(Link {
                state: SyncLinkState::Ok,
                message: None,
                last_contact: Some(now),
            });
        });
    }

    /// Backup side: a page's changes are queued; `behind_head` says whether more pages follow.
    pub fn page_queued(&self, behind_head: bool) {
        self.with(|i| i.behind_head = behind_head);
    }

    /// Backup side: files the primary has counted so far per category it is still counting,
    /// and whether more pages of changes are known to follow.
    pub fn peer_counting(&self) -> (HashMap<String, u64>, bool) {
        self.with(|i| (i.peer_counting.clone(), i.behind_head))
    }

    pub fn set_peer_takes_folders(&self, yes: bool) {
        self.with(|i| i.peer_folders = yes);
    }

    pub fn peer_takes_folders(&self) -> bool {
        self.with(|i| i.peer_folders)
    }

    pub fn peer_acked(&self) -> i64 {
        self.with(|i| i.peer_acked)
    }

    /// Files and bytes on the partner per category (summed over its roots), if it reported.
    pub fn peer_totals(&self) -> Option<HashMap<String, (u64, u64)>> {
        self.with(|i| {
            if i.link.as_ref().is_none_or(|l| l.last_contact.is_none()) {
                return None;
            }
            let mut out: HashMap<String, (u64, u64)> = HashMap::new();
            for (key, (f, b)) in &i.peer_totals {
                let e = out
                    .entry(super::sources::Sources::category_of(key).to_owned())
                    .or_default();
                e.0 += f;
                e.1 += b;
            }
            Some(out)
        })
    }

    pub fn category(&self, name: &str) -> CategoryView {
        self.with(|i| {
            let c = i.categories.entry(name.into()).or_default();
            CategoryView {
                last_success: c.last_success,
                last_error: c.last_error.clone(),
                throughput_bps: c.meter.rate(),
                skipped: c.skipped.clone(),
                watch_problem: c.watch_problem.clone(),
            }
        })
    }

    pub fn forget_link(&self) {
        self.with(|i| {
            i.link = None;
            i.peer_totals.clear();
            i.peer_acked = 0;
            i.peer_counting.clear();
            i.behind_head = false;
        });
    }
}
