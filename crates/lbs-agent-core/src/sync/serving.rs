//! The primary's answers to its partner's pulls (`/peer/v1/changes`, `/content`, `/bundle`,
//! `/hashes`): what changed after a sequence (a long poll), a large file's content from an
//! offset, many small files at once, and the current version of some files. Paths and versions
//! are checked by `lbs_sync::serve`; a file that changed on disk since it was journaled is
//! journaled again at once, and its newer change follows.

use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::bufread::ZstdEncoder;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use lbs_protocol::{
    BundleRequest, ContentQuery, HashesRequest, HashesResponse, PullRequest, PullResponse, Role, SyncLinkState,
    WireChange, BUNDLE_MAX_ITEMS, BUNDLE_OK, BUNDLE_REFUSED, BUNDLE_SUPERSEDED,
};
use lbs_sync::paths::RelPath;
use lbs_sync::serve::{self, ServeError};
use tokio::io::{AsyncReadExt, BufReader};
use tokio_util::bytes::Bytes;
use tokio_util::io::ReaderStream;

use super::{bundle, SyncEngine};
use crate::clock::now_unix;
use crate::refusal::Refusal;

/// How long a pull may wait for a change at most, and while a first scan runs (so the backup
/// shows its progress).
const LONGEST_WAIT_MS: u64 = 30_000;
const COUNTING_WAIT_MS: u64 = 2_000;

/// The changes after `req.after`, waiting up to `req.wait_ms` for one; records what the partner
/// reports holding and acknowledging.
pub async fn changes(e: &SyncEngine, req: PullRequest) -> Result<PullResponse, Refusal> {
    let now = now_unix();
    e.tracker.link(SyncLinkState::Ok, None, now);
    e.tracker.set_peer_takes_folders(req.folders);
    let acked_moved = e.tracker.peer_report(
        req.held.iter().map(|t| (t.source.clone(), t.files, t.bytes)),
        Some(req.acked),
    );
    if acked_moved {
        // Kept on disk: after a failover it decides what this box wrote that the partner never got.
        if let Err(err) = e.journal.set_peer_acked(Some(req.acked)).await {
            tracing::warn!(error = %err, "sync: cannot record the partner's acknowledgement");
        }
    }
    let journal_id = e.journal.id().await?;
    let role = e.role();
    let mut head = e.head();
    let same_journal = req.journal_id.as_deref() == Some(journal_id.as_str());
    let mut changes = Vec::new();
    if role.role == Role::Primary && same_journal {
        let wait = match e.tracker.counting().is_empty() {
            true => req.wait_ms.min(LONGEST_WAIT_MS),
            false => req.wait_ms.min(COUNTING_WAIT_MS),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait);
        loop {
            head.borrow_and_update();
            changes = e
                .journal
                .changes_after(req.after, req.limit.clamp(1, 5000), req.folders)
                .await?;
            if !changes.is_empty() || tokio::time::timeout_at(deadline, head.changed()).await.is_err() {
                break;
            }
        }
    }
    let totals = e.journal.totals().await?;
    let pruned_through = e.journal.pruned_through().await?;
    let head_seq = *head.borrow();
    Ok(PullResponse {
        server_id: e.identity.server_id.clone(),
        role: role.role,
        epoch: role.epoch,
        journal_id,
        head: head_seq,
        changes: changes
            .into_iter()
            .map(|c| WireChange {
                seq: c.seq,
                source: c.category,
                path: c.path.to_string(),
                size: c.meta.size,
                mtime_ns: c.meta.mtime_ns,
                mode: c.meta.mode,
                uid: c.meta.uid,
                gid: c.meta.gid,
                hash: c.hash.map(hex::encode),
                deleted: c.deleted,
                changed_unix: c.changed_unix,
                folder: c.folder,
            })
            .collect(),
        totals: super::wire_tallies(totals),
        counting: match role.role {
            Role::Primary => e
                .tracker
                .counting()
                .into_iter()
                .map(|(category, files_counted)| lbs_protocol::CategoryCounting {
                    category,
                    files_counted,
                })
                .collect(),
            Role::Backup => Vec::new(),
        },
        pruned_through,
    })
}

/// A large file's content from an offset, throttled, zstd-compressed when it pays.
pub struct Content {
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
    pub compressed: bool,
}

fn require_primary(e: &SyncEngine) -> Result<(), Refusal> {
    match e.role().role {
        Role::Primary => Ok(()),
        Role::Backup => Err(Refusal::conflict("this box is not the primary")),
    }
}

pub async fn content(e: &Arc<SyncEngine>, q: ContentQuery) -> Result<Content, Refusal> {
    require_primary(e)?;
    let source = e
        .sources
        .get(&q.source)
        .ok_or_else(|| Refusal::not_found(format!("no category root {} on this box", q.source)))?;
    let asked = serve::check(&source.root, &q.path, &q.hash).map_err(|err| refused(e, &q.source, None, err))?;
    let journaled = e
        .journal
        .journaled(&[(source.key.as_str(), &asked.rel)])
        .await?
        .pop()
        .flatten();
    let rel = asked.rel.clone();
    let offset = q.offset;
    let opened = tokio::task::spawn_blocking(move || serve::open_content(&asked, journaled.as_ref(), offset))
        .await
        .map_err(Refusal::internal)?;
    let content = opened.map_err(|err| refused(e, &source.key, Some(&rel), err))?;
    let file = tokio::fs::File::from_std(content.file).take(content.len);
    let reader = BufReader::with_capacity(128 * 1024, file);
    let stream = if content.compress {
        ReaderStream::with_capacity(ZstdEncoder::new(reader), 128 * 1024).boxed()
    } else {
        ReaderStream::with_capacity(reader, 128 * 1024).boxed()
    };
    // The cap applies to what goes on the wire.
    let (sync, category) = (e.clone(), source.category.clone());
    let throttled = stream.then(move |chunk| {
        let (sync, category) = (sync.clone(), category.clone());
        async move {
            if let Ok(bytes) = &chunk {
                sync.way.give_way().await;
                sync.throttle.take(bytes.len()).await;
                sync.tracker.moved(&category, bytes.len() as u64);
            }
            chunk
        }
    });
    Ok(Content {
        stream: throttled.boxed(),
        compressed: content.compress,
    })
}

/// Many small files in one answer (see `lbs_protocol::BUNDLE_OK` for the framing); returns the
/// body and whether it is zstd-compressed.
pub async fn bundle(e: &Arc<SyncEngine>, req: BundleRequest) -> Result<(Vec<u8>, bool), Refusal> {
    if req.items.len() > BUNDLE_MAX_ITEMS {
        return Err(Refusal::bad_request(format!(
            "at most {BUNDLE_MAX_ITEMS} files per bundle"
        )));
    }
    require_primary(e)?;
    // Until it is sent, large files being served give way to it.
    let _moving = e.way.moving();
    // Each item checked (path inside its root), then the journal's versions read at once.
    let checked: Vec<Result<(String, serve::Asked), ServeError>> = req
        .items
        .iter()
        .map(|item| {
            let source = e
                .sources
                .get(&item.source)
                .ok_or_else(|| ServeError::NoSuchRoot(item.source.clone()))?;
            Ok((source.key.clone(), serve::check(&source.root, &item.path, &item.hash)?))
        })
        .collect();
    let lookups: Vec<(&str, &RelPath)> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(k, a)| (k.as_str(), &a.rel)))
        .collect();
    let mut journaled = e.journal.journaled(&lookups).await?.into_iter();
    let wanted: Vec<_> = checked
        .into_iter()
        .map(|c| c.map(|(key, asked)| (key, asked, journaled.next().flatten())))
        .collect();
    let (body, compress, changed) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut changed = Vec::new();
        for w in wanted {
            let content = w.and_then(|(key, asked, j)| {
                serve::read_small(&asked, j.as_ref()).inspect_err(|err| {
                    if matches!(err, ServeError::ChangedOnDisk { .. }) {
                        changed.push((key, asked.rel.clone()));
                    }
                })
            });
            match content {
                Ok(bytes) => bundle::push(&mut out, BUNDLE_OK, &bytes),
                Err(err) if err.is_superseded() => bundle::push(&mut out, BUNDLE_SUPERSEDED, &[]),
                Err(err) => {
                    tracing::warn!(problem = %err, "sync: refused a bundle item");
                    bundle::push(&mut out, BUNDLE_REFUSED, &[])
                }
            }
        }
        let (body, compress) = serve::maybe_compress(out);
        (body, compress, changed)
    })
    .await
    .map_err(Refusal::internal)?;
    for (key, rel) in &changed {
        rejournal(e, key, rel);
    }
    e.throttle.take(body.len()).await;
    Ok((body, compress))
}

/// The current version of some files in this box's journal (a reintegration compares its own
/// against them).
pub async fn hashes(e: &SyncEngine, req: HashesRequest) -> Result<HashesResponse, Refusal> {
    if req.files.len() > 10_000 {
        return Err(Refusal::bad_request("at most 10000 files per request"));
    }
    let parsed: Vec<Option<RelPath>> = req.files.iter().map(|(_, p)| RelPath::parse(p).ok()).collect();
    let lookups: Vec<(&str, &RelPath)> = req
        .files
        .iter()
        .zip(&parsed)
        .filter_map(|((s, _), p)| p.as_ref().map(|p| (s.as_str(), p)))
        .collect();
    let mut found = e.journal.current_hashes(&lookups).await?.into_iter();
    let hashes = parsed
        .iter()
        .map(|p| p.as_ref().and_then(|_| found.next().flatten()).map(hex::encode))
        .collect();
    Ok(HashesResponse { hashes })
}

/// A refused request, as the partner reads it: a newer version on the way is a conflict (not
/// found if the file is gone), a path that may not be served a bad request. A file that changed
/// on disk since it was journaled is journaled again now.
fn refused(e: &Arc<SyncEngine>, source: &str, asked: Option<&RelPath>, err: ServeError) -> Refusal {
    match err {
        ServeError::ChangedOnDisk { .. } => {
            if let Some(rel) = asked {
                rejournal(e, source, rel);
            }
            Refusal::conflict(err.to_string())
        }
        ServeError::Gone { .. } => Refusal::not_found(err.to_string()),
        err if err.is_superseded() => Refusal::conflict(err.to_string()),
        // This box could not read its own file: its log says why, the partner tries again.
        err @ ServeError::Io { .. } => Refusal::internal(err),
        err => {
            tracing::warn!(problem = %err, "sync: refused a content request");
            Refusal::bad_request(err.to_string())
        }
    }
}

/// Journals a file again in the background (hashing a long recording takes a while).
fn rejournal(e: &Arc<SyncEngine>, source: &str, rel: &RelPath) {
    let (sync, source, rel) = (e.clone(), source.to_owned(), rel.clone());
    tokio::spawn(async move { super::primary::rejournal(&sync, &source, &rel).await });
}
