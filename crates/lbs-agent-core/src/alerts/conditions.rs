//! What the alerts look at, and which box says what: from one snapshot of this box ([`Facts`]),
//! each condition's [`Observation`]. Pure, so every rule is unit-tested.
//!
//! Who sends what, so the office gets each problem once:
//! - "does not answer": each box about its partner (the only one that can see it);
//! - "not protected": the backup (it knows what it holds) for lag and its own errors; the primary
//!   only for errors on its side (a dump, a scan) that the backup cannot see. Not while the
//!   partner is silent: "does not answer" already says it;
//! - the PBX: each box about its own;
//! - "the office may switch back": the primary, once per role change;
//! - disk and memory: each box about itself; a disk failing by SMART too;
//! - what differs between the two machines that breaks a failover (a missing PRI card, a disk
//!   too small for the data): the backup, the box that would have to take over;
//! - the clocks: the backup (both boxes measure the same difference).

use std::collections::BTreeMap;

use lbs_protocol::{AutopilotStatus, BlockerKind, Difference, PbxStatus, Role};

use super::evaluate::{Observation, Seen};
use super::wording::{self, Unprotected};
use crate::config::AlertsConfig;
use crate::sampler::Latest;

/// The partner as the heartbeat sees it.
#[derive(Debug, Clone)]
pub struct PartnerFacts {
    pub name: String,
    pub reachable: bool,
    /// A heartbeat exchange has ended since start (answered or not).
    pub checked: bool,
    pub last_contact: Option<i64>,
    /// Its role in its last heartbeat.
    pub role: Option<Role>,
    /// Its clock minus this box's, as last measured (`None`: not known).
    pub clock_offset_secs: Option<i64>,
    /// The status's words when the clocks differ by more than `clock_skew_above`.
    pub clock_problem: Option<String>,
}

/// The copy, as this box sees it.
#[derive(Debug, Clone, Default)]
pub struct SyncFacts {
    /// (age of the oldest change not on the backup, files, bytes): the backup's view.
    pub behind: Option<(u64, u64, u64)>,
    /// Errors now, each with where it happens (a category's label, or "the link").
    pub errors: Vec<(String, String)>,
    /// The copy has been seen working since start (the backup: an exchange with the primary
    /// succeeded); until then "no error" means "not tried yet", not "protected".
    pub seen_working: bool,
}

/// The hold after a role change, on the primary.
#[derive(Debug, Clone)]
pub struct HoldFacts {
    pub epoch: u64,
    pub hold_secs: u64,
    pub primary_for_secs: u64,
    pub caught_up: bool,
}

/// One snapshot of this box.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: i64,
    /// This box's name.
    pub me: String,
    pub role: Role,
    /// Since when this box has had its role: a PBX reading older than that is about the role
    /// before.
    pub role_since: i64,
    /// When the alerts started looking: a partner never heard since is silent since then.
    pub started: i64,
    pub partner: Option<PartnerFacts>,
    pub pbx: PbxStatus,
    pub hold: Option<HoldFacts>,
    pub sync: SyncFacts,
    pub resources: Option<Latest>,
    /// Automatic failover as this box sees it (`None`: not set up).
    pub autopilot: Option<AutopilotStatus>,
    /// The machines compared (`None` until this box's inventory has been read).
    pub health: Option<HealthFacts>,
}

/// What the inventories say (see `inventory::parity`).
#[derive(Debug, Clone, Default)]
pub struct HealthFacts {
    /// This box's disks that fail by SMART (the `disk_failing` differences about this box).
    pub failing_disks: Vec<Difference>,
    /// The pair's critical differences other than a disk's health; `None` while the partner's
    /// inventory is not known (unpaired, or not received yet).
    pub critical: Option<Vec<Difference>>,
}

/// Since when each error has been the same: "failing with the same error for 10 min".
#[derive(Debug, Default)]
pub struct Streaks(BTreeMap<String, (String, i64)>);

impl Streaks {
    /// Takes the errors seen now; returns each with the time it was first seen unchanged.
    pub fn update(&mut self, now: i64, errors: &[(String, String)]) -> Vec<(String, String, i64)> {
        self.0.retain(|place, _| errors.iter().any(|(p, _)| p == place));
        errors
            .iter()
            .map(|(place, message)| {
                let entry = self.0.entry(place.clone()).or_insert_with(|| (message.clone(), now));
                if entry.0 != *message {
                    *entry = (message.clone(), now);
                }
                (place.clone(), message.clone(), entry.1)
            })
            .collect()
    }
}

/// Resources clear this many points under their threshold: a value hovering at the threshold
/// does not send a message at every sample.
const HYSTERESIS: f64 = 2.0;

pub const PARTNER_SILENT: &str = "partner_silent";
pub const NOT_PROTECTED: &str = "not_protected";
pub const PBX_STOPPED: &str = "pbx_stopped";
pub const PBX_ON_BACKUP: &str = "pbx_on_backup";
pub const HOLD_OVER: &str = "hold_over";
pub const MEMORY: &str = "memory";
pub const AUTOPILOT_VOTE: &str = "autopilot_vote";
pub const FENCED: &str = "fenced";
pub const AUTOPILOT_HELD: &str = "autopilot_held";
pub const CLOCK_SKEW: &str = "clock_skew";
pub const DISK_FAILING: &str = "disk_failing";
pub const PAIR_DIFFERS: &str = "pair_differs";

/// Every condition's observation now. `failing` is the output of [`Streaks::update`].
pub fn observe(f: &Facts, t: &AlertsConfig, failing: &[(String, String, i64)], open: &[String]) -> Vec<Observation> {
    let mut out = vec![
        partner_silent(f, t),
        not_protected(f, t, failing, open),
        pbx_stopped(f),
        pbx_on_backup(f),
        hold_over(f),
        memory(f, t),
        autopilot_vote(f),
        fenced(f),
        autopilot_held(f),
        clock_skew(f),
        disk_failing(f),
        pair_differs(f),
    ];
    out.extend(disks(f, t, open));
    out
}

fn observation(key: impl Into<String>, held: bool, seen: Seen) -> Observation {
    Observation {
        key: key.into(),
        held,
        lasting: true,
        seen,
    }
}

fn partner_silent(f: &Facts, t: &AlertsConfig) -> Observation {
    let seen = match &f.partner {
        None => Seen::Clear(wording::partner_unpaired(&f.me)),
        Some(p) if !p.checked => Seen::Unknown,
        Some(p) => {
            let silent_for = (f.now - p.last_contact.unwrap_or(f.started).max(f.started)).max(0) as u64;
            let since_contact = p.last_contact.map_or(silent_for, |c| (f.now - c).max(0) as u64);
            if p.reachable {
                Seen::Clear(wording::partner_back(&f.me, &p.name, p.role))
            } else if silent_for >= t.partner_silent_after {
                Seen::Active(wording::partner_silent(
                    &f.me,
                    f.role,
                    &p.name,
                    since_contact,
                    p.last_contact,
                ))
            } else {
                // Silent, but not for long enough yet.
                Seen::Unknown
            }
        }
    };
    observation(PARTNER_SILENT, true, seen)
}

fn not_protected(f: &Facts, t: &AlertsConfig, failing: &[(String, String, i64)], open: &[String]) -> Observation {
    let partner = match &f.partner {
        // Nothing to protect with.
        None => {
            return observation(
                NOT_PROTECTED,
                true,
                Seen::Clear(wording::protected_again(&f.me, f.role)),
            )
        }
        // Hidden by "does not answer", which says it already.
        Some(p) if !p.reachable || !p.checked => return observation(NOT_PROTECTED, true, Seen::Unknown),
        Some(p) => p,
    };
    let behind = match f.role {
        Role::Backup => f.sync.behind.filter(|(lag, _, _)| *lag > t.sync_behind),
        Role::Primary => None,
    };
    let failing: Vec<(String, String, i64)> = failing
        .iter()
        .filter(|(_, _, since)| (f.now - since).max(0) as u64 >= t.sync_failing_for)
        .cloned()
        .collect();
    let seen = if behind.is_some() || !failing.is_empty() {
        Seen::Active(wording::not_protected(
            &f.me,
            f.role,
            &partner.name,
            &Unprotected { behind, failing },
        ))
    } else if open.iter().any(|k| k == NOT_PROTECTED) && (!f.sync.errors.is_empty() || !f.sync.seen_working) {
        // Still failing (a different error now, not yet for long enough), or not tried yet
        // since a restart: not over.
        Seen::Unknown
    } else {
        Seen::Clear(wording::protected_again(&f.me, f.role))
    };
    observation(NOT_PROTECTED, true, seen)
}

/// The PBX reading, if it was taken in the current role.
fn pbx_running(f: &Facts) -> Option<bool> {
    f.pbx
        .running
        .filter(|_| f.pbx.checked_unix.is_some_and(|c| c > f.role_since))
}

fn pbx_stopped(f: &Facts) -> Observation {
    let partner = f.partner.as_ref().map(|p| p.name.as_str());
    let seen = match (f.role, pbx_running(f)) {
        (Role::Primary, Some(false)) if f.pbx.should_run => Seen::Active(wording::pbx_stopped(&f.me, partner)),
        (Role::Primary, None) => Seen::Unknown,
        // Not while a handover or the start-up settling keeps it stopped on purpose.
        (Role::Primary, Some(false)) => Seen::Unknown,
        (role, _) => Seen::Clear(wording::pbx_running_again(&f.me, role)),
    };
    observation(PBX_STOPPED, true, seen)
}

fn pbx_on_backup(f: &Facts) -> Observation {
    let seen = match (f.role, pbx_running(f)) {
        (Role::Backup, Some(true)) => Seen::Active(wording::pbx_on_backup(&f.me, f.pbx.problem.as_deref())),
        (Role::Backup, None) => Seen::Unknown,
        (role, _) => Seen::Clear(wording::pbx_off_backup(&f.me, role)),
    };
    observation(PBX_ON_BACKUP, true, seen)
}

fn hold_over(f: &Facts) -> Observation {
    let partner = f
        .partner
        .as_ref()
        .filter(|p| p.reachable && p.role == Some(Role::Backup));
    let seen = match (&f.hold, partner) {
        // Only after a role change (a box that has been the primary from the start has no hold
        // to end), once the partner is back as the backup and has everything.
        (Some(h), Some(p)) if h.epoch > 1 && h.hold_secs > 0 && f.role == Role::Primary => {
            let text = wording::hold_over(&f.me, &p.name, h.primary_for_secs);
            if h.primary_for_secs >= h.hold_secs && h.caught_up {
                Seen::Active(text)
            } else if h.primary_for_secs < h.hold_secs {
                Seen::Clear(text)
            } else {
                Seen::Unknown
            }
        }
        (_, _) if f.role == Role::Backup => Seen::Clear(wording::hold_over(&f.me, "its partner", 0)),
        _ => Seen::Unknown,
    };
    Observation {
        key: HOLD_OVER.into(),
        held: true,
        lasting: false,
        seen,
    }
}

/// The vote, from the primary (the box that holds the key; the backup cut off from it is cut off
/// from the primary too, which "does not answer" says): automatic failover is off without a
/// majority, and one loss from off without the witness. Not while a person switched it off.
fn autopilot_vote(f: &Facts) -> Observation {
    let seen = match &f.autopilot {
        Some(a) if a.configured && f.role == Role::Primary && a.fenced.is_none() => {
            let kinds: Vec<BlockerKind> = a.blockers.iter().map(|b| b.kind).collect();
            if kinds.contains(&BlockerKind::SwitchedOff) {
                Seen::Clear(wording::vote_back(&f.me))
            } else if let Some(b) = a
                .blockers
                .iter()
                .find(|b| matches!(b.kind, BlockerKind::NoQuorum | BlockerKind::WitnessUnreachable))
            {
                // No "since": the vote has not been asked yet (the agent just started), which is
                // not a lost vote; a restart would otherwise send "lost" and "back" each time.
                if b.since_unix.is_none() {
                    Seen::Unknown
                } else {
                    Seen::Active(wording::vote_lost(&f.me, b.kind == BlockerKind::NoQuorum, &b.message))
                }
            } else if a.quorum {
                Seen::Clear(wording::vote_back(&f.me))
            } else {
                Seen::Unknown
            }
        }
        Some(a) if a.configured && f.role == Role::Primary => Seen::Unknown,
        _ => Seen::Clear(wording::vote_back(&f.me)),
    };
    observation(AUTOPILOT_VOTE, true, seen)
}

/// A primary that fenced itself says so (when its message can get out).
fn fenced(f: &Facts) -> Observation {
    let seen = match f.autopilot.as_ref().and_then(|a| a.fenced.as_ref()) {
        Some(fence) => Seen::Active(wording::fenced(&f.me, &fence.message)),
        None => Seen::Clear(wording::unfenced(&f.me, f.role)),
    };
    // Not held by maintenance: the phones of this box are stopped.
    observation(FENCED, false, seen)
}

/// The backup that did not take over, and why.
fn autopilot_held(f: &Facts) -> Observation {
    let seen = match f.autopilot.as_ref().and_then(|a| a.held.as_ref()) {
        Some(why) if f.role == Role::Backup => Seen::Active(wording::autopilot_held(&f.me, why)),
        _ => Seen::Clear(wording::autopilot_not_held(&f.me)),
    };
    observation(AUTOPILOT_HELD, true, seen)
}

/// The two clocks differ: said by the backup, while its partner answers (a silent partner's
/// clock is not known now, and "does not answer" says more).
fn clock_skew(f: &Facts) -> Observation {
    let seen = match &f.partner {
        Some(p) if f.role == Role::Backup && p.reachable => match (&p.clock_problem, p.clock_offset_secs) {
            (Some(_), Some(offset)) => Seen::Active(wording::clock_skew(&f.me, &p.name, offset)),
            (None, Some(_)) => Seen::Clear(wording::clock_ok(&f.me, &p.name)),
            _ => Seen::Unknown,
        },
        Some(_) if f.role == Role::Backup => Seen::Unknown,
        Some(p) => Seen::Clear(wording::clock_ok(&f.me, &p.name)),
        None => Seen::Clear(wording::clock_ok(&f.me, "its partner")),
    };
    observation(CLOCK_SKEW, false, seen)
}

/// This box's disks failing by SMART: each box about its own. Not held by maintenance: the work
/// does not make a disk fail.
fn disk_failing(f: &Facts) -> Observation {
    let seen = match &f.health {
        None => Seen::Unknown,
        Some(h) if h.failing_disks.is_empty() => Seen::Clear(wording::disks_ok(&f.me)),
        Some(h) => Seen::Active(wording::disks_failing(&f.me, &h.failing_disks)),
    };
    observation(DISK_FAILING, false, seen)
}

/// What would break after a failover (a card or a disk the backup lacks): the backup says it.
/// Held by maintenance: a technician fitting a card makes the boxes differ for a while.
fn pair_differs(f: &Facts) -> Observation {
    let partner = f.partner.as_ref().map_or("its partner", |p| p.name.as_str());
    let seen = match (&f.health, f.role) {
        (_, Role::Primary) => Seen::Clear(wording::pair_matches(&f.me, partner)),
        (None, _) | (Some(HealthFacts { critical: None, .. }), _) => Seen::Unknown,
        (
            Some(HealthFacts {
                critical: Some(list), ..
            }),
            _,
        ) if list.is_empty() => Seen::Clear(wording::pair_matches(&f.me, partner)),
        (
            Some(HealthFacts {
                critical: Some(list), ..
            }),
            _,
        ) => Seen::Active(wording::pair_differs(&f.me, partner, list)),
    };
    observation(PAIR_DIFFERS, true, seen)
}

fn memory(f: &Facts, t: &AlertsConfig) -> Observation {
    let used = f.resources.as_ref().and_then(Latest::memory_percent);
    let above = f64::from(t.memory_used_above);
    let seen = match used {
        None => Seen::Unknown,
        Some(u) if u > above => Seen::Active(wording::memory_high(&f.me, u, t.memory_used_above)),
        Some(u) if u <= above - HYSTERESIS => Seen::Clear(wording::memory_ok(&f.me, u)),
        Some(_) => Seen::Unknown,
    };
    observation(MEMORY, false, seen)
}

fn disks(f: &Facts, t: &AlertsConfig, open: &[String]) -> Vec<Observation> {
    let Some(r) = &f.resources else { return Vec::new() };
    let above = f64::from(t.disk_used_above);
    let mut out: Vec<Observation> = r
        .disks
        .iter()
        .map(|(mount, used)| {
            let seen = if *used > above {
                Seen::Active(wording::disk_full(&f.me, mount, *used, t.disk_used_above))
            } else if *used <= above - HYSTERESIS {
                Seen::Clear(wording::disk_ok(&f.me, mount, *used))
            } else {
                Seen::Unknown
            };
            observation(format!("disk:{mount}"), false, seen)
        })
        .collect();
    // A mount no longer watched (the configuration changed): its problem is closed quietly.
    for key in open.iter().filter(|k| k.starts_with("disk:")) {
        if !out.iter().any(|o| &o.key == key) {
            out.push(Observation {
                key: key.clone(),
                held: false,
                lasting: false,
                seen: Seen::Clear(wording::disk_ok(&f.me, &key["disk:".len()..], 0.0)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AlertsConfig {
        toml::from_str("").unwrap()
    }

    fn facts(role: Role) -> Facts {
        Facts {
            now: 10_000,
            me: "PBX B".into(),
            role,
            role_since: 500,
            started: 1_000,
            partner: Some(PartnerFacts {
                name: "PBX A".into(),
                reachable: true,
                checked: true,
                last_contact: Some(10_000),
                role: Some(match role {
                    Role::Primary => Role::Backup,
                    Role::Backup => Role::Primary,
                }),
                clock_offset_secs: Some(0),
                clock_problem: None,
            }),
            pbx: PbxStatus {
                managed: true,
                running: Some(role == Role::Primary),
                should_run: role == Role::Primary,
                problem: None,
                checked_unix: Some(10_000),
            },
            hold: None,
            sync: SyncFacts::default(),
            resources: Some(Latest {
                at_unix: 10_000,
                memory_used_bytes: Some(1.0),
                memory_total_bytes: Some(4.0),
                disks: vec![("/".into(), 50.0)],
            }),
            autopilot: None,
            health: None,
        }
    }

    fn difference(code: &str, message: &str) -> Difference {
        Difference {
            severity: lbs_protocol::Severity::Critical,
            area: lbs_protocol::HealthArea::Telephony,
            code: code.into(),
            server_id: Some("b".into()),
            subject: format!("{code} subject"),
            message: message.into(),
            fix: format!("fix {code}"),
        }
    }

    fn seen_now(f: &Facts, key: &str) -> Seen {
        seen(&observe(f, &config(), &[], &[]), key).clone()
    }

    #[test]
    fn a_failing_disk_is_said_by_its_own_box_whatever_its_role() {
        for role in [Role::Primary, Role::Backup] {
            let mut f = facts(role);
            assert!(matches!(seen_now(&f, DISK_FAILING), Seen::Unknown), "not read yet");
            f.health = Some(HealthFacts {
                failing_disks: vec![difference(
                    "disk_failing",
                    "A disk of PBX B (sda) reports failing sectors.",
                )],
                critical: None,
            });
            let Seen::Active(text) = seen_now(&f, DISK_FAILING) else {
                panic!()
            };
            assert_eq!(text.title, "A disk of PBX B is failing");
            assert!(
                text.message.contains("(sda) reports failing sectors"),
                "{}",
                text.message
            );
            f.health = Some(HealthFacts::default());
            assert!(matches!(seen_now(&f, DISK_FAILING), Seen::Clear(_)));
        }
    }

    #[test]
    fn what_breaks_a_failover_is_said_by_the_backup_once_the_partner_is_known() {
        let mut f = facts(Role::Backup);
        f.health = Some(HealthFacts::default());
        assert!(
            matches!(seen_now(&f, PAIR_DIFFERS), Seen::Unknown),
            "the partner's inventory is not known"
        );
        let card = difference(
            "telephony_card_missing",
            "PBX B has no PRI card: calls on the PRI lines stop.",
        );
        f.health = Some(HealthFacts {
            failing_disks: Vec::new(),
            critical: Some(vec![card.clone()]),
        });
        let Seen::Active(text) = seen_now(&f, PAIR_DIFFERS) else {
            panic!()
        };
        assert_eq!(text.title, "telephony_card_missing subject");
        assert!(text.message.contains("calls on the PRI lines stop"), "{}", text.message);
        assert!(text.todo.contains("fix telephony_card_missing") && text.todo.contains("lbs-agent health"));
        let mut p = facts(Role::Primary);
        p.health = f.health.clone();
        assert!(
            matches!(seen_now(&p, PAIR_DIFFERS), Seen::Clear(_)),
            "the primary leaves it to the backup"
        );
        f.health = Some(HealthFacts {
            failing_disks: Vec::new(),
            critical: Some(vec![card.clone(), difference("disk_too_small", "too small")]),
        });
        let Seen::Active(text) = seen_now(&f, PAIR_DIFFERS) else {
            panic!()
        };
        assert_eq!(
            text.title,
            "PBX B cannot fully replace PBX A: 2 things would break after a failover"
        );
    }

    fn autopilot(blockers: &[BlockerKind]) -> AutopilotStatus {
        AutopilotStatus {
            configured: true,
            switch: None,
            armed: blockers.iter().all(|b| *b == BlockerKind::WitnessUnreachable),
            blockers: blockers
                .iter()
                .map(|&kind| lbs_protocol::AutopilotBlocker {
                    kind,
                    since_unix: Some(9_000),
                    until_unix: None,
                    message: format!("{kind:?} explained."),
                })
                .collect(),
            members: Vec::new(),
            quorum: !blockers.contains(&BlockerKind::NoQuorum),
            leader: None,
            last_automatic: None,
            fenced: None,
            held: None,
            settings: lbs_protocol::AutopilotSettings {
                lease_secs: 10,
                takeover_secs: 11,
                prefer_service: false,
                caught_up_within_secs: 60,
                flap_guard_secs: 3600,
            },
            summary: String::new(),
        }
    }

    fn seen<'a>(obs: &'a [Observation], key: &str) -> &'a Seen {
        &obs.iter()
            .find(|o| o.key == key)
            .unwrap_or_else(|| panic!("no {key}"))
            .seen
    }

    fn active(s: &Seen) -> bool {
        matches!(s, Seen::Active(_))
    }

    #[test]
    fn a_healthy_pair_has_no_problem() {
        for role in [Role::Primary, Role::Backup] {
            let obs = observe(&facts(role), &config(), &[], &[]);
            assert!(obs.iter().all(|o| !active(&o.seen)), "{obs:?}");
        }
    }

    #[test]
    fn the_partner_is_silent_after_the_threshold_and_counted_from_start_if_never_heard() {
        let mut f = facts(Role::Backup);
        let p = f.partner.as_mut().unwrap();
        p.reachable = false;
        p.last_contact = Some(10_000 - 59);
        assert_eq!(seen(&observe(&f, &config(), &[], &[]), PARTNER_SILENT), &Seen::Unknown);
        f.partner.as_mut().unwrap().last_contact = Some(10_000 - 60);
        let obs = observe(&f, &config(), &[], &[]);
        match seen(&obs, PARTNER_SILENT) {
            Seen::Active(t) => assert_eq!(t.title, "PBX A (the primary) does not answer — the phones may be down"),
            other => panic!("{other:?}"),
        }
        // Never heard since this agent started 30 s ago: not yet.
        f.partner.as_mut().unwrap().last_contact = None;
        f.started = f.now - 30;
        assert_eq!(seen(&observe(&f, &config(), &[], &[]), PARTNER_SILENT), &Seen::Unknown);
        f.started = f.now - 61;
        assert!(active(seen(&observe(&f, &config(), &[], &[]), PARTNER_SILENT)));
        // Not asked yet: cannot tell.
        f.partner.as_mut().unwrap().checked = false;
        assert_eq!(seen(&observe(&f, &config(), &[], &[]), PARTNER_SILENT), &Seen::Unknown);
    }

    #[test]
    fn not_protected_is_the_backups_to_say_and_hidden_while_the_partner_is_silent() {
        let t = config();
        let mut f = facts(Role::Backup);
        f.sync.behind = Some((15 * 60 + 1, 12, 3_000_000));
        let obs = observe(&f, &t, &[], &[]);
        match seen(&obs, NOT_PROTECTED) {
            Seen::Active(text) => {
                assert_eq!(text.title, "Not protected: the backup PBX B is 15 min behind");
                assert!(text.message.contains("12 changed files"), "{}", text.message);
            }
            other => panic!("{other:?}"),
        }
        // The same lag seen by the primary is not its to say.
        let mut p = facts(Role::Primary);
        p.sync.behind = f.sync.behind;
        assert!(!active(seen(&observe(&p, &t, &[], &[]), NOT_PROTECTED)));
        // The partner silent: "does not answer" says it; nothing changes here.
        f.partner.as_mut().unwrap().reachable = false;
        assert_eq!(seen(&observe(&f, &t, &[], &[]), NOT_PROTECTED), &Seen::Unknown);
    }

    #[test]
    fn the_same_error_for_long_enough_is_not_protected() {
        let t = config();
        let mut streaks = Streaks::default();
        let err = |m: &str| vec![("Voicemail".to_string(), m.to_string())];
        let mut f = facts(Role::Backup);
        f.sync.errors = err("disk full");
        assert_eq!(streaks.update(1_000, &f.sync.errors)[0].2, 1_000);
        // The same error later keeps its start; a different one starts again.
        assert_eq!(streaks.update(1_300, &f.sync.errors)[0].2, 1_000);
        let failing = streaks.update(1_600, &f.sync.errors);
        f.now = 1_599;
        assert!(!active(seen(&observe(&f, &t, &failing, &[]), NOT_PROTECTED)));
        f.now = 1_600;
        let obs = observe(&f, &t, &failing, &[]);
        match seen(&obs, NOT_PROTECTED) {
            Seen::Active(text) => assert!(text.message.contains("disk full"), "{}", text.message),
            other => panic!("{other:?}"),
        }
        f.sync.errors = err("permission denied");
        let failing = streaks.update(1_700, &f.sync.errors);
        assert_eq!(failing[0].2, 1_700);
        f.now = 1_700;
        let open = [NOT_PROTECTED.to_string()];
        assert_eq!(
            seen(&observe(&f, &t, &failing, &open), NOT_PROTECTED),
            &Seen::Unknown,
            "still failing, differently: not over"
        );
        f.sync.errors.clear();
        let failing = streaks.update(1_800, &f.sync.errors);
        assert_eq!(
            seen(&observe(&f, &t, &failing, &open), NOT_PROTECTED),
            &Seen::Unknown,
            "no error yet, but no success either (just restarted): not over"
        );
        f.sync.seen_working = true;
        assert!(matches!(
            seen(&observe(&f, &t, &failing, &open), NOT_PROTECTED),
            Seen::Clear(_)
        ));
    }

    #[test]
    fn the_pbx_belongs_on_the_primary_only() {
        let mut f = facts(Role::Primary);
        f.pbx.running = Some(false);
        assert!(active(seen(&observe(&f, &config(), &[], &[]), PBX_STOPPED)));
        f.pbx.should_run = false;
        assert_eq!(
            seen(&observe(&f, &config(), &[], &[]), PBX_STOPPED),
            &Seen::Unknown,
            "handing over"
        );
        let mut b = facts(Role::Backup);
        b.pbx.running = Some(true);
        let obs = observe(&b, &config(), &[], &[]);
        assert!(active(seen(&obs, PBX_ON_BACKUP)));
        assert!(!active(seen(&obs, PBX_STOPPED)));
        // A reading from before the role changed says nothing about the role now.
        b.role_since = 10_000;
        assert_eq!(seen(&observe(&b, &config(), &[], &[]), PBX_ON_BACKUP), &Seen::Unknown);
    }

    #[test]
    fn the_office_may_switch_back_once_the_hold_is_over_and_the_copy_complete() {
        let mut f = facts(Role::Primary);
        f.hold = Some(HoldFacts {
            epoch: 2,
            hold_secs: 3600,
            primary_for_secs: 3599,
            caught_up: true,
        });
        assert!(matches!(
            seen(&observe(&f, &config(), &[], &[]), HOLD_OVER),
            Seen::Clear(_)
        ));
        f.hold.as_mut().unwrap().primary_for_secs = 3600;
        let obs = observe(&f, &config(), &[], &[]);
        assert!(active(seen(&obs, HOLD_OVER)));
        assert!(!obs.iter().find(|o| o.key == HOLD_OVER).unwrap().lasting);
        f.hold.as_mut().unwrap().caught_up = false;
        assert_eq!(seen(&observe(&f, &config(), &[], &[]), HOLD_OVER), &Seen::Unknown);
        // The first primary of a pair never had a role change to settle.
        f.hold = Some(HoldFacts {
            epoch: 1,
            hold_secs: 3600,
            primary_for_secs: 7200,
            caught_up: true,
        });
        assert!(!active(seen(&observe(&f, &config(), &[], &[]), HOLD_OVER)));
    }

    #[test]
    fn the_primary_tells_of_a_lost_vote_unless_a_person_switched_the_autopilot_off() {
        let mut f = facts(Role::Primary);
        let vote = |f: &Facts| seen(&observe(f, &config(), &[], &[]), AUTOPILOT_VOTE).clone();
        assert!(matches!(vote(&f), Seen::Clear(_)), "not set up: nothing to say");
        f.autopilot = Some(autopilot(&[]));
        assert!(matches!(vote(&f), Seen::Clear(_)));
        f.autopilot = Some(autopilot(&[BlockerKind::WitnessUnreachable]));
        let Seen::Active(t) = vote(&f) else {
            panic!("the witness")
        };
        assert!(t.title.contains("witness does not answer"), "{}", t.title);
        f.autopilot = Some(autopilot(&[BlockerKind::NoQuorum]));
        let Seen::Active(t) = vote(&f) else { panic!("no quorum") };
        assert!(t.title.contains("Automatic failover is off"), "{}", t.title);
        assert!(t.message.contains("NoQuorum explained."), "{}", t.message);
        // Just started, the vote not asked yet (no "since"): not a lost vote, nothing sent.
        let mut fresh = autopilot(&[BlockerKind::NoQuorum]);
        fresh.blockers[0].since_unix = None;
        f.autopilot = Some(fresh);
        assert_eq!(vote(&f), Seen::Unknown);
        f.autopilot = Some(autopilot(&[BlockerKind::SwitchedOff, BlockerKind::NoQuorum]));
        assert!(matches!(vote(&f), Seen::Clear(_)), "a person switched it off");
        let mut b = facts(Role::Backup);
        b.autopilot = Some(autopilot(&[BlockerKind::NoQuorum]));
        assert!(matches!(vote(&b), Seen::Clear(_)), "the primary says it");
    }

    #[test]
    fn a_fence_and_a_held_takeover_are_told_by_the_box_concerned() {
        let mut f = facts(Role::Primary);
        let mut a = autopilot(&[BlockerKind::NoQuorum]);
        a.fenced = Some(lbs_protocol::Fence {
            since_unix: 9_000,
            message: "PBX B lost both.".into(),
        });
        f.autopilot = Some(a);
        let obs = observe(&f, &config(), &[], &[]);
        let Seen::Active(t) = seen(&obs, FENCED) else {
            panic!("fenced")
        };
        assert_eq!(t.message, "PBX B lost both.");
        assert!(
            !obs.iter().find(|o| o.key == FENCED).unwrap().held,
            "not held by maintenance"
        );
        assert_eq!(seen(&obs, AUTOPILOT_VOTE), &Seen::Unknown, "the fence says it");
        let mut b = facts(Role::Backup);
        let mut a = autopilot(&[]);
        a.held = Some("PBX A's PBX still answers.".into());
        b.autopilot = Some(a);
        let Seen::Active(t) = seen(&observe(&b, &config(), &[], &[]), AUTOPILOT_HELD).clone() else {
            panic!("held")
        };
        assert!(t.title.contains("did not take over"), "{}", t.title);
    }

    #[test]
    fn disk_and_memory_above_their_thresholds_with_a_margin_to_clear() {
        let t: AlertsConfig = toml::from_str("disk_used_above = 80\nmemory_used_above = 50").unwrap();
        let mut f = facts(Role::Primary);
        f.resources = Some(Latest {
            at_unix: 0,
            memory_used_bytes: Some(3.0),
            memory_total_bytes: Some(4.0),
            disks: vec![("/".into(), 85.0), ("/var".into(), 79.0)],
        });
        let obs = observe(&f, &t, &[], &[]);
        assert!(active(seen(&obs, MEMORY)));
        assert!(active(seen(&obs, "disk:/")));
        assert_eq!(seen(&obs, "disk:/var"), &Seen::Unknown, "within the margin");
        let open = ["disk:/gone".to_string()];
        let obs = observe(&f, &t, &[], &open);
        assert!(matches!(seen(&obs, "disk:/gone"), Seen::Clear(_)));
    }

    #[test]
    fn the_backup_says_when_the_clocks_differ_and_when_they_agree_again() {
        let mut f = facts(Role::Backup);
        assert!(matches!(
            seen(&observe(&f, &config(), &[], &[]), CLOCK_SKEW),
            Seen::Clear(_)
        ));
        let p = f.partner.as_mut().unwrap();
        p.clock_offset_secs = Some(-125);
        p.clock_problem = Some("PBX A's clock is 2m 5s behind this box's".into());
        let obs = observe(&f, &config(), &[], &[]);
        let Seen::Active(t) = seen(&obs, CLOCK_SKEW) else {
            panic!("{obs:?}")
        };
        assert_eq!(t.title, "The clocks of PBX B and PBX A differ by 2 min");
        assert!(
            t.message.starts_with("PBX A's clock is 2 min behind PBX B's."),
            "{}",
            t.message
        );
        assert!(t.todo.contains("timedatectl set-ntp true"));
        // Not held by maintenance: a wrong clock is nobody's work.
        assert!(!obs.iter().find(|o| o.key == CLOCK_SKEW).unwrap().held);
        // The primary does not say it too; a silent partner's clock is not known now.
        assert!(matches!(
            seen(
                &observe(
                    &{
                        let mut p = f.clone();
                        p.role = Role::Primary;
                        p
                    },
                    &config(),
                    &[],
                    &[]
                ),
                CLOCK_SKEW
            ),
            Seen::Clear(_)
        ));
        f.partner.as_mut().unwrap().reachable = false;
        assert_eq!(seen(&observe(&f, &config(), &[], &[]), CLOCK_SKEW), &Seen::Unknown);
    }
}
