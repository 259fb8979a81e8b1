//! SMART read outside the agent's sandbox. The agent is a long-running daemon on the network, so
//! its unit hides the disks and withholds the capabilities SMART needs (`PrivateDevices=true`, no
//! `CAP_SYS_RAWIO`). A oneshot unit with only what SMART needs and no network,
//! `lbs-agent-smart.service`, started by [`TIMER`] a minute after boot (or install) and then every
//! [`INTERVAL`], runs `lbs-agent smart snapshot`: [`take`] asks each whole disk (the inventory's
//! own listing and parser) and writes one [`Snapshot`] atomically to `<state_dir>/smart/disks.json`.
//!
//! The inventory reads that file at each round (every 5 minutes; it is small) through [`View`].
//! A fresh snapshot is preferred over the agent's own smartctl: it holds the same reading, taken
//! by a process that may open the disks, and the disks are then asked once, not twice. A disk
//! the snapshot does not cover falls back to the agent's own reading; when that is blocked, the
//! reason says what became of the timer (no snapshot, one that cannot be read, or one older than
//! [`STALE_AFTER`]) and `smart_unavailable` carries the fix ([`TIMER_FIX`]). A stale reading that
//! said a disk was failing or wearing out is kept as it was, with its own time: a disk does not
//! heal, and the box's alert must not end because the timer stopped (smartctl hanging on a dying
//! disk is one way it stops).
//!
//! The file's place is fixed ([`Location`]: the state directory, `smart`, `disks.json`): nothing
//! read from the snapshot takes part in a path, and the disk names in it are only compared with
//! the names `lsblk` gives the agent.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_protocol::{DiskInfo, DiskVerdict, Reading, SmartReport};
use serde::{Deserialize, Serialize};

use super::Unreadable;
use crate::clock::now_unix;
use crate::units::human_secs;

/// The timer that takes the snapshot, as an admin types it to `systemctl`.
pub const TIMER: &str = "lbs-agent-smart.timer";
/// How often the timer takes a snapshot (`OnUnitActiveSec=` in `packaging/lbs-agent-smart.timer`).
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// A snapshot older than this says the timer has stopped: the interval, and two hours for a
/// slow run, a box asleep or a missed round.
pub const STALE_AFTER: Duration = Duration::from_secs(INTERVAL.as_secs() + 2 * 3600);
/// How far ahead of this box's clock a snapshot may be dated (a clock stepped back a little).
const AHEAD: i64 = 300;
/// The snapshot's format; a file written in another is not read (the next run rewrites it).
pub const FORMAT: u32 = 1;
/// The most of the file read: a snapshot of a hundred disks is far smaller.
const MAX_BYTES: u64 = 1024 * 1024;

/// What to do when the disks' health comes neither from the agent (its unit hides the disks,
/// as packaged) nor from a recent snapshot.
pub const TIMER_FIX: &str = "check the timer that reads the disks' health for the agent: systemctl status \
     lbs-agent-smart.timer lbs-agent-smart.service (journalctl -u lbs-agent-smart says why a run failed); turn it \
     on with systemctl enable --now lbs-agent-smart.timer, and read the disks at once with systemctl start \
     lbs-agent-smart.service";

/// Where the snapshot is: `<state_dir>/smart/disks.json`, and nothing else.
#[derive(Debug, Clone)]
pub struct Location {
    dir: PathBuf,
}

impl Location {
    pub fn new(state_dir: &Path) -> Location {
        Location {
            dir: state_dir.join("smart"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join("disks.json")
    }
}

/// Every whole disk's health at one moment, as `lbs-agent smart snapshot` read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// When the disks were asked (Unix seconds).
    pub taken_unix: i64,
    /// The agent that took it.
    pub agent_version: String,
    pub disks: Vec<SnapshotDisk>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDisk {
    /// The kernel's name (`sda`), as `lsblk` gave it.
    pub name: String,
    /// So that a disk replaced under the same name is not given the old one's reading.
    pub serial: Option<String>,
    pub smart: Reading<SmartReport>,
}

impl Snapshot {
    /// The reading of `disk`: the same name, and the same serial number when both are known.
    fn of(&self, disk: &DiskInfo) -> Option<&Reading<SmartReport>> {
        self.disks
            .iter()
            .find(|d| {
                d.name == disk.name
                    && match (&d.serial, &disk.serial) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    }
            })
            .map(|d| &d.smart)
    }
}

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the disks could not be listed: {0}")]
    List(Unreadable),
    #[error("cannot write {path}: {source}{}", read_only_hint(source))]
    Write { path: PathBuf, source: std::io::Error },
}

fn read_only_hint(e: &std::io::Error) -> &'static str {
    if e.raw_os_error() == Some(libc::EROFS) {
        " (lbs-agent-smart.service may write only /var/lib/lbs-agent/smart: with another server.state_dir, give it \
         that folder with a drop-in: ReadWritePaths=<state_dir>/smart)"
    } else {
        ""
    }
}

/// Asks every whole disk for its health and writes the snapshot to `location`, atomically. A
/// disk asleep keeps the reading of the previous snapshot (it is not woken).
pub async fn take(location: &Location) -> Result<Snapshot, SnapshotError> {
    let disks = super::list_disks().await.map_err(SnapshotError::List)?;
    let previous = match load(location) {
        Loaded::Read(s) => Some(s),
        Loaded::Missing | Loaded::Unreadable(_) => None,
    };
    let mut read = Vec::new();
    for d in &disks {
        let before = previous.as_ref().and_then(|p| p.of(d)).cloned();
        read.push(SnapshotDisk {
            name: d.name.clone(),
            serial: d.serial.clone(),
            smart: super::ask_smart(&d.name, before).await,
        });
    }
    let snapshot = Snapshot {
        format: FORMAT,
        taken_unix: now_unix(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        disks: read,
    };
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| SnapshotError::Write { path, source }
    };
    crate::fsutil::create_private_dir(location.dir()).map_err(write_error(location.dir()))?;
    let file = location.file();
    let bytes = serde_json::to_vec_pretty(&snapshot).map_err(|e| SnapshotError::Write {
        path: file.clone(),
        source: e.into(),
    })?;
    crate::fsutil::write_atomic(&file, &bytes, false).map_err(write_error(&file))?;
    Ok(snapshot)
}

/// The snapshot file as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    Missing,
    /// It is there but cannot be used, and why, in words.
    Unreadable(String),
    Read(Snapshot),
}

/// Reads the snapshot at `location`; never fails: what is wrong with the file is a reason.
pub fn load(location: &Location) -> Loaded {
    let path = location.file();
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text));
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Missing,
        Err(e) => return Loaded::Unreadable(format!("cannot read {}: {e}", path.display())),
        Ok(n) if n as u64 > MAX_BYTES => {
            return Loaded::Unreadable(format!("{} is larger than a snapshot can be", path.display()))
        }
        Ok(_) => {}
    }
    let snapshot: Snapshot = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return Loaded::Unreadable(format!("{} is not a snapshot of the disks: {e}", path.display())),
    };
    if snapshot.format != FORMAT {
        return Loaded::Unreadable(format!(
            "{} is in format {}, this agent reads format {FORMAT} (the timer's next run writes it again)",
            path.display(),
            snapshot.format
        ));
    }
    if let Some(bad) = snapshot.disks.iter().find(|d| !kernel_name(&d.name)) {
        return Loaded::Unreadable(format!(
            "{} names a disk {:?}, which is no disk name of the kernel",
            path.display(),
            bad.name
        ));
    }
    Loaded::Read(snapshot)
}

/// A name `lsblk` can give a whole disk: `sda`, `nvme0n1`, `md127`, and `cciss/c0d0` for the
/// old Compaq arrays (a folder under `/dev`); never a way out of `/dev`.
fn kernel_name(name: &str) -> bool {
    !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The snapshot as the inventory sees it at one moment: what each disk's reading is.
#[derive(Debug, Clone)]
pub struct View {
    loaded: Loaded,
    file: PathBuf,
    now: i64,
}

impl View {
    /// Reads the snapshot at `location` as it stands at `now`.
    pub fn load(location: &Location, now: i64) -> View {
        View::of(load(location), location, now)
    }

    pub fn of(loaded: Loaded, location: &Location, now: i64) -> View {
        View {
            loaded,
            file: location.file(),
            now,
        }
    }

    /// The snapshot, when it is recent enough to stand for now.
    fn fresh(&self) -> Option<&Snapshot> {
        match &self.loaded {
            Loaded::Read(s) => {
                let age = self.now - s.taken_unix;
                (-AHEAD..=STALE_AFTER.as_secs() as i64).contains(&age).then_some(s)
            }
            _ => None,
        }
    }

    /// `disk`'s reading from a fresh snapshot; `None` when there is none, or it lacks the disk.
    pub fn reading(&self, disk: &DiskInfo) -> Option<Reading<SmartReport>> {
        self.fresh().and_then(|s| s.of(disk)).cloned()
    }

    /// What to show for `disk` when the agent's own reading is blocked (`own` says why): a stale
    /// failing or worn reading as it was, else why neither the agent nor the timer has it.
    pub fn instead(&self, disk: &DiskInfo, own: &str) -> Reading<SmartReport> {
        let snapshot = match &self.loaded {
            Loaded::Missing => {
                return Reading::unavailable(format!(
                    "{own}; {TIMER}, which reads the disks' health for the agent, has left no reading ({} does not \
                     exist)",
                    self.file.display()
                ))
            }
            Loaded::Unreadable(why) => {
                return Reading::unavailable(format!("{own}; the reading {TIMER} left cannot be used: {why}"))
            }
            Loaded::Read(s) => s,
        };
        let age = self.now - snapshot.taken_unix;
        let when = if age < -AHEAD {
            "dated ahead of this box's clock (was the clock set back?)".to_owned()
        } else {
            format!("{} old", human_secs(age.max(0) as u64))
        };
        if self.fresh().is_some() {
            return Reading::unavailable(format!(
                "{own}; the last reading by {TIMER} ({when}) does not list it: a disk added since is read at the \
                 timer's next run"
            ));
        }
        match snapshot.of(disk) {
            Some(Reading::Read { value }) if value.verdict != DiskVerdict::Good => {
                Reading::Read { value: value.clone() }
            }
            Some(r) => {
                let then = match r {
                    Reading::Read { .. } => "healthy then".to_owned(),
                    Reading::Unavailable { reason } => format!("then: {reason}"),
                };
                Reading::unavailable(format!(
                    "the last reading of /dev/{}'s health is {when} ({then}): {TIMER}, which reads it for the agent \
                     every hour, has not run since or fails",
                    disk.name
                ))
            }
            None => Reading::unavailable(format!(
                "{own}; the last reading by {TIMER}, {when}, does not list it, and the timer has not run since or \
                 fails"
            )),
        }
    }
}

/// Whether `reason` is about the timer or what it stands in for (the agent kept from the
/// disks): the fix is then [`TIMER_FIX`].
pub fn about_timer(reason: &str) -> bool {
    reason.contains(TIMER) || reason.contains(super::disks::SMART_BLOCKED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::disks;

    const NOW: i64 = 1_800_000_000;
    const OWN: &str = "/dev/sda is not visible to the agent: the agent may not read the disks' health here (its \
                       systemd unit hides the devices)";

    fn report(verdict: DiskVerdict, checked: i64) -> SmartReport {
        SmartReport {
            passed: verdict != DiskVerdict::Failing,
            verdict,
            reallocated_sectors: Some(0),
            pending_sectors: Some(if verdict == DiskVerdict::Failing { 8 } else { 0 }),
            uncorrectable_sectors: Some(0),
            nvme_critical_warning: None,
            nvme_media_errors: None,
            percentage_used: None,
            temperature_celsius: Some(31),
            power_on_hours: Some(20_000),
            checked_unix: checked,
        }
    }

    fn disk(name: &str, serial: Option<&str>) -> DiskInfo {
        DiskInfo {
            name: name.into(),
            model: None,
            serial: serial.map(Into::into),
            size_bytes: 1 << 40,
            rotational: true,
            transport: Some("sata".into()),
            smart: Reading::unavailable("not read yet"),
        }
    }

    fn snapshot(taken: i64, disks: Vec<SnapshotDisk>) -> Snapshot {
        Snapshot {
            format: FORMAT,
            taken_unix: taken,
            agent_version: "0.2.0".into(),
            disks,
        }
    }

    fn entry(name: &str, serial: Option<&str>, smart: Reading<SmartReport>) -> SnapshotDisk {
        SnapshotDisk {
            name: name.into(),
            serial: serial.map(Into::into),
            smart,
        }
    }

    /// The snapshot written where the agent reads it, and the view of it at `now`.
    fn written(dir: &Path, text: &str, now: i64) -> View {
        let at = Location::new(dir);
        std::fs::create_dir_all(at.dir()).unwrap();
        std::fs::write(at.file(), text).unwrap();
        View::load(&at, now)
    }

    fn reason(r: Reading<SmartReport>) -> String {
        match r {
            Reading::Unavailable { reason } => reason,
            Reading::Read { value } => panic!("read: {value:?}"),
        }
    }

    #[test]
    fn a_fresh_snapshot_gives_each_disk_its_reading_with_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let taken = NOW - 20 * 60;
        let s = snapshot(
            taken,
            vec![
                entry(
                    "sda",
                    Some("WD-1"),
                    Reading::Read {
                        value: report(DiskVerdict::Good, taken),
                    },
                ),
                entry(
                    "vda",
                    None,
                    Reading::unavailable("/dev/vda does not report SMART (a virtual disk)"),
                ),
            ],
        );
        let view = written(dir.path(), &serde_json::to_string(&s).unwrap(), NOW);
        let Some(Reading::Read { value }) = view.reading(&disk("sda", Some("WD-1"))) else {
            panic!()
        };
        assert_eq!((value.verdict, value.checked_unix), (DiskVerdict::Good, taken));
        assert_eq!(
            reason(view.reading(&disk("vda", None)).unwrap()),
            "/dev/vda does not report SMART (a virtual disk)"
        );
        // Another disk now under the same name, and a disk the snapshot does not list: not from it.
        assert_eq!(view.reading(&disk("sda", Some("WD-2"))), None);
        let added = reason(view.instead(&disk("sdb", None), OWN));
        assert!(added.starts_with(OWN), "{added}");
        assert!(added.contains("(20m old) does not list it"), "{added}");
        assert!(disks::smart_fix(&added)
            .unwrap()
            .contains("systemctl status lbs-agent-smart.timer"));
        // Dated a little ahead of this clock (a clock stepped back): still fresh.
        let ahead = written(
            dir.path(),
            &serde_json::to_string(&snapshot(NOW + 60, s.disks.clone())).unwrap(),
            NOW,
        );
        assert!(ahead.reading(&disk("vda", None)).is_some());
    }

    #[test]
    fn a_stale_snapshot_is_said_to_be_old_with_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let taken = NOW - 5 * 3600 - 120;
        let s = snapshot(
            taken,
            vec![
                entry(
                    "sda",
                    None,
                    Reading::Read {
                        value: report(DiskVerdict::Good, taken),
                    },
                ),
                entry(
                    "sdb",
                    None,
                    Reading::Read {
                        value: report(DiskVerdict::Failing, taken),
                    },
                ),
                entry("vda", None, Reading::unavailable("/dev/vda does not report SMART")),
            ],
        );
        let view = written(dir.path(), &serde_json::to_string(&s).unwrap(), NOW);
        assert_eq!(view.reading(&disk("sda", None)), None, "not as current");
        let old = reason(view.instead(&disk("sda", None), OWN));
        assert_eq!(
            old,
            "the last reading of /dev/sda's health is 5h 2m old (healthy then): lbs-agent-smart.timer, which reads \
             it for the agent every hour, has not run since or fails"
        );
        assert_eq!(disks::smart_fix(&old), Some(TIMER_FIX));
        let virtual_disk = reason(view.instead(&disk("vda", None), OWN));
        assert!(
            virtual_disk.contains("(then: /dev/vda does not report SMART)"),
            "{virtual_disk}"
        );
        // A failing disk stays failing, with the time it was read: it does not heal.
        let Reading::Read { value } = view.instead(&disk("sdb", None), OWN) else {
            panic!()
        };
        assert_eq!((value.verdict, value.checked_unix), (DiskVerdict::Failing, taken));
        // Just inside the limit it is fresh; just past it, stale.
        let limit = STALE_AFTER.as_secs() as i64;
        let text = serde_json::to_string(&snapshot(NOW - limit, s.disks.clone())).unwrap();
        assert!(written(dir.path(), &text, NOW).reading(&disk("sda", None)).is_some());
        assert!(written(dir.path(), &text, NOW + 1)
            .reading(&disk("sda", None))
            .is_none());
        // Far ahead of this clock: not fresh, and said so.
        let ahead = written(
            dir.path(),
            &serde_json::to_string(&snapshot(NOW + 86_400, s.disks)).unwrap(),
            NOW,
        );
        assert!(ahead.reading(&disk("sda", None)).is_none());
        assert!(reason(ahead.instead(&disk("sda", None), OWN)).contains("ahead of this box's clock"));
    }

    #[test]
    fn no_snapshot_or_a_malformed_one_is_a_plain_note_never_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let at = Location::new(dir.path());
        let missing = reason(View::load(&at, NOW).instead(&disk("sda", None), OWN));
        assert!(missing.starts_with(OWN), "{missing}");
        assert!(missing.contains("has left no reading"), "{missing}");
        assert!(missing.contains("smart/disks.json does not exist"), "{missing}");
        assert_eq!(disks::smart_fix(&missing), Some(TIMER_FIX));

        let cases = [
            ("{not json", "is not a snapshot of the disks"),
            ("", "is not a snapshot of the disks"),
            (
                r#"{"format": 1, "taken_unix": "yesterday", "agent_version": "x", "disks": []}"#,
                "invalid type",
            ),
            (
                r#"{"format": 9, "taken_unix": 1, "agent_version": "9.0.0", "disks": []}"#,
                "is in format 9, this agent reads format 1",
            ),
            (
                r#"{"format": 1, "taken_unix": 1800000000, "agent_version": "x", "disks": [{"name": "../../etc/shadow", "serial": null, "smart": {"state": "unavailable", "reason": "x"}}]}"#,
                "which is no disk name of the kernel",
            ),
        ];
        for (text, said) in cases {
            let view = written(dir.path(), text, NOW);
            assert_eq!(view.reading(&disk("sda", None)), None, "{text}");
            let why = reason(view.instead(&disk("sda", None), OWN));
            assert!(
                why.contains("the reading lbs-agent-smart.timer left cannot be used"),
                "{why}"
            );
            assert!(why.contains(said), "{text}: {why}");
        }
        // Binary noise, and a file far too large.
        std::fs::write(at.file(), [0xff, 0xfe, 0x00, 0x7b]).unwrap();
        assert!(matches!(load(&at), Loaded::Unreadable(_)));
        std::fs::write(at.file(), vec![b' '; MAX_BYTES as usize + 10]).unwrap();
        let Loaded::Unreadable(why) = load(&at) else { panic!() };
        assert!(why.contains("larger than a snapshot can be"), "{why}");
        // A folder where the file should be.
        std::fs::remove_file(at.file()).unwrap();
        std::fs::create_dir(at.file()).unwrap();
        assert!(matches!(load(&at), Loaded::Unreadable(_)));
    }

    #[test]
    fn the_file_is_always_the_one_place_under_the_state_directory() {
        let at = Location::new(Path::new("/var/lib/lbs-agent"));
        assert_eq!(at.file(), Path::new("/var/lib/lbs-agent/smart/disks.json"));
        // Names in the snapshot are only compared, never joined to a path: a kernel name passes,
        // nothing with a separator or a leading dot does.
        for ok in ["sda", "nvme0n1", "vda", "md127", "mmcblk0", "cciss/c0d0"] {
            assert!(kernel_name(ok), "{ok}");
        }
        for bad in ["", "..", "../sda", "sda/../../etc", "/dev/sda", "sda/", "sd a", "sda\0"] {
            assert!(!kernel_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_read_only_folder_says_which_drop_in_the_unit_needs() {
        let e = SnapshotError::Write {
            path: "/srv/lbs/smart/disks.json".into(),
            source: std::io::Error::from_raw_os_error(libc::EROFS),
        };
        let said = e.to_string();
        assert!(said.starts_with("cannot write /srv/lbs/smart/disks.json: "), "{said}");
        assert!(said.contains("ReadWritePaths=<state_dir>/smart"), "{said}");
        let denied = SnapshotError::Write {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(!denied.to_string().contains("ReadWritePaths"), "{denied}");
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let s = snapshot(
            NOW,
            vec![entry(
                "sda",
                Some("WD-1"),
                Reading::Read {
                    value: report(DiskVerdict::Worn, NOW),
                },
            )],
        );
        let dir = tempfile::tempdir().unwrap();
        let at = Location::new(dir.path());
        std::fs::create_dir_all(at.dir()).unwrap();
        crate::fsutil::write_atomic(&at.file(), &serde_json::to_vec_pretty(&s).unwrap(), false).unwrap();
        assert_eq!(load(&at), Loaded::Read(s));
    }
}
