//! What this box is made of — its inventory — and how it compares with its partner's.
//!
//! A backup must be the primary's twin: the same telephony card, a disk that holds the
//! primary's data, a healthy disk, the same PBX and categories. This module reads the box
//! ([`Inventory`] collects at start and every [`REFRESH`], SMART every [`SMART_REFRESH`], never
//! blocking anything: the readings run in their own task, each command with a time limit) and
//! keeps the partner's as last received; [`parity`] compares the two with pure rules.
//!
//! - Parsers, pure and tested on recorded outputs (`fixtures/`): [`cpu`] (`/proc/cpuinfo`),
//!   [`memory`] (`/proc/meminfo`), [`disks`] (`lsblk --json`, `smartctl --json`), [`net`]
//!   (`/sys/class/net`), [`telephony`] (`lspci -nn`, `/proc/dahdi`), [`system`]
//!   (`/etc/os-release`), [`pbx`] (`[pbx] version`, `asterisk -V` by default), [`categories`]
//!   (the sync categories' shape and digest), [`storage`] (each root's data and file system).
//! - Every part that cannot be read says why (`Reading::Unavailable`): a tool not installed, no
//!   permission, a virtual disk without SMART. None of it is an error of the agent.
//! - SMART comes from [`smart`]'s snapshot when it is fresh: the packaged agent may not open the
//!   disks, a timer's oneshot unit reads them for it.
//! - The exchange: each heartbeat carries a digest of the sender's inventory; when it differs
//!   from the one held, `failover` fetches `GET /peer/v1/inventory` and hands it here.

pub mod categories;
pub mod cpu;
pub mod disks;
pub mod memory;
pub mod net;
pub mod parity;
pub mod pbx;
pub mod smart;
pub mod storage;
pub mod system;
pub mod telephony;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lbs_protocol::{
    Difference, DifferenceCounts, MachineInventory, PairHealth, Reading, Role, SmartReport, TelephonyInfo,
};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::clock::now_unix;
use crate::command::{self, CommandError};
use crate::config::Config;
use crate::role::RoleReader;
use crate::sync::SyncEngine;

/// How often the inventory is read again (everything but SMART).
pub const REFRESH: Duration = Duration::from_secs(300);
/// How often the disks are asked for their health: smartctl wakes nothing (`--nocheck=standby`)
/// but is not free on a busy disk.
pub const SMART_REFRESH: Duration = Duration::from_secs(3600);
/// How long one command of the inventory may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// After a failed fetch of the partner's inventory, the next try waits this long.
const FETCH_RETRY: Duration = Duration::from_secs(60);

/// Why a part of the inventory could not be read, in plain words: it becomes the reason of a
/// `Reading::Unavailable`, never an error of the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

impl From<String> for Unreadable {
    fn from(s: String) -> Self {
        Unreadable(s)
    }
}

impl From<&str> for Unreadable {
    fn from(s: &str) -> Self {
        Unreadable(s.to_owned())
    }
}

/// A part read, or why not.
pub fn reading<T>(r: Result<T, Unreadable>) -> Reading<T> {
    match r {
        Ok(value) => Reading::Read { value },
        Err(why) => Reading::Unavailable { reason: why.0 },
    }
}

/// This box's inventory as last read, with its digest.
#[derive(Debug, Clone)]
pub struct Own {
    pub inventory: Arc<MachineInventory>,
    pub digest: String,
}

/// The partner's inventory as last received.
#[derive(Debug, Clone)]
pub struct Received {
    pub inventory: Arc<MachineInventory>,
    pub digest: String,
    pub received_unix: i64,
}

/// The last SMART reading of each disk, and when the disks were last asked.
#[derive(Default)]
struct SmartCache {
    readings: HashMap<String, Reading<SmartReport>>,
    asked: Option<Instant>,
}

#[derive(Default)]
struct PartnerState {
    received: Option<Received>,
    last_failure: Option<Instant>,
    /// The digest the heartbeat advertised when the running fetch began: what the fetched
    /// inventory is kept under (a digest computed here from a copy read by another version of
    /// the agent could differ, and would fetch again at every heartbeat).
    wanted: Option<String>,
}

pub struct Inventory {
    server_id: String,
    name: String,
    pbx_version: Vec<String>,
    sync_config: crate::config::SyncConfig,
    role: RoleReader,
    sync: Arc<SyncEngine>,
    own: watch::Sender<Option<Own>>,
    partner: Mutex<PartnerState>,
    fetching: AtomicBool,
    smart: Mutex<SmartCache>,
    /// Where `lbs-agent smart snapshot` leaves the disks' health.
    smart_snapshot: smart::Location,
    /// One collection at a time (the loop, and pairing that cannot wait for it).
    collecting: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A command's failure in plain words, with what to install when the program is missing.
fn command_problem(what: &[String], e: &CommandError, package: &str) -> String {
    let shown = what.join(" ");
    match e {
        CommandError::Start { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            if package.is_empty() {
                format!("`{shown}` could not be run: the program is not installed here")
            } else {
                format!(
                    "`{shown}` could not be run: the program is not installed here (install {package}: apt install {package})"
                )
            }
        }
        other => format!("`{shown}` failed: {other}"),
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Inventory {
    pub fn new(config: &Config, server_id: String, role: RoleReader, sync: Arc<SyncEngine>) -> Arc<Inventory> {
        Arc::new(Inventory {
            server_id,
            name: config.server.name.clone(),
            pbx_version: config.pbx.version.clone(),
            sync_config: config.sync.clone(),
            role,
            sync,
            own: watch::channel(None).0,
            partner: Mutex::new(PartnerState::default()),
            fetching: AtomicBool::new(false),
            smart: Mutex::new(SmartCache::default()),
            smart_snapshot: smart::Location::new(&config.server.state_dir),
            collecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads the box at once (SMART right after), then every [`REFRESH`].
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            // What is quick first, so the partner and pairing have it within a second or two.
            me.collect(false).await;
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // An interval's first tick is now: SMART follows at once, the next round in REFRESH.
            tick.tick().await;
            loop {
                me.collect(true).await;
                tick.tick().await;
            }
        })
    }

    /// This box's inventory as last read, if it has been read.
    pub fn current(&self) -> Option<Own> {
        self.own.borrow().clone()
    }

    /// The digest a heartbeat carries.
    pub fn digest(&self) -> Option<String> {
        self.own.borrow().as_ref().map(|o| o.digest.clone())
    }

    /// Changes whenever this box's inventory is read again.
    pub fn watch(&self) -> watch::Receiver<Option<Own>> {
        self.own.subscribe()
    }

    /// This box's inventory now: the last reading, or a reading made now (without SMART) if
    /// there is none yet — pairing right after the agent started cannot wait for the loop.
    pub async fn current_or_collect(&self) -> Arc<MachineInventory> {
        if let Some(own) = self.current() {
            return own.inventory;
        }
        self.collect(false).await
    }

    /// The sync categories' shape here (from the configuration, always known).
    pub fn categories(&self) -> lbs_protocol::CategoriesDigest {
        categories::digest(&self.sync_config)
    }

    /// The partner's inventory as last received.
    pub fn partner(&self) -> Option<Received> {
        lock(&self.partner).received.clone()
    }

    /// Whether a heartbeat's `digest` asks for a fetch of the partner's inventory now: it
    /// differs from the one held, no fetch runs, and the last one did not fail just now. A
    /// `true` answer marks a fetch as running: call [`Inventory::fetched`] when it ends.
    pub fn should_fetch(&self, digest: Option<&str>) -> bool {
        let Some(digest) = digest else { return false };
        {
            let p = lock(&self.partner);
            if p.received.as_ref().is_some_and(|r| r.digest == digest) {
                return false;
            }
            if p.last_failure.is_some_and(|t| t.elapsed() < FETCH_RETRY) {
                return false;
            }
        }
        let start = !self.fetching.swap(true, Ordering::SeqCst);
        if start {
            lock(&self.partner).wanted = Some(digest.to_owned());
        }
        start
    }

    /// The end of a fetch: the partner's inventory, or why it could not be had.
    pub fn fetched(&self, result: Result<MachineInventory, Unreadable>) {
        match result {
            Ok(inventory) => {
                let advertised = lock(&self.partner).wanted.take();
                self.keep_partner(inventory, advertised);
            }
            Err(why) => {
                tracing::debug!(problem = %why, "the partner's inventory could not be fetched");
                lock(&self.partner).last_failure = Some(Instant::now());
            }
        }
        self.fetching.store(false, Ordering::SeqCst);
    }

    /// Keeps `inventory` as the partner's (from pairing).
    pub fn set_partner(&self, inventory: MachineInventory) {
        self.keep_partner(inventory, None);
    }

    /// Keeps `inventory` under the digest its heartbeat `advertised` (else one computed here).
    fn keep_partner(&self, inventory: MachineInventory, advertised: Option<String>) {
        let digest = advertised.unwrap_or_else(|| digest_of(&inventory));
        let mut p = lock(&self.partner);
        p.received = Some(Received {
            inventory: Arc::new(inventory),
            digest,
            received_unix: now_unix(),
        });
        p.last_failure = None;
    }

    /// Forgets the partner's inventory (unpaired, or paired with another box).
    pub fn forget_partner(&self) {
        *lock(&self.partner) = PartnerState::default();
    }

    /// Reads the whole box now (SMART too when `smart` and it is due) and publishes it.
    pub async fn collect(&self, smart: bool) -> Arc<MachineInventory> {
        let _one = self.collecting.lock().await;
        let started = Instant::now();
        let disks = self.disks(smart).await;
        let telephony = self.telephony().await;
        let pbx = self.pbx().await;
        let storage = self.storage().await;
        let inventory = MachineInventory {
            server_id: self.server_id.clone(),
            name: self.name.clone(),
            role: self.role.get().role,
            collected_unix: now_unix(),
            agent_version: env!("CARGO_PKG_VERSION").into(),
            api_version: lbs_protocol::API_VERSION,
            cpu: reading(read_text("/proc/cpuinfo").and_then(|t| cpu::parse(&t))),
            memory: reading(read_text("/proc/meminfo").and_then(|t| memory::parse(&t))),
            disks,
            network: reading(net::read(Path::new("/sys/class/net"))),
            telephony,
            system: reading(system::read()),
            pbx,
            categories: self.categories(),
            storage,
        };
        let digest = digest_of(&inventory);
        let inventory = Arc::new(inventory);
        let changed = self.digest().as_deref() != Some(digest.as_str());
        self.own.send_replace(Some(Own {
            inventory: inventory.clone(),
            digest,
        }));
        tracing::debug!(
            took_ms = started.elapsed().as_millis() as u64,
            changed,
            "inventory read"
        );
        inventory
    }

    /// The whole disks with their health: from a fresh snapshot of the timer (read at every
    /// round), else the agent's own smartctl (every [`SMART_REFRESH`]); when the agent may not
    /// open a disk, what became of the timer.
    async fn disks(&self, smart_wanted: bool) -> Reading<Vec<lbs_protocol::DiskInfo>> {
        let mut list = match list_disks().await {
            Ok(list) => list,
            Err(why) => return Reading::unavailable(why.0),
        };
        let snapshot = smart::View::load(&self.smart_snapshot, now_unix());
        let own: Vec<lbs_protocol::DiskInfo> = list.iter().filter(|d| snapshot.reading(d).is_none()).cloned().collect();
        let due = {
            let cache = lock(&self.smart);
            cache.asked.is_none_or(|t| t.elapsed() >= SMART_REFRESH)
                || own.iter().any(|d| !cache.readings.contains_key(&d.name))
        };
        if smart_wanted && due && !own.is_empty() {
            self.read_smart(&own).await;
        }
        let cache = lock(&self.smart);
        for d in &mut list {
            if let Some(from_snapshot) = snapshot.reading(d) {
                d.smart = from_snapshot;
                continue;
            }
            d.smart = match cache.readings.get(&d.name) {
                Some(Reading::Unavailable { reason }) if disks::blocked(reason) => snapshot.instead(d, reason),
                Some(reading) => reading.clone(),
                None => Reading::unavailable(if cache.asked.is_none() {
                    "not read yet: the disks are asked for their health a moment after the agent starts"
                } else {
                    "not read yet"
                }),
            };
        }
        Reading::Read { value: list }
    }

    /// Asks each disk for its health (one at a time: each may take a few seconds).
    async fn read_smart(&self, list: &[lbs_protocol::DiskInfo]) {
        let mut readings = HashMap::new();
        for d in list {
            let before = lock(&self.smart).readings.get(&d.name).cloned();
            readings.insert(d.name.clone(), ask_smart(&d.name, before).await);
        }
        *lock(&self.smart) = SmartCache {
            readings,
            asked: Some(Instant::now()),
        };
    }

    async fn telephony(&self) -> TelephonyInfo {
        let lspci = words(telephony::LSPCI);
        let cards = match command::output(&lspci, COMMAND_TIMEOUT).await {
            Ok(o) if o.success => Reading::Read {
                value: telephony::parse_lspci(&o.stdout),
            },
            Ok(o) => Reading::unavailable(format!("`lspci -nn` failed ({}): {}", o.status, o.stderr)),
            Err(e) => Reading::unavailable(command_problem(&lspci, &e, "pciutils")),
        };
        let (spans, dahdi_loaded) = read_dahdi(Path::new("/proc/dahdi"));
        TelephonyInfo {
            cards,
            spans,
            dahdi_loaded,
        }
    }

    async fn pbx(&self) -> Reading<lbs_protocol::PbxVersion> {
        if self.pbx_version.is_empty() {
            return Reading::unavailable("not asked: [pbx] version is empty in the configuration");
        }
        match command::output(&self.pbx_version, COMMAND_TIMEOUT).await {
            Ok(o) if o.success => reading(pbx::parse(&o.stdout)),
            Ok(o) => Reading::unavailable(format!(
                "`{}` failed ({}): {}",
                self.pbx_version.join(" "),
                o.status,
                if o.stderr.is_empty() {
                    command::tail(&o.stdout, 200)
                } else {
                    o.stderr
                }
            )),
            Err(e) => Reading::unavailable(command_problem(&self.pbx_version, &e, "")),
        }
    }

    async fn storage(&self) -> Reading<Vec<lbs_protocol::RootStorage>> {
        let held = match crate::sync::status::held_per_source(&self.sync).await {
            Ok(map) => map
                .into_iter()
                .map(|(k, t)| (k, (t.files, t.bytes)))
                .collect::<HashMap<_, _>>(),
            Err(e) => return Reading::unavailable(format!("the sync database could not be read: {e}")),
        };
        let list: Vec<(String, usize, PathBuf)> = self
            .sync_config
            .categories
            .iter()
            .flat_map(|c| c.roots.iter().enumerate().map(|(i, r)| (c.name.clone(), i, r.clone())))
            .collect();
        // statvfs on a hung network mount blocks: off the runtime's threads.
        let measured = tokio::task::spawn_blocking(move || {
            let mounts = read_text("/proc/self/mounts")
                .map(|t| storage::parse_mounts(&t))
                .unwrap_or_default();
            let roots: Vec<storage::Root<'_>> = list
                .iter()
                .map(|(category, index, path)| storage::Root {
                    category,
                    index: *index,
                    path,
                })
                .collect();
            storage::roots(&roots, &held, &mounts, crate::platform::disk_space)
        });
        match tokio::time::timeout(COMMAND_TIMEOUT, measured).await {
            Ok(Ok(list)) => Reading::Read { value: list },
            Ok(Err(e)) => Reading::unavailable(format!("the space of the data folders could not be read: {e}")),
            Err(_) => Reading::unavailable(
                "the space of the data folders did not answer within 30 s (a network file system that hangs?)",
            ),
        }
    }
}

/// The whole disks `lsblk` lists, their health not read yet.
pub async fn list_disks() -> Result<Vec<lbs_protocol::DiskInfo>, Unreadable> {
    match command::output(&words(disks::LSBLK), COMMAND_TIMEOUT).await {
        Ok(o) if o.success => disks::parse_lsblk(&o.stdout),
        Ok(o) => Err(format!("`lsblk` failed ({}): {}", o.status, o.stderr).into()),
        Err(e) => Err(command_problem(&words(disks::LSBLK), &e, "util-linux").into()),
    }
}

/// One disk's health by `smartctl` (see [`disks::smartctl_command`]); a disk asleep keeps
/// `before`, its previous reading, and is not woken.
pub async fn ask_smart(name: &str, before: Option<Reading<SmartReport>>) -> Reading<SmartReport> {
    if !Path::new("/dev").join(name).exists() {
        return Reading::unavailable(disks::hidden(name));
    }
    let cmd = disks::smartctl_command(name);
    match command::output(&cmd, COMMAND_TIMEOUT).await {
        Ok(o) => match disks::parse_smartctl(name, &o.stdout, now_unix()) {
            disks::Smart::Read(r) => Reading::Read { value: r },
            disks::Smart::Asleep => {
                before.unwrap_or_else(|| Reading::unavailable("the disk was asleep; it is read at the next round"))
            }
            disks::Smart::Unavailable(why) => Reading::unavailable(why),
        },
        Err(CommandError::Start { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Reading::unavailable(disks::SMARTCTL_MISSING)
        }
        Err(e) => Reading::unavailable(command_problem(&cmd, &e, "")),
    }
}

fn read_text(path: &str) -> Result<String, Unreadable> {
    std::fs::read_to_string(path).map_err(|e| Unreadable(format!("cannot read {path}: {e}")))
}

/// DAHDI's spans under `dir` (`/proc/dahdi`, one file per span): not loaded is normal.
pub fn read_dahdi(dir: &Path) -> (Reading<Vec<lbs_protocol::DahdiSpan>>, bool) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Reading::Read { value: Vec::new() }, false),
        Err(e) => {
            return (
                Reading::unavailable(format!("cannot list {}: {e}", dir.display())),
                true,
            )
        }
    };
    let mut spans: Vec<lbs_protocol::DahdiSpan> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| telephony::parse_span(&t))
        .collect();
    spans.sort_by_key(|s| s.number);
    (Reading::Read { value: spans }, true)
}

/// What identifies an inventory's content: its JSON without the time it was read and without
/// the role (which the heartbeat carries, and each side sets to the role held now).
pub fn digest_of(inventory: &MachineInventory) -> String {
    let mut copy = inventory.clone();
    copy.collected_unix = 0;
    copy.role = Role::Primary;
    let bytes = serde_json::to_vec(&copy).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..16])
}

/// Why the partner's inventory is missing or may be old (`None` when it is current): `name` is
/// the partner's, `reachable` whether its heartbeat answers, `older_agent` whether it runs an
/// agent that sends no inventory digest.
pub fn partner_note(name: &str, reachable: bool, received: Option<&Received>, older_agent: bool) -> Option<String> {
    match received {
        Some(_) if reachable => None,
        Some(r) => Some(format!(
            "{name} does not answer now: its inventory is the one received {} ago.",
            crate::units::human_secs((now_unix() - r.received_unix).max(0) as u64)
        )),
        None if !reachable => Some(format!(
            "{name} does not answer, and its inventory has not been received yet."
        )),
        None if older_agent => Some(format!(
            "{name} runs an older lbs-agent that does not report its hardware: upgrade it to compare the two \
             machines."
        )),
        None => Some(format!(
            "{name}'s inventory has not been received yet; it comes within seconds."
        )),
    }
}

/// Both machines side by side and what differs, for `GET /api/v1/health`. `this` and
/// `partner` carry the roles the boxes hold now; the primary is the reference. Without a
/// partner, only what is wrong with this box alone.
pub fn health(this: MachineInventory, partner: Option<MachineInventory>, partner_note: Option<String>) -> PairHealth {
    let differences: Vec<Difference> = match &partner {
        None => parity::alone(&this),
        Some(p) if this.role == Role::Primary || p.role == Role::Backup => parity::differences(&this, p),
        Some(p) => parity::differences(p, &this),
    };
    PairHealth {
        counts: DifferenceCounts::of(&differences),
        this,
        partner,
        partner_note,
        differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dahdi_not_loaded_is_normal_and_spans_are_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (spans, loaded) = read_dahdi(&dir.path().join("dahdi"));
        assert_eq!(spans, Reading::Read { value: Vec::new() });
        assert!(!loaded);
        let proc = dir.path().join("dahdi");
        std::fs::create_dir(&proc).unwrap();
        std::fs::write(proc.join("2"), include_str!("fixtures/proc-dahdi-span-red.txt")).unwrap();
        std::fs::write(proc.join("1"), include_str!("fixtures/proc-dahdi-span-up.txt")).unwrap();
        std::fs::write(proc.join("ctl"), "not a span").unwrap();
        let (spans, loaded) = read_dahdi(&proc);
        assert!(loaded);
        let numbers: Vec<u32> = spans.value().unwrap().iter().map(|s| s.number).collect();
        assert_eq!(numbers, [1, 2]);
    }
}
