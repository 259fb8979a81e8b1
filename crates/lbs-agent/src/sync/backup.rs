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
use lbs_protocol::{
    BundleItem, BundleRequest, ContentQuery, PullRequest, PullResponse, Role, SyncLinkState, BUNDLE_MAX_FILE,
    BUNDLE_OK, BUNDLE_SUPERSEDED,
};
use lbs_sync::install::{InstallError, Installer};
use lbs_sync::journal::{Change, FileMeta};
use lbs_sync::paths::RelPath;
use lbs_sync::queue::Pending;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::SyncEngine;
use crate::clock::now_unix;
use crate::peer::{self, Peer};

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
async fn refusal(peer: &Peer, response: reqwest::Response) -> String {
    let message = peer::refusal_message(response).await;
    format!("{} refused the sync request: {message}", peer.name)
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
        (Some(h), false) => {
            Some(super::decode_hash(h).ok_or_else(|| format!("refused {path}: its checksum is not valid"))?)
        }
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

/// Whether a change travels in a bundle (small files and deletions) or alone (resumable).
fn small(p: &Pending) -> bool {
    p.change.deleted || p.change.meta.size <= BUNDLE_MAX_FILE
}

/// Most bytes of content one bundle carries.
const BUNDLE_BYTES: u64 = 8 << 20;
/// Most changes one worker takes at once.
const BATCH: usize = 128;

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
        if !small(&p) {
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
        let items = claim(&e, max_size).await;
        if items.is_empty() {
            tokio::select! {
                _ = e.queued.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        let results = if items.len() == 1 && !small(&items[0]) {
            vec![apply(&e, &peer, &items[0].change).await]
        } else {
            apply_batch(&e, &peer, &items).await
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

type Applied = Result<lbs_sync::queue::Held, ApplyError>;

/// The installer for a change's root, or why there is none.
fn installer_for(e: &SyncEngine, c: &Change) -> Result<Installer, ApplyError> {
    let source = e.sources.get(&c.category).ok_or_else(|| {
        ApplyError::Failed(format!(
            "the primary sends files for root {} but this box's config has no such category root; \
             give both boxes the same [[sync.category]] sections, roots in the same order",
            c.category
        ))
    })?;
    if source.holds_dump && !source.root.is_dir() {
        std::fs::create_dir_all(&source.root).map_err(|err| {
            ApplyError::Failed(format!(
                "cannot create the dump folder {}: {err}",
                source.root.display()
            ))
        })?;
    }
    if !source.root.is_dir() {
        return Err(ApplyError::Failed(format!(
            "the folder {} does not exist on this box; create it (owned by the PBX's user)",
            source.root.display()
        )));
    }
    Ok(Installer::new(&source.root))
}

/// Applies a batch of small changes: deletions and files already held locally first, then the
/// rest fetched in one bundle and installed one by one (each verified, fsynced, renamed).
async fn apply_batch(e: &SyncEngine, peer: &Peer, items: &[Pending]) -> Vec<Applied> {
    let work: Vec<(Change, Result<Installer, ApplyError>)> = items
        .iter()
        .map(|p| (p.change.clone(), installer_for(e, &p.change)))
        .collect();
    let now = now_unix();
    // Step 1, on disk: deletions, and files whose content is already here.
    let step1 = tokio::task::spawn_blocking(move || {
        work.into_iter()
            .map(|(c, inst)| {
                let inst = match inst {
                    Ok(i) => i,
                    Err(err) => return (c, None, Some(Err(err))),
                };
                let done = if c.deleted {
                    Some(
                        inst.delete_to_trash(&c.path, now)
                            .map(|_| None)
                            .map_err(ApplyError::from),
                    )
                } else {
                    match c.hash {
                        None => Some(Err(ApplyError::Failed(format!("{}: no checksum", c.path)))),
                        Some(h) => match inst.holds(&c.path, c.meta.size, &h) {
                            Ok(true) => Some(
                                inst.set_meta(&c.path, &c.meta)
                                    .map(|_| Some((c.meta.size, h)))
                                    .map_err(ApplyError::from),
                            ),
                            Ok(false) => None,
                            Err(err) => Some(Err(err.into())),
                        },
                    }
                };
                (c, Some(inst), done)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let Ok(step1) = step1 else {
        return items
            .iter()
            .map(|_| Err(ApplyError::Failed("interrupted".into())))
            .collect();
    };
    // Step 2, over the network: one bundle for everything still missing.
    let missing: Vec<&Change> = step1
        .iter()
        .filter(|(_, _, d)| d.is_none())
        .map(|(c, _, _)| c)
        .collect();
    let mut fetched = match missing.is_empty() {
        true => Ok(Vec::new()),
        false => fetch_bundle(e, peer, &missing).await,
    }
    .map(|v| v.into_iter());
    // Step 3, on disk: install what arrived, in order.
    let mut plan = Vec::with_capacity(step1.len());
    for (c, inst, done) in step1 {
        let next = match (&done, &mut fetched) {
            (Some(_), _) => None,
            (None, Ok(it)) => Some(it.next().unwrap_or(Err(ApplyError::Superseded))),
            (None, Err(msg)) => Some(Err(ApplyError::Failed(msg.clone()))),
        };
        plan.push((c, inst, done, next));
    }
    let results = tokio::task::spawn_blocking(move || {
        // Per change: bytes received, and what it left.
        let staged: Vec<(Change, u64, Result<Installed, ApplyError>)> = plan
            .into_iter()
            .map(|(c, inst, done, content)| {
                if let Some(done) = done {
                    // Deletions and files already held: their own steps were durable.
                    return (c, 0, done.map(Installed::Done));
                }
                let (Some(inst), Some(content)) = (inst, content) else {
                    return (c, 0, Err(ApplyError::Superseded));
                };
                let bytes = match content {
                    Ok(b) => b,
                    Err(err) => return (c, 0, Err(err)),
                };
                let Some(hash) = c.hash else {
                    return (c, 0, Err(ApplyError::Failed("no checksum".into())));
                };
                let n = bytes.len() as u64;
                let r = inst
                    .stage_whole(&c.path, &bytes, &hash, &c.meta)
                    .map(|s| Installed::Staged(s, (c.meta.size, hash)))
                    .map_err(ApplyError::from);
                (c, n, r)
            })
            .collect();
        // Content on disk first (one flush per filesystem), then the renames, then flush again:
        // a rename never exposes content that is not on disk, and the batch is durable before
        // the queue records it.
        let roots: Vec<std::path::PathBuf> = staged
            .iter()
            .filter_map(|(_, _, r)| match r {
                Ok(Installed::Staged(s, _)) => Some(s.root().to_owned()),
                _ => None,
            })
            .collect();
        let flushed = lbs_sync::install::sync_filesystems(roots.iter().map(|p| p.as_path()));
        let committed: Vec<(Change, u64, Applied)> = staged
            .into_iter()
            .map(|(c, n, r)| {
                let r = match (r, &flushed) {
                    (Ok(Installed::Done(held)), _) => Ok(held),
                    (Ok(Installed::Staged(s, held)), Ok(())) => {
                        s.commit().map(|_| Some(held)).map_err(ApplyError::from)
                    }
                    (Ok(Installed::Staged(..)), Err(err)) => Err(ApplyError::Failed(err.to_string())),
                    (Err(e), _) => Err(e),
                };
                (c, n, r)
            })
            .collect();
        match lbs_sync::install::sync_filesystems(roots.iter().map(|p| p.as_path())) {
            Ok(()) => committed,
            // Renamed but not known to be durable: applied again (cheaply: the content is held).
            Err(err) => committed
                .into_iter()
                .map(|(c, n, r)| (c, n, r.and(Err(ApplyError::Failed(err.to_string())))))
                .collect(),
        }
    })
    .await;
    match results {
        Ok(results) => results
            .into_iter()
            .map(|(c, n, r)| {
                if n > 0 {
                    e.tracker.moved(super::Sources::category_of(&c.category), n);
                }
                r
            })
            .collect(),
        Err(_) => items
            .iter()
            .map(|_| Err(ApplyError::Failed("interrupted".into())))
            .collect(),
    }
}

/// What installing one change of a batch left behind.
enum Installed {
    /// Finished and durable (a deletion, or content already held).
    Done(lbs_sync::queue::Held),
    /// Written under a temporary name; in place once flushed and committed.
    Staged(lbs_sync::install::Staged, (u64, [u8; 32])),
}

/// Fetches the content of `changes` in one bundle; one entry per change, in order.
async fn fetch_bundle(
    e: &SyncEngine,
    peer: &Peer,
    changes: &[&Change],
) -> Result<Vec<Result<Vec<u8>, ApplyError>>, String> {
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
        .map_err(|err| format!("fetching {} files from {}: {err}", changes.len(), peer.name))?;
    if !response.status().is_success() {
        return Err(refusal(peer, response).await);
    }
    let compressed = response
        .headers()
        .get(lbs_protocol::CONTENT_ENCODING_HEADER)
        .is_some_and(|v| v == "zstd");
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("the transfer from {} broke off ({err}); it is tried again", peer.name))?;
    e.throttle.take(body.len()).await;
    let body = if compressed {
        zstd::stream::decode_all(&body[..]).map_err(|err| format!("{} sent a damaged bundle: {err}", peer.name))?
    } else {
        body.to_vec()
    };
    parse_bundle(&body, changes)
}

/// The bundle's frames, one per change; a damaged bundle is refused whole.
fn parse_bundle(body: &[u8], changes: &[&Change]) -> Result<Vec<Result<Vec<u8>, ApplyError>>, String> {
    let sizes: Vec<u64> = changes.iter().map(|c| c.meta.size).collect();
    let frames = super::bundle::split(body, &sizes)
        .ok_or_else(|| "the partner sent a damaged bundle; it is fetched again".to_string())?;
    Ok(changes
        .iter()
        .zip(frames)
        .map(|(c, (status, content))| match status {
            BUNDLE_OK => Ok(content.to_vec()),
            BUNDLE_SUPERSEDED => Err(ApplyError::Superseded),
            _ => Err(ApplyError::Failed(format!("the primary refused to send {}", c.path))),
        })
        .collect())
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

/// Applies one change alone (a large file: resumable); returns what the backup now holds there.
async fn apply(e: &SyncEngine, peer: &Peer, c: &Change) -> Applied {
    let installer = Arc::new(installer_for(e, c)?);
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
                return Err(ApplyError::Failed(refusal(peer, response).await));
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
