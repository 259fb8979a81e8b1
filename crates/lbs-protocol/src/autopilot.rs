//! Automatic failover ("autopilot") on the wire: what a box says about it
//! (`GET /api/v1/autopilot`, and inside the failover status), how a person switches it on or off
//! for the pair (`PUT /api/v1/autopilot`, admin), and the switch the two boxes exchange in every
//! heartbeat so that they agree on it.
//!
//! The vote that makes it safe comes from an etcd cluster of three members (PBX A, PBX B and a
//! witness); see `docs/failover.md`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::PartnerNotice;

/// The manager's switch for the pair: on or off, who set it and when. Of two switches, the one
/// set later wins (the boxes exchange it like the maintenance record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotSwitch {
    pub on: bool,
    /// When it was set (Unix milliseconds, the setting box's clock).
    #[ts(type = "number")]
    pub at_unix_ms: i64,
    /// Who set it (the name given, or the access token's label).
    pub by: String,
    pub reason: Option<String>,
}

/// `PUT /api/v1/autopilot` (admin): switches automatic failover on or off for the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotRequest {
    pub on: bool,
    /// Why, in the person's words; required to switch it off (the office should know why it lost
    /// its autopilot), optional to switch it on.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who, as they give it; without it, the access token's label.
    #[serde(default)]
    pub by: Option<String>,
}

/// What keeps the pair from failing over by itself right now. Each comes with a sentence for
/// the office manager (`AutopilotBlocker::message`) that says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum BlockerKind {
    /// `[failover] automatic` is not set, or the witness is not set up, on this box.
    NotSetUp,
    /// The partner box is not set up for it (or runs an agent that does not know it).
    PartnerNotSetUp,
    /// This box has no partner.
    NotPaired,
    /// A person switched it off.
    SwitchedOff,
    /// Maintenance is on.
    Maintenance,
    /// This box cannot reach a majority of the vote (the witness and the partner's member).
    NoQuorum,
    /// The witness's member does not answer (the vote still has a majority; one more loss and
    /// it would not). A warning, not a blocker: it comes after the blockers, and a box that
    /// gives only this one is still armed.
    WitnessUnreachable,
    /// The backup is behind the primary by more than the pair accepts to lose.
    BackupBehind,
    /// An automatic failover happened recently: the next one waits out the flap guard.
    FlapGuard,
    /// This box is the primary but does not hold the leader key yet (it is taking it).
    NotLeader,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotBlocker {
    pub kind: BlockerKind,
    /// Since when this has held (Unix seconds), when known.
    #[ts(type = "number | null")]
    pub since_unix: Option<i64>,
    /// Until when, for one that ends by itself (the flap guard, a maintenance).
    #[ts(type = "number | null")]
    pub until_unix: Option<i64>,
    /// For the office manager: what it is and what to do.
    pub message: String,
}

/// One member of the vote as this box sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VoteMember {
    /// "PBX A", "PBX B" or "witness".
    pub name: String,
    /// Its client address, e.g. `https://192.168.1.5:2379`.
    pub endpoint: String,
    pub reachable: bool,
    /// Since when it has been out of reach (Unix seconds), while it is.
    #[ts(type = "number | null")]
    pub unreachable_since_unix: Option<i64>,
    /// Why not, in plain words, while it is out of reach.
    pub problem: Option<String>,
}

/// The last automatic failover the pair made (kept in the vote, so both boxes know it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutomaticFailover {
    #[ts(type = "number")]
    pub at_unix: i64,
    /// The box that took over.
    pub by: String,
    #[ts(type = "number")]
    pub epoch: u64,
}

/// A primary that lost both its partner and the vote stops its PBX and lets the address go
/// before its lease can pass to the partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Fence {
    #[ts(type = "number")]
    pub since_unix: i64,
    pub message: String,
}

/// The settings in effect (from `[failover]` in the agent's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotSettings {
    /// How long the primary's leader key outlives its last renewal.
    #[ts(type = "number")]
    pub lease_secs: u64,
    /// About how long after the primary goes silent the backup takes over: the heartbeat's
    /// silence plus half the lease, at least the lease, and a second for the vote's own
    /// election. What to tell a person ("takes over by itself within about 11 s").
    #[ts(type = "number")]
    pub takeover_secs: u64,
    /// `true`: fail over even when the backup is behind (the phones before the last minutes of
    /// data); `false`: only when it was caught up.
    pub prefer_service: bool,
    /// The backup counts as caught up when what it lacked was younger than this.
    #[ts(type = "number")]
    pub caught_up_within_secs: u64,
    /// After an automatic failover, none again for this long.
    #[ts(type = "number")]
    pub flap_guard_secs: u64,
}

/// `GET /api/v1/autopilot`, and `autopilot` in the failover status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotStatus {
    /// `[failover] automatic` is set and the witness is set up on this box.
    pub configured: bool,
    /// The pair's switch as this box knows it; `None` while nobody has switched it since it was
    /// set up (then it is on, as `[failover] automatic` says).
    pub switch: Option<AutopilotSwitch>,
    /// On and nothing in the way: the pair would fail over by itself if its primary died now.
    pub armed: bool,
    /// Why not, when it is not armed; the first is the main reason. After them, the warnings
    /// (`WitnessUnreachable`): it works, but one more loss would stop it. So an armed box lists
    /// only warnings, often none.
    pub blockers: Vec<AutopilotBlocker>,
    /// The vote's members as this box reaches them (empty when not configured).
    pub members: Vec<VoteMember>,
    /// This box reaches a majority of the members.
    pub quorum: bool,
    /// The server holding the leader key, by name, when known.
    pub leader: Option<String>,
    pub last_automatic: Option<AutomaticFailover>,
    /// This box fenced itself (it is the primary, cut off from its partner and the vote).
    pub fenced: Option<Fence>,
    /// The backup would have taken over but did not, and why (e.g. the primary's agent is
    /// silent but its PBX still answers the phones); while the primary stays silent.
    pub held: Option<String>,
    pub settings: AutopilotSettings,
    /// One sentence for the office manager: "On autopilot: if PBX A fails, PBX B takes over by
    /// itself." / "Not on autopilot: the witness does not answer since 10:42. …"
    pub summary: String,
}

/// The answer of `PUT /api/v1/autopilot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotAnswer {
    pub status: AutopilotStatus,
    /// The request changed something.
    pub changed: bool,
    pub partner: PartnerNotice,
}

// ---- Between the agents (not exported to TypeScript) ----------------------------------------

/// What a box tells its partner in every heartbeat: whether it is set up, and the switch it
/// knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotAdvert {
    pub configured: bool,
    pub switch: Option<AutopilotSwitch>,
}

impl AutopilotSwitch {
    /// Of two switches, the one to keep: the later one; at the same moment, "off" (the safe
    /// side).
    pub fn newer(a: Option<AutopilotSwitch>, b: Option<AutopilotSwitch>) -> Option<AutopilotSwitch> {
        match (a, b) {
            (Some(a), Some(b)) => {
                if (b.at_unix_ms, !b.on) > (a.at_unix_ms, !a.on) {
                    Some(b)
                } else {
                    Some(a)
                }
            }
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sw(on: bool, at: i64) -> AutopilotSwitch {
        AutopilotSwitch {
            on,
            at_unix_ms: at,
            by: "x".into(),
            reason: None,
        }
    }

    #[test]
    fn the_later_switch_wins_and_off_wins_a_tie() {
        assert_eq!(
            AutopilotSwitch::newer(Some(sw(true, 1)), Some(sw(false, 2))),
            Some(sw(false, 2))
        );
        assert_eq!(
            AutopilotSwitch::newer(Some(sw(false, 3)), Some(sw(true, 2))),
            Some(sw(false, 3))
        );
        assert_eq!(
            AutopilotSwitch::newer(Some(sw(true, 2)), Some(sw(false, 2))),
            Some(sw(false, 2))
        );
        assert_eq!(
            AutopilotSwitch::newer(Some(sw(false, 2)), Some(sw(true, 2))),
            Some(sw(false, 2))
        );
        assert_eq!(AutopilotSwitch::newer(None, Some(sw(true, 2))), Some(sw(true, 2)));
        assert_eq!(AutopilotSwitch::newer(None, None), None);
    }
}
