//! The Sync tab's table and the dashboard's catch-up card: each category as the primary and the
//! backup report it, side by side, with how its copy stands in a few words. The backup's own
//! report is preferred for what is pending (it knows what it has not installed), the primary's
//! for what exists; while the primary still counts a category's files, nothing pending means
//! nothing known yet.

use lbs_protocol::{CategorySync, SyncStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::pair::count;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategoryRow {
    pub name: String,
    pub label: String,
    #[ts(type = "number | null")]
    pub primary_files: Option<u64>,
    #[ts(type = "number | null")]
    pub primary_bytes: Option<u64>,
    #[ts(type = "number | null")]
    pub backup_files: Option<u64>,
    #[ts(type = "number | null")]
    pub backup_bytes: Option<u64>,
    #[ts(type = "number")]
    pub pending_files: u64,
    #[ts(type = "number")]
    pub pending_bytes: u64,
    #[ts(type = "number | null")]
    pub lag_secs: Option<u64>,
    pub throughput_bps: f64,
    #[ts(type = "number | null")]
    pub last_success_unix: Option<i64>,
    pub last_error: Option<String>,
    /// Share of the primary's files the backup holds, 0..1 (`None` when not known).
    pub progress: Option<f64>,
    /// While the primary still counts this category's files: how many so far.
    #[ts(type = "number | null")]
    pub counting: Option<u64>,
    /// How its copy stands: "Up to date", "12 to copy", "Counting (12,400 so far)".
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncView {
    pub rows: Vec<CategoryRow>,
    /// The backup is still catching up: files to copy, or files the primary is still counting.
    pub catching_up: bool,
}

/// The table from what the primary and the backup last reported (either may be missing).
pub fn sync_view(primary: Option<&SyncStatus>, backup: Option<&SyncStatus>) -> SyncView {
    let Some(source) = backup.or(primary) else {
        return SyncView::default();
    };
    let find = |s: Option<&SyncStatus>, name: &str| -> Option<CategorySync> {
        s.and_then(|s| s.categories.iter().find(|c| c.name == name).cloned())
    };
    let rows: Vec<CategoryRow> = source
        .categories
        .iter()
        .map(|c| {
            let (p, b) = (find(primary, &c.name), find(backup, &c.name));
            let primary_files = p
                .as_ref()
                .map(|p| p.local_files)
                .or(b.as_ref().and_then(|b| b.peer_files));
            let backup_files = b
                .as_ref()
                .map(|b| b.local_files)
                .or(p.as_ref().and_then(|p| p.peer_files));
            let pending = b.as_ref().or(p.as_ref()).unwrap_or(c);
            let pending_files = p
                .as_ref()
                .map_or(0, |p| p.pending_files)
                .max(b.as_ref().map_or(0, |b| b.pending_files));
            let counting = p
                .as_ref()
                .and_then(|p| p.counting.as_ref())
                .or(b.as_ref().and_then(|b| b.counting.as_ref()))
                .map(|c| c.files_counted);
            let state = match counting {
                Some(n) => format!("Counting ({} so far)", count(n)),
                None if pending_files > 0 => format!("{} to copy", count(pending_files)),
                None => "Up to date".into(),
            };
            CategoryRow {
                name: c.name.clone(),
                label: c.label.clone(),
                primary_files,
                primary_bytes: p
                    .as_ref()
                    .map(|p| p.local_bytes)
                    .or(b.as_ref().and_then(|b| b.peer_bytes)),
                backup_files,
                backup_bytes: b
                    .as_ref()
                    .map(|b| b.local_bytes)
                    .or(p.as_ref().and_then(|p| p.peer_bytes)),
                pending_files,
                pending_bytes: p
                    .as_ref()
                    .map_or(0, |p| p.pending_bytes)
                    .max(b.as_ref().map_or(0, |b| b.pending_bytes)),
                lag_secs: pending.lag_secs,
                throughput_bps: b.as_ref().or(p.as_ref()).map_or(0.0, |x| x.throughput_bps),
                last_success_unix: pending.last_success_unix,
                last_error: b
                    .as_ref()
                    .and_then(|b| b.last_error.as_ref())
                    .or(p.as_ref().and_then(|p| p.last_error.as_ref()))
                    .map(|e| e.message.clone()),
                progress: match (primary_files, backup_files) {
                    (Some(0), Some(_)) => Some(1.0),
                    (Some(p), Some(b)) => Some((b as f64 / p as f64).min(1.0)),
                    _ => None,
                },
                counting,
                state,
            }
        })
        .collect();
    let catching_up = rows.iter().any(|r| r.pending_files > 0 || r.counting.is_some());
    SyncView { rows, catching_up }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync report with one category, as `role` sends it.
    fn report(role: &str, local: u64, peer: u64, pending: u64, counting: Option<u64>) -> SyncStatus {
        serde_json::from_value(serde_json::json!({
            "role": role, "epoch": 1,
            "peer": {"state": "ok", "server_id": null, "name": null, "address": null,
                     "last_contact_unix": null, "message": null},
            "categories": [{
                "name": "voicemail", "label": "Voicemail", "priority": 1,
                "local_files": local, "local_bytes": local * 10,
                "peer_files": peer, "peer_bytes": peer * 10,
                "pending_files": pending, "pending_bytes": pending * 10,
                "lag_secs": if pending > 0 { Some(30) } else { None },
                "last_success_unix": 5, "last_error": null, "throughput_bps": 100.0,
                "skipped": [], "counting": counting.map(|n| serde_json::json!({"files_counted": n})),
            }],
            "history": [],
        }))
        .unwrap()
    }

    #[test]
    fn both_reports_side_by_side_with_what_is_left_to_copy() {
        let (p, b) = (
            report("primary", 200, 150, 50, None),
            report("backup", 150, 200, 50, None),
        );
        let view = sync_view(Some(&p), Some(&b));
        let row = &view.rows[0];
        assert_eq!(
            (
                row.primary_files,
                row.backup_files,
                row.pending_files,
                row.lag_secs,
                row.progress
            ),
            (Some(200), Some(150), 50, Some(30), Some(0.75))
        );
        assert_eq!(row.state, "50 to copy");
        assert!(view.catching_up);
        let (p, b) = (
            report("primary", 200, 200, 0, None),
            report("backup", 200, 200, 0, None),
        );
        let view = sync_view(Some(&p), Some(&b));
        assert!(!view.catching_up);
        assert_eq!(view.rows[0].state, "Up to date");
    }

    #[test]
    fn never_up_to_date_while_the_primary_still_counts_its_files() {
        // Right after pairing: nothing pending, because nothing is known yet.
        let (p, b) = (
            report("primary", 0, 0, 0, Some(12_400)),
            report("backup", 0, 0, 0, None),
        );
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!(view.rows[0].counting, Some(12_400));
        assert_eq!(view.rows[0].state, "Counting (12,400 so far)");
        assert!(view.catching_up);
    }

    #[test]
    fn no_rows_before_either_server_reported() {
        assert_eq!(sync_view(None, None), SyncView::default());
        // The backup alone still says what it holds.
        let b = report("backup", 150, 200, 50, None);
        assert_eq!(sync_view(None, Some(&b)).rows[0].primary_files, Some(200));
    }
}
