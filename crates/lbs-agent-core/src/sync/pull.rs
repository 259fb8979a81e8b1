//! The backup's pulling: the pull loop asks the primary for the changes after the durable cursor
//! (a long poll: the primary answers as soon as something changes) and stores each page in the
//! queue with the new cursor, atomically; workers take queued changes by priority and fetch what
//! they need (one bundle for a batch of small files, a resumable stream for a large one), handing
//! it to [`super::apply`]. Only once applied does a change leave the queue.
//!
//! Architecture Invariant: data is accepted only from the paired partner (mutual TLS, pinned),
//! only while it says it is the primary, and only at an epoch at least this box's own.

use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{
    BundleItem, BundleRequest, PullRequest, PullResponse, Role, SyncLinkState, BUNDLE_MAX_FILE, BUNDLE_OK,
    BUNDLE_SUPERSEDED,
};
use lbs_sync::batch::ItemError;
use lbs_sync::journal::{Change, FileMeta};
use lbs_sync::paths::RelPath;
use lbs_sync::queue::Pending;

use super::apply::{self, ApplyError};
use super::SyncEngine;
use crate::clock::now_unix;
use crate::peer::{self, Peer};
use crate::refusal::Refusal;

/// Files up to this size go through the express lane (and travel in bundles).
pub const EXPRESS_MAX: u64 = BUNDLE_MAX_FILE;
/// How long the primary may hold a pull open when nothing changes.
const WAIT_MS: u64 = 20_000;
const PAGE: u32 = 2000;

enum PullError {
    Unreachable(String),
    Refused(String),
}

pub async fn pull_loop(e: Arc<SyncEngine>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        e.until_role(Role::Backup).await;
        let Some(peer) = e.peer.read().await.clone() else {
            e.wait_for_change().await;
            continue;
        };
        match pull_once(&e, &peer).await {
            Ok(()) => backoff = Duration::from_millis(500),
            Err(err) => {
                let (state, msg) = match err {
                    PullError::Unreachable(m) => (SyncLinkState::Unreachable, m),
                    PullError::Refused(m) => (SyncLinkState::Refused, m),
                };
                tracing::warn!(peer = %peer.name, problem = %msg, "sync: cannot pull from the partner");
                e.tracker.link(state, Some(msg), now_unix());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Explains a failed request to the partner in words an office manager can act on.
fn describe(peer: &Peer, err: &reqwest::Error) -> PullError {
    let chain = peer::error_chain(err);
    if chain.contains("certificate") {
        PullError::Refused(format!(
            "{} at {} presented a different certificate than the one it was paired with; \
             if that box was reinstalled, pair the two boxes again",
            peer.name, peer.address
        ))
    } else {
        PullError::Unreachable(format!(
            "{} at {} does not answer ({chain}); check that it is on and connected",
            peer.name, peer.address
        ))
    }
}

/// Why the partner refused a sync request, in words.
pub(super) async fn refusal(peer: &Peer, response: reqwest::Response) -> String {
    let message = peer::refusal_message(response).await;
    format!("{} refused the sync request: {message}", peer.name)
}

async fn pull_once(e: &Arc<SyncEngine>, peer: &Peer) -> Result<(), PullError> {
    let client = e.client_for(peer).map_err(|r| PullError::Refused(r.message))?;
    let db =
        |err: lbs_sync::journal::JournalError| PullError::Refused(format!("this box's sync database failed: {err}"));
    let cursor = e.queue.cursor().await.map_err(db)?;
    let request = PullRequest {
        journal_id: cursor.as_ref().map(|(j, _)| j.clone()),
        after: cursor.as_ref().map_or(0, |(_, f)| *f),
        limit: PAGE,
        wait_ms: WAIT_MS,
        acked: e.queue.acknowledged().await.map_err(db)?,
        folders: true,
        held: super::wire_tallies(e.queue.held().await.map_err(db)?),
    };
    let send = client
        .post(peer::url(&peer.address, "/changes"))
        .json(&request)
        .timeout(Duration::from_millis(WAIT_MS) + Duration::from_secs(15))
        .send();
    let response = tokio::select! {
        r = send => r.map_err(|err| describe(peer, &err))?,
        // Everything queued was applied: ask again at once so the primary learns it.
        _ = e.drained.notified() => return Ok(()),
        // The role changed (a promotion): this answer is no longer wanted.
        _ = e.changed.notified() => return Ok(()),
    };
    if !response.status().is_success() {
        return Err(PullError::Refused(refusal(peer, response).await));
    }
    let page: PullResponse = response
        .json()
        .await
        .map_err(|err| PullError::Unreachable(format!("{} sent an answer that could not be read: {err}", peer.name)))?;
    let own = e.role();
    if own.role != Role::Backup || own.reintegrating.is_some() {
        return Ok(());
    }
    if page.server_id != peer.server_id {
        return Err(PullError::Refused(format!(
            "the server answering at {} is not {} (it says it is {})",
            peer.address, peer.name, page.server_id
        )));
    }
    if page.role != Role::Primary {
        return Err(PullError::Refused(format!(
            "{} is not the primary (it is a {}); there is nothing to copy from it",
            peer.name, page.role
        )));
    }
    if page.epoch < own.epoch {
        return Err(PullError::Refused(format!(
            "{} claims to be the primary at epoch {}, older than this box's epoch {}; its data is refused \
             (it may be an old primary that came back after a failover)",
            peer.name, page.epoch, own.epoch
        )));
    }
    let now = now_unix();
    let behind_head = page.changes.last().is_some_and(|c| c.seq < page.head);
    let counting: Vec<(String, u64)> = page
        .counting
        .iter()
        .map(|c| (c.category.clone(), c.files_counted))
        .collect();
    let new_journal = request.journal_id.as_deref() != Some(page.journal_id.as_str());
    // Until this page's changes are queued, the primary holds changes this box has not: a
    // status read meanwhile must not take "done counting, nothing pending" for in sync.
    e.tracker.primary_answered(
        page.totals.iter().map(|t| (t.source.clone(), t.files, t.bytes)),
        counting.iter().cloned(),
        new_journal || !page.changes.is_empty(),
        now,
    );
    // A cursor below the pruned deletions may have missed some: copy again from the start,
    // reconciling (a new journal too, once it has pruned any).
    // (While reconciling already, what it would miss is what it reconciles.)
    let missed_deletions =
        !new_journal && request.after < page.pruned_through && !e.queue.reconciling().await.map_err(db)?;
    if new_journal || missed_deletions {
        e.link.set_caught_up(false);
        if missed_deletions {
            tracing::warn!(
                after = request.after,
                pruned_through = page.pruned_through,
                "sync: the primary no longer remembers some deletions since this box's last copy; \
                 copying everything again and deleting what the primary no longer has"
            );
        } else {
            tracing::info!(journal = %page.journal_id, "sync: following a new journal from the start");
        }
        e.queue
            .follow(&page.journal_id, page.pruned_through > 0)
            .await
            .map_err(db)?;
        return Ok(());
    }
    let Some(last) = page.changes.last().map(|c| c.seq) else {
        if e.queue.reconciling().await.map_err(db)? {
            let stale = e.queue.finish_reconcile(request.after, now).await.map_err(db)?;
            tracing::info!(
                stale,
                "sync: copied everything again; files the primary no longer has go to the trash"
            );
            e.queued.notify_waiters();
            return Ok(());
        }
        e.link.set_caught_up(true);
        // Caught up: every category with nothing pending, and counted whole by the primary, is
        // in sync as of now.
        let pending = e.queue.pending().await.map_err(db)?;
        for c in &e.sources.categories {
            let counted = !counting.iter().any(|(k, _)| *k == c.name);
            if counted && !pending.keys().any(|k| super::Sources::category_of(k) == c.name) {
                e.tracker.success(&c.name, now);
            }
        }
        return Ok(());
    };
    // The office's changes as they come: fresh ones, once this box had reached the primary's
    // head (a first copy or a catch-up is not the office changing), and none while the primary
    // still counts its files.
    if e.link.caught_up() && counting.is_empty() {
        let fresh = e.link.fresh_bytes(&page.changes, now);
        if fresh > 0 {
            e.link.announced(fresh);
            if let Err(err) = e.queue.count_incoming(now, fresh).await {
                tracing::warn!(error = %err, "sync: the office's changes could not be counted");
            }
        }
    }
    // Reached once, the head stays reached for this journal: an office burst longer than a page
    // is the office changing on every page of it, not a backlog.
    if !behind_head {
        e.link.set_caught_up(true);
    }
    let mut accepted = Vec::with_capacity(page.changes.len());
    for wire in page.changes {
        let category = super::Sources::category_of(&wire.source).to_owned();
        match to_change(wire) {
            Ok(change) => {
                let priority = e.sources.get(&change.category).map_or(9, |s| s.priority);
                accepted.push((change, i64::from(priority)));
            }
            Err(msg) => {
                tracing::warn!(%category, problem = %msg, "sync: change from the partner refused");
                e.tracker.error(&category, msg.message, now);
            }
        }
    }
    let small_ones = accepted.iter().any(|(c, _)| small(c));
    e.queue.enqueue(&accepted, last).await.map_err(db)?;
    if small_ones {
        e.way.queued();
    }
    // A copy from the start that reached the head has been sent every live file: reconciled now
    // (an office that never stops writing never answers with an empty page).
    if !behind_head && e.queue.reconciling().await.map_err(db)? {
        let stale = e.queue.finish_reconcile(last, now).await.map_err(db)?;
        tracing::info!(
            stale,
            "sync: copied everything again; files the primary no longer has go to the trash"
        );
    }
    e.tracker.page_queued(behind_head);
    e.queued.notify_waiters();
    Ok(())
}

/// A change from the wire, with its path checked (Invariant 5) and its hash decoded.
pub fn to_change(w: lbs_protocol::WireChange) -> Result<Change, Refusal> {
    let path = RelPath::parse(&w.path)
        .map_err(|err| Refusal::bad_request(format!("refused a path sent by the primary for {}: {err}", w.source)))?;
    let hash = match (&w.hash, w.deleted || w.folder) {
        (_, true) => None,
        (Some(h), false) => Some(
            super::decode_hash(h)
                .ok_or_else(|| Refusal::bad_request(format!("refused {path}: its checksum is not valid")))?,
        ),
        (None, false) => return Err(Refusal::bad_request(format!("refused {path}: no checksum was sent"))),
    };
    Ok(Change {
        seq: w.seq,
        category: w.source,
        path,
        meta: FileMeta {
            size: w.size,
            mtime_ns: w.mtime_ns,
            mode: w.mode & 0o7777,
            uid: w.uid,
            gid: w.gid,
        },
        hash,
        deleted: w.deleted,
        folder: w.folder,
        changed_unix: w.changed_unix,
    })
}

/// Whether a change travels in a bundle (small files and deletions) or alone (resumable).
fn small(c: &Change) -> bool {
    c.deleted || c.meta.size <= BUNDLE_MAX_FILE
}

/// Most bytes of content one bundle carries.
const BUNDLE_BYTES: u64 = 8 << 20;
/// Most changes one worker takes at once.
const BATCH: usize = 128;
/// How often a folder gone on the primary is tried before it is kept because it is not empty.
const FOLDER_TRIES: i64 = 4;

/// Takes work nobody else is doing, most urgent first: one large file alone, or a batch of small
/// files and deletions (applied together, fetched in one bundle, recorded in one transaction).
async fn claim(e: &SyncEngine, max_size: Option<u64>) -> Vec<Pending> {
    let Ok(due) = e.queue.due(now_unix(), BATCH as u32 * 2, max_size).await else {
        return Vec::new();
    };
    let mut busy = e.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<Pending> = Vec::new();
    let mut bytes = 0;
    for p in due {
        let key = (p.change.category.clone(), p.change.path.to_string());
        if busy.contains(&key) {
            continue;
        }
        if !small(&p.change) {
            if out.is_empty() {
                busy.insert(key);
                out.push(p);
                break;
            }
            continue;
        }
        let size = if p.change.deleted { 0 } else { p.change.meta.size };
        if out.len() >= BATCH || bytes + size > BUNDLE_BYTES {
            break;
        }
        bytes += size;
        busy.insert(key);
        out.push(p);
    }
    out
}

fn release(e: &SyncEngine, items: &[Pending]) {
    let mut busy = e.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    for p in items {
        busy.remove(&(p.change.category.clone(), p.change.path.to_string()));
    }
}

pub async fn worker(e: Arc<SyncEngine>, max_size: Option<u64>) {
    loop {
        e.until_role(Role::Backup).await;
        let Some(peer) = e.peer.read().await.clone() else {
            e.wait_for_change().await;
            continue;
        };
        let seen = e.way.seen();
        let items = claim(&e, max_size).await;
        if items.is_empty() && max_size.is_some() {
            e.way.none_due(seen);
        }
        if items.is_empty() {
            tokio::select! {
                _ = e.queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let large = items.len() == 1 && !small(&items[0].change);
        // Until this batch is recorded, large transfers give way to it.
        let _moving = (!large).then(|| e.way.moving());
        let results = if large {
            vec![apply::apply(&e, &peer, &items[0].change).await]
        } else {
            apply::apply_batch(&e, &peer, &items).await
        };
        let now = now_unix();
        let mut done = Vec::new();
        let mut outcome = Ok(());
        for (item, result) in items.iter().zip(results) {
            let c = &item.change;
            let category = super::Sources::category_of(&c.category).to_owned();
            let step = match result {
                Ok(held) => {
                    done.push((c.clone(), held));
                    e.tracker.success(&category, now);
                    Ok(())
                }
                Err(ApplyError::Superseded) => e.queue.postpone(c, now + 1).await,
                // Its files' own deletions may still be on the way: tried again a few times, then
                // the folder is kept (a folder holding anything is never deleted).
                Err(ApplyError::NotEmpty(msg)) if item.attempts >= FOLDER_TRIES => {
                    tracing::info!(%category, path = %c.path, problem = %msg, "sync: a folder gone on the primary is kept here");
                    done.push((c.clone(), None));
                    Ok(())
                }
                Err(ApplyError::NotEmpty(_)) => e.queue.postpone(c, now + (1i64 << item.attempts.clamp(0, 5))).await,
                Err(ApplyError::Failed(msg)) => {
                    tracing::warn!(%category, path = %c.path, problem = %msg, "sync: could not apply a change");
                    e.tracker.error(&category, msg, now);
                    let wait = 1i64 << item.attempts.clamp(0, 5);
                    e.queue.postpone(c, now + wait).await
                }
            };
            outcome = outcome.and(step);
        }
        outcome = outcome.and(e.queue.applied_many(&done).await);
        release(&e, &items);
        if let Err(err) = outcome {
            tracing::error!(error = %err, "sync: the queue could not be updated");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if e.queue.is_empty().await.unwrap_or(false) {
            e.drained.notify_waiters();
        }
    }
}

/// Fetches the content of `changes` in one bundle; one entry per change, in order.
pub(super) async fn fetch_bundle(
    e: &SyncEngine,
    peer: &Peer,
    changes: &[&Change],
) -> Result<Vec<Result<Vec<u8>, ItemError>>, Refusal> {
    let client = e.client_for(peer)?;
    let request = BundleRequest {
        items: changes
            .iter()
            .map(|c| BundleItem {
                source: c.category.clone(),
                path: c.path.to_string(),
                hash: c.hash.map(hex::encode).unwrap_or_default(),
            })
            .collect(),
    };
    let response = client
        .post(peer::url(&peer.address, "/bundle"))
        .json(&request)
        .send()
        .await
        .map_err(|err| Refusal::unavailable(format!("fetching {} files from {}: {err}", changes.len(), peer.name)))?;
    if !response.status().is_success() {
        return Err(Refusal::unavailable(refusal(peer, response).await));
    }
    let compressed = response
        .headers()
        .get(lbs_protocol::CONTENT_ENCODING_HEADER)
        .is_some_and(|v| v == "zstd");
    let body = response.bytes().await.map_err(|err| {
        Refusal::unavailable(format!(
            "the transfer from {} broke off ({err}); it is tried again",
            peer.name
        ))
    })?;
    e.throttle.take(body.len()).await;
    let body = if compressed {
        let sizes: Vec<u64> = changes.iter().map(|c| c.meta.size).collect();
        super::bundle::decompress(&body, super::bundle::max_len(&sizes))
            .map_err(|err| Refusal::unavailable(format!("{} sent a damaged bundle: {err}", peer.name)))?
    } else {
        body.to_vec()
    };
    parse_bundle(&body, changes)
}

/// The bundle's frames, one per change; a damaged bundle is refused whole.
fn parse_bundle(body: &[u8], changes: &[&Change]) -> Result<Vec<Result<Vec<u8>, ItemError>>, Refusal> {
    let sizes: Vec<u64> = changes.iter().map(|c| c.meta.size).collect();
    let frames = super::bundle::split(body, &sizes)
        .ok_or_else(|| Refusal::unavailable("the partner sent a damaged bundle; it is fetched again"))?;
    Ok(changes
        .iter()
        .zip(frames)
        .map(|(c, (status, content))| match status {
            BUNDLE_OK => Ok(content.to_vec()),
            BUNDLE_SUPERSEDED => Err(ItemError::Superseded(c.path.to_string())),
            _ => Err(ItemError::Fetch(format!("the primary refused to send {}", c.path))),
        })
        .collect())
}
