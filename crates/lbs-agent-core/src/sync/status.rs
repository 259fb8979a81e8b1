//! `GET /api/v1/sync`: per category, what each side holds, what is pending and for how long, the
//! last success and the last error, throughput; the link to the partner; an hour of history.

use std::collections::HashMap;

use lbs_history::HistoryStore;
use lbs_protocol::{CategorySync, HistoryQuery, Role, SyncHistoryPoint, SyncLinkState, SyncPeer, SyncStatus};
use lbs_sync::journal::{JournalError, Tally};

use super::{Sources, SyncEngine};
use crate::clock::now_unix;

/// Sums per-source tallies into per-category ones.
fn by_category(map: HashMap<String, Tally>) -> HashMap<String, Tally> {
    let mut out: HashMap<String, Tally> = HashMap::new();
    for (key, t) in map {
        let e = out.entry(Sources::category_of(&key).to_owned()).or_default();
        e.files += t.files;
        e.bytes += t.bytes;
        e.oldest_unix = match (e.oldest_unix, t.oldest_unix) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

/// What this box holds, per source (`<category>:<n>`): the journal on the primary, the verified
/// files on the backup.
pub async fn held_per_source(e: &SyncEngine) -> Result<HashMap<String, Tally>, JournalError> {
    match e.role().role {
        Role::Primary => e.journal.totals().await,
        Role::Backup => e.queue.held().await,
    }
}

/// What this box holds, per category.
async fn local(e: &SyncEngine) -> Result<HashMap<String, Tally>, JournalError> {
    Ok(by_category(held_per_source(e).await?))
}

/// What the backup still has to apply, per category, as this box knows it.
pub async fn pending(e: &SyncEngine) -> Result<HashMap<String, Tally>, JournalError> {
    Ok(by_category(match e.role().role {
        Role::Primary if e.peer.read().await.is_some() => {
            e.journal
                .pending_changes_after(e.tracker.peer_acked(), e.tracker.peer_takes_folders())
                .await?
        }
        Role::Primary => HashMap::new(),
        Role::Backup => e.queue.pending().await?,
    }))
}

pub async fn status(e: &SyncEngine, history: &HistoryStore) -> Result<SyncStatus, JournalError> {
    let role = e.role();
    let peer = e.peer.read().await.clone();
    // The order of these reads matters. What the primary last said comes first: a page is
    // queued before it is reported as reached, so whatever that report covers is by now in the
    // queue or applied. Pending comes before held: a file applied between the two reads is
    // counted twice (pending, not in sync) rather than in neither (in sync while missing it).
    let peer_totals = e.tracker.peer_totals();
    let link = e.tracker.link_view();
    // Who counts: this box as primary; as backup, what the primary last said.
    let (counting, behind_head) = match role.role {
        Role::Primary => (e.tracker.counting(), false),
        Role::Backup => e.tracker.peer_counting(),
    };
    let pending = pending(e).await?;
    let local = local(e).await?;
    let now = now_unix();
    let categories = e
        .sources
        .categories
        .iter()
        .map(|c| {
            let view = e.tracker.category(&c.name);
            let l = local.get(&c.name).copied().unwrap_or_default();
            let mut p = pending.get(&c.name).copied().unwrap_or_default();
            let theirs = peer_totals
                .as_ref()
                .map(|t| t.get(&c.name).copied().unwrap_or_default());
            // More pages follow that this backup has not fetched yet: what the primary holds
            // beyond this box's copy is pending too, not "nothing".
            if behind_head {
                if let Some((files, bytes)) = theirs {
                    p.files = p.files.max(files.saturating_sub(l.files));
                    p.bytes = p.bytes.max(bytes.saturating_sub(l.bytes));
                }
            }
            let counting = counting
                .get(&c.name)
                .map(|&files_counted| lbs_protocol::ScanProgress { files_counted });
            // Nothing is in sync before the primary has counted it all and the backup holds it.
            let in_sync_now = p.files == 0
                && counting.is_none()
                && !behind_head
                && link.as_ref().is_some_and(|l| l.state == SyncLinkState::Ok);
            let last_success = if in_sync_now {
                link.as_ref().and_then(|l| l.last_contact).max(view.last_success)
            } else {
                view.last_success
            };
            CategorySync {
                name: c.name.clone(),
                label: c.label(),
                priority: c.priority,
                local_files: l.files,
                local_bytes: l.bytes,
                peer_files: theirs.map(|t| t.0),
                peer_bytes: theirs.map(|t| t.1),
                pending_files: p.files,
                pending_bytes: p.bytes,
                lag_secs: p.oldest_unix.map(|o| (now - o).max(0) as u64),
                last_success_unix: last_success,
                // A received database not loaded yet is said at once, not at the next dump.
                last_error: match role.role {
                    Role::Primary if e.restore_pending(&c.name) => Some(lbs_protocol::SyncProblem {
                        message: super::dump::DumpError::RestorePending {
                            category: c.name.clone(),
                        }
                        .to_string(),
                        at_unix: now,
                    }),
                    _ => view.last_error,
                },
                throughput_bps: view.throughput_bps,
                skipped: view.skipped,
                counting,
                watch_problem: match role.role {
                    Role::Primary => view.watch_problem,
                    Role::Backup => None,
                },
            }
        })
        .collect();
    let link_report = match &peer {
        Some(p) => Some(link_report(e, history, &p.name, role.role, now).await),
        None => None,
    };
    let peer = match (peer, link) {
        (None, _) => SyncPeer {
            state: SyncLinkState::Unpaired,
            server_id: None,
            name: None,
            address: None,
            last_contact_unix: None,
            message: Some(
                "This box is not paired with a partner yet: run `lbs-agent pair <link>` on the backup.".into(),
            ),
        },
        (Some(p), link) => SyncPeer {
            state: link.as_ref().map_or(SyncLinkState::Connecting, |l| l.state),
            server_id: Some(p.server_id),
            name: Some(p.name),
            address: Some(p.address),
            last_contact_unix: link.as_ref().and_then(|l| l.last_contact),
            message: link.and_then(|l| l.message),
        },
    };
    Ok(SyncStatus {
        role: role.role,
        epoch: role.epoch,
        peer,
        categories,
        history: recent_history(history, now).await,
        link: link_report,
    })
}

/// The link as the history has it over the last week: the busiest hour of the office's changes
/// (the backup's view) against what the sync carried while it had work.
async fn link_report(
    e: &SyncEngine,
    history: &HistoryStore,
    partner: &str,
    role: Role,
    now: i64,
) -> lbs_protocol::LinkReport {
    use super::link;
    const WEEK: i64 = 7 * 24 * 3600;
    let read = |series: &str, points: u32| HistoryQuery {
        series: series.to_owned(),
        from: now - WEEK,
        to: now,
        points,
    };
    // Exact bytes per clock hour (sync.db), so an hour the agent was down for part of does not
    // read as a busier one.
    let busiest = match role {
        Role::Backup => e
            .queue
            .busiest_incoming_hour(now - WEEK)
            .await
            .ok()
            .flatten()
            .map(|(hour, bytes)| (bytes as f64 / 3600.0, hour)),
        Role::Primary => None,
    };
    // The best hour of what the copy carried while it worked: what the link can do.
    let carried = history.query(&read(link::CAPACITY, 168)).await.ok().and_then(|r| {
        r.points
            .into_iter()
            .map(|p| p.avg)
            .filter(|v| *v > 0.0)
            .reduce(f64::max)
    });
    link::assess(partner, busiest, carried, e.config.bandwidth_limit, e.link.recent())
}

/// The last hour of the sync gauges, a point a minute (empty if nothing was recorded yet).
async fn recent_history(history: &HistoryStore, now: i64) -> Vec<SyncHistoryPoint> {
    let query = |series: &str| HistoryQuery {
        series: series.to_owned(),
        from: now - 3600,
        to: now,
        points: 60,
    };
    let mut points: std::collections::BTreeMap<i64, SyncHistoryPoint> = Default::default();
    for (name, slot) in [(PENDING, 0), (LAG, 1), (THROUGHPUT, 2)] {
        let Ok(resp) = history.query(&query(name)).await else {
            continue;
        };
        for p in resp.points {
            let entry = points.entry(p.t).or_insert(SyncHistoryPoint {
                t: p.t,
                pending_bytes: 0.0,
                lag_secs: 0.0,
                throughput_bps: 0.0,
            });
            let v = p.avg;
            match slot {
                0 => entry.pending_bytes = v,
                1 => entry.lag_secs = v,
                _ => entry.throughput_bps = v,
            }
        }
    }
    points.into_values().collect()
}

pub const PENDING: &str = "sync.pending_bytes";
pub const LAG: &str = "sync.lag_seconds";
pub const THROUGHPUT: &str = "sync.throughput";
