//! The primary's side of a transfer: what the backup asks for (a source root, a path, the version
//! it wants) is checked here before a byte is read — the path is made a [`RelPath`] and resolved
//! inside its root (Invariant 5), the version must be the one the journal holds, and the file on
//! disk must still be what the journal recorded. A file that changed since it was journaled (a
//! recording still being written) is not sent: the caller journals it again and the backup gets
//! the newer version with its own change.
//!
//! No HTTP here: the agent's `/peer/v1/content` and `/peer/v1/bundle` extract the request, call
//! these functions, and turn a [`ServeError`] into a status.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::journal::FileMeta;
use crate::paths::{resolve, PathError, RelPath};

/// The largest file a bundle carries (bigger ones go alone, resumable).
pub const BUNDLE_MAX_FILE: u64 = 1 << 20;

/// How many bytes are looked at to decide on compression.
const SAMPLE: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum ServeError {
    /// The path was refused: it leaves its root, goes through a link, or names a special file.
    #[error("refused: {0}")]
    Path(#[from] PathError),
    #[error("`hash` must be 64 hex digits")]
    BadHash,
    #[error("no category root {0} on this box")]
    NoSuchRoot(String),
    #[error("{0} is not a regular file")]
    NotRegularFile(String),
    #[error("{path} is {size} bytes, more than a bundle carries")]
    TooBigForBundle { path: String, size: u64 },
    #[error("offset {offset} is past the end of {path} ({size} bytes)")]
    OffsetPastEnd { path: String, offset: u64, size: u64 },
    /// The journal holds another version (or none): the newer change follows.
    #[error("{0} has changed since; the newer version comes with its own change")]
    Superseded(String),
    /// The file on disk is no longer what the journal recorded (it grew, or was rewritten): it
    /// must be journaled again before it is served.
    #[error(
        "{path} changed on disk since it was journaled ({journaled} bytes then, {now} now); it is journaled again"
    )]
    ChangedOnDisk { path: String, journaled: u64, now: u64 },
    #[error("{path} is gone: {source}")]
    Gone { path: String, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl ServeError {
    /// Whether the backup should wait for a newer change rather than count a failure.
    pub fn is_superseded(&self) -> bool {
        matches!(
            self,
            ServeError::Superseded(_) | ServeError::ChangedOnDisk { .. } | ServeError::Gone { .. }
        )
    }
}

/// The version the journal holds of a file: what may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journaled {
    pub meta: FileMeta,
    pub hash: [u8; 32],
}

/// A BLAKE3 hash from its hex form on the wire.
pub fn decode_hash(text: &str) -> Result<[u8; 32], ServeError> {
    // `from_str_radix` alone would take "+f" for 0x0f: one hash, many spellings.
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServeError::BadHash);
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).map_err(|_| ServeError::BadHash)?;
        out[i] = u8::from_str_radix(hex, 16).map_err(|_| ServeError::BadHash)?;
    }
    Ok(out)
}

/// A request checked against the disk's layout: the path parsed and resolved inside `root`.
#[derive(Debug, Clone)]
pub struct Asked {
    pub rel: RelPath,
    pub path: PathBuf,
    pub hash: [u8; 32],
}

/// Checks what the backup asks for: `path` must name something inside `root` (no `..`, not
/// absolute, no link on the way, no special file) and `hash` must be a BLAKE3.
pub fn check(root: &Path, path: &str, hash: &str) -> Result<Asked, ServeError> {
    let rel = RelPath::parse(path)?;
    let resolved = resolve(root, &rel)?;
    let hash = decode_hash(hash)?;
    Ok(Asked {
        rel,
        path: resolved,
        hash,
    })
}

/// A file ready to be sent from an offset: at most `len` bytes, the version the journal holds.
pub struct Content {
    pub file: File,
    /// Bytes to send: the journaled size minus the offset. A file that grows while it is sent
    /// still sends only the journaled version's bytes (the backup checks the hash).
    pub len: u64,
    /// Whether the content is worth compressing (text is, audio mostly is not).
    pub compress: bool,
}

/// Opens `asked` for sending from `offset`, if it is the version the journal holds (`journaled`)
/// and still what it recorded on disk. Blocking.
pub fn open_content(asked: &Asked, journaled: Option<&Journaled>, offset: u64) -> Result<Content, ServeError> {
    let current = current_version(asked, journaled)?;
    let (mut file, meta) = open_regular(asked)?;
    unchanged(asked, current, &meta)?;
    if offset > meta.size {
        return Err(ServeError::OffsetPastEnd {
            path: asked.rel.to_string(),
            offset,
            size: meta.size,
        });
    }
    let io = |source| ServeError::Io {
        path: asked.rel.to_string(),
        source,
    };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut sample = Vec::with_capacity(SAMPLE);
    (&mut file).take(SAMPLE as u64).read_to_end(&mut sample).map_err(io)?;
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    Ok(Content {
        file,
        len: meta.size - offset,
        compress: worth_compressing(&sample),
    })
}

/// Reads a small file whole for a bundle, on the same conditions as [`open_content`]. Blocking.
pub fn read_small(asked: &Asked, journaled: Option<&Journaled>) -> Result<Vec<u8>, ServeError> {
    let current = current_version(asked, journaled)?;
    if current.meta.size > BUNDLE_MAX_FILE {
        return Err(ServeError::TooBigForBundle {
            path: asked.rel.to_string(),
            size: current.meta.size,
        });
    }
    let (file, meta) = open_regular(asked)?;
    unchanged(asked, current, &meta)?;
    let mut out = Vec::with_capacity(meta.size as usize);
    file.take(meta.size)
        .read_to_end(&mut out)
        .map_err(|source| ServeError::Io {
            path: asked.rel.to_string(),
            source,
        })?;
    Ok(out)
}

/// Whether compressing `sample` saves at least a tenth: audio mostly does not, text does.
pub fn worth_compressing(sample: &[u8]) -> bool {
    sample.len() >= 512 && zstd::bulk::compress(sample, 1).is_ok_and(|c| (c.len() as f64) < sample.len() as f64 * 0.9)
}

/// A whole body compressed if that is worth it; returns the body and whether it is compressed.
pub fn maybe_compress(body: Vec<u8>) -> (Vec<u8>, bool) {
    if worth_compressing(&body[..body.len().min(SAMPLE)]) {
        if let Ok(z) = zstd::bulk::compress(&body, 1) {
            return (z, true);
        }
    }
    (body, false)
}

/// The journal's version, if it is the one asked for.
fn current_version<'a>(asked: &Asked, journaled: Option<&'a Journaled>) -> Result<&'a Journaled, ServeError> {
    match journaled {
        Some(j) if j.hash == asked.hash => Ok(j),
        _ => Err(ServeError::Superseded(asked.rel.to_string())),
    }
}

/// Opens the resolved path without following a link planted since it was resolved.
fn open_regular(asked: &Asked) -> Result<(File, FileMeta), ServeError> {
    let shown = asked.rel.to_string();
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&asked.path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ServeError::Gone {
                path: shown.clone(),
                source,
            },
            _ if source.raw_os_error() == Some(libc::ELOOP) => PathError::Symlink(shown.clone()).into(),
            _ => ServeError::Io {
                path: shown.clone(),
                source,
            },
        })?;
    let meta = file.metadata().map_err(|source| ServeError::Io {
        path: shown.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ServeError::NotRegularFile(shown));
    }
    Ok((file, FileMeta::of(&meta)))
}

/// The file must still have the size and time the journal recorded.
fn unchanged(asked: &Asked, journaled: &Journaled, now: &FileMeta) -> Result<(), ServeError> {
    if now.size != journaled.meta.size || now.mtime_ns != journaled.meta.mtime_ns {
        return Err(ServeError::ChangedOnDisk {
            path: asked.rel.to_string(),
            journaled: journaled.meta.size,
            now: now.size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One hash has one spelling on the wire: 64 hex digits, either case, and nothing else.
    #[test]
    fn a_hash_is_exactly_64_hex_digits() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(decode_hash(&hex).unwrap()[..2], [0x01, 0x23]);
        assert_eq!(decode_hash(&hex.to_uppercase()).unwrap(), decode_hash(&hex).unwrap());
        // `u8::from_str_radix` reads "+f" as 15: refused, as are signs, spaces and non-ASCII.
        for bad in [
            "+f".repeat(32),
            "-f".repeat(32),
            " f".repeat(32),
            "é".repeat(32),
            hex[1..].to_string(),
        ] {
            assert!(matches!(decode_hash(&bad), Err(ServeError::BadHash)), "{bad:?}");
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("INBOX")).unwrap();
        (dir, root)
    }

    fn journaled(path: &Path) -> Journaled {
        let content = std::fs::read(path).unwrap();
        Journaled {
            meta: FileMeta::of(&std::fs::metadata(path).unwrap()),
            hash: *blake3::hash(&content).as_bytes(),
        }
    }

    fn hex(h: &[u8; 32]) -> String {
        blake3::Hash::from(*h).to_hex().to_string()
    }

    #[test]
    fn hostile_paths_are_refused_before_anything_is_read() {
        let (dir, root) = setup();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("INBOX/link.wav")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        let fifo = std::ffi::CString::new(root.join("INBOX/pipe").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own, with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let h = "0".repeat(64);
        for (path, what) in [
            ("../secret", "traversal"),
            ("INBOX/../../secret", "traversal"),
            ("/etc/passwd", "absolute"),
            ("out/secret", "a link to a folder"),
            ("INBOX/link.wav", "a link to a file"),
            ("INBOX/pipe", "a fifo"),
            ("INBOX/a\u{1}b", "a control character"),
        ] {
            let err = check(&root, path, &h).unwrap_err();
            assert!(matches!(err, ServeError::Path(_)), "{what}: {err}");
            assert!(!err.is_superseded(), "{what}");
        }
        assert!(matches!(check(&root, "INBOX/x", "zz"), Err(ServeError::BadHash)));
    }

    #[test]
    fn the_journaled_version_is_served_from_an_offset() {
        let (_dir, root) = setup();
        let text = "[message]\ncallerid=1001\n".repeat(200);
        std::fs::write(root.join("INBOX/msg0000.txt"), &text).unwrap();
        let j = journaled(&root.join("INBOX/msg0000.txt"));
        let asked = check(&root, "INBOX/msg0000.txt", &hex(&j.hash)).unwrap();
        let mut c = open_content(&asked, Some(&j), 10).unwrap();
        assert_eq!(c.len, text.len() as u64 - 10);
        assert!(c.compress, "text is compressed");
        let mut got = String::new();
        c.file.read_to_string(&mut got).unwrap();
        assert_eq!(got, text[10..]);
        assert_eq!(read_small(&asked, Some(&j)).unwrap(), text.as_bytes());
        assert!(matches!(
            open_content(&asked, Some(&j), text.len() as u64 + 1),
            Err(ServeError::OffsetPastEnd { .. })
        ));
    }

    #[test]
    fn another_version_is_superseded_not_sent() {
        let (_dir, root) = setup();
        std::fs::write(root.join("INBOX/a.wav"), b"new content").unwrap();
        let j = journaled(&root.join("INBOX/a.wav"));
        let old = hex(blake3::hash(b"old content").as_bytes());
        let asked = check(&root, "INBOX/a.wav", &old).unwrap();
        let err = open_content(&asked, Some(&j), 0).err().unwrap();
        assert!(matches!(err, ServeError::Superseded(_)) && err.is_superseded(), "{err}");
        assert!(
            read_small(&asked, None).unwrap_err().is_superseded(),
            "unknown to the journal"
        );
        let asked = check(&root, "INBOX/gone.wav", &hex(&j.hash)).unwrap();
        let gone = read_small(&asked, Some(&j)).unwrap_err();
        assert!(matches!(gone, ServeError::Gone { .. }), "{gone}");
    }

    #[test]
    fn a_file_that_grew_since_it_was_journaled_is_not_sent() {
        let (_dir, root) = setup();
        let path = root.join("INBOX/rec.wav");
        std::fs::write(&path, b"first second of a call").unwrap();
        let j = journaled(&path);
        // The recording goes on: the file is longer than the journal says.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, b", and the next").unwrap();
        let asked = check(&root, "INBOX/rec.wav", &hex(&j.hash)).unwrap();
        for err in [
            open_content(&asked, Some(&j), 0).err().unwrap(),
            read_small(&asked, Some(&j)).unwrap_err(),
        ] {
            assert!(
                matches!(
                    err,
                    ServeError::ChangedOnDisk {
                        journaled: 22,
                        now: 36,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.is_superseded());
        }
    }

    #[test]
    fn a_file_too_big_for_a_bundle_is_refused_from_one() {
        let (_dir, root) = setup();
        let path = root.join("big.wav");
        std::fs::write(&path, vec![7u8; BUNDLE_MAX_FILE as usize + 1]).unwrap();
        let j = journaled(&path);
        let asked = check(&root, "big.wav", &hex(&j.hash)).unwrap();
        assert!(matches!(
            read_small(&asked, Some(&j)),
            Err(ServeError::TooBigForBundle { .. })
        ));
        assert!(open_content(&asked, Some(&j), 0).is_ok(), "it goes alone");
    }

    #[test]
    fn text_is_compressed_and_audio_like_noise_is_not() {
        let config = "[support]\nstrategy = ringall\nmember => PJSIP/1001\n".repeat(50);
        assert!(worth_compressing(config.as_bytes()));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(!worth_compressing(&noise));
        assert!(!worth_compressing(b"tiny"), "too small to bother");
        let (body, compressed) = maybe_compress(config.clone().into_bytes());
        assert!(compressed);
        assert_eq!(zstd::stream::decode_all(&body[..]).unwrap(), config.as_bytes());
        assert_eq!(maybe_compress(noise.clone()), (noise, false));
    }
}
