//! The space the synced data takes on each box, against the space of the file system that
//! holds it: a backup whose disk cannot hold the primary's data stops copying when it is full,
//! and the newest files — the ones the office needs after a failover — are the ones missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lbs_protocol::{Filesystem, RootStorage};

/// The mount points in `/proc/self/mounts` (the second field; spaces are written `\040`).
pub fn parse_mounts(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(unescape)
        .collect()
}

/// `/proc/mounts` writes space, tab, newline and backslash in octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The mount point holding `path`: the longest one that is `path` or a folder above it.
pub fn mount_of<'a>(path: &Path, mounts: &'a [String]) -> Option<&'a str> {
    mounts
        .iter()
        .filter(|m| path.starts_with(Path::new(m.as_str())))
        .max_by_key(|m| Path::new(m.as_str()).components().count())
        .map(String::as_str)
}

/// `path`, or the nearest folder above it that exists (a root not created yet is still on the
/// file system of its parent), with symbolic links resolved.
pub fn existing(path: &Path) -> Option<PathBuf> {
    path.ancestors().find_map(|p| std::fs::canonicalize(p).ok())
}

/// One category root: its data (`(files, bytes)` the sync engine holds for it) and, through
/// `space`, its file system.
pub struct Root<'a> {
    pub category: &'a str,
    pub index: usize,
    pub path: &'a Path,
}

/// Each root with its data and its file system. `space` gives (total, free) bytes of the file
/// system holding a path; `mounts` is the mount table.
pub fn roots(
    list: &[Root<'_>],
    held: &HashMap<String, (u64, u64)>,
    mounts: &[String],
    space: impl Fn(&Path) -> Option<(u64, u64)>,
) -> Vec<RootStorage> {
    list.iter()
        .map(|r| {
            let (files, data_bytes) = held
                .get(&crate::sync::sources::key(r.category, r.index))
                .copied()
                .unwrap_or((0, 0));
            let filesystem = existing(r.path).and_then(|p| {
                let (total_bytes, free_bytes) = space(&p)?;
                Some(Filesystem {
                    mount: mount_of(&p, mounts).unwrap_or("/").to_owned(),
                    total_bytes,
                    free_bytes,
                })
            });
            RootStorage {
                category: r.category.to_owned(),
                index: r.index as u32,
                path: r.path.display().to_string(),
                data_bytes,
                files,
                filesystem,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_mount_above_a_path_holds_it() {
        let mounts = parse_mounts(
            "/dev/vda1 / ext4 rw 0 0\n/dev/vdb1 /var ext4 rw 0 0\n/dev/vdc1 /var/spool/asterisk\\040data xfs rw 0 0\nproc /proc proc rw 0 0\n",
        );
        assert_eq!(mounts[2], "/var/spool/asterisk data");
        assert_eq!(
            mount_of(Path::new("/var/spool/asterisk/voicemail"), &mounts),
            Some("/var")
        );
        assert_eq!(
            mount_of(Path::new("/var/spool/asterisk data/x"), &mounts),
            Some("/var/spool/asterisk data")
        );
        assert_eq!(mount_of(Path::new("/variable"), &mounts), Some("/"));
        assert_eq!(mount_of(Path::new("/etc"), &mounts), Some("/"));
    }

    #[test]
    fn a_root_not_made_yet_is_on_its_parents_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/there");
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(existing(&missing), Some(canonical.clone()));
        let list = [Root {
            category: "voicemail",
            index: 0,
            path: &missing,
        }];
        let held = HashMap::from([("voicemail:0".to_owned(), (12, 3_000_000))]);
        let mounts = vec!["/".to_owned()];
        let out = roots(&list, &held, &mounts, |p| {
            assert_eq!(p, canonical.as_path());
            Some((100, 40))
        });
        assert_eq!(out[0].data_bytes, 3_000_000);
        assert_eq!(out[0].files, 12);
        let fs = out[0].filesystem.as_ref().unwrap();
        assert_eq!((fs.mount.as_str(), fs.total_bytes, fs.free_bytes), ("/", 100, 40));
    }
}
