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
//!
//! Why an end because the time ran out counts at its setting's start, not at its time: it is no
//! one's decision, and a box that was off records it late. Counted at its time, an old setting
//! timing out on a box that comes back could end a newer one set meanwhile on the other box.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lbs_protocol::{Maintenance, MaintenanceEnd, MaintenanceRecord};
use tokio::sync::watch;

use crate::clock::now_unix;
use crate::fsutil;
use crate::refusal::Refusal;

/// The shortest maintenance: shorter would end before the work has begun.
pub const MIN_SECS: u64 = lbs_protocol::MAINTENANCE_MIN_SECS;
/// The longest: a maintenance forgotten overnight still ends by the next morning's calls.
pub const MAX_SECS: u64 = lbs_protocol::MAINTENANCE_MAX_SECS;
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
        until_unix: now.saturating_add(for_secs as i64),
        reason,
        set_by,
        set_at_unix: now,
    })
}

/// The name of who ends a maintenance, checked like who starts one.
pub fn who(by: &str) -> Result<String, Refusal> {
    text("Who ends it", by, MAX_BY)
}

/// A record from the partner at `now`, checked like a person's request: it came over mutual TLS,
/// but a record this box keeps, shows and acts on must still be one line of bounded text, and
/// hold this box in maintenance no longer than a setting made here could (a partner whose clock
/// is months ahead would otherwise keep it on for months once that partner goes away).
pub fn check_record(r: &MaintenanceRecord, now: i64) -> Result<(), Refusal> {
    text("The reason", &r.setting.reason, MAX_REASON)?;
    text("Who does the work", &r.setting.set_by, MAX_BY)?;
    if let Some(by) = r.ended.as_ref().and_then(|e| e.by.as_deref()) {
        text("Who ended it", by, MAX_BY)?;
    }
    let s = &r.setting;
    let lasts = s.until_unix.saturating_sub(s.set_at_unix);
    if lasts > MAX_SECS as i64 {
        return Err(Refusal::bad_request(format!(
            "the maintenance would last more than 24 hours (set at {}, until {}): a maintenance lasts at most 24 hours",
            when(s.set_at_unix),
            when(s.until_unix)
        )));
    }
    let latest = now.saturating_add(MAX_SECS as i64);
    let times = [s.set_at_unix, s.until_unix]
        .into_iter()
        .chain(r.ended.as_ref().map(|e| e.at_unix));
    if let Some(t) = times.into_iter().find(|t| !(0..=latest).contains(t)) {
        return Err(Refusal::bad_request(format!(
            "the maintenance record has a time ({}) more than 24 hours from this box's clock ({}): one of the \
             two clocks is wrong; set both with NTP",
            when(t),
            when(now)
        )));
    }
    Ok(())
}

/// When a setting ends by itself: at its time, and never before it was set (a setting made on a
/// box whose partner's clock runs ahead may start after the time it was asked to end at).
fn ends_at(s: &Maintenance) -> i64 {
    s.until_unix.max(s.set_at_unix)
}

/// When a record last changed, for the order of records: when a person ended it, else when it
/// was set. An end because its time ran out counts at its setting's start (see the module's
/// comment): it outranks that setting and nothing set after it.
fn changed_at(r: &MaintenanceRecord) -> i64 {
    match &r.ended {
        Some(MaintenanceEnd { at_unix, by: Some(_) }) => *at_unix,
        _ => r.setting.set_at_unix,
    }
}

/// The order of records: the later last change wins (see [`changed_at`]); at the same second the
/// later setting, then an end over the start of the same setting; the rest only makes the order
/// total, so both boxes pick the same record.
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
            at_unix: ends_at(&r.setting),
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

/// `t` as an RFC 3339 time, for any `t`: the formatter refuses years past 9999 (a partner's
/// record may carry anything), and those are written as Unix time instead of panicking.
fn when(t: i64) -> String {
    use std::fmt::Write;
    let unix = || format!("{t} (Unix time)");
    let Some(st) = u64::try_from(t)
        .ok()
        .and_then(|secs| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs)))
    else {
        return unix();
    };
    let mut out = String::new();
    match write!(out, "{}", humantime::format_rfc3339_seconds(st)) {
        Ok(()) => out,
        Err(_) => unix(),
    }
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
                    length(s.until_unix.saturating_sub(s.set_at_unix).max(0) as u64),
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
                at_unix: ends_at(&next.setting),
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
    /// The partner's record last refused, so that one carried by every heartbeat is logged once.
    refused: Mutex<Option<MaintenanceRecord>>,
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
            refused: Mutex::new(None),
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
        // bring the old one back. Moved later, it keeps its length, so that it still lasts as
        // asked on that partner (rather than starting after its own end there), but never ends
        // more than 24 hours from this box's now.
        if let Some(after) = guard.as_ref().map(|c| changed_at(c).saturating_add(1)) {
            if setting.set_at_unix < after {
                let lasts = setting.until_unix.saturating_sub(setting.set_at_unix);
                setting.set_at_unix = after;
                setting.until_unix = after
                    .saturating_add(lasts)
                    .min(now.saturating_add(MAX_SECS as i64))
                    .max(after.saturating_add(MIN_SECS as i64));
            }
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
        check_record(&theirs, now)?;
        let theirs = settled(theirs, now);
        let mut guard = self.lock();
        if guard.as_ref().is_some_and(|ours| rank(ours) >= rank(&theirs)) {
            return Ok(None);
        }
        self.put(&mut guard, theirs, now)
    }

    /// Whether `theirs`, just refused, differs from the record refused before: a partner's
    /// record travels in every heartbeat, and its refusal is worth one warning, not one a second.
    pub fn newly_refused(&self, theirs: &MaintenanceRecord) -> bool {
        let mut last = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() == Some(theirs) {
            return false;
        }
        *last = Some(theirs.clone());
        true
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

        // An end because the time ran out ends only its own setting. 09:00: M1 for 2 hours; A is
        // off from 10:00; 10:30: M2 set through B until 14:30; 12:00: A is back, and its timer
        // ends M1 (at 11:00) before the first heartbeat. M2 stays on, whatever the order.
        let h = 3600;
        let m1 = MaintenanceRecord {
            setting: set(9 * h, 7200, "Sam"),
            ended: None,
        };
        let m1_ran_out = MaintenanceRecord {
            ended: Some(MaintenanceEnd {
                at_unix: 11 * h,
                by: None,
            }),
            ..m1.clone()
        };
        let m2 = MaintenanceRecord {
            setting: set(10 * h + 1800, 4 * 3600, "Kim"),
            ended: None,
        };
        let noon = 12 * h;
        for order in [
            [&m1, &m1_ran_out, &m2],
            [&m2, &m1_ran_out, &m1],
            [&m1_ran_out, &m2, &m1],
            [&m2, &m1, &m1_ran_out],
        ] {
            let (_d, s) = state();
            for r in order {
                s.adopt(r.clone(), noon).unwrap();
            }
            assert_eq!(s.record(), Some(m2.clone()), "{order:?}");
            assert_eq!(s.active(noon).map(|m| m.set_by), Some("Kim".into()));
        }
        // The same between the two boxes themselves.
        let (_a, a) = state();
        let (_b, b) = state();
        a.start(m1.setting.clone(), 9 * h).unwrap();
        b.adopt(a.record().unwrap(), 9 * h).unwrap();
        b.start(m2.setting.clone(), 10 * h + 1800).unwrap();
        assert!(
            matches!(a.expire(noon), Some(Change::Ended { .. })),
            "A's timer, on its return"
        );
        assert_eq!(b.adopt(a.record().unwrap(), noon).unwrap(), None, "B keeps M2");
        assert!(matches!(
            a.adopt(b.record().unwrap(), noon).unwrap(),
            Some(Change::Started { .. })
        ));
        assert_eq!(a.record(), b.record());
        assert_eq!(a.active(noon).map(|m| m.until_unix), Some(14 * h + 1800));
    }

    #[test]
    fn a_partner_record_is_held_to_the_limits_of_a_setting_made_here() {
        let now = 1_000_000;
        let day = MAX_SECS as i64;
        let record = |set_at: i64, until: i64, ended: Option<i64>| MaintenanceRecord {
            setting: Maintenance {
                until_unix: until,
                ..set(set_at, 600, "Sam")
            },
            ended: ended.map(|t| MaintenanceEnd {
                at_unix: t,
                by: Some("Kim".into()),
            }),
        };
        let refused = |r: MaintenanceRecord| {
            let (_d, s) = state();
            let e = s.adopt(r, now).unwrap_err();
            assert_eq!(s.record(), None);
            e.message
        };
        // A partner whose clock is months ahead.
        let months = 90 * day;
        let m = refused(record(now + months, now + months + 3600, None));
        assert!(
            m.contains("more than 24 hours from this box's clock") && m.contains("NTP"),
            "{m}"
        );
        // Longer than a setting may last.
        assert!(refused(record(now, now + day + 1, None)).contains("would last more than 24 hours"));
        // An end far ahead would outrank every setting made here for months.
        assert!(refused(record(now, now + 600, Some(now + months))).contains("more than 24 hours"));
        // Any i64: refused in words, never a panic or an overflow.
        for t in [i64::MAX, i64::MIN, -1, 253_402_300_800] {
            refused(record(now, t, None));
            refused(record(t, now + 60, None));
        }
        // At the limits: taken.
        let (_d, s) = state();
        let edge = record(now, now + day, None);
        assert!(matches!(s.adopt(edge, now).unwrap(), Some(Change::Started { .. })));
        // A refused record is worth one warning, not one per heartbeat.
        let odd = record(now + months, now + months + 60, None);
        assert!(s.newly_refused(&odd));
        assert!(!s.newly_refused(&odd));
        assert!(s.newly_refused(&record(now + months, now + months + 120, None)));
    }

    #[test]
    fn times_past_the_year_9999_are_written_without_a_panic() {
        assert_eq!(when(1_764_000_000), "2025-11-24T16:00:00Z");
        for t in [i64::MAX, i64::MIN, -1, 253_402_300_800] {
            assert!(when(t).ends_with("(Unix time)"), "{t}: {}", when(t));
        }
        let far = Maintenance {
            until_unix: i64::MAX,
            reason: "disk".into(),
            set_by: "Sam".into(),
            set_at_unix: i64::MIN,
        };
        let started = Change::Started {
            setting: far.clone(),
            replaced: Some(far.clone()),
        };
        assert!(started.message(Some("PBX B")).contains("(Unix time)"));
        let ended = Change::Ended {
            setting: far,
            end: MaintenanceEnd { at_unix: 0, by: None },
        };
        assert!(ended.message(None).contains("its time ran out"));
    }

    #[test]
    fn with_a_partner_whose_clock_runs_ahead_both_boxes_agree_on_a_setting_made_here() {
        // B's clock is 4000 s ahead of A's: its end of an earlier setting carries 5100 while A's
        // clock says 1000.
        let (_a, a) = state();
        let (_b, b) = state();
        let ahead = MaintenanceRecord {
            setting: set(5000, 600, "Sam"),
            ended: Some(MaintenanceEnd {
                at_unix: 5100,
                by: Some("Sam".into()),
            }),
        };
        a.adopt(ahead.clone(), 1000).unwrap();
        b.adopt(ahead, 5000).unwrap();
        // Set on A for 10 minutes: it ranks above B's end, and still lasts 10 minutes, after
        // it begins.
        a.start(set(1000, 600, "Kim"), 1000).unwrap();
        let mine = a.record().unwrap().setting;
        assert_eq!((mine.set_at_unix, mine.until_unix), (5101, 5701));
        // B takes it as on, at its own clock.
        assert!(matches!(
            b.adopt(a.record().unwrap(), 5200).unwrap(),
            Some(Change::Started { .. })
        ));
        assert_eq!(a.record(), b.record());
        // B's timer ends it; A takes the end.
        assert!(matches!(b.expire(5701), Some(Change::Ended { .. })));
        assert!(matches!(
            a.adopt(b.record().unwrap(), 1702).unwrap(),
            Some(Change::Ended { .. })
        ));
        assert_eq!(a.record(), b.record());
        // Never ending later than 24 hours from this box's now, and always after it begins.
        let (_c, c) = state();
        let far = MaintenanceRecord {
            setting: set(1000, 60, "Sam"),
            ended: Some(MaintenanceEnd {
                at_unix: 1000 + MAX_SECS as i64,
                by: Some("Sam".into()),
            }),
        };
        c.adopt(far, 1000).unwrap();
        c.start(set(1000, 7200, "Kim"), 1000).unwrap();
        let s = c.record().unwrap().setting;
        assert_eq!(s.set_at_unix, 1001 + MAX_SECS as i64);
        assert_eq!(
            s.until_unix,
            s.set_at_unix + MIN_SECS as i64,
            "after it begins, as briefly as allowed"
        );
    }

    #[test]
    fn a_setting_that_starts_after_its_time_ends_when_it_starts() {
        // As an agent before this rule could send it.
        let odd = MaintenanceRecord {
            setting: Maintenance {
                until_unix: 1600,
                ..set(2000, 600, "Sam")
            },
            ended: None,
        };
        let (_d, s) = state();
        s.adopt(odd, 2100).unwrap();
        assert_eq!(s.record().and_then(|r| r.ended).map(|e| e.at_unix), Some(2000));
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
