//! Reintegration's safety net (Invariant 3: nothing diverged is deleted). A primary that lost its
//! role while away may have written files the new primary never got: every file it changed after
//! the partner's last acknowledgement, and that differs from the new primary's copy, is moved to
//! `<root>/.lbs-sync/quarantine/<time>/` and listed in `/api/v1/quarantine`. Moving (rather than
//! copying) matters: the box is about to mirror the new primary, and a stray file left in place
//! would sit beside the mirror as if it belonged there.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use lbs_protocol::{HashesRequest, HashesResponse};
use lbs_sync::install::Installer;
use lbs_sync::journal::Change;
use lbs_sync::paths::RelPath;
use lbs_sync::quarantine::Quarantined;

use lbs_protocol::EventKind;

use super::{Failover, Refusal};
use crate::clock::now_unix;
use crate::peer::CallError;
use crate::role::Reintegration;
use crate::sync::Source;

/// Moves aside what this box changed after `r.acked`; returns a summary.
pub async fn set_aside(f: &Failover, r: Reintegration) -> Result<String, Refusal> {
    // Whatever was written up to the moment the PBX stopped must be in the journal first.
    if let Err(e) = crate::sync::primary::flush(&f.sync, false).await {
        tracing::warn!(problem = %e, "reintegration: the journal could not be brought fully up to date");
    }
    let mut changed: Vec<Change> = Vec::new();
    let mut after = r.acked;
    loop {
        let page = f
            .sync
            .journal
            .changes_after(after, 2000, false)
            .await
            .map_err(Refusal::internal)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        changed.extend(page.into_iter().filter(|c| !c.deleted));
    }
    if changed.is_empty() {
        return Ok("nothing was written here after the partner's last copy; nothing set aside".into());
    }
    let theirs = partner_hashes(f, &changed).await;
    let now = now_unix();
    let (mut files, mut bytes, mut same) = (0u64, 0u64, 0u64);
    for c in changed {
        let key = (c.category.clone(), c.path.to_string());
        if let Some(Some(h)) = theirs.as_ref().and_then(|t| t.get(&key)) {
            if Some(*h) == c.hash {
                same += 1;
                continue;
            }
        }
        let Some(source) = f.sync.sources.get(&c.category) else {
            continue;
        };
        let installer = Installer::new(&source.root);
        let rel = c.path.clone();
        let moved = tokio::task::spawn_blocking(move || installer.quarantine(&rel, now))
            .await
            .map_err(Refusal::internal)?
            .map_err(Refusal::internal)?;
        let Some(dest) = moved else { continue };
        let entry = Quarantined {
            id: 0,
            source: c.category.clone(),
            path: c.path.to_string(),
            size: c.meta.size,
            hash: c.hash,
            stored_at: dest.display().to_string(),
            quarantined_unix: now,
            lost_epoch: r.lost_epoch,
            restored_unix: None,
        };
        f.quarantine.add(&entry).await.map_err(Refusal::internal)?;
        tracing::warn!(source = %c.category, path = %c.path, to = %dest.display(), "reintegration: file set aside in quarantine");
        files += 1;
        bytes += c.meta.size;
    }
    Ok(match (files, same) {
        (0, _) => format!("{same} files written here are identical on the primary; nothing set aside"),
        _ => format!(
            "{files} files ({}) written here after the partner's last copy were set aside in quarantine; \
             see `lbs-agent quarantine` or the console to restore them",
            crate::units::human_bytes(bytes)
        ),
    })
}

/// The new primary's current version of each file, or `None` if it cannot say (then every file
/// is set aside: moving an identical copy aside loses nothing).
async fn partner_hashes(f: &Failover, changed: &[Change]) -> Option<HashMap<(String, String), Option<[u8; 32]>>> {
    let peer = f.peer.read().await.clone()?;
    let client = f.sync.client_for(&peer).ok()?;
    let mut out = HashMap::new();
    for chunk in changed.chunks(1000) {
        let files: Vec<(String, String)> = chunk.iter().map(|c| (c.category.clone(), c.path.to_string())).collect();
        let request = client
            .post(crate::peer::url(&peer.address, "/hashes"))
            .json(&HashesRequest { files: files.clone() })
            .timeout(Duration::from_secs(30));
        let answer: HashesResponse = crate::peer::call(request).await.ok()?;
        if answer.hashes.len() != files.len() {
            return None;
        }
        for (key, h) in files.into_iter().zip(answer.hashes) {
            out.insert(key, h.as_deref().and_then(crate::sync::decode_hash));
        }
    }
    Some(out)
}

/// Puts `content` (verified against `hash`) at `rel` under `root`: atomically, durably, with
/// `meta`. If a different file is there, it goes to the trash first — only with `replace`.
pub fn place(
    root: &std::path::Path,
    rel: &lbs_sync::paths::RelPath,
    content: &[u8],
    hash: &[u8; 32],
    meta: &lbs_sync::journal::FileMeta,
    replace: bool,
) -> Result<String, Refusal> {
    // Said in full, whichever box asked: the person putting a file back must learn why it failed.
    let failed = |e: lbs_sync::install::InstallError| match Refusal::from(e) {
        r if r.kind == crate::refusal::RefusalKind::Internal => {
            Refusal::conflict(format!("{rel} could not be put in place: {}", r.message))
        }
        r => r,
    };
    let installer = Installer::new(root);
    let target = lbs_sync::paths::resolve(root, rel)?;
    if target.exists() {
        if installer.holds(rel, content.len() as u64, hash).map_err(failed)? {
            return Ok(format!("{rel} is already there with the same content"));
        }
        if !replace {
            return Err(Refusal::different_file(format!(
                "a different file is at {rel} now; restore with \"replace\" to put this one in its place \
                 (the current one goes to the trash)"
            )));
        }
        installer.delete_to_trash(rel, now_unix()).map_err(failed)?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Refusal::conflict(format!("cannot create {}: {e}", parent.display())))?;
    }
    let staged = installer.stage_whole(rel, content, hash, meta).map_err(failed)?;
    lbs_sync::install::sync_filesystems([root]).map_err(failed)?;
    staged.commit().map_err(failed)?;
    lbs_sync::install::sync_filesystems([root]).map_err(failed)?;
    Ok(format!("{rel} is back in place"))
}

/// A file `peer` sends back (from its quarantine or its trash), to be put in place on this
/// primary: checked against `q.hash`, installed atomically; a different file in its place only
/// with `q.replace` (it goes to the trash first).
pub async fn receive<B: AsRef<[u8]> + Send + 'static>(
    f: &Failover,
    peer: &crate::peer::Peer,
    q: lbs_protocol::RestoreQuery,
    body: B,
) -> Result<(), Refusal> {
    if f.role().role != lbs_protocol::Role::Primary {
        return Err(Refusal::conflict(format!(
            "{} is not the primary; restore on the primary",
            f.config.server.name
        )));
    }
    let source = f
        .sync
        .sources
        .get(&q.source)
        .ok_or_else(|| Refusal::not_found(format!("no category root {} on this box", q.source)))?;
    let rel = RelPath::parse(&q.path).map_err(|e| Refusal::bad_request(format!("refused: {e}")))?;
    let hash = crate::sync::decode_hash(&q.hash).ok_or_else(|| Refusal::bad_request("`hash` must be 64 hex digits"))?;
    let meta = lbs_sync::journal::FileMeta {
        size: body.as_ref().len() as u64,
        mtime_ns: q.mtime_ns,
        mode: q.mode & 0o7777,
        uid: q.uid,
        gid: q.gid,
    };
    let root = source.root.clone();
    let (replace, what) = (q.replace, rel.to_string());
    let detail = tokio::task::spawn_blocking(move || place(&root, &rel, body.as_ref(), &hash, &meta, replace))
        .await
        .map_err(Refusal::internal)??;
    tracing::info!(partner = %peer.name, path = %what, %detail, "a file sent back by the partner was put in place here");
    Ok(())
}

/// What the quarantine holds, newest first (`GET /api/v1/quarantine`).
pub async fn list(f: &Failover) -> Result<lbs_protocol::QuarantineList, Refusal> {
    let entries = f
        .quarantine
        .list()
        .await?
        .into_iter()
        .map(|q| lbs_protocol::QuarantineEntry {
            id: q.id,
            category: crate::sync::Sources::category_of(&q.source).to_owned(),
            source: q.source,
            path: q.path,
            size: q.size,
            quarantined_unix: q.quarantined_unix,
            lost_epoch: q.lost_epoch,
            stored_at: q.stored_at,
            restored_unix: q.restored_unix,
        })
        .collect();
    Ok(lbs_protocol::QuarantineList { entries })
}

/// Restores quarantined file `id` on the primary: here if this box is the primary, through the
/// partner otherwise, recorded in the audit log as asked by `actor`. The quarantined copy stays
/// where it is (never deleted); the entry is marked.
pub async fn restore(f: &Failover, id: i64, replace: bool, actor: &str) -> Result<String, Refusal> {
    let entry = f
        .quarantine
        .get(id)
        .await?
        .ok_or_else(|| Refusal::bad_request(format!("there is no quarantined file with id {id}")))?;
    let source = f.sync.sources.get(&entry.source).ok_or_else(|| {
        Refusal::conflict(format!(
            "the category root {} is no longer in this box's config; copy the file by hand from {}",
            entry.source, entry.stored_at
        ))
    })?;
    let rel = RelPath::parse(&entry.path).map_err(Refusal::internal)?;
    let detail = put_back(f, source, &rel, Path::new(&entry.stored_at), replace).await?;
    f.quarantine.mark_restored(id, now_unix()).await?;
    let message = format!("quarantined file {id} restored: {detail}");
    f.record(EventKind::QuarantineRestored, actor, None, message).await;
    Ok(detail)
}

/// Puts the file kept at `kept` (in a quarantine or a trash) back at `rel` of `source` on the
/// primary: here if this box is the primary, through the partner otherwise. Only a copy is sent;
/// `kept` stays where it is.
pub async fn put_back(
    f: &Failover,
    source: &Source,
    rel: &RelPath,
    kept: &Path,
    replace: bool,
) -> Result<String, Refusal> {
    let unreadable =
        |e: std::io::Error| Refusal::conflict(format!("the copy kept at {} cannot be read: {e}", kept.display()));
    let meta = tokio::fs::metadata(kept).await.map_err(unreadable)?;
    if meta.len() > lbs_protocol::RESTORE_MAX {
        return Err(Refusal::conflict(format!(
            "{rel} is {}, more than the {} that can be put back at once; copy it by hand from {}",
            crate::units::human_bytes(meta.len()),
            crate::units::human_bytes(lbs_protocol::RESTORE_MAX),
            kept.display()
        )));
    }
    let content = tokio::fs::read(kept).await.map_err(unreadable)?;
    let meta = lbs_sync::journal::FileMeta::of(&meta);
    let hash = *blake3::hash(&content).as_bytes();
    if f.role().role == lbs_protocol::Role::Primary {
        let (root, rel) = (source.root.clone(), rel.clone());
        return tokio::task::spawn_blocking(move || place(&root, &rel, &content, &hash, &meta, replace))
            .await
            .map_err(Refusal::internal)?;
    }
    send_to_primary(f, &source.key, rel, content, &hash, &meta, replace).await
}

async fn send_to_primary(
    f: &Failover,
    source: &str,
    rel: &RelPath,
    content: Vec<u8>,
    hash: &[u8; 32],
    meta: &lbs_sync::journal::FileMeta,
    replace: bool,
) -> Result<String, Refusal> {
    let peer =
        f.peer.read().await.clone().ok_or_else(|| {
            Refusal::conflict("this box is a backup with no partner; there is no primary to restore to")
        })?;
    let client = f.sync.client_for(&peer).map_err(Refusal::internal)?;
    let query = lbs_protocol::RestoreQuery {
        source: source.to_owned(),
        path: rel.to_string(),
        hash: hex::encode(hash),
        replace,
        mode: meta.mode,
        uid: meta.uid,
        gid: meta.gid,
        mtime_ns: meta.mtime_ns,
    };
    let request = client
        .post(crate::peer::url(&peer.address, "/restore"))
        .query(&query)
        .body(content)
        .timeout(Duration::from_secs(600));
    let _: lbs_protocol::Health = crate::peer::call(request).await.map_err(|e| match e {
        CallError::Silent(why) => Refusal::unavailable(format!("{} does not answer ({why})", peer.name)),
        CallError::Refused(reqwest::StatusCode::PRECONDITION_FAILED, why) => {
            Refusal::different_file(format!("{}: {why}", peer.name))
        }
        CallError::Refused(reqwest::StatusCode::CONFLICT, why) => Refusal::conflict(format!("{}: {why}", peer.name)),
        CallError::Refused(_, why) | CallError::Unreadable(why) => {
            Refusal::unavailable(format!("{} could not restore the file: {why}", peer.name))
        }
    })?;
    Ok(format!("{rel} was restored on {}", peer.name))
}
