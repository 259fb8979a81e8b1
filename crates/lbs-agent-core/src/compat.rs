//! Whether the partner's agent and this one can work together, in words that say which box to
//! upgrade (see `lbs_protocol::ApiRange`).

use lbs_protocol::{AgentVersions, ApiRange, Upgrade};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What this agent announces to its partner.
pub fn ours() -> AgentVersions {
    AgentVersions::current(AGENT_VERSION)
}

/// [`problem`] for what a partner announced.
pub fn partner_problem(ours: &str, partner: &str, theirs: &AgentVersions) -> Option<String> {
    problem(ours, partner, &theirs.agent_version, theirs.range())
}

/// `None` when the two agents work together; else what is wrong and which box to upgrade.
pub fn problem(ours: &str, partner: &str, partner_version: &str, theirs: ApiRange) -> Option<String> {
    let own = ApiRange::current();
    let theirs_named = if partner_version.is_empty() {
        format!("an lbs-agent older than 0.2.0 (API {})", theirs.version)
    } else {
        format!("lbs-agent {partner_version} (API {})", theirs.version)
    };
    match own.upgrade_needed(theirs)? {
        Upgrade::Ours => Some(format!(
            "{partner} runs {theirs_named}, which no longer works with this box's lbs-agent {AGENT_VERSION} \
             (API {}): upgrade the agent on {ours} to {partner_version} or later",
            own.version
        )),
        Upgrade::Theirs => Some(format!(
            "{partner} runs {theirs_named}, too old for this box's lbs-agent {AGENT_VERSION}, which needs API {} \
             or later: upgrade the agent on {partner} (backup first, see docs/agent.md)",
            own.min
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_box_to_upgrade() {
        assert_eq!(problem("PBX A", "PBX B", "0.2.0", ApiRange::current()), None);
        let newer = ApiRange { version: 9, min: 8 };
        let m = problem("PBX A", "PBX B", "3.0.0", newer).unwrap();
        assert!(m.contains("upgrade the agent on PBX A to 3.0.0 or later"), "{m}");
        let ancient = ApiRange { version: 0, min: 0 };
        let m = problem("PBX A", "PBX B", "", ancient).unwrap();
        assert!(m.contains("PBX B runs an lbs-agent older than 0.2.0"), "{m}");
        assert!(m.contains("upgrade the agent on PBX B"), "{m}");
    }
}
