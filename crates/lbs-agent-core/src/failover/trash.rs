//! The trash, read back for the console (Invariant 4: deletes are recoverable). A file deleted on
//! the primary is moved, on the backup, to `<root>/.lbs-sync/trash/<time>/` and kept for
//! `sync.trash_retention`; [`list`] shows what is kept and [`restore`] puts one back.
//!
//! Where a restored file goes: onto the **primary**, never only here. The backup mirrors the
//! primary: a file put back on the backup alone would not be where the phones use it, would sit
//! beside the mirror as a file the primary does not have, and the primary's next change to that
//! path would replace or trash it again. Put back on the primary, it is journaled like any new
//! file and the sync brings it to the backup. From a backup the file travels to the partner over the partner link
//! (`POST /peer/v1/restore`, the route the quarantine uses), where `quarantine::place` installs it
//! atomically and refuses to overwrite a different file unless `replace` is asked for. Only a copy
//! travels: the trash keeps its file until its folder expires, whatever happens on the way.

use lbs_protocol::{TrashEntry, TrashList, TrashRestoreRequest, TRASH_LIST_MAX};
use lbs_sync::install::InstallError;
use lbs_sync::paths::RelPath;

use lbs_protocol::EventKind;

use super::quarantine::put_back;
use super::{Failover, Refusal};
use crate::refusal::RefusalKind;
use crate::sync::{Sources, SyncEngine};

/// Everything in this box's trash, every category root, newest first; with `only`, just the
/// copies of the file that lived at that path (the totals still count the whole trash).
pub async fn list(sync: &SyncEngine, only: Option<&str>) -> TrashList {
    let retention = sync.config.trash_retention;
    let mut all = Vec::new();
    let mut unreadable = Vec::new();
    for source in sync.sources.all() {
        let root = source.root.clone();
        let found = match tokio::task::spawn_blocking(move || lbs_sync::trash::list(&root)).await {
            Ok(listed) => listed.map_err(Refusal::from),
            Err(e) => Err(Refusal::internal(e)),
        };
        match found {
            Ok(files) => all.extend(files.into_iter().map(|t| (source, t))),
            Err(e) => {
                tracing::warn!(source = %source.key, error = %e, "cannot read the trash");
                unreadable.push(format!("{}: {e}", source.key));
            }
        }
    }
    all.sort_by_key(|(_, t)| std::cmp::Reverse(t.deleted_unix));
    let total_files = all.len() as u64;
    let total_bytes = all.iter().map(|(_, t)| t.size).sum();
    let entries = all
        .into_iter()
        .filter(|(_, t)| only.is_none_or(|p| t.path.as_str() == p))
        .take(TRASH_LIST_MAX)
        .map(|(source, t)| TrashEntry {
            category: Sources::category_of(&source.key).to_owned(),
            source: source.key.clone(),
            path: t.path.to_string(),
            stored: t.stored.to_string(),
            size: t.size,
            deleted_unix: t.deleted_unix,
            expires_unix: t.deleted_unix.saturating_add_unsigned(retention),
        })
        .collect();
    TrashList {
        entries,
        total_files,
        total_bytes,
        retention_secs: retention,
        unreadable,
    }
}

/// Puts one trashed file back on the primary (see the module's comment), recorded in the audit
/// log as asked by `actor`; returns the path it went back to and what happened.
pub async fn restore(f: &Failover, req: &TrashRestoreRequest, actor: &str) -> Result<(RelPath, String), Refusal> {
    let source = f.sync.sources.get(&req.source).ok_or_else(|| {
        Refusal::bad_request(format!(
            "there is no category root \"{}\" on this box; take the `source` from the trash list",
            req.source
        ))
    })?;
    let refused = |e: lbs_sync::paths::PathError| Refusal::bad_request(format!("refused: {e}"));
    let stored = RelPath::parse(&req.stored).map_err(refused)?;
    let (root, when, name) = (source.root.clone(), req.deleted_unix, stored.clone());
    let found = tokio::task::spawn_blocking(move || lbs_sync::trash::locate(&root, when, &name))
        .await
        .map_err(Refusal::internal)?
        .map_err(|e| match e {
            InstallError::Path(p) => refused(p),
            other => Refusal::internal(other),
        })?;
    let (kept, path) = found.ok_or_else(|| {
        Refusal::not_found(format!(
            "{stored} is not in the trash of {} any more (it may have expired); list the trash again",
            source.category
        ))
    })?;
    let detail = put_back(f, source, &path, &kept, req.replace)
        .await
        .map_err(|e| match e.kind {
            RefusalKind::PartnerUnavailable => Refusal::unavailable(format!(
                "the primary must take the file back and it did not: {}. Nothing was changed, and the \
                 deleted copy is still kept here; try again once the primary answers",
                e.message
            )),
            _ => e,
        })?;
    tracing::info!(source = %source.key, path = %path, from = %kept.display(), %detail, "a deleted file was put back on the primary");
    let message = format!(
        "deleted file {path} ({}) put back on the primary: {detail}",
        source.category
    );
    f.record(EventKind::TrashRestored, actor, None, message).await;
    Ok((path, detail))
}
