//! The backup's batch install: a batch of small changes (files received whole, deletions,
//! folders) applied together with two flushes instead of two per file. First what needs no
//! transfer ([`prepare`]: deletions into the trash, folders, content already held); then what
//! was fetched ([`install`]: every file staged under a temporary name, one `syncfs`, every
//! rename, one `syncfs`). A rename only ever exposes content already on disk (Invariant 2), and a
//! refused item never stops the rest of its batch.
//!
//! No network here: the agent fetches the bundle between the two steps.

use thiserror::Error;

use crate::install::{sync_filesystems, InstallError, Installer, Staged};
use crate::journal::Change;
use crate::queue::Held;

/// Why one change of a batch was not applied.
#[derive(Debug, Error)]
pub enum ItemError {
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The primary has a newer version, or none: wait for its change.
    #[error("{0}: the primary has a newer version now; its change follows")]
    Superseded(String),
    #[error("{0}: the primary sent no checksum for it")]
    NoChecksum(String),
    /// The transfer failed (the words come from the caller, who knows the partner).
    #[error("{0}")]
    Fetch(String),
}

/// What [`prepare`] left for one change.
#[derive(Debug)]
pub enum Step {
    /// Applied (or failed) on disk already; its own steps were durable.
    Done(Result<Held, ItemError>),
    /// The content must be fetched, then given to [`install`].
    Fetch,
}

/// Applies what needs no transfer, blocking: a deletion goes to the trash, a folder is made (or
/// removed if empty), a file whose content is already here only gets its mode, owner and time.
/// Each is durable when it returns.
pub fn prepare(inst: &Installer, c: &Change, now_unix: i64) -> Step {
    let step = prepare_unflushed(inst, c, now_unix);
    match step {
        Step::Done(Ok(held)) if c.folder => {
            Step::Done(sync_filesystems([inst.root()]).map(|_| held).map_err(ItemError::from))
        }
        other => other,
    }
}

/// As [`prepare`], but a folder made or removed is not yet durable: the caller flushes the
/// filesystems of those roots once ([`sync_filesystems`]) before it records them, so a page of
/// new mailboxes costs one flush, not one each.
pub fn prepare_unflushed(inst: &Installer, c: &Change, now_unix: i64) -> Step {
    let done = |r: Result<Held, InstallError>| Step::Done(r.map_err(ItemError::from));
    match (c.folder, c.deleted) {
        (true, false) => return done(inst.make_folder(&c.path, &c.meta).map(|_| None)),
        (true, true) => return done(inst.remove_empty_folder(&c.path).map(|_| None)),
        (false, true) => return done(inst.delete_to_trash(&c.path, now_unix).map(|_| None)),
        (false, false) => {}
    }
    let Some(hash) = c.hash else {
        return Step::Done(Err(ItemError::NoChecksum(c.path.to_string())));
    };
    match inst.holds(&c.path, c.meta.size, &hash) {
        Ok(true) => done(inst.set_meta(&c.path, &c.meta).map(|_| Some((c.meta.size, hash)))),
        Ok(false) => Step::Fetch,
        Err(e) => done(Err(e)),
    }
}

/// One fetched change to install: its root's installer, the change, and what arrived.
pub type Fetched = (Installer, Change, Result<Vec<u8>, ItemError>);

/// A staged file and what the backup holds once it is renamed into place.
type StagedItem = Result<(Staged, Held), ItemError>;

/// Installs fetched content, blocking: each file checked against its hash and staged, the
/// filesystems flushed once, every file renamed into place, flushed again. Returns, per change
/// and in order, the bytes received and what the backup now holds there.
pub fn install(batch: Vec<Fetched>) -> Vec<(u64, Result<Held, ItemError>)> {
    let staged: Vec<(u64, StagedItem)> = batch
        .into_iter()
        .map(|(inst, c, content)| {
            let bytes = match content {
                Ok(b) => b,
                Err(e) => return (0, Err(e)),
            };
            let Some(hash) = c.hash else {
                return (0, Err(ItemError::NoChecksum(c.path.to_string())));
            };
            let n = bytes.len() as u64;
            let r = inst
                .stage_whole(&c.path, &bytes, &hash, &c.meta)
                .map(|s| (s, Some((c.meta.size, hash))))
                .map_err(ItemError::from);
            (n, r)
        })
        .collect();
    // Content on disk first (one flush per filesystem), then the renames, then flush again:
    // the batch is durable before the queue records it.
    let roots: Vec<std::path::PathBuf> = staged
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|(s, _)| s.root().to_owned()))
        .collect();
    let flushed = sync_filesystems(roots.iter().map(|p| p.as_path()));
    let committed: Vec<(u64, Result<Held, ItemError>)> = staged
        .into_iter()
        .map(|(n, r)| {
            let r = match (r, &flushed) {
                (Ok((s, held)), Ok(())) => s.commit().map(|_| held).map_err(ItemError::from),
                (Ok(_), Err(e)) => Err(ItemError::Fetch(e.to_string())),
                (Err(e), _) => Err(e),
            };
            (n, r)
        })
        .collect();
    match sync_filesystems(roots.iter().map(|p| p.as_path())) {
        Ok(()) => committed,
        // Renamed but not known to be durable: applied again (cheaply: the content is held).
        Err(e) => committed
            .into_iter()
            .map(|(n, r)| (n, r.and(Err(ItemError::Fetch(e.to_string())))))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::journal::FileMeta;
    use crate::paths::{PathError, RelPath};

    fn change(path: &str, content: Option<&[u8]>) -> Change {
        Change {
            seq: 1,
            category: "voicemail:0".into(),
            path: RelPath::parse(path).unwrap(),
            meta: FileMeta {
                size: content.map_or(0, |c| c.len() as u64),
                mtime_ns: 1_700_000_000_000_000_000,
                mode: 0o640,
                uid: 0,
                gid: 0,
            },
            hash: content.map(|c| *blake3::hash(c).as_bytes()),
            deleted: content.is_none(),
            folder: false,
            changed_unix: 1,
        }
    }

    fn folder(path: &str, deleted: bool) -> Change {
        Change {
            folder: true,
            deleted,
            hash: None,
            meta: FileMeta {
                size: 0,
                mtime_ns: 0,
                mode: 0o750,
                uid: 0,
                gid: 0,
            },
            ..change(path, Some(b""))
        }
    }

    fn run(root: &Path, items: Vec<(Change, Option<Vec<u8>>)>) -> Vec<Result<Held, ItemError>> {
        let inst = || Installer::new(root);
        let mut out: Vec<Option<Result<Held, ItemError>>> = Vec::new();
        let mut fetch = Vec::new();
        for (i, (c, content)) in items.into_iter().enumerate() {
            match prepare(&inst(), &c, 100) {
                Step::Done(r) => out.push(Some(r)),
                Step::Fetch => {
                    out.push(None);
                    let got = content.ok_or_else(|| ItemError::Superseded(c.path.to_string()));
                    fetch.push((i, (inst(), c, got)));
                }
            }
        }
        let (slots, batch): (Vec<usize>, Vec<Fetched>) = fetch.into_iter().unzip();
        for (i, (_, r)) in slots.into_iter().zip(install(batch)) {
            out[i] = Some(r);
        }
        out.into_iter().map(Option::unwrap).collect()
    }

    #[test]
    fn a_batch_installs_what_it_can_and_refuses_the_rest_item_by_item() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(root.join("INBOX")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        fs::write(root.join("INBOX/old.wav"), b"old").unwrap();
        fs::write(root.join("INBOX/held.txt"), b"same").unwrap();
        let results = run(
            &root,
            vec![
                (change("INBOX/new.wav", Some(b"new")), Some(b"new".to_vec())),
                (change("escape/evil.wav", Some(b"evil")), Some(b"evil".to_vec())),
                (change("INBOX/bad.wav", Some(b"good")), Some(b"damaged".to_vec())),
                (change("INBOX/old.wav", None), None),
                (change("INBOX/held.txt", Some(b"same")), None),
                (change("INBOX/later.wav", Some(b"later")), None),
            ],
        );
        assert!(matches!(results[0], Ok(Some((3, _)))), "{:?}", results[0]);
        assert_eq!(fs::read(root.join("INBOX/new.wav")).unwrap(), b"new");
        assert!(
            matches!(
                results[1],
                Err(ItemError::Install(InstallError::Path(PathError::Symlink(_))))
            ),
            "{:?}",
            results[1]
        );
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing written through the link"
        );
        assert!(
            matches!(results[2], Err(ItemError::Install(InstallError::HashMismatch { .. }))),
            "{:?}",
            results[2]
        );
        assert!(!root.join("INBOX/bad.wav").exists(), "damaged content never in place");
        assert!(matches!(results[3], Ok(None)));
        assert!(!root.join("INBOX/old.wav").exists());
        assert_eq!(
            fs::read(root.join(".lbs-sync/trash/100/INBOX/old.wav")).unwrap(),
            b"old"
        );
        assert!(matches!(results[4], Ok(Some((4, _)))), "held content is not fetched");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(root.join("INBOX/held.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640, "only its mode, owner and time were applied");
        assert!(matches!(results[5], Err(ItemError::Superseded(_))));
    }

    #[test]
    fn folders_are_made_and_removed_only_when_empty_and_never_the_sync_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("default/1001/INBOX")).unwrap();
        fs::write(root.join("default/1001/INBOX/msg.wav"), b"kept").unwrap();
        fs::create_dir_all(root.join(".lbs-sync/trash")).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("empty")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let results = run(
            &root,
            vec![
                (folder("default/1234/INBOX", false), None),
                (folder("default/1001/INBOX", true), None),
                (folder("gone", true), None),
                (folder(".lbs-sync/trash", true), None),
                (folder("escape/empty", true), None),
            ],
        );
        assert!(matches!(results[0], Ok(None)), "{:?}", results[0]);
        use std::os::unix::fs::PermissionsExt;
        let made = fs::metadata(root.join("default/1234/INBOX")).unwrap();
        assert!(made.is_dir());
        assert_eq!(made.permissions().mode() & 0o7777, 0o750);
        assert!(
            matches!(results[1], Err(ItemError::Install(InstallError::FolderNotEmpty(_)))),
            "{:?}",
            results[1]
        );
        assert!(
            root.join("default/1001/INBOX/msg.wav").exists(),
            "nothing deleted with a folder"
        );
        assert!(matches!(results[2], Ok(None)), "a folder already gone is fine");
        assert!(matches!(
            results[3],
            Err(ItemError::Install(InstallError::SyncFolder(_)))
        ));
        assert!(root.join(".lbs-sync/trash").is_dir());
        assert!(matches!(
            results[4],
            Err(ItemError::Install(InstallError::Path(PathError::Symlink(_))))
        ));
        assert!(outside.join("empty").is_dir(), "nothing removed outside the root");

        fs::remove_file(root.join("default/1001/INBOX/msg.wav")).unwrap();
        let again = run(&root, vec![(folder("default/1001/INBOX", true), None)]);
        assert!(matches!(again[0], Ok(None)));
        assert!(!root.join("default/1001/INBOX").exists(), "removed once empty");
        assert!(root.join("default/1001").is_dir(), "its parent has its own change");
    }
}
