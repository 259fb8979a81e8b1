//! Paths from the network, made safe: a [`RelPath`] is relative, normalised, and can only name
//! something inside its category root. [`resolve`] then checks the disk: no component of the path
//! inside the root may be a symlink (which could lead out of it), and the target may not be a
//! device, socket or FIFO.
//!
//! Rationale for refusing every symlink rather than only those pointing outside: a link can be
//! re-pointed between the check and the use; refusing them all closes that race for writes.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Longest path we accept, in bytes (Linux's PATH_MAX).
const MAX_LEN: usize = 4096;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("the path \"{0}\" is absolute; only paths relative to a category root are allowed")]
    Absolute(String),
    #[error("the path \"{0}\" contains \"..\" or \".\"; it must not leave or walk around its root")]
    Traversal(String),
    #[error("the path \"{0}\" contains a character that is not allowed (NUL, backslash or a control character)")]
    BadCharacter(String),
    #[error("the path is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("\"{0}\" goes through a symbolic link inside the root, which could lead outside it")]
    Symlink(String),
    #[error("\"{0}\" is a device, socket or pipe, not a regular file or folder")]
    SpecialFile(String),
    #[error("cannot check \"{path}\": {reason}")]
    Io { path: String, reason: String },
}

/// A validated path relative to a category root, with `/` separators.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Validates a path as received from the network or read from the journal.
    pub fn parse(text: &str) -> Result<RelPath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_LEN {
            return Err(PathError::TooLong);
        }
        if text.chars().any(|c| c == '\0' || c == '\\' || c.is_control()) {
            return Err(PathError::BadCharacter(text.escape_debug().to_string()));
        }
        if text.starts_with('/') {
            return Err(PathError::Absolute(text.to_owned()));
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                // Tolerate "a//b" and a trailing slash, which name the same thing.
                "" => continue,
                "." | ".." => return Err(PathError::Traversal(text.to_owned())),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(RelPath(parts.join("/")))
    }

    /// The path of a file found under `root` while scanning, relative to it.
    pub fn from_local(root: &Path, path: &Path) -> Result<RelPath, PathError> {
        let rel = path
            .strip_prefix(root)
            .map_err(|_| PathError::Absolute(path.display().to_string()))?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(
                    p.to_str()
                        .ok_or_else(|| PathError::BadCharacter(p.to_string_lossy().into_owned()))?
                        .to_owned(),
                ),
                _ => return Err(PathError::Traversal(rel.display().to_string())),
            }
        }
        RelPath::parse(&parts.join("/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Joins `rel` to `root` and checks what exists of it on disk: no component may be a symlink, and
/// an existing target must be a regular file or a directory. Missing components are fine (the
/// caller may be about to create them).
pub fn resolve(root: &Path, rel: &RelPath) -> Result<PathBuf, PathError> {
    let mut path = root.to_path_buf();
    let parts: Vec<&str> = rel.as_str().split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(root.join(rel.as_str())),
            Err(e) => {
                return Err(PathError::Io {
                    path: rel.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let shown = parts[..=i].join("/");
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(PathError::Symlink(shown));
        }
        let last = i + 1 == parts.len();
        if !(kind.is_dir() || (last && kind.is_file())) {
            return Err(PathError::SpecialFile(shown));
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_normalised() {
        assert_eq!(
            RelPath::parse("default/1001/INBOX/msg0001.wav").unwrap().as_str(),
            "default/1001/INBOX/msg0001.wav"
        );
        assert_eq!(RelPath::parse("a//b/").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::parse("..hidden/x..y").unwrap().as_str(), "..hidden/x..y");
    }

    #[test]
    fn escapes_are_refused_with_reasons() {
        assert_eq!(RelPath::parse(""), Err(PathError::Empty));
        assert_eq!(RelPath::parse("//"), Err(PathError::Absolute("//".into())));
        assert_eq!(
            RelPath::parse("/etc/passwd"),
            Err(PathError::Absolute("/etc/passwd".into()))
        );
        for t in ["../x", "a/../../x", "a/..", ".", "./a", "a/./b"] {
            assert_eq!(RelPath::parse(t), Err(PathError::Traversal(t.into())), "{t}");
        }
        for t in ["a\0b", "a\\..\\b", "a\nb"] {
            assert!(matches!(RelPath::parse(t), Err(PathError::BadCharacter(_))), "{t:?}");
        }
        assert_eq!(RelPath::parse(&"a".repeat(MAX_LEN + 1)), Err(PathError::TooLong));
    }

    #[cfg(unix)]
    #[test]
    fn resolve_refuses_symlinks_and_special_files_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("inbox")).unwrap();
        std::fs::write(root.join("inbox/msg.wav"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("inbox/msg.wav"), root.join("inbox/link.wav")).unwrap();
        let fifo = root.join("inbox/pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own, with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

        let ok = |t: &str| resolve(&root, &RelPath::parse(t).unwrap());
        assert_eq!(ok("inbox/msg.wav").unwrap(), root.join("inbox/msg.wav"));
        assert_eq!(
            ok("inbox/new/msg.wav").unwrap(),
            root.join("inbox/new/msg.wav"),
            "missing parts are fine"
        );
        assert_eq!(ok("out/passwd"), Err(PathError::Symlink("out".into())));
        assert_eq!(ok("inbox/link.wav"), Err(PathError::Symlink("inbox/link.wav".into())));
        assert_eq!(ok("inbox/pipe"), Err(PathError::SpecialFile("inbox/pipe".into())));
        assert_eq!(
            ok("inbox/msg.wav/x"),
            Err(PathError::SpecialFile("inbox/msg.wav".into()))
        );
    }

    #[test]
    fn local_paths_become_relative() {
        let root = Path::new("/var/spool/asterisk/voicemail");
        let rel = RelPath::from_local(root, &root.join("default/1001/INBOX/msg0001.txt")).unwrap();
        assert_eq!(rel.as_str(), "default/1001/INBOX/msg0001.txt");
        assert!(RelPath::from_local(root, Path::new("/etc/passwd")).is_err());
    }
}
