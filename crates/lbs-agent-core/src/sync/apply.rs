//! The backup's applying: what was fetched is installed (lbs-sync's `batch` for small files,
//! its `Installer` for a large one, resumed where it stopped), deletions go to the trash, folders
//! are made or, once empty, removed; old trash is emptied.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::bufread::ZstdDecoder;
use futures_util::TryStreamExt;
use lbs_protocol::ContentQuery;
use lbs_sync::batch::{self, ItemError, Step};
use lbs_sync::install::{sync_filesystems, InstallError, Installer};
use lbs_sync::journal::Change;
use lbs_sync::queue::Pending;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

use super::SyncEngine;
use crate::clock::now_unix;
use crate::peer::{self, Peer};

pub(super) enum ApplyError {
    /// The primary has a newer version (or none): wait for its change.
    Superseded,
    /// A folder gone on the primary still holds something here: kept for now.
    NotEmpty(String),
    Failed(String),
}

impl From<InstallError> for ApplyError {
    fn from(e: InstallError) -> Self {
        ApplyError::Failed(e.to_string())
    }
}

impl From<ItemError> for ApplyError {
    fn from(e: ItemError) -> Self {
        match e {
            ItemError::Superseded(_) => ApplyError::Superseded,
            ItemError::Install(InstallError::FolderNotEmpty(p)) => ApplyError::NotEmpty(p),
            e => ApplyError::Failed(e.to_string()),
        }
    }
}

pub(super) type Applied = Result<lbs_sync::queue::Held, ApplyError>;

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

/// Applies a batch of small changes: deletions, folders and files already held locally first,
/// then the rest fetched in one bundle and installed together (lbs-sync's `batch`).
pub(super) async fn apply_batch(e: &SyncEngine, peer: &Peer, items: &[Pending]) -> Vec<Applied> {
    let work: Vec<(Change, Result<Installer, ApplyError>)> = items
        .iter()
        .map(|p| (p.change.clone(), installer_for(e, &p.change)))
        .collect();
    let now = now_unix();
    // Step 1, on disk: what needs no transfer.
    let step1 = tokio::task::spawn_blocking(move || {
        let mut folder_roots = Vec::new();
        let mut step1: Vec<_> = work
            .into_iter()
            .map(|(c, inst)| match inst {
                Err(err) => (c, None, Some(Err(err))),
                Ok(inst) => match batch::prepare_unflushed(&inst, &c, now) {
                    Step::Done(r) => {
                        if c.folder && r.is_ok() {
                            folder_roots.push(inst.root().to_owned());
                        }
                        (c, None, Some(r.map_err(ApplyError::from)))
                    }
                    Step::Fetch => (c, Some(inst), None),
                },
            })
            .collect();
        // The folders made or removed, durable together before any is recorded.
        if let Err(err) = sync_filesystems(folder_roots.iter().map(|p| p.as_path())) {
            for (c, _, done) in step1.iter_mut().filter(|(c, _, _)| c.folder) {
                if matches!(done, Some(Ok(_))) {
                    *done = Some(Err(ApplyError::Failed(format!("{}: {err}", c.path))));
                }
            }
        }
        step1
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
        .filter(|(_, i, _)| i.is_some())
        .map(|(c, _, _)| c)
        .collect();
    let mut fetched = match missing.is_empty() {
        true => Ok(Vec::new()),
        false => super::pull::fetch_bundle(e, peer, &missing).await,
    }
    .map(|v| v.into_iter());
    // Step 3, on disk: install what arrived, together.
    let mut results: Vec<Option<Applied>> = Vec::with_capacity(step1.len());
    let mut slots = Vec::new();
    let mut to_install = Vec::new();
    for (c, inst, done) in step1 {
        match (done, inst) {
            (Some(done), _) => results.push(Some(done)),
            (None, Some(inst)) => {
                let content = match &mut fetched {
                    Ok(it) => it.next().unwrap_or(Err(ItemError::Superseded(c.path.to_string()))),
                    Err(msg) => Err(ItemError::Fetch(msg.message.clone())),
                };
                slots.push((results.len(), c.category.clone()));
                results.push(None);
                to_install.push((inst, c, content));
            }
            (None, None) => results.push(Some(Err(ApplyError::Superseded))),
        }
    }
    if !to_install.is_empty() {
        match tokio::task::spawn_blocking(move || batch::install(to_install)).await {
            Ok(installed) => {
                for ((slot, category), (n, r)) in slots.into_iter().zip(installed) {
                    if n > 0 {
                        e.tracker.moved(super::Sources::category_of(&category), n);
                    }
                    results[slot] = Some(r.map_err(ApplyError::from));
                }
            }
            Err(_) => {
                for (slot, _) in slots {
                    results[slot] = Some(Err(ApplyError::Failed("interrupted".into())));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(ApplyError::Failed("interrupted".into()))))
        .collect()
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
pub(super) async fn apply(e: &SyncEngine, peer: &Peer, c: &Change) -> Applied {
    let installer = Arc::new(installer_for(e, c)?);
    let rel = c.path.clone();
    if c.deleted || c.folder {
        let (now, inst, change) = (now_unix(), installer.clone(), c.clone());
        return match tokio::task::spawn_blocking(move || batch::prepare(&inst, &change, now)).await {
            Ok(Step::Done(r)) => r.map_err(ApplyError::from),
            Ok(Step::Fetch) => Err(ApplyError::Failed(format!("{}: nothing to fetch", c.path))),
            Err(err) => Err(ApplyError::Failed(format!("interrupted: {err}"))),
        };
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
        let client = e.client_for(peer).map_err(|r| ApplyError::Failed(r.message))?;
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
                return Err(ApplyError::Failed(super::pull::refusal(peer, response).await));
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
            e.way.give_way().await;
            e.throttle.take(n).await;
            tokio::task::block_in_place(|| partial.append(&buf[..n], size))?;
            e.tracker.moved(&category, n as u64);
        }
    }
    blocking(move || partial.finish(&hash, &meta)).await?;
    Ok(Some((size, hash)))
}

/// Every minute (a look at one folder per category and one indexed delete: cheap), empties
/// trash older than the retention and drops the journal's rows of files deleted that long ago
/// (a deletion is remembered as long as the deleted file is kept). Measured against the wall
/// clock: a clock set ahead (or a month simulated in an hour) prunes as soon as it is due.
pub async fn trash_loop(e: Arc<SyncEngine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let before = now_unix() - e.config.trash_retention as i64;
        match e.journal.prune_tombstones(before).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "sync: the journal forgot files deleted before the retention"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "sync: cannot prune the journal's deleted files"),
        }
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
