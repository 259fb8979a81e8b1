//! The pair's maintenance mode: a technician's "I am working on it", set on either box for both.
//! While it is on, the alerts the work causes are held and no automatic action is taken (every
//! automatic action must check [`MaintenanceState::active_now`]); the sync keeps running. It
//! always ends by itself at `until_unix`.
//!
//! This module is the record: the setting's limits, the rule by which two boxes' records are
//! merged, and the durable file (`maintenance.json`, written like the role file). Spreading it —
//! telling the partner, adopting what its heartbeats carry, the timer, the audit log — is in
//! `failover::maintenance`, where the heartbeat lives.
//!
//! Why a record with its end rather than "on" or "off": an end must travel to a partner that was
//! away like a start does. Each box keeps the latest setting it knows of and whether (and when)
//! it ended; of two records, the one whose last change is later wins, and an end wins over the
//! start of the same setting. Merging is then the same in any order, so the boxes converge.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lbs_protocol::{Maintenance, MaintenanceEnd, MaintenanceRecord};
use tokio::sync::watch;

use crate::clock::now_unix;
use crate::fsutil;
use crate::refusal::Refusal;

/// The shortest maintenance: shorter would end before the work has begun.
pub const MIN_SECS: u64 = 60;
/// The longest: a maintenance forgotten overnight still ends by the next morning's calls.
pub const MAX_SECS: u64 = 24 * 3600;
/// The longest reason, in characters.
pub const MAX_REASON: usize = 200;
/// The longest name of who does the work, in characters.
pub const MAX_BY: usize = 100;

pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("maintenance.json")
}

/// "1 minute", "2 hours 30 minutes": a length as a person says it.
fn length(secs: u64) -> String {
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    match (h, m) {
        (0, 0) => unit(secs, "second"),
        (0, m) => unit(m, "minute"),
        (h, 0) => unit(h, "hour"),
        (h, m) => format!("{} {}", unit(h, "hour"), unit(m, "minute")),
    }
}

/// A piece of text a person typed, trimmed: required, at most `max` characters, on one line.
fn text(what: &str, value: &str, max: usize) -> Result<String, Refusal> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Refusal::bad_request(format!(
            "{what} is required: say in a few words what the work is, e.g. \"replacing the disk of PBX A\""
        )));
    }
    if value.chars().count() > max {
        return Err(Refusal::bad_request(format!(
            "{what} is too long: at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Refusal::bad_request(format!(
            "{what} must be one line of text, without tabs or control characters"
        )));
    }
    Ok(value.to_owned())
}

/// A new setting from a request: from `now` for `for_secs`, checked. `by` is who does the work.
pub fn setting(for_secs: u64, reason: &str, by: &str, now: i64) -> Result<Maintenance, Refusal> {
    if for_secs < MIN_SECS {
        return Err(Refusal::bad_request(format!(
            "{} is too short: a maintenance lasts at least 1 minute (and at most 24 hours)",
            length(for_secs)
        )));
    }
    if for_secs > MAX_SECS {
        return Err(Refusal::bad_request(format!(
            "{} is too long: a maintenance lasts at most 24 hours, so that a forgotten one still ends; \
             start a new one when it ends if the work takes longer",
            length(for_secs)
        )));
    }
    let reason = text("The reason", reason, MAX_REASON)?;
    let set_by = text("Who does the work", by, MAX_BY)?;
    Ok(Maintenance {
        until_unix: now + for_secs as i64,
        reason,
        set_by,
        set_at_unix: now,
    })
}

/// The name of who ends a maintenance, checked like who starts one.
pub fn who(by: &str) -> Result<String, Refusal> {
    text("Who ends it", by, MAX_BY)
}

/// A record from the partner, checked like a person's request (it came over mutual TLS, but a
/// record this box keeps and shows must still be one line of bounded text).
pub fn check_record(r: &MaintenanceRecord) -> Result<(), Refusal> {
    text("The reason", &r.setting.reason, MAX_REASON)?;
    text("Who does the work", &r.setting.set_by, MAX_BY)?;
    if let Some(by) = r.ended.as_ref().and_then(|e| e.by.as_deref()) {
        text("Who ended it", by, MAX_BY)?;
    }
    Ok(())
}

/// When a record last changed: its end, or its start.
fn changed_at(r: &MaintenanceRecord) -> i64 {
    r.ended.as_ref().map_or(r.setting.set_at_unix, |e| e.at_unix)
}

/// The order of records: the later last change wins; at the same second the later setting, then
/// an end over the start of the same setting; the rest only makes the order total, so both boxes
/// pick the same record.
type Rank<'a> = (i64, i64, bool, i64, &'a str, &'a str, Option<&'a str>);

fn rank(r: &MaintenanceRecord) -> Rank<'_> {
    let s = &r.setting;
    (
        changed_at(r),
        s.set_at_unix,
        r.ended.is_some(),
        s.until_unix,
        s.set_by.as_str(),
        s.reason.as_str(),
        r.ended.as_ref().and_then(|e| e.by.as_deref()),
    )
}

/// Whether `r` is on at `now`.
fn is_on(r: &MaintenanceRecord, now: i64) -> bool {
    r.ended.is_none() && now < r.setting.until_unix
}

/// `r` as of `now`: a setting whose time has passed has ended by itself, at its time.
fn settled(mut r: MaintenanceRecord, now: i64) -> MaintenanceRecord {
    if r.ended.is_none() && now >= r.setting.until_unix {
        r.ended = Some(MaintenanceEnd {
            at_unix: r.setting.until_unix,
            by: None,
        });
    }
    r
}

/// What a change to the record means on this box, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Maintenance began, or `replaced` one that was on with a new setting.
    Started {
        setting: Maintenance,
        replaced: Option<Maintenance>,
    },
    /// The maintenance `setting` ended, as `end` says.
    Ended { setting: Maintenance, end: MaintenanceEnd },
}

fn when(t: i64) -> String {
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(t.max(0) as u64))
        .map(|st| humantime::format_rfc3339_seconds(st).to_string())
        .unwrap_or_default()
}

impl Change {
    /// The audit entry's message; `from` names the partner when the change came from it.
    pub fn message(&self, from: Option<&str>) -> String {
        let on = from.map_or(String::new(), |p| format!(" on {p}"));
        match self {
            Change::Started { setting: s, replaced } => {
                let what = match replaced {
                    None => "maintenance for the pair".to_owned(),
                    Some(old) => format!(
                        "maintenance for the pair changed (it was until {}, set by {})",
                        when(old.until_unix),
                        old.set_by
                    ),
                };
                format!(
                    "{what}: set{on} by {} until {} ({}); alerts about the work are held and no \
                     automatic action is taken; the copy keeps running",
                    s.set_by,
                    when(s.until_unix),
                    length((s.until_unix - s.set_at_unix).max(0) as u64),
                )
            }
            Change::Ended { setting: s, end } => match &end.by {
                Some(by) => format!(
                    "maintenance ended{on} by {by} (set by {} until {})",
                    s.set_by,
                    when(s.until_unix)
                ),
                None => format!(
                    "maintenance ended: its time ran out at {} (set by {})",
                    when(s.until_unix),
                    s.set_by
                ),
            },
        }
    }

    /// The setting it concerns (its reason goes into the audit entry's reason).
    pub fn setting(&self) -> &Maintenance {
        match self {
            Change::Started { setting, .. } | Change::Ended { setting, .. } => setting,
        }
    }
}

/// What taking `next` in place of `old` changes at `now`. `old` counts as on until it is
/// recorded as ended: one whose time has just run out still has its end to record.
fn change(old: Option<&MaintenanceRecord>, next: &MaintenanceRecord, now: i64) -> Option<Change> {
    let was = old.filter(|o| o.ended.is_none()).map(|o| &o.setting);
    match (was, is_on(next, now)) {
        (None, false) => None,
        (Some(w), true) if *w == next.setting => None,
        (w, true) => Some(Change::Started {
            setting: next.setting.clone(),
            replaced: w.cloned(),
        }),
        (Some(w), false) => Some(Change::Ended {
            setting: w.clone(),
            end: next.ended.clone().unwrap_or(MaintenanceEnd {
                at_unix: next.setting.until_unix,
                by: None,
            }),
        }),
    }
}

/// The pair's maintenance as this box knows it: the latest record, on disk and in memory, and a
/// watch of what is on now.
pub struct MaintenanceState {
    path: PathBuf,
    record: Mutex<Option<MaintenanceRecord>>,
    on: watch::Sender<Option<Maintenance>>,
}

impl MaintenanceState {
    /// Reads the record in `state_dir`. A missing file is no maintenance; a damaged one is
    /// logged and read as none (it never keeps the agent from starting), and replaced by the
    /// next change.
    pub fn open(state_dir: &Path) -> MaintenanceState {
        let path = path(state_dir);
        let record = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Option<MaintenanceRecord>>(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "the maintenance file is damaged: read as no maintenance");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot read the maintenance file: read as no maintenance");
                None
            }
        };
        let now = now_unix();
        let on = record.as_ref().filter(|r| is_on(r, now)).map(|r| r.setting.clone());
        MaintenanceState {
            path,
            record: Mutex::new(record),
            on: watch::channel(on).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MaintenanceRecord>> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest record (on or ended), as the heartbeat carries it.
    pub fn record(&self) -> Option<MaintenanceRecord> {
        self.lock().clone()
    }

    /// The maintenance on at `now`, if any.
    pub fn active(&self, now: i64) -> Option<Maintenance> {
        self.lock()
            .as_ref()
            .filter(|r| is_on(r, now))
            .map(|r| r.setting.clone())
    }

    /// The maintenance on now, if any: what an automatic action checks before it acts.
    pub fn active_now(&self) -> Option<Maintenance> {
        self.active(now_unix())
    }

    /// What is on, as it changes (`None` when off): for loops that hold back while it is on.
    pub fn watch(&self) -> watch::Receiver<Option<Maintenance>> {
        self.on.subscribe()
    }

    /// When the record in force ends by itself, while it has not ended yet.
    pub fn next_end(&self) -> Option<i64> {
        self.lock()
            .as_ref()
            .filter(|r| r.ended.is_none())
            .map(|r| r.setting.until_unix)
    }

    /// Persists `next` and makes it the record; `Err` leaves the record as it was.
    fn put(
        &self,
        guard: &mut Option<MaintenanceRecord>,
        next: MaintenanceRecord,
        now: i64,
    ) -> Result<Option<Change>, Refusal> {
        let bytes = serde_json::to_vec_pretty(&Some(&next)).map_err(Refusal::internal)?;
        fsutil::write_atomic(&self.path, &bytes, false)
            .map_err(|e| Refusal::internal(format!("cannot record the maintenance in {}: {e}", self.path.display())))?;
        let change = change(guard.as_ref(), &next, now);
        let on = is_on(&next, now).then(|| next.setting.clone());
        *guard = Some(next);
        self.on.send_replace(on);
        Ok(change)
    }

    /// Starts `setting` (from [`setting`]) on this box, replacing any that is on.
    pub fn start(&self, mut setting: Maintenance, now: i64) -> Result<Option<Change>, Refusal> {
        let mut guard = self.lock();
        // A record adopted from a partner whose clock runs ahead may carry a later time than
        // this box's now: the new setting must still rank above it, or the next heartbeat would
        // bring the old one back.
        if let Some(current) = guard.as_ref() {
            setting.set_at_unix = setting.set_at_unix.max(changed_at(current) + 1);
        }
        self.put(&mut guard, MaintenanceRecord { setting, ended: None }, now)
    }

    /// Ends the maintenance on now, by `by`; `None` when none is on.
    pub fn end(&self, by: &str, now: i64) -> Result<Option<Change>, Refusal> {
        let mut guard = self.lock();
        let Some(current) = guard.as_ref().filter(|r| is_on(r, now)).cloned() else {
            return Ok(None);
        };
        let ended = MaintenanceRecord {
            ended: Some(MaintenanceEnd {
                at_unix: now.max(current.setting.set_at_unix),
                by: Some(by.to_owned()),
            }),
            ..current
        };
        self.put(&mut guard, ended, now)
    }

    /// Takes the partner's record if it wins over this box's; `None` when nothing changes here.
    pub fn adopt(&self, theirs: MaintenanceRecord, now: i64) -> Result<Option<Change>, Refusal> {
        check_record(&theirs)?;
        let theirs = settled(theirs, now);
        let mut guard = self.lock();
        if guard.as_ref().is_some_and(|ours| rank(ours) >= rank(&theirs)) {
            return Ok(None);
        }
        self.put(&mut guard, theirs, now)
    }

    /// Ends by itself a maintenance whose time has come. If the record cannot be written, the
    /// maintenance still ends here (the time has run out whatever the disk says); a restart
    /// ends it again from the file.
    pub fn expire(&self, now: i64) -> Option<Change> {
        let mut guard = self.lock();
        let current = guard.clone()?;
        if current.ended.is_some() || now < current.setting.until_unix {
            return None;
        }
        let ended = settled(current, now);
        match self.put(&mut guard, ended.clone(), now) {
            Ok(change) => change,
            Err(e) => {
                tracing::error!(error = %e, "maintenance ended, but the end could not be recorded");
                let change = change(guard.as_ref(), &ended, now);
                *guard = Some(ended);
                self.on.send_replace(None);
                change
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(at: i64, secs: u64, by: &str) -> Maintenance {
        setting(secs, "replacing the disk", by, at).unwrap()
    }

    fn state() -> (tempfile::TempDir, MaintenanceState) {
        let dir = tempfile::tempdir().unwrap();
        let s = MaintenanceState::open(dir.path());
        (dir, s)
    }

    #[test]
    fn a_setting_lasts_one_minute_to_a_day_and_needs_a_reason_on_one_line() {
        let refused = |secs, reason: &str| setting(secs, reason, "Sam", 0).unwrap_err().message;
        assert!(
            refused(0, "disk").contains("0 seconds is too short"),
            "{}",
            refused(0, "disk")
        );
        assert!(refused(59, "disk").contains("at least 1 minute"));
        assert!(refused(25 * 3600, "disk").contains("25 hours is too long"));
        assert!(refused(60, "  ").contains("reason is required"));
        assert!(refused(60, "disk\nand more").contains("one line"));
        assert!(refused(60, &"x".repeat(MAX_REASON + 1)).contains("at most 200 characters"));
        let m = setting(MAX_SECS, "  new disk ", "Sam", 100).unwrap();
        assert_eq!(
            (m.until_unix, m.reason.as_str(), m.set_at_unix),
            (100 + 86_400, "new disk", 100)
        );
        assert!(setting(60, "disk", "", 0)
            .unwrap_err()
            .message
            .contains("Who does the work"));
    }

    #[test]
    fn it_is_on_until_its_time_and_then_ends_by_itself() {
        let (dir, s) = state();
        let mut on = s.watch();
        let started = s.start(set(1000, 60, "Sam"), 1000).unwrap();
        assert!(
            matches!(started, Some(Change::Started { replaced: None, .. })),
            "{started:?}"
        );
        assert!(on.has_changed().unwrap());
        assert_eq!(on.borrow_and_update().as_ref().map(|m| m.until_unix), Some(1060));
        assert_eq!(s.active(1059).map(|m| m.set_by), Some("Sam".into()));
        assert_eq!(s.active(1060), None);
        assert_eq!(s.next_end(), Some(1060));
        assert_eq!(s.expire(1059), None);
        let Some(Change::Ended { end, .. }) = s.expire(1061) else {
            panic!("ends")
        };
        assert_eq!(
            end,
            MaintenanceEnd {
                at_unix: 1060,
                by: None
            }
        );
        assert_eq!(*on.borrow(), None);
        assert_eq!(s.next_end(), None);
        assert_eq!(s.expire(1062), None, "ends once");
        // What a restart reads back.
        let again = MaintenanceState::open(dir.path());
        assert_eq!(again.record(), s.record());
    }

    #[test]
    fn a_restart_keeps_it_and_a_damaged_file_reads_as_none() {
        let (dir, s) = state();
        s.start(set(now_unix(), 3600, "Sam"), now_unix()).unwrap();
        let again = MaintenanceState::open(dir.path());
        assert_eq!(again.active_now().map(|m| m.set_by), Some("Sam".into()));
        assert!(again.watch().borrow().is_some());
        std::fs::write(path(dir.path()), b"{not json").unwrap();
        assert_eq!(MaintenanceState::open(dir.path()).record(), None);
    }

    #[test]
    fn the_later_change_wins_and_an_end_wins_over_its_own_start() {
        let (_d, a) = state();
        let (_e, b) = state();
        // Set on A at 1000; B learns it.
        a.start(set(1000, 3600, "Sam"), 1000).unwrap();
        let learned = b.adopt(a.record().unwrap(), 1001).unwrap();
        assert!(matches!(learned, Some(Change::Started { .. })));
        // Ended on B at 1200; A, which still has it on, learns the end.
        let ended = b.end("Kim", 1200).unwrap();
        assert!(matches!(ended, Some(Change::Ended { ref end, .. }) if end.by.as_deref() == Some("Kim")));
        let Some(Change::Ended { end, .. }) = a.adopt(b.record().unwrap(), 1201).unwrap() else {
            panic!("the end travels")
        };
        assert_eq!(end.at_unix, 1200);
        assert_eq!(a.active(1201), None);
        // The old start, heard again (a late heartbeat), changes nothing.
        let old = MaintenanceRecord {
            setting: set(1000, 3600, "Sam"),
            ended: None,
        };
        assert_eq!(a.adopt(old.clone(), 1202).unwrap(), None);
        assert_eq!(a.active(1202), None);
        // A newer setting wins over the older end, in either order of hearing.
        b.start(set(1300, 600, "Kim"), 1300).unwrap();
        assert!(matches!(
            a.adopt(b.record().unwrap(), 1301).unwrap(),
            Some(Change::Started { .. })
        ));
        assert_eq!(a.adopt(old, 1302).unwrap(), None);
        assert_eq!(a.record(), b.record());
        // Ending what is not on changes nothing.
        let (_f, c) = state();
        assert_eq!(c.end("Sam", 5).unwrap(), None);
    }

    #[test]
    fn both_boxes_pick_the_same_record_whatever_the_order() {
        let r = |at: i64, by: &str, ended: Option<i64>| MaintenanceRecord {
            setting: set(at, 600, by),
            ended: ended.map(|t| MaintenanceEnd {
                at_unix: t,
                by: Some("Kim".into()),
            }),
        };
        let records = [
            r(100, "Sam", None),
            r(100, "Kim", None),
            r(100, "Sam", Some(100)),
            r(90, "Sam", Some(100)),
            r(50, "Ann", Some(120)),
            r(110, "Ann", None),
        ];
        let winner = |order: &[usize]| {
            let (_d, s) = state();
            for &i in order {
                s.adopt(records[i].clone(), 105).unwrap();
            }
            s.record()
        };
        let forward = winner(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(forward, winner(&[5, 4, 3, 2, 1, 0]));
        assert_eq!(forward, winner(&[2, 5, 0, 4, 1, 3]));
        assert_eq!(forward, Some(records[4].clone()), "the latest change: an end at 120");
    }

    #[test]
    fn a_new_setting_outranks_a_record_from_a_partner_whose_clock_runs_ahead() {
        let (_d, s) = state();
        let ahead = MaintenanceRecord {
            setting: set(5000, 600, "Sam"),
            ended: Some(MaintenanceEnd {
                at_unix: 5100,
                by: Some("Sam".into()),
            }),
        };
        s.adopt(ahead.clone(), 1000).unwrap();
        s.start(set(1000, 600, "Kim"), 1000).unwrap();
        assert_eq!(s.active(1000).map(|m| m.set_by), Some("Kim".into()));
        assert_eq!(s.adopt(ahead, 1001).unwrap(), None, "the old end stays behind");
    }

    #[test]
    fn a_record_already_past_its_time_is_taken_as_ended_and_told_as_nothing_new() {
        let (_d, s) = state();
        let past = MaintenanceRecord {
            setting: set(100, 60, "Sam"),
            ended: None,
        };
        assert_eq!(s.adopt(past, 1000).unwrap(), None);
        assert_eq!(s.record().and_then(|r| r.ended).map(|e| e.at_unix), Some(160));
        let bad = MaintenanceRecord {
            setting: Maintenance {
                reason: "a\u{7}b".into(),
                ..set(100, 60, "Sam")
            },
            ended: None,
        };
        assert!(s.adopt(bad, 1000).is_err());
    }

    #[test]
    fn audit_messages_say_who_until_when_and_why_it_ended() {
        let m = set(1_764_000_000, 7200, "Sam");
        let started = Change::Started {
            setting: m.clone(),
            replaced: None,
        }
        .message(None);
        assert!(
            started.starts_with("maintenance for the pair: set by Sam until 2025-11-24T18:00:00Z (2 hours)"),
            "{started}"
        );
        let ended = Change::Ended {
            setting: m.clone(),
            end: MaintenanceEnd { at_unix: 1, by: None },
        }
        .message(None);
        assert!(ended.contains("its time ran out"), "{ended}");
        let by = Change::Ended {
            setting: m,
            end: MaintenanceEnd {
                at_unix: 1,
                by: Some("Kim".into()),
            },
        }
        .message(Some("PBX B"));
        assert!(by.starts_with("maintenance ended on PBX B by Kim"), "{by}");
    }
}
