//! Maintenance mode as the console shows it and asks for it: the office's maintenance sentence,
//! the "Maintenance…" action (which server it goes through, or why it cannot), the lengths the
//! dialog offers, and what the agent answered, in words. Pure rules over what the console last
//! saw; the calls are in `console.rs`.
//!
//! Why the console remembers the last setting it saw ([`Reported`]): when no server of the office
//! answers — the only one still answering reboots, or this computer goes offline — that says
//! nothing about the maintenance, which is most likely still on: the office reads as in
//! maintenance, and its notifications stay held, until the setting's time, unless a server that
//! answers says otherwise.

use lbs_protocol::{Maintenance, MaintenanceAnswer, PartnerNotice, Role, MAINTENANCE_MAX_SECS, MAINTENANCE_MIN_SECS};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Error;
use crate::overview::MachineView;

/// The maintenance on in an office, as the dashboard says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceView {
    pub setting: Maintenance,
    /// "Maintenance until 14:30 — Sam: replacing the disk of PBX A."
    pub sentence: String,
    /// What it means: "Alerts about the work are held and nothing happens automatically; the
    /// copy keeps running."
    pub detail: String,
}

/// How long a maintenance asked from the console lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum MaintenanceLength {
    /// This many seconds.
    For {
        #[ts(type = "number")]
        secs: u64,
    },
    /// Until a minute before this computer's next midnight, counted when the form is sent (the
    /// dialog may stay open a long while), at most 24 hours.
    EndOfDay,
}

/// One length the dialog offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceChoice {
    /// "30 minutes", "Until the end of the day (23:59)".
    pub label: String,
    pub length: MaintenanceLength,
}

/// The office's "Maintenance…" action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceOffer {
    /// The server the request goes through (the primary when it answers); `None` when blocked.
    pub through: Option<String>,
    /// Why it cannot be started or ended from here now, in words.
    pub blocked: Option<String>,
    /// The lengths to pick from; the dialog also takes a number of hours, from `min_secs` to
    /// `max_secs` (what the agents accept).
    pub choices: Vec<MaintenanceChoice>,
    #[ts(type = "number")]
    pub min_secs: u64,
    #[ts(type = "number")]
    pub max_secs: u64,
    /// Those limits in words: "from 1 minute to 24 hours".
    pub limits: String,
    /// Who does the work, as the dialog first suggests it: this computer's user.
    pub by: Option<String>,
}

/// The answer to starting or ending maintenance, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceDone {
    pub maintenance: Option<Maintenance>,
    /// "Maintenance is on for PBX A and PBX B until 14:30."
    pub message: String,
    /// The partner could not be told (it learns it from the next heartbeat it answers).
    pub partner_not_told: bool,
}

/// What a maintenance means, in words the dashboard shows under it: what is held, and the one
/// thing the agents still do on their own (keeping two PBXs from splitting the phones).
pub const DETAIL: &str = "Alerts about the work are held and nothing happens automatically, except that a phone \
                          system started on the backup is still stopped: two running at once would split the \
                          phones (to try the backup's, switch over). The copy keeps running. It ends by itself.";

/// The limits of a maintenance in words.
pub const LIMITS: &str = "from 1 minute to 24 hours";

/// The maintenance a server of an office last reported (see the module's comment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub setting: Maintenance,
    /// The server that reported it last.
    pub by: String,
    pub at_unix: i64,
}

/// The latest setting among the servers that answered, and which one reported it; `None` when
/// none answered or none reports one.
fn reported_now(machines: &[MachineView], now: i64) -> Option<Reported> {
    machines
        .iter()
        .filter(|m| m.reachable)
        .filter_map(|m| Some((m.status.as_ref()?.maintenance.clone()?, &m.entry.name)))
        .max_by_key(|(setting, _)| setting.set_at_unix)
        .map(|(setting, by)| Reported {
            setting,
            by: by.clone(),
            at_unix: now,
        })
}

/// What the console keeps of the office's maintenance after looking at its servers at `now`: what
/// they report when one answers (nothing, if the ones that answer report none), else `last`
/// while its time has not come.
pub fn remember(machines: &[MachineView], last: Option<Reported>, now: i64) -> Option<Reported> {
    if machines.iter().any(|m| m.reachable) {
        reported_now(machines, now)
    } else {
        last.filter(|r| now < r.setting.until_unix)
    }
}

/// The office's maintenance at `now`, from the servers that answered (the latest setting, should
/// they differ for a moment while one learns it from the other); when none answers, from `last`,
/// what one reported before, until its time.
pub fn view(
    machines: &[MachineView],
    last: Option<&Reported>,
    now: i64,
    clock: impl Fn(i64) -> String,
) -> Option<MaintenanceView> {
    let remembered = !machines.iter().any(|m| m.reachable);
    let reported = remember(machines, last.cloned(), now)?;
    let setting = reported.setting;
    let mut sentence = format!(
        "Maintenance until {} — {}: {}",
        clock(setting.until_unix),
        setting.set_by,
        setting.reason.trim_end_matches('.')
    );
    if remembered {
        sentence.push_str(&format!(
            " (last reported by {} at {}; no server answers now)",
            reported.by,
            clock(reported.at_unix)
        ));
    }
    sentence.push('.');
    Some(MaintenanceView {
        setting,
        sentence,
        detail: DETAIL.into(),
    })
}

/// Why maintenance cannot be set from here when no server answers, for any number of servers.
fn nobody_answers(machines: &[MachineView]) -> String {
    let names: Vec<&str> = machines.iter().map(|m| m.entry.name.as_str()).collect();
    match names.as_slice() {
        [] => "This office has no server yet: add one before setting maintenance.".into(),
        [only] => format!(
            "{only} does not answer, so maintenance cannot be set from here; at the box, `lbs-agent maintenance` does it."
        ),
        [a, b] => format!(
            "Neither {a} nor {b} answers, so maintenance cannot be set from here; at a box, `lbs-agent maintenance` does it."
        ),
        [first @ .., last] => format!(
            "None of {} or {last} answers, so maintenance cannot be set from here; at a box, `lbs-agent maintenance` does it.",
            first.join(", ")
        ),
    }
}

/// Which server starts or ends maintenance for the office: one that answers an administrator's
/// token, the primary first; or why none can.
pub fn offer(machines: &[MachineView], choices: Vec<MaintenanceChoice>, by: Option<String>) -> MaintenanceOffer {
    let answering: Vec<&MachineView> = machines.iter().filter(|m| m.reachable).collect();
    let through = answering
        .iter()
        .filter(|m| !m.machine().view_only)
        .max_by_key(|m| m.role() == Some(Role::Primary))
        .map(|m| m.entry.id.clone());
    let blocked = match (through.is_some(), answering.is_empty()) {
        (true, _) => None,
        (false, true) => Some(nobody_answers(machines)),
        (false, false) => Some(
            "The access tokens for this office are view-only: they show the maintenance but cannot start or end it."
                .into(),
        ),
    };
    MaintenanceOffer {
        through,
        blocked,
        choices,
        min_secs: MAINTENANCE_MIN_SECS,
        max_secs: MAINTENANCE_MAX_SECS,
        limits: LIMITS.into(),
        by,
    }
}

/// The lengths offered at `now`: 30 minutes, 1, 2 and 4 hours, and until the end of the day
/// (`midnight`: the next local midnight) while more than a few minutes of it are left.
pub fn choices(now: i64, midnight: i64, clock: impl Fn(i64) -> String) -> Vec<MaintenanceChoice> {
    let mut out: Vec<MaintenanceChoice> = [
        ("30 minutes", 1800),
        ("1 hour", 3600),
        ("2 hours", 7200),
        ("4 hours", 14_400),
    ]
    .into_iter()
    .map(|(label, secs)| MaintenanceChoice {
        label: label.into(),
        length: MaintenanceLength::For { secs },
    })
    .collect();
    if end_of_day(now, midnight) >= 5 * 60 {
        out.push(MaintenanceChoice {
            label: format!("Until the end of the day ({})", clock(midnight - 60)),
            length: MaintenanceLength::EndOfDay,
        });
    }
    out
}

/// Seconds from `now` to a minute before `midnight`, so that it ends today.
fn end_of_day(now: i64, midnight: i64) -> i64 {
    midnight.saturating_sub(60).saturating_sub(now)
}

/// The seconds `length` stands for when the form is sent at `now` (`midnight`: this computer's
/// next one): the end of the day counted then, and at most 24 hours (a day with a clock change
/// lasts 25); refused in words when less than a minute of the day is left.
pub fn length_secs(length: MaintenanceLength, now: i64, midnight: i64) -> Result<u64, Error> {
    match length {
        MaintenanceLength::For { secs } => Ok(secs),
        MaintenanceLength::EndOfDay => {
            let left = end_of_day(now, midnight);
            if left < MAINTENANCE_MIN_SECS as i64 {
                return Err(Error::InvalidInput(
                    "The day is over: less than a minute of it is left. Pick a length instead.".into(),
                ));
            }
            Ok((left as u64).min(MAINTENANCE_MAX_SECS))
        }
    }
}

/// What starting (`on`) or ending maintenance through `server` did, in words.
pub fn done(server: &str, on: bool, answer: MaintenanceAnswer, clock: impl Fn(i64) -> String) -> MaintenanceDone {
    let until = answer
        .maintenance
        .as_ref()
        .map(|m| format!(" until {}", clock(m.until_unix)))
        .unwrap_or_default();
    let (message, not_told) = match (on, answer.changed, &answer.partner) {
        (false, false, _) => ("No maintenance was on.".to_owned(), false),
        (true, _, PartnerNotice::Told { name }) => {
            (format!("Maintenance is on for {server} and {name}{until}."), false)
        }
        (false, _, PartnerNotice::Told { name }) => (format!("Maintenance ended for {server} and {name}."), false),
        (true, _, PartnerNotice::NotTold { name, .. }) => (
            format!("Maintenance is on for {server}{until}; {name} did not answer and will learn it when it does."),
            true,
        ),
        (false, _, PartnerNotice::NotTold { name, .. }) => (
            format!("Maintenance ended on {server}; {name} did not answer and will learn it when it does."),
            true,
        ),
        (true, _, _) => (format!("Maintenance is on for {server}{until}."), false),
        (false, _, _) => (format!("Maintenance ended for {server}."), false),
    };
    MaintenanceDone {
        maintenance: answer.maintenance,
        message,
        partner_not_told: not_told,
    }
}

/// The name the person at this computer goes by, to suggest as who does the work.
pub fn this_user() -> Option<String> {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
}

/// Times the office manager reads, in this computer's time zone: "14:30", "tomorrow 09:00".
pub mod local {
    use chrono::{Local, TimeZone};

    /// `t` (Unix seconds) on this computer's clock, as seen at `now`.
    pub fn clock(t: i64, now: i64) -> String {
        clock_in(&Local, t, now)
    }

    /// The next local midnight after `now` (Unix seconds).
    pub fn next_midnight(now: i64) -> i64 {
        next_midnight_in(&Local, now)
    }

    pub(crate) fn clock_in<Tz: TimeZone>(tz: &Tz, t: i64, now: i64) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        let (Some(at), Some(today)) = (tz.timestamp_opt(t, 0).single(), tz.timestamp_opt(now, 0).single()) else {
            return "a time this computer cannot show".into();
        };
        match (at.date_naive() - today.date_naive()).num_days() {
            0 => at.format("%H:%M").to_string(),
            1 => at.format("tomorrow %H:%M").to_string(),
            _ => at.format("%-d %b %H:%M").to_string(),
        }
    }

    pub(crate) fn next_midnight_in<Tz: TimeZone>(tz: &Tz, now: i64) -> i64 {
        let fallback = now - now.rem_euclid(86_400) + 86_400;
        let Some(today) = tz.timestamp_opt(now, 0).single() else {
            return fallback;
        };
        let Some(tomorrow) = today.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)) else {
            return fallback;
        };
        // A midnight that a clock change skips or repeats: its earliest instant.
        tz.from_local_datetime(&tomorrow)
            .earliest()
            .map_or(fallback, |t| t.timestamp())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lbs_protocol::{PeerSummary, ServerStatus, TokenRole};

    fn clock(t: i64) -> String {
        format!("t{t}")
    }

    pub(crate) fn setting(set_at: i64, by: &str) -> Maintenance {
        Maintenance {
            until_unix: set_at + 3600,
            reason: "replacing the disk of PBX A".into(),
            set_by: by.into(),
            set_at_unix: set_at,
        }
    }

    fn machine(id: &str, role: Role, reachable: bool, access: TokenRole, on: Option<Maintenance>) -> MachineView {
        let status = ServerStatus {
            server_id: id.into(),
            name: format!("PBX {id}"),
            role,
            standing: Default::default(),
            epoch: 1,
            version: "0.2.0".into(),
            api_version: 1,
            api_min_version: 1,
            uptime_secs: 1,
            host_uptime_secs: 1,
            hostname: id.into(),
            fingerprint: String::new(),
            access,
            peer: PeerSummary::Unpaired,
            sample_interval_secs: 5,
            maintenance: on,
        };
        MachineView {
            status: reachable.then_some(status),
            failover: None,
            ..crate::overview::tests::machine(id, role, 1, reachable)
        }
    }

    #[test]
    fn the_sentence_says_until_when_who_and_why_from_the_latest_setting() {
        let a = machine("A", Role::Primary, true, TokenRole::Admin, Some(setting(100, "Sam")));
        let b = machine("B", Role::Backup, true, TokenRole::Admin, Some(setting(200, "Kim")));
        let v = view(&[a.clone(), b], None, 300, clock).expect("on");
        assert_eq!(
            v.sentence,
            "Maintenance until t3800 — Kim: replacing the disk of PBX A."
        );
        assert!(v.detail.contains("nothing happens automatically"));
        assert!(v
            .detail
            .contains("a phone system started on the backup is still stopped"));
        let silent = machine("B", Role::Backup, false, TokenRole::Admin, None);
        assert_eq!(
            view(&[a, silent], None, 300, clock).map(|v| v.setting.set_by),
            Some("Sam".into())
        );
        let off = machine("A", Role::Primary, true, TokenRole::Admin, None);
        assert_eq!(view(&[off], None, 300, clock), None);
    }

    #[test]
    fn when_no_server_answers_the_last_setting_seen_holds_until_its_time() {
        let on = setting(100, "Sam");
        let a = machine("A", Role::Primary, false, TokenRole::Admin, None);
        let b = machine("B", Role::Backup, true, TokenRole::Admin, Some(on.clone()));
        // Seen through B at 200.
        let last = remember(&[a.clone(), b], None, 200).expect("reported");
        assert_eq!((last.by.as_str(), last.at_unix), ("PBX B", 200));
        // Then B stops answering too: still on, and the sentence says where it comes from.
        let b_silent = machine("B", Role::Backup, false, TokenRole::Admin, None);
        let both = [a.clone(), b_silent.clone()];
        let v = view(&both, Some(&last), 500, clock).expect("still on");
        assert_eq!(v.setting, on);
        assert_eq!(
            v.sentence,
            "Maintenance until t3700 — Sam: replacing the disk of PBX A (last reported by PBX B at t200; no server \
             answers now)."
        );
        assert_eq!(remember(&both, Some(last.clone()), 500), Some(last.clone()));
        // Until its time, not after.
        assert_eq!(view(&both, Some(&last), 3700, clock), None);
        assert_eq!(remember(&both, Some(last.clone()), 3700), None);
        // A server that answers and reports none ends it at once.
        let b_off = machine("B", Role::Backup, true, TokenRole::Admin, None);
        assert_eq!(view(&[a.clone(), b_off.clone()], Some(&last), 500, clock), None);
        assert_eq!(remember(&[a, b_off], Some(last), 500), None);
    }

    #[test]
    fn maintenance_goes_through_the_primary_or_says_why_it_cannot() {
        let a = machine("A", Role::Primary, true, TokenRole::Admin, None);
        let b = machine("B", Role::Backup, true, TokenRole::Admin, None);
        assert_eq!(
            offer(&[b.clone(), a.clone()], vec![], None).through.as_deref(),
            Some("A")
        );
        let a_silent = machine("A", Role::Primary, false, TokenRole::Admin, None);
        let o = offer(&[a_silent.clone(), b.clone()], vec![], None);
        assert_eq!((o.through.as_deref(), o.blocked), (Some("B"), None));
        let b_silent = machine("B", Role::Backup, false, TokenRole::Admin, None);
        let o = offer(&[a_silent.clone(), b_silent.clone()], vec![], None);
        assert_eq!(o.through, None);
        assert!(o
            .blocked
            .unwrap_or_default()
            .starts_with("Neither PBX A nor PBX B answers"));
        let viewer = machine("B", Role::Backup, true, TokenRole::Viewer, None);
        let o = offer(&[a_silent.clone(), viewer], vec![], None);
        assert!(o.blocked.unwrap_or_default().contains("view-only"));
        // The limits the dialog checks are the agents'.
        assert_eq!((o.min_secs, o.max_secs), (60, 86_400));
        assert_eq!(o.limits, "from 1 minute to 24 hours");
        // Said right for any number of servers.
        let blocked = |machines: &[MachineView]| offer(machines, vec![], None).blocked.unwrap_or_default();
        assert_eq!(
            blocked(&[]),
            "This office has no server yet: add one before setting maintenance."
        );
        assert!(blocked(std::slice::from_ref(&a_silent)).starts_with("PBX A does not answer, so"));
        let c_silent = machine("C", Role::Backup, false, TokenRole::Admin, None);
        assert!(blocked(&[a_silent.clone(), b_silent.clone(), c_silent])
            .starts_with("None of PBX A, PBX B or PBX C answers, so"));
    }

    #[test]
    fn the_dialog_offers_common_lengths_and_the_rest_of_the_day() {
        let c = choices(1000, 1000 + 3 * 3600, clock);
        let labels: Vec<&str> = c.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(c[1].length, MaintenanceLength::For { secs: 3600 });
        assert_eq!(
            labels,
            [
                "30 minutes",
                "1 hour",
                "2 hours",
                "4 hours",
                "Until the end of the day (t11740)"
            ]
        );
        assert_eq!(c[4].length, MaintenanceLength::EndOfDay);
        // Four minutes before midnight there is no day left to offer.
        assert_eq!(choices(1000, 1000 + 4 * 60, clock).len(), 4);
    }

    #[test]
    fn the_end_of_the_day_is_counted_when_the_form_is_sent_and_is_at_most_a_day() {
        let midnight = 100_000;
        // The dialog opened at 10:00 and was sent at 11:00: it ends at 23:59 all the same.
        assert_eq!(
            length_secs(MaintenanceLength::EndOfDay, midnight - 3600, midnight).unwrap(),
            3600 - 60
        );
        assert_eq!(
            length_secs(MaintenanceLength::For { secs: 5400 }, 0, midnight).unwrap(),
            5400
        );
        // A day with the clocks put back lasts 25 hours: at most 24 of them.
        assert_eq!(
            length_secs(MaintenanceLength::EndOfDay, midnight - 25 * 3600, midnight).unwrap(),
            86_400
        );
        // Sent in the last minute of the day: said, not sent.
        let late = length_secs(MaintenanceLength::EndOfDay, midnight - 90, midnight).unwrap_err();
        assert!(late.to_string().contains("Pick a length instead"), "{late}");
        assert!(length_secs(MaintenanceLength::EndOfDay, midnight + 10, midnight).is_err());
    }

    #[test]
    fn the_answer_says_whether_the_partner_knows() {
        let on = |partner| MaintenanceAnswer {
            maintenance: Some(setting(100, "Sam")),
            changed: true,
            partner,
        };
        let told = done("PBX A", true, on(PartnerNotice::Told { name: "PBX B".into() }), clock);
        assert_eq!(told.message, "Maintenance is on for PBX A and PBX B until t3700.");
        let not_told = done(
            "PBX A",
            true,
            on(PartnerNotice::NotTold {
                name: "PBX B".into(),
                message: "no answer".into(),
            }),
            clock,
        );
        assert_eq!(
            not_told.message,
            "Maintenance is on for PBX A until t3700; PBX B did not answer and will learn it when it does."
        );
        assert!(not_told.partner_not_told);
        let ended = MaintenanceAnswer {
            maintenance: None,
            changed: true,
            partner: PartnerNotice::Told { name: "PBX B".into() },
        };
        assert_eq!(
            done("PBX A", false, ended, clock).message,
            "Maintenance ended for PBX A and PBX B."
        );
        let nothing = MaintenanceAnswer {
            maintenance: None,
            changed: false,
            partner: PartnerNotice::NotAsked,
        };
        assert_eq!(done("PBX A", false, nothing, clock).message, "No maintenance was on.");
    }

    #[test]
    fn local_times_read_as_a_clock_and_midnight_is_the_next_one() {
        let paris = chrono::FixedOffset::east_opt(3600).unwrap();
        // 2025-11-30 10:00 in Paris.
        let now = 1_764_493_200;
        assert_eq!(local::clock_in(&paris, now + 4 * 3600 + 1800, now), "14:30");
        assert_eq!(local::clock_in(&paris, now + 23 * 3600, now), "tomorrow 09:00");
        assert_eq!(local::clock_in(&paris, now + 3 * 86_400, now), "3 Dec 10:00");
        assert_eq!(local::next_midnight_in(&paris, now), now + 14 * 3600);
    }
}
