//! Which versions of the API two parties speak, and which of them must be upgraded when they
//! cannot talk. Each side announces the newest version it speaks and the oldest it still
//! accepts; two sides work together when each one's newest is at least the other's oldest.
//! A side that raises its oldest accepted version drops the older side, never the reverse, so
//! the one to upgrade is always the one with the lower newest version.

use serde::{Deserialize, Serialize};

use crate::API_VERSION;

/// The oldest API version this build still works with: an agent or console of that version may
/// talk to this one. Raised only when support for an older peer is dropped.
pub const API_MIN_VERSION: u32 = 1;

/// What a party speaks: every version from `min` to `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRange {
    pub version: u32,
    pub min: u32,
}

/// Which side cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// This side is too old for the other: upgrade this one.
    Ours,
    /// The other side is too old: upgrade that one.
    Theirs,
}

impl ApiRange {
    /// This build's range.
    pub const fn current() -> ApiRange {
        ApiRange {
            version: API_VERSION,
            min: API_MIN_VERSION,
        }
    }

    /// The range of a party that announced only its version (before ranges existed, every
    /// party accepted only its own).
    pub const fn only(version: u32) -> ApiRange {
        ApiRange { version, min: version }
    }

    /// `None` when the two work together; else which one must be upgraded.
    pub fn upgrade_needed(self, theirs: ApiRange) -> Option<Upgrade> {
        if self.version >= theirs.min && theirs.version >= self.min {
            None
        } else if self.version < theirs.version {
            Some(Upgrade::Ours)
        } else {
            Some(Upgrade::Theirs)
        }
    }
}

/// What one agent announces to the other (in the heartbeat and in pairing): its software
/// version and API range. Each field is absent from agents before 0.2.0, which spoke API 1 only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentVersions {
    #[serde(default)]
    pub agent_version: String,
    #[serde(default = "first")]
    pub api_version: u32,
    #[serde(default = "first")]
    pub api_min_version: u32,
}

impl AgentVersions {
    /// This build's, with the agent's software version.
    pub fn current(agent_version: &str) -> AgentVersions {
        let range = ApiRange::current();
        AgentVersions {
            agent_version: agent_version.to_owned(),
            api_version: range.version,
            api_min_version: range.min,
        }
    }

    pub fn range(&self) -> ApiRange {
        ApiRange {
            version: self.api_version,
            min: self.api_min_version,
        }
    }
}

/// Serde default of an announced oldest version: absent means the party is from before ranges,
/// when version 1 was the only one.
pub fn first() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(version: u32, min: u32) -> ApiRange {
        ApiRange { version, min }
    }

    #[test]
    fn an_agent_from_before_ranges_announces_api_1_only_and_the_fields_sit_at_the_top() {
        let old = r#"{"server_id": "a", "role": "primary", "epoch": 3, "epoch_owner": "a", "role_since_unix": 1}"#;
        let hb: crate::Heartbeat = serde_json::from_str(old).unwrap();
        assert_eq!(hb.versions.range(), ApiRange::only(1));
        assert_eq!(hb.versions.agent_version, "");
        assert_eq!(hb.now_unix_ms, None, "an older agent sends no clock");
        let new = crate::Heartbeat {
            versions: AgentVersions::current("0.2.0"),
            ..hb
        };
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(json["agent_version"], "0.2.0");
        assert_eq!(json["api_version"], crate::API_VERSION);
        let back: crate::Heartbeat = serde_json::from_value(json).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn overlapping_ranges_work_together_and_the_older_side_is_the_one_to_upgrade() {
        assert_eq!(r(1, 1).upgrade_needed(r(1, 1)), None);
        // A newer side that still speaks the older one's version.
        assert_eq!(r(1, 1).upgrade_needed(r(2, 1)), None);
        assert_eq!(r(2, 1).upgrade_needed(r(1, 1)), None);
        // A newer side that dropped it: the older one upgrades, whichever asks.
        assert_eq!(r(1, 1).upgrade_needed(r(3, 2)), Some(Upgrade::Ours));
        assert_eq!(r(3, 2).upgrade_needed(r(1, 1)), Some(Upgrade::Theirs));
        assert_eq!(ApiRange::current().upgrade_needed(ApiRange::current()), None);
    }
}
