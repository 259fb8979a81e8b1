//! The backup's side of a transfer: content arrives into a partial file kept across restarts
//! (so a transfer resumes where it stopped), is verified against its BLAKE3, fsynced, given its
//! mode and owner, and renamed into place — a crash leaves the old version or the new, never a
//! torn file (Invariant 2). Deletes move the file into a dated trash instead (Invariant 4).
//!
//! Both live under `<root>/.lbs-sync/`, on the same filesystem as the data so every move is an
//! atomic rename; scans skip that folder.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::journal::FileMeta;
use crate::paths::{resolve, PathError, RelPath};

/// Name of the folder inside each category root that holds partial files and the trash.
pub const SYNC_DIR: &str = ".lbs-sync";

#[derive(Debug, Error)]
pub enum InstallError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{path}: the received content does not match its checksum (expected {expected}, got {actual}); it was discarded and will be fetched again")]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: the received content is longer than announced ({got} of {size} bytes)")]
    TooLong { path: String, got: u64, size: u64 },
    #[error("the disk holding {root} is full: {path} could not be written. Free some space; the transfer resumes where it stopped")]
    DiskFull { root: String, path: String },
    #[error("{0}: the folder is not empty on this box, so it is kept")]
    FolderNotEmpty(String),
    #[error("{0}: this box holds a file where the primary has a folder; the file's own change comes first")]
    NotAFolder(String),
    #[error("{0}: the sync's own folder is never written by a change")]
    SyncFolder(String),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

pub(crate) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Writes into one category root.
pub struct Installer {
    root: PathBuf,
}

/// A file being received. Dropping it keeps what was written, for the next attempt to resume.
pub struct Partial {
    rel: RelPath,
    path: PathBuf,
    file: File,
    written: u64,
    hasher: blake3::Hasher,
    root: PathBuf,
    /// Where the window now being written back to disk starts (see [`WRITE_BEHIND`]).
    behind: u64,
}

/// A large file is pushed to disk every this many bytes as it arrives, and the window before is
/// waited for: the kernel would otherwise hold gigabytes of it in memory, and the next batch of
/// small files (a voicemail), flushed with `syncfs`, would wait for all of them to be written.
/// The same keeps the final `fsync` short.
const WRITE_BEHIND: u64 = 8 << 20;

impl Installer {
    /// The category root it writes into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn new(root: &Path) -> Installer {
        Installer { root: root.to_owned() }
    }

    fn sync_dir(&self, sub: &str) -> PathBuf {
        self.root.join(SYNC_DIR).join(sub)
    }

    /// Opens (or resumes) the partial file for `rel`, meant to become content with `hash`. A
    /// partial left by an attempt at a different version is started over.
    pub fn begin(&self, rel: &RelPath, hash: &[u8; 32]) -> Result<Partial, InstallError> {
        resolve(&self.root, rel)?;
        let dir = self.sync_dir("partial");
        fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        // One partial per target version: the name carries the expected content's hash.
        let path = dir.join(format!("{}.part", blake3::hash(rel.as_str().as_bytes()).to_hex()));
        let tag = dir.join(format!("{}.want", blake3::hash(rel.as_str().as_bytes()).to_hex()));
        let same_version = fs::read(&tag).is_ok_and(|t| t == hash);
        if !same_version {
            let _ = fs::remove_file(&path);
            fs::write(&tag, hash).map_err(io("cannot write", &tag))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        // What is already there is hashed once now; new bytes are hashed as they arrive, so
        // finishing a large file does not read it all again.
        let mut hasher = blake3::Hasher::new();
        let written = std::io::copy(&mut (&mut file), &mut hasher).map_err(io("cannot read", &path))?;
        Ok(Partial {
            rel: rel.clone(),
            path,
            file,
            written,
            hasher,
            root: self.root.clone(),
            behind: written,
        })
    }

    /// Moves `rel` into the trash (dated folder), if it exists. Returns where it went. The
    /// [`crate::trash`] module reads this layout back.
    pub fn delete_to_trash(&self, rel: &RelPath, now_unix: i64) -> Result<Option<PathBuf>, InstallError> {
        self.set_aside(rel, "trash", now_unix)
    }

    /// Moves `rel` into the quarantine (dated folder), if it exists: a file this box wrote while
    /// it was a primary that had lost its role. Returns where it went.
    pub fn quarantine(&self, rel: &RelPath, now_unix: i64) -> Result<Option<PathBuf>, InstallError> {
        self.set_aside(rel, "quarantine", now_unix)
    }

    /// Moves `rel` to `.lbs-sync/<folder>/<time>/<rel>`, never over an earlier copy.
    fn set_aside(&self, rel: &RelPath, folder: &str, now_unix: i64) -> Result<Option<PathBuf>, InstallError> {
        let target = resolve(&self.root, rel)?;
        if fs::symlink_metadata(&target).is_err() {
            return Ok(None);
        }
        let mut dest = self.sync_dir(folder).join(now_unix.to_string()).join(rel.as_str());
        // Two moves of one path within a second: the earlier copy is kept too.
        let base = dest.clone();
        let mut n = 1;
        while fs::symlink_metadata(&dest).is_ok() {
            dest = base.with_file_name(format!(
                "{}.{n}",
                base.file_name().unwrap_or_default().to_string_lossy()
            ));
            n += 1;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        fs::rename(&target, &dest).map_err(io("cannot move aside", &target))?;
        sync_parent(&target)?;
        sync_parent(&dest)?;
        Ok(Some(dest))
    }
}

/// Folders, mirrored from the primary: made with its mode and owner; removed only when empty.
impl Installer {
    /// The path of a folder change, refused if it names the sync's own folder (`.lbs-sync`).
    fn folder_target(&self, rel: &RelPath) -> Result<PathBuf, InstallError> {
        if rel.as_str().split('/').next() == Some(SYNC_DIR) {
            return Err(InstallError::SyncFolder(rel.to_string()));
        }
        Ok(resolve(&self.root, rel)?)
    }

    /// Makes the folder `rel` (and what leads to it) and gives it the primary's mode and owner.
    /// Not flushed: the caller flushes the filesystem ([`sync_filesystems`]) before it records
    /// the change, once for a whole batch of folders rather than once each.
    pub fn make_folder(&self, rel: &RelPath, meta: &FileMeta) -> Result<(), InstallError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.folder_target(rel)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(InstallError::NotAFolder(rel.to_string())),
            Err(_) => {
                fs::create_dir_all(&path).map_err(|e| disk_error(e, &self.root, rel, &path))?;
            }
        }
        // Checked again once made: a link planted meanwhile is not followed by the chown.
        let path = self.folder_target(rel)?;
        match std::os::unix::fs::lchown(&path, Some(meta.uid), Some(meta.gid)) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
            other => other.map_err(io("cannot set the owner of", &path)),
        }?;
        fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode & 0o7777))
            .map_err(io("cannot set permissions of", &path))
    }

    /// Removes the folder `rel` if it is empty; a missing folder is fine. A folder that still
    /// holds anything is kept ([`InstallError::FolderNotEmpty`]): nothing is deleted with it.
    /// Not flushed, like [`Installer::make_folder`].
    pub fn remove_empty_folder(&self, rel: &RelPath) -> Result<(), InstallError> {
        let path = self.folder_target(rel)?;
        match fs::symlink_metadata(&path) {
            Err(_) => return Ok(()),
            Ok(m) if !m.is_dir() => return Ok(()),
            Ok(_) => {}
        }
        // rmdir itself refuses a folder that is not empty: no window between a check and the delete.
        match fs::remove_dir(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                Err(InstallError::FolderNotEmpty(rel.to_string()))
            }
            Err(e) => Err(io("cannot remove the folder", &path)(e)),
        }
    }
}

impl Installer {
    /// Whether `rel` already holds exactly this content (same size, same BLAKE3): then only its
    /// mode, owner and time need applying, not a transfer. Blocking: it may read the whole file.
    pub fn holds(&self, rel: &RelPath, size: u64, hash: &[u8; 32]) -> Result<bool, InstallError> {
        let path = resolve(&self.root, rel)?;
        let Ok(meta) = fs::symlink_metadata(&path) else {
            return Ok(false);
        };
        if !meta.is_file() || meta.len() != size {
            return Ok(false);
        }
        let mut file = File::open(&path).map_err(io("cannot read", &path))?;
        Ok(hash_reader(&mut file).map_err(io("cannot read", &path))?.as_bytes() == hash)
    }

    /// Stages a small file received whole (from a bundle): checked against `hash` in memory and
    /// written, with `meta`, to a temporary name. A batch is made durable together: stage every
    /// file, [`sync_filesystems`], [`Staged::commit`] each (the rename), `sync_filesystems` again —
    /// two flushes per batch instead of two per file, with the same guarantee: a rename only ever
    /// exposes content already on disk.
    pub fn stage_whole(
        &self,
        rel: &RelPath,
        content: &[u8],
        hash: &[u8; 32],
        meta: &FileMeta,
    ) -> Result<Staged, InstallError> {
        let actual = blake3::hash(content);
        if actual.as_bytes() != hash {
            return Err(InstallError::HashMismatch {
                path: rel.to_string(),
                expected: blake3::Hash::from(*hash).to_hex().to_string(),
                actual: actual.to_hex().to_string(),
            });
        }
        let target = resolve(&self.root, rel)?;
        let dir = self.sync_dir("partial");
        fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        let temp = dir.join(format!("{}.whole", blake3::hash(rel.as_str().as_bytes()).to_hex()));
        let disk_full = |e: std::io::Error| disk_error(e, &self.root, rel, &temp);
        let mut file = File::create(&temp).map_err(disk_full)?;
        file.write_all(content).map_err(disk_full)?;
        apply_meta_to(&file, &temp, meta)?;
        Ok(Staged {
            temp,
            target,
            root: self.root.clone(),
            rel: rel.clone(),
        })
    }

    /// Gives an installed file the mode, owner and time the primary has.
    pub fn set_meta(&self, rel: &RelPath, meta: &FileMeta) -> Result<(), InstallError> {
        apply_meta(&resolve(&self.root, rel)?, meta)
    }

    /// Removes trash folders made before `before_unix`; returns how many went.
    pub fn prune_trash(&self, before_unix: i64) -> Result<u64, InstallError> {
        let trash = self.sync_dir("trash");
        let entries = match fs::read_dir(&trash) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io("cannot read", &trash)(e)),
        };
        let mut removed = 0;
        for entry in entries.filter_map(Result::ok) {
            let made = entry.file_name().to_str().and_then(|n| n.parse::<i64>().ok());
            if made.is_some_and(|t| t < before_unix) {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(io("cannot empty the trash folder", &path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn hash_reader(r: &mut impl Read) -> std::io::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

impl Partial {
    /// Bytes already received: the offset to resume the transfer from.
    pub fn offset(&self) -> u64 {
        self.written
    }

    pub fn append(&mut self, data: &[u8], expected_size: u64) -> Result<(), InstallError> {
        if self.written + data.len() as u64 > expected_size {
            return Err(InstallError::TooLong {
                path: self.rel.to_string(),
                got: self.written + data.len() as u64,
                size: expected_size,
            });
        }
        self.file.write_all(data).map_err(|e| match e.raw_os_error() {
            Some(libc::EIO) => self.lost(e),
            _ => self.write_error(e),
        })?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        if self.written - self.behind >= WRITE_BEHIND {
            let window = (self.behind, self.written - self.behind);
            write_behind(&self.file, window).map_err(|e| self.lost(e))?;
            self.behind = self.written;
        }
        Ok(())
    }

    /// A write that failed for want of room: what was written stands, and the transfer resumes
    /// from it once there is room.
    fn write_error(&self, e: std::io::Error) -> InstallError {
        disk_error(e, &self.root, &self.rel, &self.path)
    }

    /// Writing back to the disk failed: any of the bytes written so far may be lost while the page
    /// cache still shows them, and an `fsync` on the next attempt's descriptor would not say so.
    /// Such a partial is never resumed: it is removed, and the transfer starts over.
    fn lost(&self, e: std::io::Error) -> InstallError {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(self.path.with_extension("want"));
        tracing::warn!(path = %self.rel, error = %e, "sync: writing a partial file to disk failed; it starts over");
        self.write_error(e)
    }

    /// Verifies the whole content against `hash`, makes it durable, applies `meta` (mode; owner
    /// when running as root) and renames it into place. On a mismatch the partial is discarded.
    pub fn finish(mut self, hash: &[u8; 32], meta: &FileMeta) -> Result<PathBuf, InstallError> {
        self.file.flush().map_err(|e| self.write_error(e))?;
        self.file.sync_all().map_err(|e| self.lost(e))?;
        let actual = self.hasher.finalize();
        if actual.as_bytes() != hash {
            let _ = fs::remove_file(&self.path);
            return Err(InstallError::HashMismatch {
                path: self.rel.to_string(),
                expected: blake3::Hash::from(*hash).to_hex().to_string(),
                actual: actual.to_hex().to_string(),
            });
        }
        apply_meta_to(&self.file, &self.path, meta)?;
        let target = resolve(&self.root, &self.rel)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        fs::rename(&self.path, &target).map_err(io("cannot move into place", &target))?;
        sync_parent(&target)?;
        let _ = fs::remove_file(self.path.with_extension("want"));
        Ok(target)
    }
}

/// Waits until everything before `offset` is on disk (all but the last window were started
/// already, so this rarely waits long), then starts writing the window from `offset`: at most two
/// windows of a large file are ever unwritten.
#[cfg(target_os = "linux")]
fn write_behind(file: &File, (offset, len): (u64, u64)) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let call = |offset: u64, len: u64, flags| {
        let (offset, len) = (offset as libc::off64_t, len as libc::off64_t);
        // SAFETY: a plain syscall on a descriptor we own for the duration of the call.
        match unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    if offset > 0 {
        let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        call(0, offset, wait)?;
    }
    call(offset, len, libc::SYNC_FILE_RANGE_WRITE)
}

/// Elsewhere the kernel's own write-back and the final `fsync` must do.
#[cfg(not(target_os = "linux"))]
fn write_behind(_file: &File, _window: (u64, u64)) -> std::io::Result<()> {
    Ok(())
}

/// Gives the file at `path` the primary's owner, mode and time.
fn apply_meta(path: &Path, meta: &FileMeta) -> Result<(), InstallError> {
    let file = File::open(path).map_err(io("cannot open", path))?;
    apply_meta_to(&file, path, meta)
}

/// As [`apply_meta`] on an open file: owner first (a change of owner clears set-id bits), then
/// mode, then time.
fn apply_meta_to(file: &File, path: &Path, meta: &FileMeta) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    // Owners can only be given away by root; as another user the file keeps ours.
    match std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
        other => other.map_err(io("cannot set the owner of", path)),
    }?;
    file.set_permissions(fs::Permissions::from_mode(meta.mode))
        .map_err(io("cannot set permissions of", path))?;
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(meta.mtime_ns.max(0) as u64);
    file.set_modified(mtime).map_err(io("cannot set the time of", path))
}

/// A file written under a temporary name, waiting for its batch to be flushed and renamed.
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
    root: PathBuf,
    rel: RelPath,
}

impl Staged {
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Renames the file into place (its content must already be flushed). The target is checked
    /// again: a symlink planted since staging is refused.
    pub fn commit(self) -> Result<PathBuf, InstallError> {
        let target = resolve(&self.root, &self.rel)?;
        debug_assert_eq!(target, self.target);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        }
        fs::rename(&self.temp, &target).map_err(io("cannot move into place", &target))?;
        Ok(target)
    }
}

/// Flushes the filesystems holding `roots` to disk (`syncfs`, once each): one journal commit for
/// a whole batch of small files.
pub fn sync_filesystems<'a>(roots: impl IntoIterator<Item = &'a Path>) -> Result<(), InstallError> {
    let roots: std::collections::BTreeSet<&Path> = roots.into_iter().collect();
    for root in roots {
        let dir = File::open(root).map_err(io("cannot open", root))?;
        syncfs(&dir).map_err(io("cannot flush the disk holding", root))?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn syncfs(dir: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor we own for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &File) -> std::io::Result<()> {
    // Elsewhere, a full sync: slower, equally safe.
    // SAFETY: sync(2) has no arguments and cannot fail.
    unsafe { libc::sync() };
    Ok(())
}

/// A write failure, told apart: a full disk (ENOSPC) says what to do.
fn disk_error(e: std::io::Error, root: &Path, rel: &RelPath, path: &Path) -> InstallError {
    if e.raw_os_error() == Some(28) {
        InstallError::DiskFull {
            root: root.display().to_string(),
            path: rel.to_string(),
        }
    } else {
        InstallError::Io {
            action: "cannot write",
            path: path.display().to_string(),
            source: e,
        }
    }
}

/// Makes a rename or create in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> FileMeta {
        FileMeta {
            size,
            mtime_ns: 1_700_000_000_000_000_000,
            mode: 0o640,
            uid: 0,
            gid: 0,
        }
    }

    fn rel(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    #[test]
    fn a_verified_file_is_installed_with_its_mode_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let inst = Installer::new(dir.path());
        let content = b"a voicemail";
        let hash = *blake3::hash(content).as_bytes();
        let mut p = inst.begin(&rel("default/1001/INBOX/msg0000.wav"), &hash).unwrap();
        p.append(content, content.len() as u64).unwrap();
        let target = p.finish(&hash, &meta(content.len() as u64)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), content);
        use std::os::unix::fs::PermissionsExt;
        let m = fs::metadata(&target).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        assert_eq!(FileMeta::of(&m).mtime_ns, 1_700_000_000_000_000_000);
    }

    #[test]
    fn a_transfer_resumes_where_it_stopped_and_a_new_version_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let inst = Installer::new(dir.path());
        let content = b"0123456789";
        let hash = *blake3::hash(content).as_bytes();
        let r = rel("rec.wav");
        let mut p = inst.begin(&r, &hash).unwrap();
        p.append(&content[..4], 10).unwrap();
        drop(p); // the peer vanished
        let mut p = inst.begin(&r, &hash).unwrap();
        assert_eq!(p.offset(), 4);
        p.append(&content[4..], 10).unwrap();
        p.finish(&hash, &meta(10)).unwrap();
        assert_eq!(fs::read(dir.path().join("rec.wav")).unwrap(), content);

        let other = *blake3::hash(b"new").as_bytes();
        let mut p = inst.begin(&r, &hash).unwrap();
        p.append(b"01", 10).unwrap();
        drop(p);
        assert_eq!(
            inst.begin(&r, &other).unwrap().offset(),
            0,
            "a partial of another version is not resumed"
        );
    }

    #[test]
    fn corrupt_content_never_replaces_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("queues.conf"), b"old").unwrap();
        let inst = Installer::new(dir.path());
        let hash = *blake3::hash(b"new!").as_bytes();
        let mut p = inst.begin(&rel("queues.conf"), &hash).unwrap();
        p.append(b"bad!", 4).unwrap();
        assert!(matches!(
            p.finish(&hash, &meta(4)),
            Err(InstallError::HashMismatch { .. })
        ));
        assert_eq!(fs::read(dir.path().join("queues.conf")).unwrap(), b"old");
        assert_eq!(
            inst.begin(&rel("queues.conf"), &hash).unwrap().offset(),
            0,
            "the bad partial is gone"
        );
        let mut p = inst.begin(&rel("x"), &hash).unwrap();
        assert!(matches!(p.append(b"too long", 4), Err(InstallError::TooLong { .. })));
    }

    #[test]
    fn a_partial_whose_write_back_failed_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let inst = Installer::new(dir.path());
        let content = b"0123456789";
        let hash = *blake3::hash(content).as_bytes();
        let r = rel("rec.wav");
        let mut p = inst.begin(&r, &hash).unwrap();
        p.append(&content[..4], 10).unwrap();
        p.append(&content[4..], 10).unwrap();
        // The disk refuses the flush (here: a descriptor that cannot be synced stands in for EIO).
        p.file = File::options().write(true).open("/dev/null").unwrap();
        assert!(p.finish(&hash, &meta(10)).is_err());
        assert!(!dir.path().join("rec.wav").exists());
        assert_eq!(
            inst.begin(&r, &hash).unwrap().offset(),
            0,
            "the next attempt starts over"
        );
    }

    #[test]
    fn deletes_go_to_a_dated_trash() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("default/1001")).unwrap();
        fs::write(dir.path().join("default/1001/msg.wav"), b"keep me").unwrap();
        let inst = Installer::new(dir.path());
        let moved = inst
            .delete_to_trash(&rel("default/1001/msg.wav"), 1234)
            .unwrap()
            .unwrap();
        assert!(!dir.path().join("default/1001/msg.wav").exists());
        assert_eq!(moved, dir.path().join(".lbs-sync/trash/1234/default/1001/msg.wav"));
        assert_eq!(fs::read(moved).unwrap(), b"keep me");
        assert_eq!(inst.delete_to_trash(&rel("default/1001/msg.wav"), 1235).unwrap(), None);
    }

    /// Unmounts a test tmpfs however the test ends.
    struct Mounted(PathBuf);
    impl Drop for Mounted {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "needs root: mounts a small tmpfs for a real full disk"]
    fn a_full_disk_is_a_clear_error_and_the_transfer_resumes_once_space_is_freed() {
        // A real ENOSPC from a 256 KiB tmpfs.
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("small-disk");
        fs::create_dir_all(&mnt).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        assert!(mounted, "cannot mount a tmpfs: run this test as root");
        let _guard = Mounted(mnt.clone());
        let content: Vec<u8> = (0..400 * 1024).map(|i| (i % 251) as u8).collect();
        let hash = *blake3::hash(&content).as_bytes();
        let size = content.len() as u64;
        let inst = Installer::new(&mnt);
        let mut p = inst.begin(&rel("monitor/big.wav"), &hash).unwrap();
        let err = content
            .chunks(32 * 1024)
            .find_map(|c| p.append(c, size).err())
            .expect("the disk fills up");
        assert!(matches!(err, InstallError::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("is full"), "{err}");
        drop(p);
        assert!(!mnt.join("monitor/big.wav").exists(), "nothing half-written in place");

        // Space is freed (the disk grows); the transfer resumes from what is on disk.
        let grown = std::process::Command::new("mount")
            .args(["-o", "remount,size=2m"])
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(grown.success());
        let mut p = inst.begin(&rel("monitor/big.wav"), &hash).unwrap();
        let offset = p.offset() as usize;
        assert!(offset > 0 && offset < content.len(), "resume offset {offset}");
        p.append(&content[offset..], size).unwrap();
        p.finish(&hash, &meta(size)).unwrap();
        assert_eq!(fs::read(mnt.join("monitor/big.wav")).unwrap(), content);
    }

    #[cfg(unix)]
    #[test]
    fn paths_through_symlinks_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        let inst = Installer::new(dir.path());
        let hash = *blake3::hash(b"x").as_bytes();
        assert!(matches!(
            inst.begin(&rel("escape/evil"), &hash),
            Err(InstallError::Path(PathError::Symlink(_)))
        ));
        assert!(matches!(
            inst.delete_to_trash(&rel("escape/evil"), 1),
            Err(InstallError::Path(PathError::Symlink(_)))
        ));
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn holds_recognises_the_same_content_and_old_trash_is_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let inst = Installer::new(dir.path());
        fs::write(dir.path().join("a.wav"), b"same").unwrap();
        let hash = *blake3::hash(b"same").as_bytes();
        assert!(inst.holds(&rel("a.wav"), 4, &hash).unwrap());
        assert!(!inst.holds(&rel("a.wav"), 5, &hash).unwrap());
        assert!(!inst.holds(&rel("b.wav"), 4, &hash).unwrap());
        inst.delete_to_trash(&rel("a.wav"), 100).unwrap();
        fs::write(dir.path().join("a.wav"), b"again").unwrap();
        inst.delete_to_trash(&rel("a.wav"), 200).unwrap();
        assert_eq!(inst.prune_trash(150).unwrap(), 1);
        assert!(dir.path().join(".lbs-sync/trash/200/a.wav").exists());
        assert!(!dir.path().join(".lbs-sync/trash/100").exists());
    }

    #[test]
    fn a_staged_batch_appears_only_when_committed_and_bad_content_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let inst = Installer::new(dir.path());
        let content = b"msg";
        let hash = *blake3::hash(content).as_bytes();
        let staged = inst.stage_whole(&rel("a/b.txt"), content, &hash, &meta(3)).unwrap();
        assert!(
            !dir.path().join("a/b.txt").exists(),
            "nothing in place before the commit"
        );
        sync_filesystems([staged.root()]).unwrap();
        let t = staged.commit().unwrap();
        assert_eq!(fs::read(&t).unwrap(), content);
        let wrong = inst.stage_whole(&rel("a/c.txt"), b"evil", &hash, &meta(4));
        assert!(matches!(wrong, Err(InstallError::HashMismatch { .. })));
        assert!(!dir.path().join("a/c.txt").exists());
    }
}
