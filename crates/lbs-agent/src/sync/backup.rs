//! The backup's part. The pull loop asks the primary for the changes after the durable cursor
//! (a long poll: the primary answers as soon as something changes) and stores each page in the
//! queue with the new cursor, atomically. Workers take queued changes by priority and apply them:
//! content is fetched (resuming a partial file), verified against its BLAKE3, fsynced and renamed
//! into place; deletions go to the trash. Only then does a change leave the queue.
//!
//! Architecture Invariant: data is accepted only from the paired partner (mutual TLS, pinned),
//! only while it says it is the primary, and only at an epoch at least this box's own.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::bufread::ZstdDecoder;
use futures_util::TryStreamExt;
use lbs_protocol::{ContentQuery, PullRequest, PullResponse, Role, SourceTally, SyncLinkState};
use lbs_sync::install::{InstallError, Installer};
use lbs_sync::journal::{Change, FileMeta};
use lbs_sync::paths::RelPath;
use lbs_sync::queue::Pending;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::SyncEngine;
use crate::clock::now_unix;
use crate::peer::{self, Peer};

/// Files up to this size go through the express lane.
pub const EXPRESS_MAX: u64 = 1 << 20;
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
            tokio::time::sleep(Duration::from_secs(1)).await;
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
    let chain = {
        let mut s = err.to_string();
        let mut src = std::error::Error::source(err);
        while let Some(e) = src {
            s.push_str(": ");
            s.push_str(&e.to_string());
            src = e.source();
        }
        s
    };
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

async fn refusal(peer: &Peer, response: reqwest::Response) -> PullError {
    let status = response.status();
    let message = response
        .json::<lbs_protocol::ApiError>()
        .await
        .map(|e| e.message)
        .unwrap_or_else(|_| status.to_string());
    PullError::Refused(format!("{} refused the sync request: {message}", peer.name))
}

fn tallies(map: std::collections::HashMap<String, lbs_sync::journal::Tally>) -> Vec<SourceTally> {
    map.into_iter()
        .map(|(source, t)| SourceTally {
            source,
            files: t.files,
            bytes: t.bytes,
        })
        .collect()
}

async fn pull_once(e: &Arc<SyncEngine>, peer: &Peer) -> Result<(), PullError> {
    let client = e.client_for(peer).map_err(PullError::Refused)?;
    let db =
        |err: lbs_sync::journal::JournalError| PullError::Refused(format!("this box's sync database failed: {err}"));
    let cursor = e.queue.cursor().await.map_err(db)?;
    let request = PullRequest {
        journal_id: cursor.as_ref().map(|(j, _)| j.clone()),
        after: cursor.as_ref().map_or(0, |(_, f)| *f),
        limit: PAGE,
        wait_ms: WAIT_MS,
        acked: e.queue.acknowledged().await.map_err(db)?,
        held: tallies(e.queue.held().await.map_err(db)?),
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
    };
    if !response.status().is_success() {
        return Err(refusal(peer, response).await);
    }
    let page: PullResponse = response
        .json()
        .await
        .map_err(|err| PullError::Unreachable(format!("{} sent an answer that could not be read: {err}", peer.name)))?;
    let own = e.role().await;
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
    e.tracker.link(SyncLinkState::Ok, None, now);
    e.tracker
        .peer_report(page.totals.iter().map(|t| (t.source.clone(), t.files, t.bytes)), None);
    if request.journal_id.as_deref() != Some(page.journal_id.as_str()) {
        tracing::info!(journal = %page.journal_id, "sync: following a new journal from the start");
        e.queue.follow(&page.journal_id).await.map_err(db)?;
        return Ok(());
    }
    let Some(last) = page.changes.last().map(|c| c.seq) else {
        // Caught up: every category with nothing pending is in sync as of now.
        let pending = e.queue.pending().await.map_err(db)?;
        for c in &e.sources.categories {
            if !pending.keys().any(|k| super::Sources::category_of(k) == c.name) {
                e.tracker.success(&c.name, now);
            }
        }
        return Ok(());
    };
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
                e.tracker.error(&category, msg, now);
            }
        }
    }
    e.queue.enqueue(&accepted, last).await.map_err(db)?;
    e.queued.notify_waiters();
    Ok(())
}

/// A change from the wire, with its path checked (Invariant 5) and its hash decoded.
fn to_change(w: lbs_protocol::WireChange) -> Result<Change, String> {
    let path =
        RelPath::parse(&w.path).map_err(|err| format!("refused a path sent by the primary for {}: {err}", w.source))?;
    let hash = match (&w.hash, w.deleted) {
        (_, true) => None,
        (Some(h), false) => Some(decode_hash(h).ok_or_else(|| format!("refused {path}: its checksum is not valid"))?),
        (None, false) => return Err(format!("refused {path}: no checksum was sent")),
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
        changed_unix: w.changed_unix,
    })
}

pub fn decode_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

enum ApplyError {
    /// The primary has a newer version (or none): wait for its change.
    Superseded,
    Failed(String),
}

impl From<InstallError> for ApplyError {
    fn from(e: InstallError) -> Self {
        ApplyError::Failed(e.to_string())
    }
}

/// Takes the most urgent change nobody is applying, marking it in flight.
async fn claim(e: &SyncEngine, max_size: Option<u64>) -> Option<Pending> {
    let due = e.queue.due(now_unix(), 32, max_size).await.ok()?;
    let mut busy = e.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    let item = due
        .into_iter()
        .find(|p| !busy.contains(&(p.change.category.clone(), p.change.path.to_string())))?;
    busy.insert((item.change.category.clone(), item.change.path.to_string()));
    Some(item)
}

fn release(e: &SyncEngine, c: &Change) {
    e.in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(c.category.clone(), c.path.to_string()));
}

pub async fn worker(e: Arc<SyncEngine>, max_size: Option<u64>) {
    loop {
        e.until_role(Role::Backup).await;
        let Some(peer) = e.peer.read().await.clone() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let Some(item) = claim(&e, max_size).await else {
            tokio::select! {
                _ = e.queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        };
        let c = &item.change;
        let category = super::Sources::category_of(&c.category).to_owned();
        let result = apply(&e, &peer, c).await;
        let now = now_unix();
        let outcome = match result {
            Ok(held) => e.queue.applied(c, held).await.map(|_| {
                e.tracker.success(&category, now);
            }),
            Err(ApplyError::Superseded) => e.queue.postpone(c, now + 1).await,
            Err(ApplyError::Failed(msg)) => {
                tracing::warn!(%category, path = %c.path, problem = %msg, "sync: could not apply a change");
                e.tracker.error(&category, msg, now);
                let wait = 1i64 << item.attempts.clamp(0, 5);
                e.queue.postpone(c, now + wait).await
            }
        };
        release(&e, c);
        if let Err(err) = outcome {
            tracing::error!(error = %err, "sync: the queue could not be updated");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if e.queue.is_empty().await.unwrap_or(false) {
            e.drained.notify_waiters();
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InstallError> + Send + 'static,
) -> Result<T, ApplyError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| ApplyError::Failed(format!("interrupted: {err}")))?
        .map_err(ApplyError::from)
}

/// Applies one change; returns what the backup now holds at the path.
async fn apply(e: &SyncEngine, peer: &Peer, c: &Change) -> Result<Option<(u64, [u8; 32])>, ApplyError> {
    let source = e.sources.get(&c.category).ok_or_else(|| {
        ApplyError::Failed(format!(
            "the primary sends files for root {} but this box's config has no such category root; \
             give both boxes the same [[sync.category]] sections, roots in the same order",
            c.category
        ))
    })?;
    if !source.root.is_dir() {
        return Err(ApplyError::Failed(format!(
            "the folder {} does not exist on this box; create it (owned by the PBX's user)",
            source.root.display()
        )));
    }
    let installer = Arc::new(Installer::new(&source.root));
    let rel = c.path.clone();
    if c.deleted {
        let now = now_unix();
        let inst = installer.clone();
        blocking(move || inst.delete_to_trash(&rel, now)).await?;
        return Ok(None);
    }
    let Some(hash) = c.hash else {
        return Err(ApplyError::Failed(format!("{}: no checksum", c.path)));
    };
    let (size, meta) = (c.meta.size, c.meta.clone());
    let inst = installer.clone();
    let (r, m) = (rel.clone(), meta.clone());
    let already = blocking(move || {
        let same = inst.holds(&r, size, &hash)?;
        if same {
            inst.set_meta(&r, &m)?;
        }
        Ok(same)
    })
    .await?;
    if already {
        return Ok(Some((size, hash)));
    }
    let inst = installer.clone();
    let r = rel.clone();
    let mut partial = blocking(move || inst.begin(&r, &hash)).await?;
    if partial.offset() < size {
        let client = e.client_for(peer).map_err(ApplyError::Failed)?;
        let query = ContentQuery {
            source: c.category.clone(),
            path: c.path.to_string(),
            hash: hex::encode(hash),
            offset: partial.offset(),
        };
        let response = client
            .get(peer::url(&peer.address, "/content"))
            .query(&query)
            .send()
            .await
            .map_err(|err| ApplyError::Failed(format!("fetching {} from {}: {err}", c.path, peer.name)))?;
        match response.status() {
            s if s.is_success() => {}
            reqwest::StatusCode::CONFLICT | reqwest::StatusCode::NOT_FOUND => return Err(ApplyError::Superseded),
            _ => {
                let (PullError::Refused(msg) | PullError::Unreachable(msg)) = refusal(peer, response).await;
                return Err(ApplyError::Failed(msg));
            }
        }
        let compressed = response
            .headers()
            .get(lbs_protocol::CONTENT_ENCODING_HEADER)
            .is_some_and(|v| v == "zstd");
        let body = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
        let mut reader: Pin<Box<dyn AsyncRead + Send>> = if compressed {
            Box::pin(ZstdDecoder::new(body))
        } else {
            Box::pin(body)
        };
        let mut buf = vec![0u8; 128 * 1024];
        let category = super::Sources::category_of(&c.category).to_owned();
        loop {
            let n = reader.read(&mut buf).await.map_err(|err| {
                ApplyError::Failed(format!(
                    "the transfer of {} from {} broke off ({err}); it resumes where it stopped",
                    c.path, peer.name
                ))
            })?;
            if n == 0 {
                break;
            }
            e.throttle.take(n).await;
            tokio::task::block_in_place(|| partial.append(&buf[..n], size))?;
            e.tracker.moved(&category, n as u64);
        }
    }
    blocking(move || partial.finish(&hash, &meta)).await?;
    Ok(Some((size, hash)))
}

/// Empties trash older than the retention, hourly.
pub async fn trash_loop(e: Arc<SyncEngine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = now_unix() - e.config.trash_retention as i64;
        for s in e.sources.all() {
            let inst = Installer::new(&s.root);
            match tokio::task::spawn_blocking(move || inst.prune_trash(before)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(source = %s.key, folders = n, "sync: old trash emptied"),
                Ok(Err(err)) => tracing::warn!(source = %s.key, error = %err, "sync: cannot empty old trash"),
                _ => {}
            }
        }
    }
}
