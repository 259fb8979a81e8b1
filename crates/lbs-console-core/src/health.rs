//! An office's Health tab: the two machines side by side and what differs between them, as the
//! agents compare them (`GET /api/v1/health`). Each agent keeps its partner's inventory, so
//! either server's answer holds both machines: the console asks both at once and shows the most
//! complete answer, and a server that does not answer is still shown, as its partner last
//! received it.

use lbs_protocol::{PairHealth, Role};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the Health tab shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OfficeHealth {
    /// The pair as one of its servers sees it; `None` when no server answered.
    pub health: Option<PairHealth>,
    /// The name of the server whose answer is shown.
    pub from: Option<String>,
    /// Servers that could not be asked, and why, in plain words.
    pub unreadable: Vec<String>,
}

/// Of the servers' answers (name, answer), the one to show: one that holds both machines, the
/// primary's first (it is the one the backup must match), else any.
pub fn choose(answers: Vec<(String, PairHealth)>, unreadable: Vec<String>) -> OfficeHealth {
    let rank = |h: &PairHealth| (h.partner.is_none(), h.this.role != Role::Primary);
    let best = answers.into_iter().min_by_key(|(_, h)| rank(h));
    OfficeHealth {
        from: best.as_ref().map(|(name, _)| name.clone()),
        health: best.map(|(_, h)| h),
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(role: &str, with_partner: bool) -> PairHealth {
        let machine = |id: &str, role: &str| {
            serde_json::json!({
                "server_id": id, "name": id, "role": role, "collected_unix": 1,
                "agent_version": "0.2.0", "api_version": 1,
                "cpu": {"state": "unavailable", "reason": "x"},
                "memory": {"state": "unavailable", "reason": "x"},
                "disks": {"state": "unavailable", "reason": "x"},
                "network": {"state": "unavailable", "reason": "x"},
                "telephony": {"cards": {"state": "read", "value": []}, "spans": {"state": "read", "value": []}, "dahdi_loaded": false},
                "system": {"state": "unavailable", "reason": "x"},
                "pbx": {"state": "unavailable", "reason": "x"},
                "categories": {"digest": "d", "categories": []},
                "storage": {"state": "unavailable", "reason": "x"},
            })
        };
        let other = if role == "primary" { "backup" } else { "primary" };
        serde_json::from_value(serde_json::json!({
            "this": machine(role, role),
            "partner": if with_partner { machine(other, other) } else { serde_json::Value::Null },
            "partner_note": null,
            "differences": [],
            "counts": {"critical": 0, "warning": 0, "info": 0},
        }))
        .expect("a PairHealth")
    }

    #[test]
    fn the_primarys_whole_answer_is_shown_first() {
        let chosen = choose(
            vec![
                ("PBX B".into(), health("backup", true)),
                ("PBX A".into(), health("primary", true)),
            ],
            vec![],
        );
        assert_eq!(chosen.from.as_deref(), Some("PBX A"));
        // An answer without the partner's inventory comes after one with it.
        let chosen = choose(
            vec![
                ("PBX A".into(), health("primary", false)),
                ("PBX B".into(), health("backup", true)),
            ],
            vec![],
        );
        assert_eq!(chosen.from.as_deref(), Some("PBX B"));
        let none = choose(vec![], vec!["PBX A: does not answer".into()]);
        assert_eq!((none.health, none.from), (None, None));
        assert_eq!(none.unreadable, ["PBX A: does not answer"]);
    }
}
