//! What an audit-log entry ([`crate::Event`]) records. The agent keeps the kind as text in its
//! database; on the wire and in the console it is this enum, so the console's words for each kind
//! are a `match` the compiler checks when a kind is added.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Declares [`EventKind`] from one table of variant and stored text, so the enum, its text both
/// ways and the list of known kinds cannot drift apart. (serde's `#[serde(other)]` would do the
/// catch-all too, but ts-rs warns on every build that it cannot read it.)
macro_rules! event_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// What an audit-log entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TS)]
        #[ts(export, rename_all = "snake_case")]
        pub enum EventKind {
            $($(#[doc = $doc])* $variant,)*
            /// A kind this build does not know, written by a newer agent. The original text is
            /// not kept; the event's message still says what happened.
            Other,
        }

        impl EventKind {
            /// Every kind the agent writes (all but [`EventKind::Other`]).
            pub const KNOWN: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The text stored in the agent's database and sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $text,)*
                    EventKind::Other => "other",
                }
            }

            /// The kind stored as `text`; [`EventKind::Other`] for one this build does not know.
            pub fn parse(text: &str) -> EventKind {
                match text {
                    $($text => EventKind::$variant,)*
                    _ => EventKind::Other,
                }
            }
        }
    };
}

event_kinds! {
    /// This box became the primary (a promotion, planned or not).
    Promoted = "promoted",
    /// This box became the backup.
    Demoted = "demoted",
    /// This box paired with a primary and is now its backup.
    Paired = "paired",
    /// This box forgot its partner (`lbs-agent unpair`); it keeps its role.
    Unpaired = "unpaired",
    /// This backup learned that its partner, the primary, took a newer epoch (a promotion this
    /// box did not run); it follows it.
    EpochLearned = "epoch_learned",
    /// A planned switchover ran.
    Switchover = "switchover",
    /// A switchover was called off; the old primary runs the PBX again.
    SwitchoverCalledOff = "switchover_called_off",
    /// A primary that lost its role learned of the newer primary and is becoming its backup.
    Reintegrating = "reintegrating",
    /// It finished: it is the backup again and has copied what it missed.
    Reintegrated = "reintegrated",
    /// A step of a role change or a reintegration failed.
    StepFailed = "step_failed",
    /// A role change was refused (a guard, or the box was busy).
    Refused = "refused",
    /// The PBX ran on the backup and was stopped.
    PbxViolation = "pbx_violation",
    /// A file set aside by a reintegration was put back on the primary.
    QuarantineRestored = "quarantine_restored",
    /// A file deleted on the primary was put back from a trash.
    TrashRestored = "trash_restored",
    /// Maintenance mode began for the pair (who, why, until when).
    MaintenanceStarted = "maintenance_started",
    /// Maintenance mode ended: ended by a person, or its time ran out.
    MaintenanceEnded = "maintenance_ended",
    /// An alert reached one of its channels (a mail server or a webhook accepted it).
    AlertSent = "alert_sent",
    /// An alert could not be delivered to one of its channels (it is retried).
    AlertFailed = "alert_failed",
    /// A person switched automatic failover on or off for the pair.
    AutopilotSwitched = "autopilot_switched",
    /// This primary lost its partner and the vote: it stopped its PBX and let the address go
    /// before its lease could pass to the partner.
    Fenced = "fenced",
    /// A fenced primary runs its PBX again: nobody took over (it holds the leader key again, or
    /// its partner answers as its backup).
    Unfenced = "unfenced",
    /// The backup would have taken over by itself but something stopped it (the primary's PBX
    /// still answers, the backup was behind, the flap guard, maintenance).
    AutopilotHeld = "autopilot_held",
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(EventKind::parse(&text))
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines kinds up in a column with `{:<22}`.
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_text_the_wire_and_the_typescript_agree() {
        let ts = EventKind::inline();
        for &kind in EventKind::KNOWN {
            let wire = serde_json::to_string(&kind).unwrap();
            assert_eq!(wire, format!("\"{}\"", kind.as_str()));
            assert_eq!(EventKind::parse(kind.as_str()), kind);
            assert_eq!(serde_json::from_str::<EventKind>(&wire).unwrap(), kind);
            assert!(ts.contains(&wire), "{ts} lacks {wire}");
        }
        assert!(ts.contains("\"other\""), "{ts}");
    }

    #[test]
    fn a_kind_from_a_newer_agent_reads_as_other() {
        assert_eq!(EventKind::parse("a_kind_from_the_future"), EventKind::Other);
        assert_eq!(EventKind::parse(""), EventKind::Other);
        assert_eq!(
            serde_json::from_str::<EventKind>("\"something_new\"").unwrap(),
            EventKind::Other
        );
        assert!(serde_json::from_str::<EventKind>("3").is_err(), "not a kind at all");
    }

    #[test]
    fn it_pads_in_a_column() {
        assert_eq!(format!("[{:<9}]", EventKind::Refused), "[refused  ]");
    }
}
