//! Reading the trash back (Invariant 4: deletes are recoverable). [`Installer::delete_to_trash`]
//! moves a file deleted on the primary to `<root>/.lbs-sync/trash/<unix time>/<path>`; [`list`]
//! finds every file kept there, and [`locate`] checks a request naming one of them and gives its
//! place on disk and the path it had. Nothing here writes: restoring is copying, and a copy leaves
//! the trash only when its folder expires (`Installer::prune_trash`).
//!
//! A path moved aside twice within one second keeps both copies: the later one is named `name.1`,
//! then `name.2`, …, beside `name`. Read back, `name.N` is a later copy of `name` when `name` is
//! in the same folder (copies are never removed one by one, only whole folders, so the first one
//! is always still there). The one case this reads wrongly: two files `x` and `x.1` both deleted
//! on the primary within the same second; then `x.1` is shown as a later copy of `x`.
//!
//! [`Installer::delete_to_trash`]: crate::install::Installer::delete_to_trash

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::install::{io, InstallError, SYNC_DIR};
use crate::paths::{resolve, RelPath};

/// The folder, inside a category root, that holds the dated trash folders.
pub fn trash_dir(root: &Path) -> PathBuf {
    root.join(SYNC_DIR).join("trash")
}

/// One file kept in a trash folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trashed {
    /// The dated folder's time: when this box moved the file aside.
    pub deleted_unix: i64,
    /// Its name inside that folder: `path`, or `path.1`, … for a later copy.
    pub stored: RelPath,
    /// Where it lived, relative to the category root.
    pub path: RelPath,
    pub size: u64,
}

/// Every regular file in the trash of `root`, newest first (then by path). A missing trash is an
/// empty one; links and special files are not listed (the backup never writes them).
pub fn list(root: &Path) -> Result<Vec<Trashed>, InstallError> {
    let trash = trash_dir(root);
    let folders = match fs::read_dir(&trash) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("cannot read", &trash)(e)),
    };
    let mut out = Vec::new();
    for folder in folders {
        let folder = folder.map_err(io("cannot read", &trash))?;
        let Some(deleted_unix) = folder.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        let path = folder.path();
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        walk(&path, deleted_unix, &mut Vec::new(), &mut Vec::new(), &mut out)?;
    }
    out.sort_by(|a, b| {
        b.deleted_unix
            .cmp(&a.deleted_unix)
            .then_with(|| a.stored.cmp(&b.stored))
    });
    Ok(out)
}

/// Lists `dir` (at `stored` inside its dated folder, `original` being the path it stands for).
fn walk(
    dir: &Path,
    deleted_unix: i64,
    stored: &mut Vec<String>,
    original: &mut Vec<String>,
    out: &mut Vec<Trashed>,
) -> Result<(), InstallError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io("cannot read", dir))? {
        let entry = entry.map_err(io("cannot read", dir))?;
        // Paths on the wire are UTF-8; the journal never held another name.
        if let Ok(name) = entry.file_name().into_string() {
            entries.push(name);
        }
    }
    let names: HashSet<&str> = entries.iter().map(String::as_str).collect();
    for name in &entries {
        let path = dir.join(name);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        stored.push(name.clone());
        original.push(original_name(name, |base| names.contains(base)).to_owned());
        if meta.is_dir() {
            walk(&path, deleted_unix, stored, original, out)?;
        } else if meta.is_file() {
            if let (Ok(s), Ok(p)) = (RelPath::parse(&stored.join("/")), RelPath::parse(&original.join("/"))) {
                out.push(Trashed {
                    deleted_unix,
                    stored: s,
                    path: p,
                    size: meta.len(),
                });
            }
        }
        stored.pop();
        original.pop();
    }
    Ok(())
}

/// The name a trashed entry had: `name.N` (N from 1, no leading zero) stands for `name` when
/// `exists(name)` says `name` is beside it.
fn original_name(name: &str, exists: impl Fn(&str) -> bool) -> &str {
    match name.rsplit_once('.') {
        Some((base, n))
            if !base.is_empty()
                && !n.is_empty()
                && !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
                && exists(base) =>
        {
            base
        }
        _ => name,
    }
}

/// The file `stored` of the trash folder made at `deleted_unix` under `root`: where it is on disk
/// and the path it had. `None` if there is no such regular file (never in the trash, or expired).
/// Every component from the root down is checked ([`resolve`]): a link planted anywhere on the
/// way is refused, so nothing outside the root is ever read.
pub fn locate(root: &Path, deleted_unix: i64, stored: &RelPath) -> Result<Option<(PathBuf, RelPath)>, InstallError> {
    let inside = RelPath::parse(&format!("{SYNC_DIR}/trash/{deleted_unix}/{stored}"))?;
    let file = resolve(root, &inside)?;
    if !fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut dir = trash_dir(root).join(deleted_unix.to_string());
    let mut original = Vec::new();
    for part in stored.as_str().split('/') {
        original.push(original_name(part, |base| fs::symlink_metadata(dir.join(base)).is_ok()).to_owned());
        dir.push(part);
    }
    Ok(Some((file, RelPath::parse(&original.join("/"))?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::Installer;
    use crate::paths::PathError;

    fn rel(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    fn put(root: &Path, path: &str, content: &[u8]) {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    #[test]
    fn deleted_files_are_listed_newest_first_with_the_path_they_had() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(list(root).unwrap(), vec![], "no trash yet is an empty one");
        let inst = Installer::new(root);
        put(root, "default/1001/INBOX/msg0001.wav", b"first");
        inst.delete_to_trash(&rel("default/1001/INBOX/msg0001.wav"), 100)
            .unwrap();
        // The same path deleted twice in one second, and a file whose own name ends in digits.
        put(root, "default/1001/INBOX/msg0001.wav", b"second!");
        inst.delete_to_trash(&rel("default/1001/INBOX/msg0001.wav"), 200)
            .unwrap();
        put(root, "default/1001/INBOX/msg0001.wav", b"third");
        inst.delete_to_trash(&rel("default/1001/INBOX/msg0001.wav"), 200)
            .unwrap();
        put(root, "queues.conf.2", b"x");
        inst.delete_to_trash(&rel("queues.conf.2"), 200).unwrap();
        // Not data: a stray file beside the dated folders, and a link inside one.
        fs::write(trash_dir(root).join("notes.txt"), b"?").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", trash_dir(root).join("200/passwd")).unwrap();

        let got: Vec<(i64, String, String, u64)> = list(root)
            .unwrap()
            .into_iter()
            .map(|t| (t.deleted_unix, t.stored.to_string(), t.path.to_string(), t.size))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    200,
                    "default/1001/INBOX/msg0001.wav".into(),
                    "default/1001/INBOX/msg0001.wav".into(),
                    7
                ),
                (
                    200,
                    "default/1001/INBOX/msg0001.wav.1".into(),
                    "default/1001/INBOX/msg0001.wav".into(),
                    5
                ),
                (200, "queues.conf.2".into(), "queues.conf.2".into(), 1),
                (
                    100,
                    "default/1001/INBOX/msg0001.wav".into(),
                    "default/1001/INBOX/msg0001.wav".into(),
                    5
                ),
            ]
        );
    }

    #[test]
    fn a_trashed_file_is_located_only_inside_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        let inst = Installer::new(&root);
        put(&root, "a/msg.txt", b"one");
        inst.delete_to_trash(&rel("a/msg.txt"), 300).unwrap();
        put(&root, "a/msg.txt", b"two");
        inst.delete_to_trash(&rel("a/msg.txt"), 300).unwrap();

        let (file, path) = locate(&root, 300, &rel("a/msg.txt.1")).unwrap().unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(path, rel("a/msg.txt"));
        let (file, path) = locate(&root, 300, &rel("a/msg.txt")).unwrap().unwrap();
        assert_eq!((fs::read(&file).unwrap(), path), (b"one".to_vec(), rel("a/msg.txt")));
        assert_eq!(locate(&root, 301, &rel("a/msg.txt")).unwrap(), None, "another second");
        assert_eq!(locate(&root, 300, &rel("a")).unwrap(), None, "a folder is not a file");
        assert_eq!(locate(&root, -1, &rel("a/msg.txt")).unwrap(), None);

        // A link planted in the trash, pointing out of the root, is refused, not followed.
        let outside = dir.path().join("outside");
        put(&outside, "secret", b"not yours");
        std::os::unix::fs::symlink(&outside, trash_dir(&root).join("300/out")).unwrap();
        assert!(matches!(
            locate(&root, 300, &rel("out/secret")),
            Err(InstallError::Path(PathError::Symlink(_)))
        ));
    }
}
