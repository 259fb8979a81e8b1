//! Watching a database's own files for writes, so that its dump runs when the database changed
//! and not only on a timer. A *target* is a file (SQLite's `astdb.sqlite3`, MariaDB's redo log
//! `ib_logfile0`) or a folder (a MariaDB database's own folder).
//!
//! What counts as a write is narrow on purpose: the dump command reads the database, and a read
//! that counted would start the next dump, and so on for ever. Measured on SQLite and MariaDB:
//! a `.dump` or a `mysqldump` opens, reads and closes (SQLite opens read-write, so its close is a
//! "close after write" although nothing was written; in WAL mode a reader also creates, writes
//! and deletes the `-wal` and `-shm` companions), while a transaction writes data to the file or
//! to its `-journal` / `-wal`, or to InnoDB's redo log. So a write is:
//!
//! - data written to a target file or to its `-journal` / `-wal` companion (not `-shm`, which a
//!   reader writes too), or the file itself created, deleted or renamed (replaced);
//! - under a target folder: data written to any file but a `-shm`, or a file created, deleted
//!   or renamed that is not a `-journal`, `-wal` or `-shm` companion;
//! - a kernel queue overflow (something may have been missed).
//!
//! Never a write: opening, reading, closing, a change of owner or mode.
//!
//! A target that does not exist is not an error: a file whose folder exists is watched for its
//! creation; one whose folder is missing too is not watched, and [`WriteWatch::problems`] says
//! so. [`WriteWatch::stale`] tells when what is on disk no longer matches what is watched (a
//! file appeared, a folder was made again), so the caller arms a new watch.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};
use tokio::sync::Notify;

/// SQLite's companions of a database file: written at every transaction (`-journal` in rollback
/// mode, `-wal` in WAL mode), and the shared-memory index readers write too (`-shm`).
const WRITTEN_COMPANIONS: [&str; 2] = ["-journal", "-wal"];
const COMPANIONS: [&str; 3] = ["-journal", "-wal", "-shm"];

/// How a target is watched, from what was on disk when the watch was armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Armed {
    /// A folder, watched with everything under it (its device and inode, to notice a new one).
    Folder(u64, u64),
    /// A file, watched through its folder (the folder's device and inode).
    File(u64, u64),
    /// Not there; its folder (device and inode) is watched for it to appear.
    Awaiting(u64, u64),
    /// Neither it nor its folder is there: not watched.
    Missing,
    /// There, but the watch could not be set (the reason, e.g. too many inotify watches).
    Failed(String),
}

/// Keeps the OS watches alive; dropping it stops watching.
pub struct WriteWatch {
    _inner: Option<notify::RecommendedWatcher>,
    armed: Vec<(PathBuf, Armed)>,
    written: Arc<Notify>,
    /// A watched folder was removed or moved away: its watch is gone (a new folder made in its
    /// place may even get the same inode number).
    lost: Arc<AtomicBool>,
}

/// What one notify event is matched against.
#[derive(Debug, Clone)]
enum Matcher {
    File { folder: PathBuf, name: OsString },
    Folder(PathBuf),
}

impl WriteWatch {
    /// Watches `targets` (absolute paths). Never fails: a target that cannot be watched is
    /// reported by [`problems`](Self::problems) and looked at again by [`stale`](Self::stale).
    pub fn arm(targets: &[PathBuf]) -> WriteWatch {
        let written = Arc::new(Notify::new());
        let lost = Arc::new(AtomicBool::new(false));
        let mut armed: Vec<(PathBuf, Armed)> = targets.iter().map(|t| (t.clone(), probe(t))).collect();
        let matchers: Vec<Matcher> = armed
            .iter()
            .filter_map(|(t, a)| match a {
                Armed::Folder(..) => Some(Matcher::Folder(t.clone())),
                Armed::File(..) | Armed::Awaiting(..) => Some(Matcher::File {
                    folder: t.parent()?.to_owned(),
                    name: t.file_name()?.to_owned(),
                }),
                Armed::Missing | Armed::Failed(_) => None,
            })
            .collect();
        if matchers.is_empty() {
            return WriteWatch {
                _inner: None,
                armed,
                written,
                lost,
            };
        }
        let places: Vec<PathBuf> = matchers
            .iter()
            .map(|m| match m {
                Matcher::File { folder, .. } => folder.clone(),
                Matcher::Folder(root) => root.clone(),
            })
            .collect();
        let signal = written.clone();
        let gone = lost.clone();
        let inner = notify::recommended_watcher({
            let matchers = matchers.clone();
            move |res: notify::Result<notify::Event>| {
                let wrote = match res {
                    Ok(event) => {
                        if matches!(
                            event.kind,
                            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                        ) && event.paths.iter().any(|p| places.contains(p))
                        {
                            gone.store(true, Ordering::SeqCst);
                        }
                        event.need_rescan() || counts(&event.kind, &event.paths, &matchers)
                    }
                    // The watcher lost track: better one dump too many than a change missed.
                    Err(_) => true,
                };
                if wrote {
                    signal.notify_one();
                }
            }
        });
        let mut inner = match inner {
            Ok(w) => w,
            Err(e) => {
                for (_, a) in armed.iter_mut().filter(|(_, a)| is_watched(a)) {
                    *a = Armed::Failed(e.to_string());
                }
                return WriteWatch {
                    _inner: None,
                    armed,
                    written,
                    lost,
                };
            }
        };
        for (target, a) in armed.iter_mut() {
            let (place, mode) = match a {
                Armed::Folder(..) => (target.clone(), RecursiveMode::Recursive),
                Armed::File(..) | Armed::Awaiting(..) => match target.parent() {
                    Some(p) => (p.to_owned(), RecursiveMode::NonRecursive),
                    None => continue,
                },
                Armed::Missing | Armed::Failed(_) => continue,
            };
            if let Err(e) = inner.watch(&place, mode) {
                *a = Armed::Failed(e.to_string());
            }
        }
        WriteWatch {
            _inner: Some(inner),
            armed,
            written,
            lost,
        }
    }

    /// Waits for the next write (one that happened since the last call returns at once:
    /// writes while nobody waits are kept as one).
    pub async fn written(&self) {
        self.written.notified().await
    }

    /// Whether what is on disk differs from what is watched (a target appeared or went, a
    /// folder was made again, a failed watch may work now): arm a new watch then.
    pub fn stale(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
            || self.armed.iter().any(|(t, a)| match a {
                Armed::Failed(_) => true,
                _ => probe(t) != *a,
            })
    }

    /// How each target is watched.
    pub fn armed(&self) -> &[(PathBuf, Armed)] {
        &self.armed
    }

    /// Each target that is not fully watched, in words.
    pub fn problems(&self) -> Vec<String> {
        self.armed
            .iter()
            .filter_map(|(t, a)| match a {
                Armed::Folder(..) | Armed::File(..) => None,
                Armed::Awaiting(..) => Some(format!(
                    "{} does not exist (yet); its folder is watched for it",
                    t.display()
                )),
                Armed::Missing => Some(format!("{} does not exist, nor its folder", t.display())),
                Armed::Failed(reason) => Some(format!("cannot watch {}: {reason}", t.display())),
            })
            .collect()
    }
}

fn is_watched(a: &Armed) -> bool {
    matches!(a, Armed::Folder(..) | Armed::File(..) | Armed::Awaiting(..))
}

/// What is on disk at `target` now.
fn probe(target: &Path) -> Armed {
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    match std::fs::metadata(target) {
        Ok(m) if m.is_dir() => {
            let (dev, ino) = id(m);
            Armed::Folder(dev, ino)
        }
        Ok(_) => match target.parent().and_then(|p| std::fs::metadata(p).ok()) {
            Some(m) => {
                let (dev, ino) = id(m);
                Armed::File(dev, ino)
            }
            None => Armed::Missing,
        },
        Err(_) => match target.parent().and_then(|p| std::fs::metadata(p).ok()) {
            Some(m) if m.is_dir() => {
                let (dev, ino) = id(m);
                Armed::Awaiting(dev, ino)
            }
            _ => Armed::Missing,
        },
    }
}

/// Whether an event is a write to one of the targets (see the module's rules).
fn counts(kind: &EventKind, paths: &[PathBuf], matchers: &[Matcher]) -> bool {
    let data = match kind {
        EventKind::Modify(ModifyKind::Data(_)) => true,
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => false,
        // Reads, opens, closes, owner and mode: nothing the database's content depends on.
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => return false,
        // Anything else the backend reports: count it rather than miss a change.
        _ => true,
    };
    paths.iter().any(|p| {
        matchers.iter().any(|m| match m {
            Matcher::File { folder, name } => {
                p.parent() == Some(folder.as_path())
                    && p.file_name().is_some_and(|n| {
                        n == name.as_os_str() || (data && WRITTEN_COMPANIONS.iter().any(|c| is_companion(n, name, c)))
                    })
            }
            Matcher::Folder(root) => {
                p.starts_with(root)
                    && p.file_name().is_none_or(|n| {
                        let n = n.to_string_lossy();
                        if data {
                            !n.ends_with("-shm")
                        } else {
                            !COMPANIONS.iter().any(|c| n.ends_with(c))
                        }
                    })
            }
        })
    })
}

/// Whether `n` is `name` followed by `suffix` (e.g. `astdb.sqlite3-wal`).
fn is_companion(n: &OsStr, name: &OsStr, suffix: &str) -> bool {
    let mut expected = name.to_owned();
    expected.push(suffix);
    n == expected
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, RemoveKind, RenameMode};

    use super::*;

    fn file(folder: &str, name: &str) -> Matcher {
        Matcher::File {
            folder: folder.into(),
            name: name.into(),
        }
    }

    fn at(p: &str) -> Vec<PathBuf> {
        vec![PathBuf::from(p)]
    }

    const WRITE: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));

    #[test]
    fn a_file_counts_its_writes_and_its_companions_writes_not_reads() {
        let m = [file("/var/lib/asterisk", "astdb.sqlite3")];
        for (kind, path, expected) in [
            (WRITE, "/var/lib/asterisk/astdb.sqlite3", true),
            (WRITE, "/var/lib/asterisk/astdb.sqlite3-journal", true),
            (WRITE, "/var/lib/asterisk/astdb.sqlite3-wal", true),
            // A reader in WAL mode writes the index and makes and removes the companions.
            (WRITE, "/var/lib/asterisk/astdb.sqlite3-shm", false),
            (
                EventKind::Create(CreateKind::File),
                "/var/lib/asterisk/astdb.sqlite3-wal",
                false,
            ),
            (
                EventKind::Remove(RemoveKind::File),
                "/var/lib/asterisk/astdb.sqlite3-shm",
                false,
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                "/var/lib/asterisk/astdb.sqlite3",
                false,
            ),
            (
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                "/var/lib/asterisk/astdb.sqlite3",
                false,
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Ownership)),
                "/var/lib/asterisk/astdb.sqlite3",
                false,
            ),
            // The database itself replaced, made or removed.
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                "/var/lib/asterisk/astdb.sqlite3",
                true,
            ),
            (
                EventKind::Create(CreateKind::File),
                "/var/lib/asterisk/astdb.sqlite3",
                true,
            ),
            (
                EventKind::Remove(RemoveKind::File),
                "/var/lib/asterisk/astdb.sqlite3",
                true,
            ),
            // Neighbours are not the database.
            (WRITE, "/var/lib/asterisk/other.sqlite3", false),
            (WRITE, "/var/lib/asterisk/astdb.sqlite3.bak", false),
            (WRITE, "/var/lib/asterisk/sub/astdb.sqlite3", false),
        ] {
            assert_eq!(counts(&kind, &at(path), &m), expected, "{kind:?} {path}");
        }
    }

    #[test]
    fn a_folder_counts_writes_under_it_but_not_a_readers_companions() {
        let m = [Matcher::Folder("/var/lib/mysql/asterisk".into())];
        for (kind, path, expected) in [
            (WRITE, "/var/lib/mysql/asterisk/users.ibd", true),
            (
                EventKind::Create(CreateKind::File),
                "/var/lib/mysql/asterisk/devices.frm",
                true,
            ),
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                "/var/lib/mysql/asterisk/#sql-1.ibd",
                true,
            ),
            (WRITE, "/var/lib/mysql/asterisk/x.db-wal", true),
            (WRITE, "/var/lib/mysql/asterisk/x.db-shm", false),
            (
                EventKind::Create(CreateKind::File),
                "/var/lib/mysql/asterisk/x.db-wal",
                false,
            ),
            (
                EventKind::Access(AccessKind::Read),
                "/var/lib/mysql/asterisk/users.ibd",
                false,
            ),
            (WRITE, "/var/lib/mysql/asteriskcdrdb/cdr.ibd", false),
        ] {
            assert_eq!(counts(&kind, &at(path), &m), expected, "{kind:?} {path}");
        }
    }

    fn sqlite(db: &Path, sql: &str) {
        let out = Command::new("sqlite3")
            .arg(db)
            .arg(sql)
            .output()
            .expect("sqlite3 (scripts/setup.sh installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Whether a write is signalled within `wait`.
    async fn signalled(w: &WriteWatch, wait: Duration) -> bool {
        tokio::time::timeout(wait, w.written()).await.is_ok()
    }

    /// Drains what earlier steps signalled.
    async fn settle(w: &WriteWatch) {
        while signalled(w, Duration::from_millis(150)).await {}
    }

    #[tokio::test]
    async fn a_real_sqlite_database_signals_its_writes_and_never_its_dumps_in_either_journal_mode() {
        for mode in ["delete", "wal"] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("astdb.sqlite3");
            sqlite(&db, &format!("PRAGMA journal_mode={mode}; CREATE TABLE astdb(key TEXT PRIMARY KEY, value TEXT); INSERT INTO astdb VALUES('/CF/1001','');"));
            let w = WriteWatch::arm(std::slice::from_ref(&db));
            assert!(w.problems().is_empty(), "{:?}", w.problems());
            settle(&w).await;
            for _ in 0..3 {
                sqlite(&db, ".dump");
            }
            assert!(
                !signalled(&w, Duration::from_millis(300)).await,
                "{mode}: a dump is no write"
            );
            sqlite(&db, "UPDATE astdb SET value='0123456789' WHERE key='/CF/1001'");
            assert!(
                signalled(&w, Duration::from_secs(5)).await,
                "{mode}: an update is a write"
            );
            assert!(!w.stale());
        }
    }

    #[tokio::test]
    async fn a_missing_database_is_reported_and_its_creation_is_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("astdb.sqlite3");
        let deeper = dir.path().join("mysql").join("ib_logfile0");
        let w = WriteWatch::arm(&[db.clone(), deeper.clone()]);
        let problems = w.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("does not exist (yet)"), "{problems:?}");
        assert!(problems[1].contains("nor its folder"), "{problems:?}");
        sqlite(&db, "CREATE TABLE astdb(key TEXT)");
        assert!(
            signalled(&w, Duration::from_secs(5)).await,
            "the database appearing is a change"
        );
        assert!(w.stale(), "it exists now: watch it as a file");
        let w = WriteWatch::arm(&[db.clone(), deeper.clone()]);
        assert_eq!(w.armed()[0].1, probe(&db));
        assert!(matches!(w.armed()[0].1, Armed::File(..)));
        assert!(!w.stale());
        std::fs::create_dir(deeper.parent().unwrap()).unwrap();
        assert!(w.stale(), "its folder appeared: watch the folder for it");
    }

    #[tokio::test]
    async fn a_folder_is_watched_with_what_it_holds_and_a_new_one_in_its_place_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("asterisk");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("users.ibd"), b"page").unwrap();
        let w = WriteWatch::arm(std::slice::from_ref(&folder));
        settle(&w).await;
        std::fs::read(folder.join("users.ibd")).unwrap();
        assert!(!signalled(&w, Duration::from_millis(300)).await, "a read is no write");
        std::fs::write(folder.join("users.ibd"), b"page 2").unwrap();
        assert!(signalled(&w, Duration::from_secs(5)).await);
        assert!(!w.stale());
        std::fs::remove_dir_all(&folder).unwrap();
        std::fs::create_dir(&folder).unwrap();
        // Seen through the watcher's thread (the new folder may reuse the old one's inode).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !w.stale() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(w.stale(), "a folder made again needs a new watch");
    }
}
