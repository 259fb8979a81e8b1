//! Everything the dashboard shows, in one snapshot: every office, its servers as last seen, the
//! office's one sentence and its failover button. The Tauri side polls
//! [`crate::Console::overview`] and pushes each snapshot to the window; [`alerts`] says which
//! changes between two snapshots deserve a desktop notification. Pure data and pure functions
//! here; the fetching is in `console.rs`.

use lbs_protocol::{FailoverStatus, Role, RoleStanding, ServerStatus, SyncStatus, TokenRole};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::autopilot::{self, AutopilotLevel, AutopilotView};
use crate::maintenance::{self, MaintenanceOffer, MaintenanceView};
use crate::pair::{self, FailoverOffer, Machine, PairLevel, PairState, AT_RISK_LAG_SECS};
use crate::sync_view::{sync_view, SyncView};
use crate::view::{ConsoleError, FormerMachine, PairEntry, ServerEntry};

/// One server as the console saw it at the last poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MachineView {
    pub entry: ServerEntry,
    /// It answered the last poll.
    pub reachable: bool,
    /// When it last answered (unix seconds), kept across console restarts.
    #[ts(type = "number | null")]
    pub last_answer_unix: Option<i64>,
    /// Its role when it last answered.
    pub last_role: Option<Role>,
    pub status: Option<ServerStatus>,
    pub failover: Option<FailoverStatus>,
    pub sync: Option<SyncStatus>,
    /// Why it did not answer, in plain words.
    pub error: Option<ConsoleError>,
    /// Why files cannot be put back through it now, in words; `None` when they can.
    pub restore_blocked: Option<String>,
    /// A role in the middle of changing, in words (see `RoleStanding`); `None` when settled.
    pub standing_note: Option<String>,
    /// When it does not answer: the role it had when last seen, and for how long it has been
    /// silent ("Last seen as primary, silent for 5 min"). Shown instead of its role, so a silent
    /// box never reads as a second primary beside the one that took over. `None` while it answers.
    pub silent_note: Option<String>,
}

/// What a box that does not answer is shown as, instead of a role it may no longer hold.
pub fn silent_note(
    reachable: bool,
    last_role: Option<Role>,
    last_answer_unix: Option<i64>,
    now: i64,
) -> Option<String> {
    if reachable {
        return None;
    }
    let silent = last_answer_unix.map(|t| pair::span((now - t).max(0) as u64));
    Some(match (last_role, silent) {
        (Some(role), Some(span)) => format!("Last seen as {role}, silent for {span}"),
        (Some(role), None) => format!("Last seen as {role}"),
        (None, Some(span)) => format!("Silent for {span}"),
        (None, None) => "Has not answered yet".to_owned(),
    })
}

/// What a box between two states is doing, for its card.
pub fn standing_note(reachable: bool, failover: Option<&FailoverStatus>) -> Option<String> {
    match failover.filter(|_| reachable)?.standing {
        RoleStanding::Settled => None,
        RoleStanding::Unconfirmed => {
            Some("Just started: asking its partner which of them runs the phones before it starts its PBX.".into())
        }
        RoleStanding::SteppingDown => {
            Some("Stepping down: its partner runs the phones now; it is stopping its PBX.".into())
        }
    }
}

/// The console's token for a server that answered with `status` may only look.
fn view_only(status: Option<&ServerStatus>) -> bool {
    status.is_some_and(|s| s.access == TokenRole::Viewer)
}

/// Why files set aside or deleted cannot be put back through the server `name` (which sends
/// them on to the primary), or `None`: it must answer, to an administrator's token.
pub fn restore_blocked(name: &str, reachable: bool, status: Option<&ServerStatus>) -> Option<String> {
    if !reachable {
        Some(format!("{name} does not answer."))
    } else if view_only(status) {
        Some(format!(
            "The access token for {name} is view-only: it can see the files but not restore them."
        ))
    } else {
        None
    }
}

impl MachineView {
    /// The shape the pair rules read.
    pub fn machine(&self) -> Machine {
        Machine {
            name: self.entry.name.clone(),
            last_answer_unix: self.last_answer_unix,
            reachable: self.reachable,
            failover: self.failover.clone(),
            sync: self.sync.clone(),
            last_role: self.last_role,
            view_only: view_only(self.status.as_ref()),
        }
    }

    /// Its role now, or as last seen.
    pub fn role(&self) -> Option<Role> {
        self.failover.as_ref().map(|f| f.role).or(self.last_role)
    }
}

/// An office on the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OfficeView {
    pub pair: PairEntry,
    pub state: PairState,
    /// The failover button: its words and why it is disabled.
    pub failover: FailoverOffer,
    /// In the order they joined the office.
    pub machines: Vec<MachineView>,
    /// The console id of the server that is (or was last seen as) the primary, and of the other
    /// one: the failover wizard's direction.
    pub primary: Option<String>,
    pub backup: Option<String>,
    /// Machines replaced in this office, whose history this computer keeps.
    pub former: Vec<FormerMachine>,
    /// The Sync tab's table and whether the backup is still catching up.
    pub sync: SyncView,
    /// The maintenance on in this office, if any, with its sentence.
    pub maintenance: Option<MaintenanceView>,
    /// The "Maintenance…" action: the server it goes through, or why it cannot.
    pub maintenance_offer: MaintenanceOffer,
    /// Automatic failover for the pair: on or not and why, and its switch.
    pub autopilot: AutopilotView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Overview {
    #[ts(type = "number")]
    pub at_unix: i64,
    pub offices: Vec<OfficeView>,
}

/// Builds an office from its servers as just seen; `last`: the maintenance one of them reported
/// before (see `maintenance::Reported`).
pub fn office(
    pair: PairEntry,
    machines: Vec<MachineView>,
    former: Vec<FormerMachine>,
    last: Option<&maintenance::Reported>,
    now: i64,
) -> OfficeView {
    let state = match machines.as_slice() {
        [a, b] => pair::pair_state(&a.machine(), &b.machine(), now),
        [only] => PairState::new(
            PairLevel::AtRisk,
            format!("Not protected: {} has no partner in this office yet", only.entry.name),
            Some("Add its partner with \"Add the partner\", using the connection link the other server printed."),
        ),
        _ => PairState::new(
            PairLevel::AtRisk,
            "This office has no servers".into(),
            Some("Add a server to it, or remove the office."),
        ),
    };
    let primary = machines
        .iter()
        .find(|m| m.reachable && m.role() == Some(Role::Primary))
        .or_else(|| machines.iter().find(|m| m.role() == Some(Role::Primary)));
    let primary_id = primary.map(|m| m.entry.id.clone());
    let backup = match (primary, machines.as_slice()) {
        (Some(p), [a, b]) => Some(if a.entry.id == p.entry.id { b } else { a }),
        _ => None,
    };
    let failover = match primary.zip(backup) {
        Some((p, b)) => pair::offer(machines.len(), Some((&p.machine(), &b.machine()))),
        None => pair::offer(machines.len(), None),
    };
    let backup_id = backup.map(|m| m.entry.id.clone());
    let sync = match primary.zip(backup) {
        Some((p, b)) => sync_view(p.sync.as_ref(), b.sync.as_ref()),
        None => SyncView::default(),
    };
    let clock = |t| maintenance::local::clock(t, now);
    let choices = maintenance::choices(now, maintenance::local::next_midnight(now), clock);
    OfficeView {
        autopilot: autopilot::view(&machines, now, clock, maintenance::this_user()),
        maintenance: maintenance::view(&machines, last, now, clock),
        maintenance_offer: maintenance::offer(&machines, choices, maintenance::this_user()),
        pair,
        state,
        failover,
        machines,
        primary: primary_id,
        backup: backup_id,
        former,
        sync,
    }
}

/// A desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    pub body: String,
}

fn lag(m: &MachineView) -> u64 {
    m.sync.as_ref().map_or(0, pair::lag_secs)
}

/// What changed between two snapshots that the manager should hear about even with the window
/// closed: either box that stops answering, a role change, a backup that falls behind, a primary
/// that stops its phones because it was cut off, a backup that held back from taking over,
/// automatic failover lost with the vote or one loss from it (the witness). During maintenance only role changes and a stopped primary are told (the rest is what
/// the work causes); when it ends, what is still wrong is told then, as if it had just happened.
pub fn alerts(before: &Overview, after: &Overview) -> Vec<Alert> {
    let mut out = Vec::new();
    for office in &after.offices {
        let Some(old) = before.offices.iter().find(|o| o.pair.id == office.pair.id) else {
            continue;
        };
        let name = &office.pair.name;
        let held = office.maintenance.is_some();
        let maintenance_ended = old.maintenance.is_some() && !held;
        for m in &office.machines {
            let Some(was) = old.machines.iter().find(|x| x.entry.id == m.entry.id) else {
                continue;
            };
            let was_reachable = was.reachable || maintenance_ended;
            let server = &m.entry.name;
            if !held && was_reachable && was.role() == Some(Role::Primary) && !m.reachable {
                out.push(Alert {
                    title: format!("{name}: the primary {server} does not answer"),
                    body: match armed_partner(office, m) {
                        Some(backup) => format!(
                            "The phones may be down. Automatic failover is on: {backup} takes over by itself if \
                             {server} is down. Open LBS Console: if it does not, the failover wizard makes the backup \
                             the primary."
                        ),
                        None => "The phones may be down. Open LBS Console: if it does not come back, the failover \
                                 wizard makes the backup the primary."
                            .into(),
                    },
                });
            }
            if !held && was_reachable && was.role() == Some(Role::Backup) && !m.reachable {
                out.push(backup_silent(office, m));
            }
            if let (Some(a), Some(b)) = (&was.failover, &m.failover) {
                // A new epoch with the same role (a backup re-pairing with the new primary) is
                // not news to the manager.
                if a.role != b.role {
                    let now = match b.role {
                        Role::Primary => "is now the primary: it runs the phones",
                        Role::Backup => "is now the backup",
                    };
                    out.push(Alert {
                        title: format!("{name}: {server} {now}"),
                        body: format!("Role change {} → {}.", a.role, b.role),
                    });
                }
            }
            if let (Some(why), None) = (held_back(m), held_back(was)) {
                // Not held by maintenance: a backup holds back only when nothing else does.
                out.push(Alert {
                    title: format!("{name}: {server} did not take over by itself"),
                    body: format!(
                        "{} Open LBS Console: the failover wizard goes ahead if you know the primary is off.",
                        why.trim()
                    ),
                });
            }
            if let (Some(fence), None) = (fenced(m), fenced(was)) {
                out.push(Alert {
                    title: format!("{name}: {server} stopped its phone system"),
                    body: format!(
                        "{} The phones may be down until its partner takes over. Open LBS Console.",
                        fence.message.trim()
                    ),
                });
            }
            if !held
                && m.reachable
                && m.role() == Some(Role::Backup)
                && lag(m) > AT_RISK_LAG_SECS
                && (lag(was) <= AT_RISK_LAG_SECS || maintenance_ended)
            {
                out.push(Alert {
                    title: format!("{name}: the backup {server} is {} behind", pair::span(lag(m))),
                    body: "A failover now would lose the newest changes. Open Sync in LBS Console to see why.".into(),
                });
            }
        }
        if let Some(alert) = autopilot_lost(office, old, held) {
            out.push(alert);
        }
    }
    out
}

/// The name of `m`'s partner in the office when it answers and is armed for automatic failover.
fn armed_partner<'a>(office: &'a OfficeView, m: &MachineView) -> Option<&'a str> {
    office
        .machines
        .iter()
        .filter(|o| o.entry.id != m.entry.id && o.reachable)
        .find(|o| {
            o.failover
                .as_ref()
                .and_then(|f| f.autopilot.as_ref())
                .is_some_and(|a| a.armed)
        })
        .map(|o| o.entry.name.as_str())
}

/// Why a backup that answers did not take over by itself (its partner's phones still answer).
fn held_back(m: &MachineView) -> Option<&str> {
    m.failover
        .as_ref()
        .filter(|_| m.reachable)?
        .autopilot
        .as_ref()?
        .held
        .as_deref()
}

/// The fence a box reports while it answers (see `pair::Machine::fence`).
fn fenced(m: &MachineView) -> Option<&lbs_protocol::Fence> {
    m.failover
        .as_ref()
        .filter(|_| m.reachable)?
        .autopilot
        .as_ref()?
        .fenced
        .as_ref()
}

/// Automatic failover lost because the vote is out of reach (not by a person, nor for maintenance
/// or the flap guard): the phones work, but the next failure needs a person. Or one loss from it:
/// the witness out of reach while the pair is still on autopilot.
fn autopilot_lost(office: &OfficeView, old: &OfficeView, held: bool) -> Option<Alert> {
    use lbs_protocol::BlockerKind;
    let (now, was) = (&office.autopilot, &old.autopilot);
    if held {
        return None;
    }
    if was.level == AutopilotLevel::On && now.level == AutopilotLevel::Off && now.cause == Some(BlockerKind::NoQuorum) {
        return Some(Alert {
            title: format!("{}: automatic failover is off", office.pair.name),
            body: format!(
                "{} The phones keep working; if the primary fails, fail over from LBS Console.",
                now.text
            ),
        });
    }
    let witness = |v: &crate::autopilot::AutopilotView| {
        v.level == AutopilotLevel::On && v.warnings.contains(&BlockerKind::WitnessUnreachable)
    };
    (witness(now) && !witness(was) && was.level == AutopilotLevel::On).then(|| Alert {
        title: format!("{}: the witness does not answer", office.pair.name),
        body: "Automatic failover still works, but one more lost server would stop it. Check that the witness \
               machine is on and connected."
            .into(),
    })
}

/// A backup that stopped answering: the phones go on, the copy does not.
fn backup_silent(office: &OfficeView, backup: &MachineView) -> Alert {
    let server = &backup.entry.name;
    let primary = office
        .machines
        .iter()
        .find(|m| m.entry.id != backup.entry.id && m.reachable && m.role() == Some(Role::Primary));
    let phones = match primary {
        Some(p) => format!(
            "The phones still work on {}, but nothing is being copied.",
            p.entry.name
        ),
        None => "Nothing is being copied to it.".to_owned(),
    };
    Alert {
        title: format!("{}: the backup {server} stopped answering", office.pair.name),
        body: format!(
            "{phones} Check that {server} is on and connected; until it answers, a failure of the primary cannot be covered."
        ),
    }
}

/// The worst level of all offices, for the tray icon; `None` with no office.
pub fn worst(overview: &Overview) -> Option<PairLevel> {
    let rank = |l: PairLevel| match l {
        PairLevel::Protected => 0,
        PairLevel::AtRisk => 1,
        PairLevel::Down => 2,
    };
    overview.offices.iter().map(|o| o.state.level).max_by_key(|l| rank(*l))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lbs_protocol::SyncLinkState;

    fn failover(role: Role, epoch: u64) -> FailoverStatus {
        FailoverStatus {
            epoch,
            ..crate::pair::tests::failover(role, true, 0, true)
        }
    }

    pub(crate) fn machine(id: &str, role: Role, epoch: u64, reachable: bool) -> MachineView {
        MachineView {
            entry: ServerEntry {
                id: id.into(),
                name: format!("PBX {id}"),
                address: "192.0.2.1:7443".into(),
                fingerprint: String::new(),
                server_id: id.into(),
                added_unix: 0,
            },
            reachable,
            last_answer_unix: Some(100),
            last_role: Some(role),
            status: None,
            failover: reachable.then(|| failover(role, epoch)),
            sync: None,
            error: None,
            restore_blocked: None,
            standing_note: None,
            silent_note: None,
        }
    }

    fn status(access: TokenRole) -> ServerStatus {
        ServerStatus {
            server_id: "B".into(),
            name: "PBX B".into(),
            role: Role::Backup,
            standing: Default::default(),
            epoch: 1,
            version: "0.1.0".into(),
            api_version: 1,
            api_min_version: 1,
            uptime_secs: 1,
            host_uptime_secs: 1,
            hostname: "b".into(),
            fingerprint: String::new(),
            access,
            peer: lbs_protocol::PeerSummary::Unpaired,
            sample_interval_secs: 10,
            maintenance: None,
        }
    }

    fn snapshot(machines: Vec<MachineView>) -> Overview {
        let pair = PairEntry {
            id: "p".into(),
            name: "Main office".into(),
            servers: machines.iter().map(|m| m.entry.id.clone()).collect(),
            created_unix: 0,
        };
        Overview {
            at_unix: 200,
            offices: vec![office(pair, machines, Vec::new(), None, 200)],
        }
    }

    #[test]
    fn the_wizard_direction_follows_the_primary_even_when_it_is_silent() {
        let o = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Backup, 1, true),
        ]);
        let office = &o.offices[0];
        assert_eq!(office.primary.as_deref(), Some("A"));
        assert_eq!(office.backup.as_deref(), Some("B"));
        assert_eq!(office.state.level, PairLevel::Down);
        assert_eq!(worst(&o), Some(PairLevel::Down));
        assert_eq!(office.failover.label, "Fail over to PBX B");
        assert_eq!(office.failover.blocked, None);
    }

    #[test]
    fn the_failover_button_follows_the_snapshot() {
        let o = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, true),
        ]);
        assert_eq!(o.offices[0].failover.label, "Switch over to PBX B");
        assert_eq!(o.offices[0].failover.blocked, None);
        let mut viewer = machine("B", Role::Backup, 1, true);
        viewer.status = Some(status(TokenRole::Viewer));
        let o = snapshot(vec![machine("A", Role::Primary, 1, true), viewer]);
        assert!(
            o.offices[0]
                .failover
                .blocked
                .as_deref()
                .unwrap_or_default()
                .contains("view-only"),
            "{:?}",
            o.offices[0].failover
        );
        let o = snapshot(vec![machine("A", Role::Primary, 1, true)]);
        assert!(o.offices[0].failover.blocked.is_some());
    }

    #[test]
    fn files_are_put_back_only_through_a_server_that_answers_an_administrator() {
        assert_eq!(
            restore_blocked("PBX B", false, None).as_deref(),
            Some("PBX B does not answer.")
        );
        assert!(restore_blocked("PBX B", true, Some(&status(TokenRole::Viewer)))
            .unwrap_or_default()
            .contains("view-only"));
        assert_eq!(restore_blocked("PBX B", true, Some(&status(TokenRole::Admin))), None);
    }

    #[test]
    fn an_office_with_one_server_says_it_is_not_protected() {
        let o = snapshot(vec![machine("A", Role::Primary, 1, true)]);
        assert_eq!(o.offices[0].state.level, PairLevel::AtRisk);
        assert!(
            o.offices[0].state.sentence.contains("no partner"),
            "{:?}",
            o.offices[0].state
        );
        assert_eq!(o.offices[0].backup, None);
    }

    #[test]
    fn a_silent_primary_and_a_role_change_each_raise_one_alert() {
        let healthy = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, true),
        ]);
        let silent = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Backup, 1, true),
        ]);
        let promoted = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Primary, 2, true),
        ]);

        assert!(alerts(&healthy, &healthy).is_empty());
        let a = alerts(&healthy, &silent);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].title.contains("primary PBX A does not answer"), "{a:?}");
        // Still silent: no second alert.
        assert!(alerts(&silent, &silent).is_empty());
        let b = alerts(&silent, &promoted);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].title.contains("PBX B is now the primary"), "{b:?}");
        // A backup that follows the new epoch keeps its role: nothing to tell.
        let rejoined = snapshot(vec![
            machine("A", Role::Backup, 2, true),
            machine("B", Role::Primary, 2, true),
        ]);
        let followed = snapshot(vec![
            machine("A", Role::Backup, 3, true),
            machine("B", Role::Primary, 3, true),
        ]);
        assert!(alerts(&rejoined, &followed).is_empty());
    }

    #[test]
    fn maintenance_holds_what_the_work_causes_and_tells_what_is_left_when_it_ends() {
        let healthy = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, true),
        ]);
        let in_maintenance = |mut o: Overview| {
            let setting = crate::maintenance::tests::setting(100, "Sam");
            o.offices[0].maintenance = Some(crate::maintenance::MaintenanceView {
                setting,
                sentence: String::new(),
                detail: String::new(),
            });
            o
        };
        let silent = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Backup, 1, true),
        ]);
        // The primary goes silent during the work: nothing told.
        assert!(alerts(&in_maintenance(healthy.clone()), &in_maintenance(silent.clone())).is_empty());
        // A role change is told even then.
        let promoted = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Primary, 2, true),
        ]);
        let told = alerts(&in_maintenance(silent.clone()), &in_maintenance(promoted));
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].title.contains("PBX B is now the primary"), "{told:?}");
        // It ends with the primary still silent: told now.
        let left = alerts(&in_maintenance(silent.clone()), &silent);
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].title.contains("primary PBX A does not answer"), "{left:?}");
        // It ends with everything back: nothing to tell.
        assert!(alerts(&in_maintenance(silent), &healthy).is_empty());
    }

    #[test]
    fn no_server_answering_during_maintenance_is_not_its_end() {
        let pair = PairEntry {
            id: "p".into(),
            name: "Main office".into(),
            servers: vec!["A".into(), "B".into()],
            created_unix: 0,
        };
        let at = |machines: Vec<MachineView>, last: Option<&crate::maintenance::Reported>, now: i64| Overview {
            at_unix: now,
            offices: vec![office(pair.clone(), machines, Vec::new(), last, now)],
        };
        let on = crate::maintenance::tests::setting(100, "Sam");
        let mut b = machine("B", Role::Backup, 1, true);
        b.status = Some(ServerStatus {
            maintenance: Some(on.clone()),
            ..status(TokenRole::Admin)
        });
        // The primary is down for the work; only the backup answers, and reports the maintenance.
        let working = [machine("A", Role::Primary, 1, false), b];
        let last = crate::maintenance::remember(&working, None, 200);
        let before = at(working.to_vec(), None, 200);
        assert!(before.offices[0].maintenance.is_some());
        // Then the backup reboots as well (or this computer goes offline): nothing answers.
        let nobody = vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Backup, 1, false),
        ];
        let after = at(nobody.clone(), last.as_ref(), 210);
        let held = after.offices[0].maintenance.as_ref().expect("still in maintenance");
        assert!(held.sentence.contains("last reported by PBX B"), "{}", held.sentence);
        assert!(alerts(&before, &after).is_empty(), "{:?}", alerts(&before, &after));
        // Its time comes with both still silent: told then.
        let over = at(nobody, last.as_ref(), on.until_unix);
        assert_eq!(over.offices[0].maintenance, None);
        let told = alerts(&after, &over);
        assert_eq!(told.len(), 2, "{told:?}");
    }

    #[test]
    fn a_silent_backup_raises_one_alert_that_says_the_phones_still_work() {
        let healthy = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, true),
        ]);
        let silent = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, false),
        ]);
        let a = alerts(&healthy, &silent);
        assert_eq!(
            a,
            vec![Alert {
                title: "Main office: the backup PBX B stopped answering".into(),
                body: "The phones still work on PBX A, but nothing is being copied. Check that PBX B is on and \
                       connected; until it answers, a failure of the primary cannot be covered."
                    .into(),
            }]
        );
        assert!(alerts(&silent, &silent).is_empty(), "once, not at every poll");
        // Back, then silent again: told again.
        assert!(alerts(&silent, &healthy).is_empty());
        assert_eq!(alerts(&healthy, &silent).len(), 1);
        // Both silent at once: two alerts, and the backup's does not claim the phones work.
        let both = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            machine("B", Role::Backup, 1, false),
        ]);
        let a = alerts(&healthy, &both);
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a[0].title.contains("the primary PBX A does not answer"), "{a:?}");
        assert!(a[1].title.contains("the backup PBX B stopped answering"), "{a:?}");
        assert!(!a[1].body.contains("still work"), "{a:?}");
    }

    #[test]
    fn a_silent_box_is_shown_by_the_role_it_was_last_seen_in_never_as_a_current_one() {
        assert_eq!(silent_note(true, Some(Role::Primary), Some(100), 400), None);
        assert_eq!(
            silent_note(false, Some(Role::Primary), Some(100), 400).as_deref(),
            Some("Last seen as primary, silent for 5 min")
        );
        assert_eq!(
            silent_note(false, Some(Role::Backup), Some(100), 110).as_deref(),
            Some("Last seen as backup, silent for 10 s")
        );
        assert_eq!(
            silent_note(false, None, None, 110).as_deref(),
            Some("Has not answered yet")
        );
    }

    #[test]
    fn a_stopped_primary_and_a_lost_witness_each_raise_one_alert() {
        use crate::autopilot::tests::{armed, blocker};
        use lbs_protocol::{AutopilotStatus, BlockerKind, Fence};
        let with = |mut m: MachineView, a: &AutopilotStatus| {
            if let Some(f) = m.failover.as_mut() {
                f.autopilot = Some(a.clone());
            }
            m
        };
        let both = |a: &AutopilotStatus, b: &AutopilotStatus| {
            snapshot(vec![
                with(machine("A", Role::Primary, 1, true), a),
                with(machine("B", Role::Backup, 1, true), b),
            ])
        };
        let because = |kind, message: &str| AutopilotStatus {
            armed: false,
            blockers: vec![blocker(kind, message)],
            ..armed()
        };
        let healthy = both(&armed(), &armed());
        assert_eq!(healthy.offices[0].autopilot.level, AutopilotLevel::On);
        // The primary goes silent with its backup armed: told, and that the backup takes over.
        let silent = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            with(machine("B", Role::Backup, 1, true), &armed()),
        ]);
        let told = alerts(&healthy, &silent);
        assert_eq!(told.len(), 1, "{told:?}");
        // Then the backup holds back (the primary's phones answer): told once, with why.
        let holding = AutopilotStatus {
            held: Some("PBX A's phone system still answers.".into()),
            ..armed()
        };
        let held = snapshot(vec![
            machine("A", Role::Primary, 1, false),
            with(machine("B", Role::Backup, 1, true), &holding),
        ]);
        assert_eq!(
            alerts(&silent, &held),
            vec![Alert {
                title: "Main office: PBX B did not take over by itself".into(),
                body: "PBX A's phone system still answers. Open LBS Console: the failover wizard goes ahead if you \
                       know the primary is off."
                    .into(),
            }]
        );
        assert!(alerts(&held, &held).is_empty());
        assert!(
            told[0]
                .body
                .contains("Automatic failover is on: PBX B takes over by itself if PBX A is down."),
            "{told:?}"
        );
        // The witness lost: still on autopilot (two of three decide), told once that one more
        // loss would stop it.
        let witness = crate::autopilot::tests::witness_lost(armed());
        let lost = both(&witness, &witness);
        assert_eq!(lost.offices[0].autopilot.level, AutopilotLevel::On);
        assert_eq!(
            alerts(&healthy, &lost),
            vec![Alert {
                title: "Main office: the witness does not answer".into(),
                body: "Automatic failover still works, but one more lost server would stop it. Check that the \
                       witness machine is on and connected."
                    .into(),
            }]
        );
        assert!(alerts(&lost, &lost).is_empty(), "once, not at every poll");
        assert!(alerts(&lost, &healthy).is_empty(), "back: nothing to tell");
        // The vote lost: off, told.
        let no_vote = because(BlockerKind::NoQuorum, "PBX B cannot reach the vote.");
        let off = both(&no_vote, &no_vote);
        assert_eq!(
            alerts(&lost, &off),
            vec![Alert {
                title: "Main office: automatic failover is off".into(),
                body: "PBX B cannot reach the vote. The phones keep working; if the primary fails, fail over from \
                       LBS Console."
                    .into(),
            }]
        );
        // Switched off by a person: nothing to tell.
        let off = because(BlockerKind::SwitchedOff, "Switched off.");
        assert!(alerts(&healthy, &both(&off, &off)).is_empty());
        // The primary stops its phones, cut off: told once.
        let cut_off = AutopilotStatus {
            fenced: Some(Fence {
                since_unix: 150,
                message: "It could reach neither PBX B nor the witness.".into(),
            }),
            ..because(BlockerKind::NoQuorum, "No majority.")
        };
        let fenced = both(&cut_off, &witness);
        assert_eq!(fenced.offices[0].state.level, PairLevel::Down);
        assert_eq!(fenced.offices[0].autopilot.level, AutopilotLevel::Alarm);
        let told = alerts(&lost, &fenced);
        assert_eq!(
            told,
            vec![Alert {
                title: "Main office: PBX A stopped its phone system".into(),
                body: "It could reach neither PBX B nor the witness. The phones may be down until its partner takes \
                       over. Open LBS Console."
                    .into(),
            }]
        );
        assert!(alerts(&fenced, &fenced).is_empty());
    }

    #[test]
    fn a_backup_falling_behind_raises_an_alert_once() {
        let healthy = snapshot(vec![
            machine("A", Role::Primary, 1, true),
            machine("B", Role::Backup, 1, true),
        ]);
        let mut behind = healthy.clone();
        let b = &mut behind.offices[0].machines[1];
        b.sync = Some(crate::pair::tests::sync(SyncLinkState::Ok, Some(AT_RISK_LAG_SECS + 60)));
        let a = alerts(&healthy, &behind);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(a[0].title.contains("is 6 min behind"), "{a:?}");
        assert!(alerts(&behind, &behind).is_empty());
    }
}
