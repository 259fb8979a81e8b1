//! A month in an hour: the office lab (`crate::faults::Office`: two boxes on autopilot with the
//! witness's vote, kamailio, two phones) runs a PBX-like writer (`writer`) without pause while a
//! seeded scheduler (`scheduler`) injects faults at random, and an independent checker
//! (`checker`, reading only the boxes' files and the agents' public API) checks after every
//! fault that no acknowledged file was lost or torn, that there never were two primaries and
//! that every quarantined file is one the writer wrote after the last acknowledgement. Both
//! agents run on one accelerated wall clock (`clock`), so a month of retention and pruning runs
//! in an hour; `growth` samples memory, open files and the databases once per simulated day.
//! `tests/system/soak.rs` runs it (`scripts/soak.sh`).

pub mod checker;
pub mod clock;
pub mod growth;
pub mod scheduler;
pub mod writer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::faults::{Office, DEFAULTS};
use crate::lab::Strategy;

/// A small seeded generator (SplitMix64): the same seed replays the same faults and writes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// What the soak is asked to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// Real time the faults are injected for.
    pub minutes: f64,
    /// Simulated days that pass meanwhile.
    pub days: f64,
    /// Which lab (network namespaces `lbs<n>-*`).
    pub lab: u32,
    /// An older build of the agent both boxes start with; the first upgrade fault moves them to
    /// this build (its migrations run on the live state, the boxes on two versions meanwhile).
    /// `None`: every upgrade restarts this build.
    pub from: Option<PathBuf>,
}

impl Plan {
    /// How much faster than real time the agents' wall clock runs.
    pub fn speed(&self) -> f64 {
        (self.days * 86_400.0) / (self.minutes * 60.0)
    }
}

/// Size of each box's category root: a file system of its own, so a full disk can be made.
pub const ROOT_MB: u64 = 160;
/// How long a deleted file stays in the backup's trash, and a deletion in the journal.
pub const TRASH_RETENTION: &str = "2d";

/// The office the soak runs on: the lab office, its agents on the shared accelerated clock,
/// each box's voicemail root on a tmpfs of [`ROOT_MB`], the lab's own voicemail model off
/// (the soak's writer replaces it).
pub struct SoakOffice {
    pub office: Office,
    pub clock: clock::SimClock,
    pub mounts: Vec<PathBuf>,
}

impl SoakOffice {
    pub fn up(plan: &Plan) -> SoakOffice {
        let mut office = Office::up(plan.lab, Strategy::Vip, DEFAULTS, None);
        let clock = clock::SimClock::start(office.lab.dir.path().join("sim-clock"), plan.speed());
        for host in ["b", "a"] {
            let agent = if host == "a" { &mut office.a } else { &mut office.b };
            agent.stop();
        }
        for host in ["a", "b"] {
            pbx_sh(&office, "stop", host);
        }
        let mut mounts = Vec::new();
        for host in ["a", "b"] {
            let agent = if host == "a" { &mut office.a } else { &mut office.b };
            agent.env.retain(|(k, _)| k != "LBS_LAB_WRITER_DIR");
            crate::faults::fake_clock_in(agent, clock.file(), "+0");
            let root = agent.dir.path().join("voicemail");
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).expect("the voicemail root");
            mount_tmpfs(&root, ROOT_MB);
            mounts.push(root);
            let text = std::fs::read_to_string(&agent.config).expect("the agent's config");
            let text = text.replacen(
                "[sync]\n",
                &format!("[sync]\ntrash_retention = \"{TRASH_RETENTION}\"\n"),
                1,
            );
            std::fs::write(&agent.config, text).expect("write the agent's config");
            if let Some(older) = &plan.from {
                // The sync database as the older build makes it: this build's schema is newer
                // than it knows. Nothing is in it yet; pairing and tokens (agent.db) stay.
                for db in ["sync.db", "sync.db-wal", "sync.db-shm"] {
                    let _ = std::fs::remove_file(agent.state_dir().join(db));
                }
                agent.bin = Some(older.clone());
            }
        }
        office.a.start();
        office.b.start();
        SoakOffice { office, clock, mounts }
    }

    pub fn root(&self, host: &str) -> PathBuf {
        self.agent(host).dir.path().join("voicemail")
    }

    pub fn agent(&self, host: &str) -> &crate::Agent {
        if host == "a" {
            &self.office.a
        } else {
            &self.office.b
        }
    }

    pub fn agent_mut(&mut self, host: &str) -> &mut crate::Agent {
        if host == "a" {
            &mut self.office.a
        } else {
            &mut self.office.b
        }
    }
}

impl Drop for SoakOffice {
    fn drop(&mut self) {
        self.office.a.kill9();
        self.office.b.kill9();
        for host in ["a", "b"] {
            let _ = Command::new(crate::lab::lab_dir().join("pbx.sh"))
                .args(["stop", &self.office.lab.dir.path().display().to_string(), host])
                .status();
        }
        for m in &self.mounts {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

pub fn pbx_sh(office: &Office, action: &str, host: &str) {
    let ok = Command::new(crate::lab::lab_dir().join("pbx.sh"))
        .args([action, &office.lab.dir.path().display().to_string(), host])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pbx.sh {action} {host}");
}

fn mount_tmpfs(at: &Path, mb: u64) {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mb}m,mode=0755"), "lbs-soak"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot mount a tmpfs on {} (the soak needs root)", at.display());
}

/// The pid of the PBX (kamailio) running on box `host`, read from the files `pbx.sh` keeps
/// (no process started: the writer asks often).
pub fn pbx_pid(lab_dir: &Path, host: &str) -> Option<u32> {
    let text = std::fs::read_to_string(lab_dir.join(format!("pbx-{host}/pgid"))).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
    (comm.trim() == "kamailio" && !zombie).then_some(pid)
}

/// Waits out `d` (the pace of the faults, which is real time).
pub fn pause(d: Duration) {
    std::thread::sleep(d);
}
