//! An office's audit log as the Events tab shows it: both servers' logs merged, newest first, each
//! entry with the console's words for its kind and whether it is a warning. The words are a
//! `match` over [`EventKind`] with no catch-all, so a kind added to the agent cannot be left
//! without them.

use lbs_protocol::{Event, EventKind};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One entry of an office's merged audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OfficeEvent {
    /// The name of the server that wrote it.
    pub server: String,
    pub event: Event,
    /// What happened, in a few words: "Became the primary".
    pub label: String,
    /// Something went wrong or was refused: shown in the warning tone.
    pub warning: bool,
}

/// The audit logs of an office's servers, merged, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OfficeEvents {
    pub events: Vec<OfficeEvent>,
    /// Servers whose log could not be read, and why, in plain words.
    pub unreadable: Vec<String>,
}

/// The console's words for a kind of event.
pub fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Promoted => "Became the primary",
        EventKind::Demoted => "Became the backup",
        EventKind::Paired => "Paired",
        EventKind::Unpaired => "Unpaired",
        EventKind::EpochLearned => "Partner's new role noted",
        EventKind::Switchover => "Planned switchover",
        EventKind::SwitchoverCalledOff => "Switchover called off",
        EventKind::Reintegrating => "Rejoining as the backup",
        EventKind::Reintegrated => "Rejoined as the backup",
        EventKind::StepFailed => "A step failed",
        EventKind::Refused => "Request refused",
        EventKind::PbxViolation => "Phone system stopped on the backup",
        EventKind::QuarantineRestored => "Set-aside file put back",
        EventKind::TrashRestored => "Deleted file put back",
        EventKind::MaintenanceStarted => "Maintenance began",
        EventKind::MaintenanceEnded => "Maintenance ended",
        EventKind::AlertSent => "Alert sent",
        EventKind::AlertFailed => "Alert not delivered",
        EventKind::AutopilotSwitched => "Automatic failover switched",
        EventKind::Fenced => "Phone system stopped: cut off",
        EventKind::Unfenced => "Phone system running again",
        EventKind::AutopilotHeld => "Automatic failover held back",
        EventKind::Other => "Other event",
    }
}

/// Whether a kind of event means something went wrong or was turned down.
pub fn is_warning(kind: EventKind) -> bool {
    match kind {
        // Unpaired: nothing protects the office's data until a partner is paired again.
        EventKind::StepFailed
        | EventKind::Refused
        | EventKind::PbxViolation
        | EventKind::SwitchoverCalledOff
        | EventKind::Unpaired
        | EventKind::AlertFailed
        | EventKind::Fenced
        | EventKind::AutopilotHeld => true,
        EventKind::Promoted
        | EventKind::Demoted
        | EventKind::Paired
        | EventKind::EpochLearned
        | EventKind::Switchover
        | EventKind::Reintegrating
        | EventKind::Reintegrated
        | EventKind::QuarantineRestored
        | EventKind::TrashRestored
        | EventKind::MaintenanceStarted
        | EventKind::MaintenanceEnded
        | EventKind::AlertSent
        | EventKind::AutopilotSwitched
        | EventKind::Unfenced
        | EventKind::Other => false,
    }
}

impl OfficeEvent {
    pub fn new(server: String, event: Event) -> OfficeEvent {
        OfficeEvent {
            server,
            label: label(event.kind).into(),
            warning: is_warning(event.kind),
            event,
        }
    }
}

/// Merges per-server logs, newest first (ties: the later entry of one log first).
pub fn merge_events(logs: Vec<(String, Vec<Event>)>, limit: usize) -> Vec<OfficeEvent> {
    let mut all: Vec<OfficeEvent> = logs
        .into_iter()
        .flat_map(|(server, events)| {
            events
                .into_iter()
                .map(move |event| OfficeEvent::new(server.clone(), event))
        })
        .collect();
    all.sort_by_key(|e| std::cmp::Reverse((e.event.at_unix, e.event.id)));
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbs_protocol::Role;

    fn ev(id: i64, at: i64, server: &str, kind: EventKind) -> Event {
        Event {
            id,
            at_unix: at,
            server_id: server.into(),
            kind,
            role: Role::Primary,
            epoch: 1,
            actor: "the agent".into(),
            reason: None,
            message: String::new(),
        }
    }

    #[test]
    fn two_logs_merge_newest_first() {
        let promoted = |id, at, server| ev(id, at, server, EventKind::Promoted);
        let merged = merge_events(
            vec![
                ("A".into(), vec![promoted(1, 10, "a"), promoted(2, 30, "a")]),
                ("B".into(), vec![promoted(1, 20, "b"), promoted(2, 30, "b")]),
            ],
            3,
        );
        let order: Vec<(String, i64)> = merged.iter().map(|e| (e.server.clone(), e.event.at_unix)).collect();
        assert_eq!(order.len(), 3);
        assert_eq!(order[2], ("B".into(), 20));
        assert!(order[..2].iter().all(|(_, at)| *at == 30));
    }

    #[test]
    fn each_entry_carries_its_words_and_tone() {
        let merged = merge_events(
            vec![(
                "PBX A".into(),
                vec![
                    ev(1, 10, "a", EventKind::Promoted),
                    ev(2, 20, "a", EventKind::Refused),
                    ev(3, 30, "a", EventKind::parse("from_a_newer_agent")),
                ],
            )],
            10,
        );
        let seen: Vec<(&str, bool)> = merged.iter().map(|e| (e.label.as_str(), e.warning)).collect();
        assert_eq!(
            seen,
            [
                ("Other event", false),
                ("Request refused", true),
                ("Became the primary", false)
            ]
        );
    }

    #[test]
    fn every_kind_the_agent_writes_has_its_own_words() {
        let kinds = [
            "promoted",
            "demoted",
            "paired",
            "switchover",
            "switchover_called_off",
            "reintegrating",
            "reintegrated",
            "step_failed",
            "refused",
            "pbx_violation",
            "quarantine_restored",
            "trash_restored",
        ];
        let labels: std::collections::HashSet<&str> = kinds.iter().map(|k| label(EventKind::parse(k))).collect();
        assert_eq!(
            labels.len(),
            kinds.len(),
            "two kinds share words, or one reads as Other"
        );
        assert!(!labels.contains(label(EventKind::Other)));
    }
}
