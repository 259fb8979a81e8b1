//! The independent checker: it reads the boxes' files and asks the agents' public API, nothing
//! of the agents' insides. It keeps
//! - **acknowledged files**: at each checkpoint (the office settled after a fault), every file the
//!   writer closed on the primary since the last checkpoint (after a switchover, on the old
//!   primary too), and every file acknowledged before,
//!   must be on the primary and on the backup with one of the contents the writer wrote there
//!   (the backup gets a deadline to catch up). Once on both, a file is acknowledged; an
//!   acknowledged file the writer did not delete that is missing later is **lost**, one with a
//!   content the writer never wrote is **torn**. Likewise every deletion made on the primary
//!   (or acknowledged before) must be followed by both boxes; an acknowledged deletion found
//!   undone later (a deleted voicemail back) is counted and fails the soak.
//! - **two primaries** (`RolePoller`), by the role rules of docs/ARCHITECTURE.md (one writer:
//!   a box is primary at an epoch, epochs compare as (number, owner), a primary hearing a higher
//!   epoch steps down before it stops its PBX): both agents claiming the primary role at the same
//!   epoch, or the PBX running on both boxes at once, is a dual primary. (Both claiming it at
//!   different epochs is the moment a cut-off old primary has not heard of the new epoch yet: it
//!   is counted, not failed.)
//! - **quarantine**: every file a reintegrated box set aside is one the writer wrote on that box
//!   after the last acknowledgement before the failover (`account_quarantine`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lbs_protocol::{FailoverStatus, QuarantineList, Role};

use super::writer::{hex, Event, Ledger};
use crate::lab::{now_ms, Lab};
use crate::Agent;

/// How long the backup gets to hold what the primary wrote before a checkpoint.
pub const CATCH_UP: Duration = Duration::from_secs(180);

#[derive(Debug, Default)]
pub struct Checker {
    /// Path → when it was last verified on both boxes (its acknowledgement).
    pub acked: BTreeMap<String, u64>,
    /// (path, content) pairs seen on both boxes.
    pub verified: BTreeSet<(String, [u8; 32])>,
    pub last_ack_ms: u64,
    /// Paths whose deletion both boxes followed (until the writer writes them again).
    pub acked_gone: BTreeSet<String>,
    pub losses: Vec<String>,
    /// Acknowledged deletions undone: a file deleted on both boxes found again.
    pub undeleted: Vec<String>,
    pub torn: Vec<String>,
    pub quarantined: u64,
    pub unaccounted: Vec<String>,
    pub quarantine_seen: BTreeSet<(String, i64)>,
    /// Files written on a primary after the last acknowledgement and found nowhere after a
    /// failover (never acknowledged, so not a loss; the figure says what a failover costs).
    pub unacknowledged_gone: u64,
    pub checkpoints: u64,
}

fn hash_file(p: &Path) -> Option<[u8; 32]> {
    std::fs::read(p).ok().map(|b| *blake3::hash(&b).as_bytes())
}

/// The last event at `path` at or before `t_ms`.
fn state_at(events: &[Event], t_ms: u64) -> Option<&Event> {
    events.iter().rev().find(|e| match e {
        Event::Wrote { t_ms: t, .. } | Event::Deleted { t_ms: t, .. } | Event::Abandoned { t_ms: t, .. } => *t <= t_ms,
    })
}

impl Checker {
    /// A checkpoint with `primary`'s root and `backup`'s root, the office having settled at `cut_ms`.
    /// Err: what is missing or wrong once the deadline passed.
    /// What is judged: files and deletions acknowledged before, and those the writer made since
    /// the last checkpoint on the primary — and, after a planned switchover (`handed_over_by`:
    /// the old primary), on the box that handed over: a switchover loses nothing. (What a box
    /// wrote before an unplanned failover and nobody acknowledged is the quarantine's.)
    pub fn checkpoint(
        &mut self,
        ledger: &Mutex<Ledger>,
        primary: (&str, &Path),
        backup: &Path,
        cut_ms: u64,
        handed_over_by: Option<&str>,
    ) -> Result<usize, String> {
        let since = self.last_ack_ms;
        let fresh = |host: &str, t: u64| t > since && (host == primary.0 || Some(host) == handed_over_by);
        let expected: Vec<String> = {
            let l = ledger.lock().expect("ledger");
            l.by_path
                .iter()
                .filter_map(|(path, events)| match state_at(events, cut_ms) {
                    Some(Event::Wrote { host, t_ms, .. }) if fresh(host, *t_ms) || self.acked.contains_key(path) => {
                        Some(path.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        // Written again since its deletion: no longer a deletion to hold to.
        for path in &expected {
            self.acked_gone.remove(path);
        }
        // Deletions the backup must have followed too: made on this primary, or acknowledged.
        let gone: Vec<String> = {
            let l = ledger.lock().expect("ledger");
            l.by_path
                .iter()
                .filter_map(|(path, events)| match state_at(events, cut_ms) {
                    Some(Event::Deleted { host, t_ms, .. }) if fresh(host, *t_ms) || self.acked_gone.contains(path) => {
                        Some(path.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        let deadline = Instant::now() + CATCH_UP;
        let mut wrong: Vec<(String, String)>;
        loop {
            wrong = Vec::new();
            let l = ledger.lock().expect("ledger");
            for path in &gone {
                let rewritten = l
                    .by_path
                    .get(path)
                    .and_then(|es| es.last())
                    .is_some_and(|e| !matches!(e, Event::Deleted { .. }));
                for (side, root) in [("primary", primary.1), ("backup", backup)] {
                    if !rewritten && root.join(path).exists() {
                        wrong.push((path.clone(), format!("deleted, still on the {side}")));
                    }
                }
            }
            for path in &expected {
                if l.deleted_since(path, cut_ms) {
                    continue;
                }
                let versions = l.versions(path);
                for (side, root) in [("primary", primary.1), ("backup", backup)] {
                    match hash_file(&root.join(path)) {
                        Some(h) if versions.contains(&h) => {}
                        // Deleted by the writer while we looked: not ours to judge.
                        _ if l.deleted_since(path, cut_ms) => {}
                        Some(h) => wrong.push((path.clone(), format!("torn on the {side} ({})", hex(&h)))),
                        None => wrong.push((path.clone(), format!("missing on the {side}"))),
                    }
                }
            }
            drop(l);
            if wrong.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if !wrong.is_empty() {
            let mut lines = Vec::new();
            for (path, what) in &wrong {
                let acked = self.acked.contains_key(path) || self.acked_gone.contains(path);
                let line = format!("{path}: {what}{}", if acked { " (acknowledged)" } else { "" });
                if acked && what.starts_with("missing") {
                    self.losses.push(line.clone());
                } else if what.starts_with("torn") {
                    self.torn.push(line.clone());
                } else if acked && what.starts_with("deleted") {
                    self.undeleted.push(line.clone());
                }
                lines.push(line);
            }
            lines.truncate(20);
            return Err(format!(
                "{} of {} files not right {} s after the office settled:\n  {}",
                wrong.len(),
                expected.len(),
                CATCH_UP.as_secs(),
                lines.join("\n  ")
            ));
        }
        let l = ledger.lock().expect("ledger");
        for path in &expected {
            if let Some(h) = hash_file(&backup.join(path)) {
                self.verified.insert((path.clone(), h));
            }
            self.acked.insert(path.clone(), cut_ms);
        }
        for path in gone {
            self.acked_gone.insert(path);
        }
        // A path deleted by the writer is no longer anyone's to hold.
        self.acked.retain(|p, _| {
            !l.by_path
                .get(p)
                .and_then(|es| es.last())
                .is_some_and(|e| matches!(e, Event::Deleted { .. }))
        });
        self.last_ack_ms = cut_ms;
        self.checkpoints += 1;
        Ok(expected.len())
    }

    /// After an unplanned failover away from `old` (acknowledged up to `acked_before_ms`) and its
    /// reintegration: every new entry of `old`'s quarantine must be a file the writer wrote on
    /// `old` after that acknowledgement. Returns how many new entries there were.
    pub fn account_quarantine(
        &mut self,
        ledger: &Mutex<Ledger>,
        old: &str,
        entries: &QuarantineList,
        acked_before_ms: u64,
    ) -> usize {
        let l = ledger.lock().expect("ledger");
        let mut new = 0;
        for e in &entries.entries {
            if !self.quarantine_seen.insert((old.to_owned(), e.id)) {
                continue;
            }
            new += 1;
            self.quarantined += 1;
            let hash = hash_file(Path::new(&e.stored_at));
            // A configuration file caught under its temporary name counts as the file it became.
            let path = temp_target(&e.path).unwrap_or_else(|| e.path.clone());
            let ok = l.by_path.get(&path).is_some_and(|events| {
                events.iter().any(|ev| match ev {
                    Event::Wrote {
                        host, hash: h, t_ms, ..
                    } => host == old && *t_ms >= acked_before_ms && Some(*h) == hash,
                    // A recording caught unfinished: as far as it got.
                    Event::Abandoned {
                        host, prefixes, t_ms, ..
                    } => host == old && *t_ms >= acked_before_ms && hash.is_some_and(|h| prefixes.contains(&h)),
                    Event::Deleted { .. } => false,
                })
            });
            if !ok {
                self.unaccounted.push(format!(
                    "{} (set aside on box {old} at {}, stored at {}, content {})",
                    e.path,
                    e.quarantined_unix,
                    e.stored_at,
                    hash.map_or("unreadable".into(), |h| hex(&h))
                ));
            }
        }
        new
    }

    /// Files the writer closed on `old` after `acked_before_ms` (and did not delete) that are on
    /// neither box nor in `old`'s quarantine: counted.
    pub fn count_unacknowledged_gone(
        &mut self,
        ledger: &Mutex<Ledger>,
        old: &str,
        roots: [&Path; 2],
        entries: &QuarantineList,
        acked_before_ms: u64,
    ) {
        let quarantined: BTreeSet<String> = entries
            .entries
            .iter()
            .filter_map(|e| hash_file(Path::new(&e.stored_at)).map(|h| format!("{}:{}", e.path, hex(&h))))
            .collect();
        let l = ledger.lock().expect("ledger");
        for (path, events) in &l.by_path {
            let Some(Event::Wrote { host, hash, t_ms, .. }) = events.last() else {
                continue;
            };
            if host != old || *t_ms < acked_before_ms {
                continue;
            }
            let on_a_box = roots
                .iter()
                .any(|r| hash_file(&r.join(path)).is_some_and(|h| h == *hash));
            if !on_a_box && !quarantined.contains(&format!("{path}:{}", hex(hash))) {
                self.unacknowledged_gone += 1;
            }
        }
    }
}

fn temp_target(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let name = name.strip_prefix('.')?.strip_suffix(".new")?;
    Some(format!("{dir}/{name}"))
}

/// One agent's answer: role and epoch (number, owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub role: Role,
    pub epoch: u64,
    pub owner: String,
}

#[derive(Debug, Default, Clone)]
pub struct RoleReport {
    pub samples: u64,
    /// Samples where both agents claimed the primary role at the same epoch.
    pub same_epoch_primaries: u64,
    /// Samples where both boxes ran their PBX.
    pub both_pbx_running: u64,
    /// Samples where both claimed it at different epochs (a cut-off primary not yet stepped down).
    pub different_epoch_primaries: u64,
    pub examples: Vec<String>,
}

impl RoleReport {
    pub fn dual_primaries(&self) -> u64 {
        self.same_epoch_primaries + self.both_pbx_running
    }
}

/// Polls both agents' `GET /api/v1/failover` (from the phones' network) and the PBXs' process
/// files every 250 ms for as long as it runs.
pub struct RolePoller {
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<RoleReport>>,
    thread: Option<JoinHandle<()>>,
}

impl RolePoller {
    pub fn start(lab: &Lab, agents: [&Agent; 2]) -> RolePoller {
        let targets: Vec<(String, String, String, String)> = ["a", "b"]
            .iter()
            .zip(agents)
            .map(|(h, a)| {
                (
                    h.to_string(),
                    format!("https://{}:{}/api/v1/failover", lab.ip(h), a.port),
                    a.link.fingerprint.clone(),
                    a.link.token.clone(),
                )
            })
            .collect();
        let lab_dir = lab.dir.path().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(RoleReport::default()));
        let (flag, out) = (stop.clone(), report.clone());
        let thread = crate::netns::spawn_in(&lab.ns("phone"), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("poller runtime");
            rt.block_on(poll(targets, lab_dir, flag, out));
        });
        RolePoller {
            stop,
            report,
            thread: Some(thread),
        }
    }

    pub fn report(&self) -> RoleReport {
        self.report.lock().expect("role report").clone()
    }

    pub fn stop(&mut self) -> RoleReport {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.report()
    }
}

impl Drop for RolePoller {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn poll(
    targets: Vec<(String, String, String, String)>,
    lab_dir: PathBuf,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<RoleReport>>,
) {
    let clients: Vec<Option<reqwest::Client>> = targets
        .iter()
        .map(|(_, _, fp, _)| {
            let tls = lbs_tls::pinned_client_config(Some(fp.clone()), Default::default()).ok()?;
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(Duration::from_millis(400))
                .build()
                .ok()
        })
        .collect();
    let start = now_ms();
    while !stop.load(Ordering::SeqCst) {
        let t = now_ms();
        let mut claims = Vec::new();
        for ((_, url, _, token), client) in targets.iter().zip(&clients) {
            let Some(client) = client else { continue };
            let claim = async {
                let r = client.get(url).bearer_auth(token).send().await.ok()?;
                let f: FailoverStatus = r.json().await.ok()?;
                Some(Claim {
                    role: f.role,
                    epoch: f.epoch,
                    owner: f.epoch_owner,
                })
            }
            .await;
            claims.push(claim);
        }
        let pbx = ["a", "b"]
            .iter()
            .filter(|h| super::pbx_pid(&lab_dir, h).is_some())
            .count();
        {
            let mut r = out.lock().expect("role report");
            r.samples += 1;
            let at = (t - start) as f64 / 1000.0;
            if let [Some(x), Some(y)] = claims.as_slice() {
                if x.role == Role::Primary && y.role == Role::Primary {
                    if x.epoch == y.epoch {
                        r.same_epoch_primaries += 1;
                        if r.examples.len() < 20 {
                            r.examples.push(format!(
                                "at +{at:.1} s both agents primary at epoch {} ({x:?} / {y:?})",
                                x.epoch
                            ));
                        }
                    } else {
                        r.different_epoch_primaries += 1;
                    }
                }
            }
            if pbx == 2 {
                r.both_pbx_running += 1;
                if r.examples.len() < 20 {
                    r.examples
                        .push(format!("at +{at:.1} s the PBX runs on both boxes (claims {claims:?})"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET /api/v1/quarantine` of `agent` on box `host` (from the phones' network).
pub fn quarantine(lab: &Lab, host: &str, agent: &Agent) -> Result<QuarantineList, String> {
    let url = format!("https://{}:{}/api/v1/quarantine", lab.ip(host), agent.port);
    let (fp, token) = (agent.link.fingerprint.clone(), agent.link.token.clone());
    crate::netns::run_in(&lab.ns("phone"), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let tls = lbs_tls::pinned_client_config(Some(fp), Default::default()).map_err(|e| e.to_string())?;
            let client = reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            let r = client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("GET /api/v1/quarantine: {}", r.status()));
            }
            r.json::<QuarantineList>().await.map_err(|e| e.to_string())
        })
    })
}
