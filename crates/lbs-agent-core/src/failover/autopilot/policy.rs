//! The rules of automatic failover, as pure functions of what a box knows (no I/O, no clock:
//! times come in as durations measured on the monotonic clock), so each rule has a test. The
//! timeline they make is in docs/failover.md.
//!
//! - The backup takes over only when every blocker is clear, the vote says nobody holds the
//!   leader key (the primary's lease expired), and the primary has been silent for the
//!   heartbeat's silence plus half the lease — the time the primary has to fence itself — and
//!   then only if the primary's PBX does not answer SIP at its own address (checked by the caller).
//! - The primary fences itself when it has renewed nothing for half the lease and its partner has
//!   been silent for the heartbeat's silence: by then the backup may be about to take over.

use std::time::Duration;

use lbs_protocol::BlockerKind;

/// What the box knows when it asks whether the pair is on autopilot.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `[failover] automatic` and `[witness]` on this box, and the vote could be opened.
    pub configured: bool,
    pub paired: bool,
    /// The partner's last heartbeat said it is set up (`None`: never heard since start).
    pub partner_configured: Option<bool>,
    /// The partner's last heartbeat carried the same switch as this box's: a switch turned on
    /// here while the partner was away does not arm the pair until the partner has it.
    pub partner_agrees: bool,
    /// The pair's switch.
    pub switched_on: bool,
    pub maintenance: bool,
    /// This box reaches a majority of the vote.
    pub quorum: bool,
    /// The witness's member answers.
    pub witness_reachable: bool,
    /// How far the backup was behind at the primary's last heartbeat (the age of the oldest
    /// change it had not applied; zero when it had everything). `None`: not known.
    pub lag: Option<Duration>,
    pub prefer_service: bool,
    pub caught_up_within: Duration,
    /// Time left in the flap guard after the last automatic failover.
    pub flap_guard_left: Option<Duration>,
    /// The primary does not hold the leader key at its epoch as far as this box knows: on the
    /// primary, the key is not (yet) its own; on the backup, the key was never seen naming the
    /// primary at its current epoch (a primary a person made while the vote was down never
    /// fences itself, so it must not be taken over either).
    pub primary_without_key: bool,
}

/// Everything that keeps the pair from failing over by itself now, the main reason first.
pub fn blockers(f: &Facts) -> Vec<BlockerKind> {
    let mut b = Vec::new();
    if !f.configured {
        // Nothing else matters until it is set up.
        return vec![BlockerKind::NotSetUp];
    }
    if !f.paired {
        return vec![BlockerKind::NotPaired];
    }
    if !f.switched_on {
        b.push(BlockerKind::SwitchedOff);
    }
    if f.partner_configured != Some(true) || !f.partner_agrees {
        b.push(BlockerKind::PartnerNotSetUp);
    }
    if f.maintenance {
        b.push(BlockerKind::Maintenance);
    }
    if !f.quorum {
        b.push(BlockerKind::NoQuorum);
    }
    if !f.prefer_service && f.lag.is_none_or(|lag| lag > f.caught_up_within) {
        b.push(BlockerKind::BackupBehind);
    }
    if f.flap_guard_left.is_some_and(|left| !left.is_zero()) {
        b.push(BlockerKind::FlapGuard);
    }
    if f.primary_without_key && f.quorum {
        b.push(BlockerKind::NotLeader);
    }
    b
}

/// Warnings that do not stop it now but would with one more loss.
pub fn warnings(f: &Facts) -> Vec<BlockerKind> {
    if f.configured && f.quorum && !f.witness_reachable {
        vec![BlockerKind::WitnessUnreachable]
    } else {
        Vec::new()
    }
}

/// How long the partner must have been silent, by the heartbeat, before it counts as gone.
pub fn silence(heartbeat: Duration) -> Duration {
    crate::failover::heartbeat::timeout(heartbeat) + heartbeat * 2
}

/// The backup's wait after the primary's last word: its silence, plus half the lease for the
/// primary to fence itself (the primary starts fencing after the same silence).
pub fn takeover_after(heartbeat: Duration, lease: Duration) -> Duration {
    silence(heartbeat) + lease / 2
}

/// What the backup does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not now (the primary answers, its key is held, or a blocker).
    Wait,
    /// Every rule says go: check that the primary's PBX does not answer SIP, then take over.
    CheckSipThenTakeOver,
}

/// The backup's decision. `leader_absent`: a fresh read of the vote found nobody holding the
/// leader key; `partner_silent_for`: since the primary last answered or sent a heartbeat
/// (`None`: it answers).
pub fn backup_verdict(
    f: &Facts,
    leader_absent: bool,
    partner_silent_for: Option<Duration>,
    heartbeat: Duration,
    lease: Duration,
) -> Verdict {
    let silent_enough = partner_silent_for.is_some_and(|s| s >= takeover_after(heartbeat, lease));
    if leader_absent && silent_enough && blockers(f).is_empty() {
        Verdict::CheckSipThenTakeOver
    } else {
        Verdict::Wait
    }
}

/// Whether the primary must fence itself now: it has not renewed its claim for half the lease
/// (`since_renewal`: since the last renewal that succeeded was *sent*; `None`: never since
/// start, counted from the start) and its partner is silent.
pub fn primary_must_fence(
    since_renewal: Duration,
    partner_silent_for: Option<Duration>,
    heartbeat: Duration,
    lease: Duration,
) -> bool {
    since_renewal >= lease / 2 && partner_silent_for.is_some_and(|s| s >= silence(heartbeat))
}

/// Whether a fenced primary may run its PBX again: it holds the leader key again (nobody took
/// over), or its partner answers now as its backup, at an epoch not above its own, and has so
/// in at least two heartbeats at least a beat (and a second) apart — a promotion under way on
/// the partner would show in the later one.
pub fn fenced_may_resume(holds_key: bool, backup_answers: Option<(Duration, u32)>, heartbeat: Duration) -> bool {
    holds_key || backup_answers.is_some_and(|(d, n)| n >= 2 && d >= heartbeat.max(Duration::from_secs(1)))
}

/// SIP rounds without an answer from the primary's PBX the backup needs before it takes over:
/// one lost round (a busy PBX, a lost packet) must not move the phones off a PBX that serves.
pub const SILENT_SIP_ROUNDS: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(1);
    const LEASE: Duration = Duration::from_secs(10);

    fn ready() -> Facts {
        Facts {
            configured: true,
            paired: true,
            partner_configured: Some(true),
            partner_agrees: true,
            switched_on: true,
            quorum: true,
            witness_reachable: true,
            lag: Some(Duration::ZERO),
            caught_up_within: Duration::from_secs(60),
            ..Facts::default()
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_ready_pair_has_no_blocker() {
        assert!(blockers(&ready()).is_empty());
        assert!(warnings(&ready()).is_empty());
    }

    #[test]
    fn each_rule_blocks_on_its_own() {
        let cases: Vec<(Facts, BlockerKind)> = vec![
            (
                Facts {
                    configured: false,
                    ..ready()
                },
                BlockerKind::NotSetUp,
            ),
            (
                Facts {
                    paired: false,
                    ..ready()
                },
                BlockerKind::NotPaired,
            ),
            (
                Facts {
                    switched_on: false,
                    ..ready()
                },
                BlockerKind::SwitchedOff,
            ),
            (
                Facts {
                    partner_configured: Some(false),
                    ..ready()
                },
                BlockerKind::PartnerNotSetUp,
            ),
            (
                Facts {
                    partner_configured: None,
                    ..ready()
                },
                BlockerKind::PartnerNotSetUp,
            ),
            (
                Facts {
                    partner_agrees: false,
                    ..ready()
                },
                BlockerKind::PartnerNotSetUp,
            ),
            (
                Facts {
                    maintenance: true,
                    ..ready()
                },
                BlockerKind::Maintenance,
            ),
            (
                Facts {
                    quorum: false,
                    ..ready()
                },
                BlockerKind::NoQuorum,
            ),
            (
                Facts {
                    lag: Some(secs(61)),
                    ..ready()
                },
                BlockerKind::BackupBehind,
            ),
            (Facts { lag: None, ..ready() }, BlockerKind::BackupBehind),
            (
                Facts {
                    flap_guard_left: Some(secs(1)),
                    ..ready()
                },
                BlockerKind::FlapGuard,
            ),
            (
                Facts {
                    primary_without_key: true,
                    ..ready()
                },
                BlockerKind::NotLeader,
            ),
        ];
        for (facts, kind) in cases {
            assert_eq!(blockers(&facts), vec![kind], "{facts:?}");
        }
    }

    #[test]
    fn preferring_service_takes_over_a_backup_that_was_behind() {
        let f = Facts {
            lag: Some(secs(3600)),
            prefer_service: true,
            ..ready()
        };
        assert!(blockers(&f).is_empty());
        assert!(blockers(&Facts { lag: None, ..f }).is_empty());
    }

    #[test]
    fn the_flap_guard_ends() {
        assert!(blockers(&Facts {
            flap_guard_left: Some(Duration::ZERO),
            ..ready()
        })
        .is_empty());
    }

    #[test]
    fn a_lost_witness_is_a_warning_while_the_majority_holds() {
        let f = Facts {
            witness_reachable: false,
            ..ready()
        };
        assert!(blockers(&f).is_empty());
        assert_eq!(warnings(&f), vec![BlockerKind::WitnessUnreachable]);
        let lost = Facts { quorum: false, ..f };
        assert_eq!(blockers(&lost), vec![BlockerKind::NoQuorum]);
        assert!(warnings(&lost).is_empty(), "no quorum says more");
    }

    #[test]
    fn the_backup_takes_over_only_when_the_key_is_free_and_the_primary_silent_long_enough() {
        let f = ready();
        let wait = takeover_after(BEAT, LEASE);
        assert_eq!(wait, secs(2) + secs(2) + secs(5));
        assert_eq!(
            backup_verdict(&f, true, Some(wait), BEAT, LEASE),
            Verdict::CheckSipThenTakeOver
        );
        assert_eq!(
            backup_verdict(&f, false, Some(wait), BEAT, LEASE),
            Verdict::Wait,
            "key held"
        );
        assert_eq!(
            backup_verdict(&f, true, Some(wait - Duration::from_millis(1)), BEAT, LEASE),
            Verdict::Wait,
            "not silent long enough"
        );
        assert_eq!(backup_verdict(&f, true, None, BEAT, LEASE), Verdict::Wait, "it answers");
        let off = Facts {
            switched_on: false,
            ..f
        };
        assert_eq!(backup_verdict(&off, true, Some(wait), BEAT, LEASE), Verdict::Wait);
    }

    #[test]
    fn the_primary_fences_before_the_backup_may_take_over() {
        // The primary fences after the silence once half the lease has passed without renewal;
        // the backup waits half a lease longer than the same silence, and for the key to expire
        // (the whole lease): the primary always has half the lease to stop.
        let s = silence(BEAT);
        assert!(primary_must_fence(LEASE / 2, Some(s), BEAT, LEASE));
        assert!(!primary_must_fence(
            LEASE / 2 - Duration::from_millis(1),
            Some(s),
            BEAT,
            LEASE
        ));
        assert!(!primary_must_fence(
            LEASE,
            Some(s - Duration::from_millis(1)),
            BEAT,
            LEASE
        ));
        assert!(
            !primary_must_fence(LEASE * 10, None, BEAT, LEASE),
            "it sees its partner"
        );
        assert!(takeover_after(BEAT, LEASE) >= s + LEASE / 2);
    }

    #[test]
    fn a_fenced_primary_resumes_only_when_nobody_took_over() {
        assert!(fenced_may_resume(true, None, BEAT));
        assert!(!fenced_may_resume(false, None, BEAT));
        assert!(
            !fenced_may_resume(false, Some((Duration::from_millis(500), 3)), BEAT),
            "too soon"
        );
        assert!(
            !fenced_may_resume(false, Some((secs(5), 1)), BEAT),
            "one heartbeat only"
        );
        assert!(fenced_may_resume(false, Some((secs(1), 2)), BEAT));
    }
}
