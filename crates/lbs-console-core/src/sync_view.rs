//! The Sync tab's table and the dashboard's catch-up card: each category as the primary and the
//! backup report it, side by side, with how its copy stands in a few words. The backup's own
//! report is preferred for what is pending (it knows what it has not installed), the primary's
//! for what exists; while the primary still counts a category's files, nothing pending means
//! nothing known yet. Time left is estimated from what is pending and the speed the backup
//! receives at, and left out when that speed is not known (nothing received in the last seconds),
//! rather than guessed.

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
    /// The primary cannot watch this database's files: its changes reach the backup only at the
    /// interval's dump (in the agent's words).
    pub watch_problem: Option<String>,
    /// Share of the primary's files the backup holds, 0..1 (`None` when not known).
    pub progress: Option<f64>,
    /// While the primary still counts this category's files: how many so far.
    #[ts(type = "number | null")]
    pub counting: Option<u64>,
    /// How its copy stands: "Up to date", "12 to copy", "Counting (12,400 so far)".
    pub state: String,
    /// Estimated seconds until it is copied, at the current speed; `None` when it cannot be
    /// known (nothing received lately, files still being counted, or nothing to copy).
    #[ts(type = "number | null")]
    pub eta_secs: Option<u64>,
    /// The same in words: "about 4 min left".
    pub time_left: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncView {
    pub rows: Vec<CategoryRow>,
    /// The backup is still catching up: files to copy, or files the primary is still counting.
    pub catching_up: bool,
    /// Time until everything is copied, in words, when every category's can be estimated.
    pub time_left: Option<String>,
}

/// Seconds to copy `pending_bytes` at `bps`, when both say something: no speed measured yet
/// means no estimate, not an endless or a zero one.
pub fn eta_secs(pending_bytes: u64, bps: f64, counting: bool) -> Option<u64> {
    if counting || pending_bytes == 0 || !bps.is_finite() || bps < 1.0 {
        return None;
    }
    Some((pending_bytes as f64 / bps).ceil() as u64)
}

/// "less than a minute left", "about 4 min left", "about 2 h 10 min left", "about 3 days left":
/// rounded up, and coarser the longer it is, since the speed changes as it goes.
pub fn time_left(secs: u64) -> String {
    const MIN: u64 = 60;
    const DAY: u64 = 86_400;
    match secs {
        0..MIN => "less than a minute left".into(),
        // Up to 59 min: past that, "60 min" reads better as an hour.
        MIN..=3_540 => format!("about {} min left", secs.div_ceil(MIN)),
        3_541..DAY => {
            // To ten minutes, rounded up.
            let tens = secs.div_ceil(10 * MIN);
            let (h, m) = (tens / 6, tens % 6 * 10);
            if m == 0 {
                format!("about {h} h left")
            } else {
                format!("about {h} h {m} min left")
            }
        }
        _ if secs < 2 * DAY => "about 1 day left".into(),
        _ => format!("about {} days left", secs.div_ceil(DAY)),
    }
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
            let pending_bytes = p
                .as_ref()
                .map_or(0, |p| p.pending_bytes)
                .max(b.as_ref().map_or(0, |b| b.pending_bytes));
            // The backup measures what it receives; the primary what it sends.
            let throughput_bps = b.as_ref().or(p.as_ref()).map_or(0.0, |x| x.throughput_bps);
            let eta = eta_secs(pending_bytes, throughput_bps, counting.is_some());
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
                pending_bytes,
                lag_secs: pending.lag_secs,
                throughput_bps,
                last_success_unix: pending.last_success_unix,
                last_error: b
                    .as_ref()
                    .and_then(|b| b.last_error.as_ref())
                    .or(p.as_ref().and_then(|p| p.last_error.as_ref()))
                    .map(|e| e.message.clone()),
                // The primary dumps; only its watch matters.
                watch_problem: p.as_ref().and_then(|p| p.watch_problem.clone()),
                progress: match (primary_files, backup_files) {
                    (Some(0), Some(_)) => Some(1.0),
                    (Some(p), Some(b)) => Some((b as f64 / p as f64).min(1.0)),
                    _ => None,
                },
                counting,
                state,
                eta_secs: eta,
                time_left: eta.map(time_left),
            }
        })
        .collect();
    let catching_up = rows.iter().any(|r| r.pending_files > 0 || r.counting.is_some());
    // The whole catch-up: every category still to copy must have its own estimate; they share
    // the link, so the total is the sum of the bytes over the sum of the speeds.
    let left: Vec<&CategoryRow> = rows
        .iter()
        .filter(|r| r.pending_files > 0 || r.counting.is_some())
        .collect();
    let total = (!left.is_empty() && left.iter().all(|r| r.eta_secs.is_some()))
        .then(|| {
            let bytes: u64 = left.iter().map(|r| r.pending_bytes).sum();
            let bps: f64 = left.iter().map(|r| r.throughput_bps).sum();
            eta_secs(bytes, bps, false)
        })
        .flatten();
    SyncView {
        rows,
        catching_up,
        time_left: total.map(time_left),
    }
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
        assert_eq!(view.rows[0].watch_problem, None);
        // The primary cannot watch a database's files: said on its row.
        let mut p = p;
        p.categories[0].watch_problem = Some("/var/lib/mysql/ib_logfile0 does not exist".into());
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!(
            view.rows[0].watch_problem.as_deref(),
            Some("/var/lib/mysql/ib_logfile0 does not exist")
        );
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
    fn the_time_left_comes_from_the_speed_and_what_is_pending_or_is_not_given() {
        // 50 files of 10 bytes each pending at 100 B/s: 5 s.
        let (p, b) = (
            report("primary", 200, 150, 50, None),
            report("backup", 150, 200, 50, None),
        );
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!(view.rows[0].eta_secs, Some(5));
        assert_eq!(view.rows[0].time_left.as_deref(), Some("less than a minute left"));
        assert_eq!(view.time_left.as_deref(), Some("less than a minute left"));
        // 24 MB at 100 kB/s: 4 min.
        let mut b = report("backup", 150, 200, 50, None);
        b.categories[0].pending_bytes = 24_000_000;
        b.categories[0].throughput_bps = 100_000.0;
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!(view.rows[0].time_left.as_deref(), Some("about 4 min left"));
        // Nothing received lately: no estimate at all, rather than a wrong one.
        b.categories[0].throughput_bps = 0.0;
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!((view.rows[0].eta_secs, view.rows[0].time_left.as_ref()), (None, None));
        assert_eq!(view.time_left, None);
        // Still counting: what is pending is not known yet.
        let p = report("primary", 200, 150, 50, Some(12_400));
        let b = report("backup", 150, 200, 50, None);
        let view = sync_view(Some(&p), Some(&b));
        assert_eq!(view.rows[0].time_left, None);
        assert_eq!(view.time_left, None);
        // Up to date: nothing left to estimate.
        let (p, b) = (
            report("primary", 200, 200, 0, None),
            report("backup", 200, 200, 0, None),
        );
        assert_eq!(sync_view(Some(&p), Some(&b)).rows[0].time_left, None);
    }

    #[test]
    fn time_left_reads_like_people_talk() {
        assert_eq!(eta_secs(1_000, 0.0, false), None);
        assert_eq!(eta_secs(1_000, f64::NAN, false), None);
        assert_eq!(eta_secs(0, 100.0, false), None);
        assert_eq!(eta_secs(1_000, 100.0, true), None);
        assert_eq!(eta_secs(1_001, 100.0, false), Some(11));
        assert_eq!(time_left(59), "less than a minute left");
        assert_eq!(time_left(60), "about 1 min left");
        assert_eq!(time_left(61), "about 2 min left");
        assert_eq!(time_left(3_540), "about 59 min left");
        assert_eq!(time_left(3_541), "about 1 h left");
        assert_eq!(time_left(3_600), "about 1 h left");
        assert_eq!(time_left(7_500), "about 2 h 10 min left");
        assert_eq!(time_left(86_399), "about 24 h left");
        assert_eq!(time_left(100_000), "about 1 day left");
        assert_eq!(time_left(5 * 86_400 - 1), "about 5 days left");
    }

    #[test]
    fn no_rows_before_either_server_reported() {
        assert_eq!(sync_view(None, None), SyncView::default());
        // The backup alone still says what it holds.
        let b = report("backup", 150, 200, 50, None);
        assert_eq!(sync_view(None, Some(&b)).rows[0].primary_files, Some(200));
    }
}
