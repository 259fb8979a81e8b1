//! The pair as the office manager sees it, and the failover wizard's guards. Pure logic over what
//! the console last saw of each machine, so the front end only renders and the rules live (and are
//! tested) here, once.
//!
//! - [`pair_state`]: one sentence for the dashboard ("Protected: the backup is 3 s behind").
//! - [`assess`]: step 1 of the wizard — what is wrong, how old the backup's data is per category,
//!   whether this is an unplanned failover or a planned switchover, and what stands in the way.
//! - [`check`]: the last guard before the agent is called — the typed name, the "old primary is
//!   off" confirmation, the override reason — turned into exactly one agent request.

use lbs_protocol::{FailoverStatus, PromoteRequest, Role, SwitchoverRequest, SyncLinkState, SyncStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Error;

/// Behind by more than this, the pair is at risk.
pub const AT_RISK_LAG_SECS: u64 = 5 * 60;

/// What the console last saw of one machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub name: String,
    /// When it last answered (unix seconds); `None` if it never has since the console started.
    pub last_answer_unix: Option<i64>,
    /// Whether its last poll was answered.
    pub reachable: bool,
    pub failover: Option<FailoverStatus>,
    pub sync: Option<SyncStatus>,
    /// The role it had when it last answered (kept while it does not answer).
    pub last_role: Option<Role>,
}

impl Machine {
    /// Its role now, or as last seen.
    fn role(&self) -> Option<Role> {
        self.failover.as_ref().map(|f| f.role).or(self.last_role)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PairLevel {
    /// The backup has a current copy: a failover now would lose little or nothing.
    Protected,
    /// The phones work, but a failover now would lose data or is not possible.
    AtRisk,
    /// The phones are down or may be: no primary answers, or two claim the role.
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairState {
    pub level: PairLevel,
    /// One sentence, e.g. "Protected: the backup is 3 s behind".
    pub sentence: String,
    /// What to do next, when there is something to do.
    pub next: Option<String>,
}

/// "3 s", "12 min", "2 h 5 min", "3 days".
pub fn span(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 if secs % 3600 >= 60 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        3600..=86_399 => format!("{} h", secs / 3600),
        _ if secs < 2 * 86_400 => "1 day".into(),
        _ => format!("{} days", secs / 86_400),
    }
}

fn silent_for(m: &Machine, now: i64) -> String {
    match m.last_answer_unix {
        Some(t) => format!(" for {}", span((now - t).max(0) as u64)),
        None => String::new(),
    }
}

/// How far behind a backup's sync report is: the oldest change it has not applied, by category.
pub(crate) fn lag_secs(sync: &SyncStatus) -> u64 {
    sync.categories.iter().filter_map(|c| c.lag_secs).max().unwrap_or(0)
}

/// "12,400": a count as people write it.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Files the primary has counted so far, while its first scan of any category still runs (as
/// either box last reported it); `None` once everything is counted.
pub(crate) fn still_counting(primary: &Machine, backup: &Machine) -> Option<u64> {
    let counted = |m: &Machine| {
        let s = m.sync.as_ref()?;
        let counting: Vec<u64> = s
            .categories
            .iter()
            .filter_map(|c| c.counting.as_ref().map(|p| p.files_counted))
            .collect();
        (!counting.is_empty()).then(|| counting.iter().sum::<u64>())
    };
    // The primary's own report is the freshest; the backup's says what it was told.
    counted(primary).or_else(|| counted(backup))
}

/// How far behind the backup is, when it reported its sync.
fn behind_secs(backup: &Machine) -> Option<u64> {
    backup.sync.as_ref().map(lag_secs)
}

/// The dashboard's sentence for the pair of `a` and `b` (in any order).
pub fn pair_state(a: &Machine, b: &Machine, now: i64) -> PairState {
    let state = |level, sentence: String, next: Option<&str>| PairState {
        level,
        sentence,
        next: next.map(str::to_owned),
    };
    let answering_primaries: Vec<&Machine> = [a, b]
        .into_iter()
        .filter(|m| m.reachable && m.role() == Some(Role::Primary))
        .collect();
    if answering_primaries.len() == 2 {
        return state(
            PairLevel::Down,
            format!("Both {} and {} say they are the primary", a.name, b.name),
            Some("Wait a few seconds: the one with the older role steps down by itself. If it does not, call your IT contractor."),
        );
    }
    let Some(primary) = answering_primaries.first().copied() else {
        // Nobody answers as the primary: which one was it?
        let last = [a, b].into_iter().find(|m| m.role() == Some(Role::Primary));
        let backup = [a, b]
            .into_iter()
            .find(|m| m.reachable && m.role() == Some(Role::Backup));
        return match (last, backup) {
            (Some(p), Some(_)) => state(
                PairLevel::Down,
                format!("Primary {} unreachable{}", p.name, silent_for(p, now)),
                Some("If it does not come back, start the failover wizard to make the backup the primary."),
            ),
            (_, Some(bk)) => state(
                PairLevel::Down,
                format!("No primary: {} is a backup and its partner does not answer", bk.name),
                Some("Start the failover wizard to make it the primary."),
            ),
            _ => state(
                PairLevel::Down,
                format!("Neither {} nor {} answers", a.name, b.name),
                Some("Check that both servers are on and connected, and that this computer is on the office network."),
            ),
        };
    };
    let backup = if std::ptr::eq(primary, a) { b } else { a };
    let paired = primary.failover.as_ref().is_some_and(|f| f.partner.paired);
    if !paired {
        return state(
            PairLevel::AtRisk,
            format!("Not protected: {} has no backup paired", primary.name),
            Some("Pair the backup with it (`lbs-agent pair` on the backup)."),
        );
    }
    if !backup.reachable {
        return state(
            PairLevel::AtRisk,
            format!(
                "At risk: the backup {} does not answer{}",
                backup.name,
                silent_for(backup, now)
            ),
            Some("Check that it is on and connected; until then a failure of the primary cannot be covered."),
        );
    }
    let link = backup.sync.as_ref().map(|s| (s.peer.state, s.peer.last_contact_unix));
    match link {
        Some((SyncLinkState::Ok, _)) | None => {}
        Some((_, last)) => {
            let since = last
                .map(|t| format!(" for {}", span((now - t).max(0) as u64)))
                .unwrap_or_default();
            return state(
                PairLevel::AtRisk,
                format!("At risk: the backup has not synced{since}"),
                Some("Open Sync to see why; the message there says what to fix."),
            );
        }
    }
    if let Some(counted) = still_counting(primary, backup) {
        // Nothing pending can also mean nothing known yet: not protected before it is all counted.
        return state(
            PairLevel::AtRisk,
            format!(
                "{} is still counting its files ({} so far); the copy is not complete yet",
                primary.name,
                count(counted)
            ),
            Some(
                "Wait: copying goes on by itself, and the backup is up to date once every file is counted and copied.",
            ),
        );
    }
    match behind_secs(backup) {
        Some(lag) if lag > AT_RISK_LAG_SECS => state(
            PairLevel::AtRisk,
            format!("At risk: the backup is {} behind", span(lag)),
            Some("Open Sync to see what is still to copy."),
        ),
        Some(0) => state(PairLevel::Protected, "Protected: the backup is up to date".into(), None),
        Some(lag) => state(
            PairLevel::Protected,
            format!("Protected: the backup is {} behind", span(lag)),
            None,
        ),
        None => state(PairLevel::Protected, "Protected: the backup is in contact".into(), None),
    }
}

/// What kind of role change the wizard would run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum WizardKind {
    /// The primary does not answer: the backup is promoted on the manager's word that the old
    /// primary is off.
    Unplanned,
    /// Both answer: a switchover, nothing lost.
    Planned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Fact {
    pub ok: bool,
    pub text: String,
}

/// How old the backup's copy of one category is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategoryAge {
    pub label: String,
    /// Seconds since the oldest change the backup has not applied; 0 when it has everything.
    #[ts(type = "number")]
    pub behind_secs: u64,
    #[ts(type = "number")]
    pub pending_files: u64,
    #[ts(type = "number")]
    pub pending_bytes: u64,
    /// When this category was last complete on the backup.
    #[ts(type = "number | null")]
    pub last_success_unix: Option<i64>,
    /// While the primary still counts this category's files: how many so far (the backup's copy
    /// is not complete, whatever `pending_files` says).
    #[ts(type = "number | null")]
    pub counting_files: Option<u64>,
}

/// Step 1 of the wizard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Assessment {
    /// `None`: no role change is possible now (see `blockers`).
    pub kind: Option<WizardKind>,
    pub primary_name: String,
    pub backup_name: String,
    /// What the console sees, good and bad, in plain sentences.
    pub facts: Vec<Fact>,
    pub categories: Vec<CategoryAge>,
    /// Why it cannot go ahead at all.
    pub blockers: Vec<String>,
    /// Why it should not go ahead now, unless the manager overrides with a reason (planned only).
    pub warnings: Vec<String>,
    /// Time left of the hold after the current primary took the role.
    #[ts(type = "number | null")]
    pub hold_remaining_secs: Option<u64>,
    /// For an unplanned failover: the manager types this name to confirm.
    pub confirm_name: String,
}

/// The wizard's step 1: `primary` is the machine that holds (or last held) the role, `backup`
/// the one to promote.
pub fn assess(primary: &Machine, backup: &Machine, now: i64) -> Assessment {
    let mut facts = Vec::new();
    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    let primary_answers = primary.reachable && primary.failover.is_some();
    if primary_answers {
        let role = primary.role().map_or("unknown".into(), |r| r.to_string());
        facts.push(Fact {
            ok: true,
            text: format!("{} answers; it is the {role}.", primary.name),
        });
    } else {
        facts.push(Fact {
            ok: false,
            text: format!("{} does not answer{}.", primary.name, silent_for(primary, now)),
        });
    }
    match (&backup.failover, backup.reachable) {
        (Some(f), true) if f.role == Role::Backup => {
            facts.push(Fact {
                ok: true,
                text: format!("{} answers and is ready to take over.", backup.name),
            });
            if let Some(problem) = &f.pbx.problem {
                facts.push(Fact {
                    ok: false,
                    text: problem.clone(),
                });
            }
            if f.busy.is_some() {
                blockers.push(format!(
                    "{} is busy with another role change; wait until it finishes.",
                    backup.name
                ));
            }
            if !f.partner.paired {
                blockers.push(format!("{} is not paired with a primary.", backup.name));
            }
        }
        (Some(f), true) => blockers.push(format!("{} is already the {}.", backup.name, f.role)),
        _ => blockers.push(format!(
            "{} does not answer{}: it cannot take over until it does.",
            backup.name,
            silent_for(backup, now)
        )),
    }
    let categories: Vec<CategoryAge> = backup
        .sync
        .as_ref()
        .map(|s| {
            s.categories
                .iter()
                .map(|c| CategoryAge {
                    label: c.label.clone(),
                    behind_secs: c.lag_secs.unwrap_or(0),
                    pending_files: c.pending_files,
                    pending_bytes: c.pending_bytes,
                    last_success_unix: c.last_success_unix,
                    counting_files: c.counting.as_ref().map(|p| p.files_counted),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(counted) = still_counting(primary, backup) {
        facts.push(Fact {
            ok: false,
            text: format!(
                "{} is still counting its files ({} so far): the backup's copy is not complete.",
                primary.name,
                count(counted)
            ),
        });
    }
    let behind: Vec<String> = categories
        .iter()
        .filter(|c| c.pending_files > 0)
        .map(|c| format!("{} ({} behind)", c.label, span(c.behind_secs)))
        .collect();
    let mut hold_remaining_secs = None;
    let kind = if !blockers.is_empty() {
        None
    } else if let Some(f) = primary
        .failover
        .as_ref()
        .filter(|f| primary.reachable && f.role == Role::Primary)
    {
        hold_remaining_secs = f.hold.remaining_secs;
        if let Some(left) = f.hold.remaining_secs.filter(|l| *l > 0) {
            warnings.push(format!(
                "{} became the primary only {} ago. Wait {} more so that recordings, voicemail, prompts and music on hold finish copying back.",
                primary.name,
                span(f.hold.primary_for_secs.unwrap_or(0)),
                span(left)
            ));
        }
        if !f.hold.caught_up {
            warnings.push(format!(
                "{} changes ({}) are not on {} yet.",
                f.hold.pending_files,
                bytes(f.hold.pending_bytes),
                backup.name
            ));
        }
        Some(WizardKind::Planned)
    } else if primary_answers {
        blockers.push(format!(
            "{} answers but is not the primary: promote {} directly, no failover is needed.",
            primary.name, backup.name
        ));
        None
    } else {
        if !behind.is_empty() {
            facts.push(Fact {
                ok: false,
                text: format!("Not everything reached {}: {}.", backup.name, behind.join(", ")),
            });
        }
        Some(WizardKind::Unplanned)
    };
    Assessment {
        kind,
        primary_name: primary.name.clone(),
        backup_name: backup.name.clone(),
        facts,
        categories,
        blockers,
        warnings,
        hold_remaining_secs,
        confirm_name: backup.name.clone(),
    }
}

fn bytes(b: u64) -> String {
    match b {
        0..=999 => format!("{b} B"),
        1_000..=999_999 => format!("{:.1} KB", b as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.1} GB", b as f64 / 1e9),
    }
}

/// What the manager confirmed in step 2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Confirmation {
    /// Unplanned: the backup's name, typed.
    pub typed_name: String,
    /// Unplanned: "the old primary is switched off or unplugged".
    pub old_primary_off: bool,
    /// Planned: a reason to go ahead despite the warnings (kept in the audit log).
    pub override_reason: Option<String>,
}

/// The one request the wizard sends to the backup.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Promote(PromoteRequest),
    Switchover(SwitchoverRequest),
}

/// The last guard: refuses unless the assessment allows a change and the manager confirmed what
/// it needs. The same rules whatever the front end shows.
pub fn check(a: &Assessment, c: &Confirmation) -> Result<Action, Error> {
    let refuse = |m: String| Err(Error::InvalidInput(m));
    let Some(kind) = a.kind else {
        return refuse(format!("No role change is possible now: {}", a.blockers.join(" ")));
    };
    let reason = c.override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    match kind {
        WizardKind::Unplanned => {
            if !c.old_primary_off {
                return refuse(format!(
                    "Confirm that {} is switched off or unplugged: two primaries would answer the phones.",
                    a.primary_name
                ));
            }
            if c.typed_name.trim() != a.confirm_name {
                return refuse(format!(
                    "Type the backup's name exactly as shown (\"{}\") to confirm.",
                    a.confirm_name
                ));
            }
            Ok(Action::Promote(PromoteRequest {
                force: true,
                reason: Some(format!(
                    "Unplanned failover from the LBS Console: {} did not answer and was confirmed off",
                    a.primary_name
                )),
            }))
        }
        WizardKind::Planned => {
            if !a.warnings.is_empty() && reason.is_none() {
                return refuse(format!(
                    "{} To go ahead anyway, give a reason; it is kept in the audit log.",
                    a.warnings.join(" ")
                ));
            }
            Ok(Action::Switchover(SwitchoverRequest {
                override_guards: !a.warnings.is_empty(),
                reason: reason.map(str::to_owned),
            }))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lbs_protocol::{AddressStatus, CategorySync, HoldStatus, PartnerStatus, PbxStatus, SyncPeer};

    const NOW: i64 = 1_800_000_000;

    pub(crate) fn failover(role: Role, paired: bool, remaining: u64, caught_up: bool) -> FailoverStatus {
        FailoverStatus {
            role,
            epoch: 2,
            epoch_owner: "x".into(),
            role_since_unix: NOW - 7200,
            busy: None,
            hold: HoldStatus {
                hold_secs: 3600,
                primary_for_secs: Some(3600 - remaining.min(3600)),
                remaining_secs: Some(remaining),
                caught_up,
                pending_files: if caught_up { 0 } else { 12 },
                pending_bytes: if caught_up { 0 } else { 4_000_000 },
            },
            pbx: PbxStatus {
                managed: true,
                running: Some(role == Role::Primary),
                should_run: role == Role::Primary,
                problem: None,
                checked_unix: Some(NOW),
            },
            address: AddressStatus {
                strategy: "vip".into(),
                target: "10.0.0.10/24 on eth0".into(),
                held: role == Role::Primary,
                problem: None,
            },
            partner: PartnerStatus {
                paired,
                name: None,
                server_id: None,
                address: None,
                reachable: true,
                checked: true,
                role: None,
                epoch: None,
                role_since_unix: None,
                last_contact_unix: None,
                message: None,
            },
            quarantined_files: 0,
            last_change: None,
        }
    }

    pub(crate) fn sync(link: SyncLinkState, lag: Option<u64>) -> SyncStatus {
        SyncStatus {
            role: Role::Backup,
            epoch: 2,
            peer: SyncPeer {
                state: link,
                server_id: None,
                name: None,
                address: None,
                last_contact_unix: Some(NOW - 7200),
                message: None,
            },
            categories: vec![CategorySync {
                name: "voicemail".into(),
                label: "Voicemail".into(),
                priority: 2,
                local_files: 10,
                local_bytes: 100,
                peer_files: Some(10),
                peer_bytes: Some(100),
                pending_files: u64::from(lag.is_some()),
                pending_bytes: 0,
                lag_secs: lag,
                last_success_unix: Some(NOW - 3),
                last_error: None,
                throughput_bps: 0.0,
                skipped: vec![],
                counting: None,
            }],
            history: vec![],
        }
    }

    fn machine(name: &str, f: Option<FailoverStatus>, s: Option<SyncStatus>) -> Machine {
        Machine {
            name: name.into(),
            last_answer_unix: Some(NOW - 125),
            reachable: f.is_some(),
            last_role: f.as_ref().map(|f| f.role),
            failover: f,
            sync: s,
        }
    }

    fn pair_ok(lag: Option<u64>) -> (Machine, Machine) {
        (
            machine("PBX A", Some(failover(Role::Primary, true, 0, true)), None),
            machine(
                "PBX B",
                Some(failover(Role::Backup, true, 0, true)),
                Some(sync(SyncLinkState::Ok, lag)),
            ),
        )
    }

    #[test]
    fn the_dashboard_sentence_says_how_safe_the_pair_is() {
        let (a, b) = pair_ok(Some(3));
        assert_eq!(pair_state(&a, &b, NOW).sentence, "Protected: the backup is 3 s behind");
        let (a, b) = pair_ok(None);
        let s = pair_state(&b, &a, NOW);
        assert_eq!(
            (s.level, s.sentence.as_str()),
            (PairLevel::Protected, "Protected: the backup is up to date")
        );
        let (a, b) = pair_ok(Some(7200));
        assert_eq!(pair_state(&a, &b, NOW).sentence, "At risk: the backup is 2 h behind");
        let (a, mut b) = pair_ok(None);
        b.sync = Some(sync(SyncLinkState::Unreachable, None));
        assert_eq!(
            pair_state(&a, &b, NOW).sentence,
            "At risk: the backup has not synced for 2 h"
        );
        let (mut a, b) = pair_ok(None);
        a.reachable = false;
        let s = pair_state(&a, &b, NOW);
        assert_eq!(
            (s.level, s.sentence.as_str()),
            (PairLevel::Down, "Primary PBX A unreachable for 2 min")
        );
        assert!(s.next.unwrap().contains("failover wizard"));
        let (a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Primary, true, 0, true));
        assert_eq!(pair_state(&a, &b, NOW).level, PairLevel::Down);
        let (mut a, b) = pair_ok(None);
        a.failover = Some(failover(Role::Primary, false, 0, true));
        assert!(pair_state(&a, &b, NOW).sentence.starts_with("Not protected"));
    }

    #[test]
    fn nothing_is_protected_while_the_primary_still_counts_its_files() {
        // Nothing pending and a good link, as right after pairing: the backup knows of nothing yet.
        let (a, mut b) = pair_ok(None);
        let mut s = sync(SyncLinkState::Ok, None);
        s.categories[0].counting = Some(lbs_protocol::ScanProgress { files_counted: 12_400 });
        b.sync = Some(s);
        let state = pair_state(&a, &b, NOW);
        assert_eq!(state.level, PairLevel::AtRisk);
        assert_eq!(
            state.sentence,
            "PBX A is still counting its files (12,400 so far); the copy is not complete yet"
        );
        let wizard = assess(&a, &b, NOW);
        assert_eq!(wizard.categories[0].counting_files, Some(12_400));
        assert!(
            wizard.facts.iter().any(|f| !f.ok && f.text.contains("still counting")),
            "{:?}",
            wizard.facts
        );
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(200_000), "200,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn spans_read_like_people_talk() {
        assert_eq!(span(3), "3 s");
        assert_eq!(span(125), "2 min");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(7500), "2 h 5 min");
        assert_eq!(span(90_000), "1 day");
        assert_eq!(span(3 * 86_400), "3 days");
    }

    #[test]
    fn an_unplanned_failover_needs_the_old_primary_off_and_the_name_typed() {
        let (mut a, b) = pair_ok(Some(40));
        a.reachable = false;
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, Some(WizardKind::Unplanned));
        assert!(x
            .facts
            .iter()
            .any(|f| !f.ok && f.text == "PBX A does not answer for 2 min."));
        assert!(x.facts.iter().any(|f| f.text.contains("Voicemail (40 s behind)")));
        let mut c = Confirmation {
            typed_name: "PBX B".into(),
            ..Default::default()
        };
        let e = check(&x, &c).unwrap_err().to_string();
        assert!(e.contains("switched off or unplugged"), "{e}");
        c.old_primary_off = true;
        c.typed_name = "pbx b".into();
        assert!(check(&x, &c).unwrap_err().to_string().contains("exactly"));
        c.typed_name = " PBX B ".into();
        match check(&x, &c).unwrap() {
            Action::Promote(p) => assert!(p.force && p.reason.unwrap().contains("PBX A")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_switch_back_is_refused_during_the_hold_or_with_changes_pending_unless_overridden() {
        let a = machine("PBX A", Some(failover(Role::Primary, true, 1800, false)), None);
        let b = machine(
            "PBX B",
            Some(failover(Role::Backup, true, 0, true)),
            Some(sync(SyncLinkState::Ok, Some(4))),
        );
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, Some(WizardKind::Planned));
        assert_eq!(x.hold_remaining_secs, Some(1800));
        assert_eq!(x.warnings.len(), 2, "{:?}", x.warnings);
        assert!(x.warnings[0].contains("30 min"), "{:?}", x.warnings);
        assert!(x.warnings[1].contains("12 changes (4.0 MB)"), "{:?}", x.warnings);
        let e = check(&x, &Confirmation::default()).unwrap_err().to_string();
        assert!(e.contains("give a reason"), "{e}");
        let blank = Confirmation {
            override_reason: Some("  ".into()),
            ..Default::default()
        };
        assert!(check(&x, &blank).is_err(), "a blank reason is no reason");
        let c = Confirmation {
            override_reason: Some("the old box is needed elsewhere".into()),
            ..Default::default()
        };
        match check(&x, &c).unwrap() {
            Action::Switchover(s) => assert!(s.override_guards && s.reason.is_some()),
            other => panic!("{other:?}"),
        }
        // After the hold, caught up: no warning, no override.
        let a = machine("PBX A", Some(failover(Role::Primary, true, 0, true)), None);
        let x = assess(&a, &b, NOW);
        assert!(x.warnings.is_empty());
        match check(&x, &Confirmation::default()).unwrap() {
            Action::Switchover(s) => assert!(!s.override_guards),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_is_possible_when_the_backup_cannot_take_over() {
        let (a, mut b) = pair_ok(None);
        b.reachable = false;
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, None);
        assert!(x.blockers[0].contains("PBX B does not answer"));
        assert!(check(&x, &Confirmation::default()).is_err());
        let (a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Backup, false, 0, true));
        assert!(assess(&a, &b, NOW).blockers[0].contains("not paired"));
        let (a, mut b) = pair_ok(None);
        let mut busy = failover(Role::Backup, true, 0, true);
        busy.busy = Some("Reintegrating".into());
        b.failover = Some(busy);
        assert!(assess(&a, &b, NOW).blockers[0].contains("busy"));
    }
}
