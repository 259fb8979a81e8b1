//! The watcher: inotify (through `notify`) on every category root, with events not acted on one
//! by one but gathered over a short window and reduced to the smallest set of places to
//! [`refresh`](crate::journal::Journal::refresh) — a folder absorbs everything under it. When the
//! kernel drops events (queue overflow), the category gets a full scan instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::install::SYNC_DIR;
use crate::paths::RelPath;

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("cannot watch {path}: {reason}")]
    Watch { path: PathBuf, reason: String },
}

/// One place to look again: a category, and a folder or file in it (`None`: the whole root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dirty {
    pub category: String,
    pub under: Option<RelPath>,
}

/// Keeps the OS watches alive; dropping it stops watching.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
}

/// A raw observation from the watcher thread.
enum Raw {
    Path(PathBuf),
    Overflow,
}

/// Watches `roots` (category, root) and sends batches of [`Dirty`] places, gathered over
/// `window` after the first event of a batch.
pub fn watch(
    roots: Vec<(String, PathBuf)>,
    window: Duration,
) -> Result<(Watcher, mpsc::Receiver<Vec<Dirty>>), WatchError> {
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let mut inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(event) if event.need_rescan() => {
            let _ = raw_tx.send(Raw::Overflow);
        }
        // Reads (our own hashing, serving content) change nothing; reacting would loop forever.
        Ok(event) if is_read(&event.kind) => {}
        Ok(event) => {
            for path in event.paths {
                let _ = raw_tx.send(Raw::Path(path));
            }
        }
        Err(_) => {
            let _ = raw_tx.send(Raw::Overflow);
        }
    })
    .map_err(|e| WatchError::Watch {
        path: PathBuf::new(),
        reason: e.to_string(),
    })?;
    for (_, root) in &roots {
        inner
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| WatchError::Watch {
                path: root.clone(),
                reason: e.to_string(),
            })?;
    }
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(gather(roots, window, raw_rx, tx));
    Ok((Watcher { _inner: inner }, rx))
}

fn is_read(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    matches!(kind, notify::EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write))
}

async fn gather(
    roots: Vec<(String, PathBuf)>,
    window: Duration,
    mut raw: mpsc::UnboundedReceiver<Raw>,
    out: mpsc::Sender<Vec<Dirty>>,
) {
    while let Some(first) = raw.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(more)) = tokio::time::timeout_at(deadline, raw.recv()).await {
            batch.push(more);
        }
        let dirty = reduce(&roots, batch);
        if !dirty.is_empty() && out.send(dirty).await.is_err() {
            return; // nobody listens any more
        }
    }
}

/// Maps raw paths to categories and collapses them: a whole-root entry absorbs its category, a
/// folder absorbs what lies under it; the sync folder is ignored.
fn reduce(roots: &[(String, PathBuf)], batch: Vec<Raw>) -> Vec<Dirty> {
    let mut places: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for raw in batch {
        match raw {
            Raw::Overflow => places.extend(roots.iter().map(|(c, _)| (c.clone(), None))),
            Raw::Path(path) => {
                if let Some((category, rel)) = locate(roots, &path) {
                    places.insert((category, rel));
                }
            }
        }
    }
    // A place is dropped when its category's root or one of its parent folders is also dirty:
    // a lookup per ancestor, not a comparison with every other place.
    let covered = |category: &String, rel: &str| {
        places.contains(&(category.clone(), None))
            || rel
                .match_indices('/')
                .any(|(i, _)| places.contains(&(category.clone(), Some(rel[..i].to_owned()))))
    };
    places
        .iter()
        .filter(|(category, rel)| rel.as_deref().is_none_or(|r| !covered(category, r)))
        .map(|(category, rel)| Dirty {
            category: category.clone(),
            under: rel.as_deref().and_then(|r| RelPath::parse(r).ok()),
        })
        .collect()
}

/// Which category a path belongs to, and where in it (`None` for the root itself).
fn locate(roots: &[(String, PathBuf)], path: &Path) -> Option<(String, Option<String>)> {
    let (category, root) = roots
        .iter()
        .filter(|(_, r)| path.starts_with(r))
        .max_by_key(|(_, r)| r.as_os_str().len())?;
    let rel = path.strip_prefix(root).ok()?;
    if rel.starts_with(SYNC_DIR) {
        return None;
    }
    if rel.as_os_str().is_empty() {
        return Some((category.clone(), None));
    }
    // A name that does not parse as a relative path: look at the whole root rather than miss it.
    let parsed = rel
        .to_str()
        .and_then(|t| RelPath::parse(t).ok())
        .map(|p| p.as_str().to_owned());
    Some((category.clone(), parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Vec<(String, PathBuf)> {
        vec![
            ("voicemail".into(), PathBuf::from("/vm")),
            ("recordings".into(), PathBuf::from("/rec")),
        ]
    }

    fn dirty(category: &str, under: Option<&str>) -> Dirty {
        Dirty {
            category: category.into(),
            under: under.map(|u| RelPath::parse(u).unwrap()),
        }
    }

    #[test]
    fn folders_absorb_what_lies_under_them() {
        let batch = [
            "/vm/a",
            "/vm/a/b.wav",
            "/vm/ab.wav",
            "/rec/x.wav",
            "/vm/.lbs-sync/partial/1.part",
            "/elsewhere",
        ]
        .into_iter()
        .map(|p| Raw::Path(PathBuf::from(p)))
        .collect();
        let mut got = reduce(&roots(), batch);
        got.sort();
        assert_eq!(
            got,
            vec![
                dirty("recordings", Some("x.wav")),
                dirty("voicemail", Some("a")),
                dirty("voicemail", Some("ab.wav"))
            ]
        );
    }

    #[test]
    fn the_root_itself_or_an_overflow_means_a_full_scan() {
        let got = reduce(&roots(), vec![Raw::Path("/vm".into()), Raw::Path("/vm/a".into())]);
        assert_eq!(got, vec![dirty("voicemail", None)]);
        let mut got = reduce(&roots(), vec![Raw::Overflow, Raw::Path("/rec/x".into())]);
        got.sort();
        assert_eq!(got, vec![dirty("recordings", None), dirty("voicemail", None)]);
    }

    #[tokio::test]
    async fn reading_files_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("moh");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("song.wav"), b"music").unwrap();
        let (_watcher, mut rx) = watch(vec![("moh".into(), root.clone())], Duration::from_millis(30)).unwrap();
        for _ in 0..3 {
            std::fs::read(root.join("song.wav")).unwrap();
        }
        let got = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(got.is_err(), "no batch for reads: {got:?}");
    }

    #[tokio::test]
    async fn a_new_voicemail_is_reported_and_a_refresh_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        std::fs::create_dir_all(root.join("default/1001/INBOX")).unwrap();
        let journal = crate::journal::Journal::open(&dir.path().join("j.db")).await.unwrap();
        journal
            .scan("voicemail", &root, &crate::select::Selector::all(), false, 1)
            .await
            .unwrap();
        let (_watcher, mut rx) = watch(vec![("voicemail".into(), root.clone())], Duration::from_millis(30)).unwrap();

        std::fs::write(root.join("default/1001/INBOX/msg0000.wav"), b"new message").unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an event in time")
            .unwrap();
        for d in &batch {
            journal
                .refresh(
                    &d.category,
                    &root,
                    &crate::select::Selector::all(),
                    d.under.as_ref(),
                    false,
                    2,
                )
                .await
                .unwrap();
        }
        let changes = journal.changes_after(0, 10, false).await.unwrap();
        assert_eq!(changes.len(), 1, "{batch:?}");
        assert_eq!(changes[0].path.as_str(), "default/1001/INBOX/msg0000.wav");
    }
}
