//! The sync engine: the same code on both boxes, doing the primary's part or the backup's
//! according to the role (which can change while it runs).
//!
//! - [`primary`]: dumps, scans and the watcher keep the journal current; [`dumper`] runs each
//!   database category's dumps (on its interval and when its files are written, by the rules
//!   of [`dump_timer`]).
//! - [`serving`]: the primary's answers to the partner's pulls (changes, content, bundles).
//! - [`pull`]: the backup pulls pages of changes into the durable queue; workers take them by
//!   priority and fetch what they need.
//! - [`apply`]: what was fetched is installed, verified and atomically (lbs-sync's `batch` and
//!   `Installer`); deletions go to the trash; folders are made, or removed once empty.
//! - [`right_of_way`]: small files first; large transfers pause between chunks while they move.
//! - [`status`]: what `GET /api/v1/sync` and `lbs-agent status` show.

pub(crate) mod apply;
pub mod bundle;
pub(crate) mod dump;
pub(crate) mod dump_timer;
pub(crate) mod dumper;
pub mod link;
pub(crate) mod primary;
pub(crate) mod pull;
pub(crate) mod right_of_way;
pub mod serving;
pub mod sources;
pub mod status;
pub(crate) mod throttle;
pub(crate) mod tracker;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lbs_protocol::Role;
use lbs_sync::journal::Journal;
use lbs_sync::queue::Queue;
use tokio::sync::{watch, Notify, RwLock};

use crate::config::SyncConfig;
use crate::identity::Identity;
use crate::peer::Peer;
use crate::refusal::Refusal;
use crate::role::{RoleReader, RoleState};

pub use pull::to_change;
pub use sources::{Source, Sources};

pub struct SyncEngine {
    pub config: SyncConfig,
    pub sources: Sources,
    pub journal: Journal,
    pub queue: Queue,
    /// Files set aside by a reintegration (the record; the files are in each root).
    pub quarantine: lbs_sync::quarantine::QuarantineStore,
    pub tracker: tracker::Tracker,
    /// The link to the partner: heartbeats, clocks, the office's changes, what the sync carried.
    pub link: link::LinkMeter,
    pub throttle: throttle::Throttle,
    /// Small files first: large transfers pause between chunks while they move.
    way: Arc<right_of_way::RightOfWay>,
    pub identity: Arc<Identity>,
    role: RoleReader,
    pub peer: Arc<RwLock<Option<Peer>>>,
    /// The journal's head sequence, so a waiting pull answers as soon as something changes.
    head: watch::Sender<i64>,
    /// Wakes the backup's workers when new changes are queued.
    queued: Notify,
    /// Tells the pull loop that the queue emptied, so it reports that at once.
    drained: Notify,
    /// Wakes every loop when the role or the partner changes (pairing), instead of a 1 s poll.
    changed: Notify,
    /// Changes being applied right now, by (source, path): a path is never written twice at once.
    in_flight: Mutex<HashSet<(String, String)>>,
    /// A client for the current partner, rebuilt when the partner changes.
    client: Mutex<Option<(String, reqwest::Client)>>,
    /// Promotions under way that have not loaded the received dumps yet (`hold_dumps`).
    dumps_held: AtomicUsize,
    /// One per database category: held while it is dumped (`dump::dump_locked`).
    dump_locks: HashMap<String, tokio::sync::Mutex<()>>,
    /// Database categories whose received dump has not been loaded yet (`restores-pending.json`
    /// in the state directory): never dumped over until their restore succeeds.
    restores_pending: Mutex<std::collections::BTreeSet<String>>,
    restores_file: std::path::PathBuf,
}

/// While alive, the primary's loop runs no dump command (see `SyncEngine::hold_dumps`).
pub struct DumpHold(Arc<SyncEngine>);

impl Drop for DumpHold {
    fn drop(&mut self) {
        self.0.dumps_held.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SyncEngine {
    pub async fn open(
        state_dir: &Path,
        config: SyncConfig,
        identity: Arc<Identity>,
        role: RoleReader,
        peer: Arc<RwLock<Option<Peer>>>,
    ) -> Result<Arc<SyncEngine>, lbs_sync::db::DbError> {
        let pool = lbs_sync::db::open(&state_dir.join("sync.db")).await?;
        let journal = Journal::new(pool.clone());
        let head = journal.head().await.unwrap_or(0);
        let tracker = tracker::Tracker::default();
        let sources = Sources::from_config(&config);
        if role.get().role == Role::Primary {
            // Counting from the start: nothing is reported in sync before the first scan ran.
            tracker.counting_started(sources.categories.iter().map(|c| c.name.as_str()));
        }
        tracker.peer_report(std::iter::empty(), Some(journal.peer_acked().await.unwrap_or(0)));
        let dump_locks = sources
            .categories
            .iter()
            .filter(|c| !c.dump.is_empty())
            .map(|c| (c.name.clone(), tokio::sync::Mutex::new(())))
            .collect();
        let restores_file = state_dir.join("restores-pending.json");
        let restores_pending = match std::fs::read(&restores_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                // Unreadable: every database category counts as pending, the safe side (their
                // dumps are kept; a restart of the agent loads them).
                tracing::error!(file = %restores_file.display(), error = %e, "the list of restores still to do cannot be read");
                sources.categories.iter().filter(|c| !c.restore.is_empty()).map(|c| c.name.clone()).collect()
            }),
            Err(_) => Default::default(),
        };
        Ok(Arc::new(SyncEngine {
            sources,
            throttle: throttle::Throttle::new(config.bandwidth_limit),
            way: Arc::default(),
            config,
            journal,
            quarantine: lbs_sync::quarantine::QuarantineStore::new(pool.clone()),
            queue: Queue::new(pool),
            tracker,
            link: link::LinkMeter::default(),
            identity,
            role,
            peer,
            head: watch::channel(head).0,
            queued: Notify::new(),
            drained: Notify::new(),
            changed: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
            client: Mutex::new(None),
            dumps_held: AtomicUsize::new(0),
            dump_locks,
            restores_pending: Mutex::new(restores_pending),
            restores_file,
        }))
    }

    /// Records, before a promotion records its role, that the received dumps of `categories`
    /// must be loaded before this box dumps them again: a restore that fails, or an agent
    /// stopped half-way, must not let this box's own old database replace the only copy of the
    /// primary's (the next start of the agent loads them).
    pub fn restores_to_do(&self, categories: impl IntoIterator<Item = String>) -> std::io::Result<()> {
        let mut pending = self.restores_pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.extend(categories);
        self.save_restores(&pending)
    }

    /// The received dump of `category` is loaded: it may be dumped again.
    pub fn restore_done(&self, category: &str) {
        let mut pending = self.restores_pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.remove(category) {
            if let Err(e) = self.save_restores(&pending) {
                tracing::error!(category, error = %e, "cannot record that the restore is done; it runs again at the next start");
            }
        }
    }

    /// Whether the received dump of `category` still waits to be loaded.
    pub fn restore_pending(&self, category: &str) -> bool {
        self.restores_pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(category)
    }

    fn save_restores(&self, pending: &std::collections::BTreeSet<String>) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(pending).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&self.restores_file, &bytes, true)
    }

    /// Holds the dump commands during a promotion. The primary's loop starts as soon as the new
    /// role is recorded and dumps at once; a dump then would write this box's own, stale
    /// database (or an empty one) over the dump just received from the old primary, before the
    /// restore step has loaded it — the phones' registrations would be lost at the very moment
    /// they are needed. The promotion takes the hold before it records the role and lets it go
    /// once the restore has run and the PBX started on the restored data.
    pub fn hold_dumps(self: &Arc<Self>) -> DumpHold {
        self.dumps_held.fetch_add(1, Ordering::SeqCst);
        DumpHold(self.clone())
    }

    /// Whether a promotion holds the dumps now.
    pub(crate) fn dumps_held(&self) -> bool {
        self.dumps_held.load(Ordering::SeqCst) > 0
    }

    /// Starts the primary and backup loops; each idles while the box holds the other role.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        if self.sources.all().is_empty() {
            tracing::warn!("no sync categories are configured: nothing is copied between the boxes");
        }
        vec![
            tokio::spawn(primary::run(self.clone())),
            tokio::spawn(pull::pull_loop(self.clone())),
            tokio::spawn(pull::worker(self.clone(), None)),
            tokio::spawn(pull::worker(self.clone(), None)),
            // The express lane: small files only, so a voicemail never waits behind recordings.
            tokio::spawn(pull::worker(self.clone(), Some(pull::EXPRESS_MAX))),
            tokio::spawn(apply::trash_loop(self.clone())),
        ]
    }

    pub fn head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    async fn refresh_head(&self) {
        if let Ok(h) = self.journal.head().await {
            self.head.send_if_modified(|old| std::mem::replace(old, h) != h);
        }
    }

    pub fn role(&self) -> RoleState {
        self.role.get()
    }

    /// Waits until the box holds `role` (woken by a change, checked at least every second). A
    /// box that is still setting files aside after a reintegration holds no role for sync yet.
    async fn until_role(&self, role: Role) {
        loop {
            let r = self.role();
            if r.role == role && r.reintegrating.is_none() {
                return;
            }
            self.wait_for_change().await;
        }
    }

    /// Tells every loop that the role changed, so each starts or stops its part at once.
    pub fn role_changed(&self) {
        // Small changes queued as the backup are not this role's to wait for: a flag left set
        // would hold every large file this box serves to a chunk per 250 ms.
        self.way.clear();
        self.changed.notify_waiters();
    }

    /// Waits for a role or partner change, or a second at most.
    async fn wait_for_change(&self) {
        tokio::select! {
            _ = self.changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }

    /// The mutual-TLS client for `peer`, built once per partner certificate.
    pub fn client_for(&self, peer: &Peer) -> Result<reqwest::Client, Refusal> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((fp, c)) = guard.as_ref() {
            if *fp == peer.fingerprint {
                return Ok(c.clone());
            }
        }
        let c = crate::peer::client(&self.identity, &peer.fingerprint)?;
        *guard = Some((peer.fingerprint.clone(), c.clone()));
        Ok(c)
    }

    /// Called when the partner changes (pairing, unpairing): forget what was known of the old.
    pub fn peer_changed(&self) {
        self.tracker.forget_link();
        self.link.forget();
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.way.clear();
        self.changed.notify_waiters();
    }
}

/// Per-source tallies as they travel between the boxes.
pub fn wire_tallies(
    map: std::collections::HashMap<String, lbs_sync::journal::Tally>,
) -> Vec<lbs_protocol::SourceTally> {
    map.into_iter()
        .map(|(source, t)| lbs_protocol::SourceTally {
            source,
            files: t.files,
            bytes: t.bytes,
        })
        .collect()
}

/// A BLAKE3 hash from its hex form on the wire; `None` if it is not 64 hex digits.
pub fn decode_hash(text: &str) -> Option<[u8; 32]> {
    lbs_sync::serve::decode_hash(text).ok()
}
