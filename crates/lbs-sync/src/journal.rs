//! The change journal (primary side): a scan of a category root records every regular file with
//! size, mtime, mode, owner and BLAKE3, and gives each change the next sequence number; the backup
//! asks for the changes after its cursor.
//!
//! Data safety: a file whose size or mtime changes while it is being hashed is left for the next
//! scan rather than recorded with a hash of a half-written state. Symlinks and special files are
//! never followed or recorded, only reported.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use sqlx::SqlitePool;
use thiserror::Error;

use crate::paths::RelPath;
use crate::select::Selector;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error(transparent)]
    Open(#[from] crate::db::DbError),
    #[error("the sync database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("cannot read the category root {path}: {reason}")]
    Root { path: PathBuf, reason: String },
    #[error("the scan was interrupted: {0}")]
    Interrupted(String),
}

/// What the disk says about one regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A stored hash, if it has the right length.
pub(crate) fn hash_of(bytes: Option<Vec<u8>>) -> Option<[u8; 32]> {
    bytes.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
}

impl FileMeta {
    /// From the journal's integer columns (SQLite has no unsigned types).
    pub(crate) fn from_row(size: i64, mtime_ns: i64, mode: i64, uid: i64, gid: i64) -> FileMeta {
        FileMeta {
            size: size as u64,
            mtime_ns,
            mode: mode as u32,
            uid: uid as u32,
            gid: gid as u32,
        }
    }

    pub fn of(meta: &std::fs::Metadata) -> FileMeta {
        FileMeta {
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// One journal row as served to the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub category: String,
    pub path: RelPath,
    pub meta: FileMeta,
    /// BLAKE3 of the content; `None` for a deleted file or a folder.
    pub hash: Option<[u8; 32]>,
    pub deleted: bool,
    /// A folder (mode and owner only; no content): mirrored so an empty folder exists on the
    /// backup too, and removed there once empty when it is gone here.
    pub folder: bool,
    /// When the journal recorded the change: the age of the oldest unsynced change is the lag.
    pub changed_unix: i64,
}

/// Files and bytes of one category, from the journal's point of view.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
    /// For pending changes: when the oldest of them was recorded.
    pub oldest_unix: Option<i64>,
}

/// What one scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub files: u64,
    pub bytes: u64,
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
    /// Files that changed while being hashed: picked up by the next scan.
    pub unsettled: u64,
    /// Paths not recorded, with the reason (symlinks, special files, unreadable, bad names).
    pub skipped: Vec<(String, String)>,
}

/// Write transactions begin `IMMEDIATE`: a read that later upgrades to a write would fail at
/// once (SQLITE_BUSY, no waiting) whenever another connection wrote in between.
#[derive(Clone)]
pub struct Journal {
    pool: SqlitePool,
    id: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

/// The changes after a sequence, per source, when few are: through the index by sequence, named,
/// since left to itself SQLite reads the whole table in its key's order (which groups by category
/// for free), and the heartbeat and the sampler ask this every second: an idle primary's CPU grew
/// with the tree. When many are (a first copy), reading the table in order is the cheaper way.
const PENDING_AFTER: &str = "SELECT category, count(*), coalesce(sum(CASE WHEN deleted THEN 0 ELSE size END), 0), \
     min(changed_unix) FROM files INDEXED BY files_seq WHERE seq > ? AND (? OR folder = 0) GROUP BY category";
const PENDING_AFTER_MANY: &str =
    "SELECT category, count(*), coalesce(sum(CASE WHEN deleted THEN 0 ELSE size END), 0), \
     min(changed_unix) FROM files WHERE seq > ? AND (? OR folder = 0) GROUP BY category";
/// Past this many sequence numbers to go, [`PENDING_AFTER_MANY`] reads the changes.
const MANY: i64 = 20_000;
/// The rows at or under `?3` (see `known`).
pub(crate) const UNDER: &str = "AND path >= ?3 AND path < ?3 || '0' AND (path = ?3 OR path >= ?3 || '/')";
/// The newest tombstone old enough to prune, through the index of tombstones (migration 0007),
/// named: older SQLite (Debian 12's 3.40) may choose the index by sequence and read the journal.
const NEWEST_OLD_TOMBSTONE: &str =
    "SELECT max(seq) FROM files INDEXED BY files_tombstones WHERE deleted = 1 AND changed_unix < ?";
/// The highest sequence given so far: a pruned tombstone may have held it, and a number a
/// backup has fetched is never given again.
pub(crate) const HEAD: &str = "SELECT max(coalesce((SELECT max(seq) FROM files), 0), \
                    coalesce((SELECT through FROM journal_pruned WHERE id = 1), 0))";

/// One row to record.
pub(crate) struct Write {
    pub path: String,
    pub meta: FileMeta,
    pub hash: Option<[u8; 32]>,
    pub deleted: bool,
    pub folder: bool,
}

impl Journal {
    pub async fn open(path: &Path) -> Result<Journal, JournalError> {
        Ok(Journal::new(crate::db::open(path).await?))
    }

    /// Over a pool opened by [`crate::db::open`].
    pub fn new(pool: SqlitePool) -> Journal {
        Journal {
            pool,
            id: Default::default(),
        }
    }

    /// This journal's identity, made on first use; it travels with every page of changes.
    pub async fn id(&self) -> Result<String, JournalError> {
        self.id.get_or_try_init(|| self.load_id()).await.cloned()
    }

    async fn load_id(&self) -> Result<String, JournalError> {
        let fresh = format!("{:032x}", rand::random::<u128>());
        sqlx::query("INSERT OR IGNORE INTO journal_meta (id, journal_id) VALUES (1, ?)")
            .bind(&fresh)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar("SELECT journal_id FROM journal_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Walks `root`, hashes what is new or changed since the last scan (everything when `verify`),
    /// and records the differences — deletions included — with fresh sequence numbers.
    pub async fn scan(
        &self,
        category: &str,
        root: &Path,
        select: &Selector,
        verify: bool,
        now_unix: i64,
    ) -> Result<ScanReport, JournalError> {
        self.refresh(category, root, select, None, verify, now_unix).await
    }

    /// As [`scan`](Self::scan), limited to `under` (a file or a folder, e.g. where a watcher saw
    /// a change): only paths there are recorded, and only paths there can be marked deleted.
    /// Files `select` does not want are not data: they are not recorded (and, if they were, count
    /// as deleted).
    pub async fn refresh(
        &self,
        category: &str,
        root: &Path,
        select: &Selector,
        under: Option<&RelPath>,
        verify: bool,
        now_unix: i64,
    ) -> Result<ScanReport, JournalError> {
        let counted = std::sync::Arc::new(AtomicU64::new(0));
        self.refresh_counting(category, root, select, under, verify, now_unix, counted)
            .await
    }

    /// As [`refresh`](Self::refresh), adding to `counted` each file looked at as the scan goes:
    /// the progress of a long first scan, for the status.
    #[allow(clippy::too_many_arguments)]
    pub async fn refresh_counting(
        &self,
        category: &str,
        root: &Path,
        select: &Selector,
        under: Option<&RelPath>,
        verify: bool,
        now_unix: i64,
        counted: std::sync::Arc<AtomicU64>,
    ) -> Result<ScanReport, JournalError> {
        let (journal, root, select, under) = (self.clone(), root.to_owned(), select.clone(), under.cloned());
        let category = category.to_owned();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let ask = crate::scan::Ask {
                category: &category,
                root: &root,
                select: &select,
                under: under.as_ref(),
                verify,
                now_unix,
                counted: &counted,
            };
            crate::scan::run(&rt, &journal, &ask)
        })
        .await
        .map_err(|e| JournalError::Interrupted(e.to_string()))?
    }

    /// The pool the journal lives in.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Up to `limit` changes after sequence `cursor`, oldest first; folders' changes only with
    /// `folders` (a partner too old to know them is never sent one).
    pub async fn changes_after(&self, cursor: i64, limit: u32, folders: bool) -> Result<Vec<Change>, JournalError> {
        type Row = (
            i64,
            String,
            String,
            i64,
            i64,
            i64,
            i64,
            i64,
            Option<Vec<u8>>,
            bool,
            i64,
            bool,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, category, path, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, folder \
             FROM files WHERE seq > ? AND (? OR folder = 0) ORDER BY seq LIMIT ?",
        )
        .bind(cursor)
        .bind(folders)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, category, path, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, folder) in rows {
            // Rows were validated on the way in; a row that no longer parses is skipped loudly.
            let Ok(path) = RelPath::parse(&path) else {
                tracing::error!(seq, %path, "journal row with an invalid path skipped");
                continue;
            };
            let (hash, meta) = (hash_of(hash), FileMeta::from_row(size, mtime_ns, mode, uid, gid));
            out.push(Change {
                seq,
                category,
                path,
                meta,
                hash,
                deleted,
                folder,
                changed_unix,
            });
        }
        Ok(out)
    }

    /// The highest sequence the partner has acknowledged as applied (0 if it never has).
    pub async fn peer_acked(&self) -> Result<i64, JournalError> {
        let acked: Option<i64> = sqlx::query_scalar("SELECT acked FROM peer_ack WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(acked.unwrap_or(0))
    }

    /// Records the partner's acknowledgement; `None` forgets it (a new partner starts from 0).
    pub async fn set_peer_acked(&self, acked: Option<i64>) -> Result<(), JournalError> {
        match acked {
            Some(a) => sqlx::query("INSERT OR REPLACE INTO peer_ack (id, acked) VALUES (1, ?)").bind(a),
            None => sqlx::query("DELETE FROM peer_ack"),
        }
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes the rows of files deleted before `before_unix` (tombstones), so the journal does
    /// not grow with every file the office ever deleted; returns how many went. The highest
    /// sequence pruned is kept: a backup whose cursor is below it may have missed a deletion and
    /// copies the journal again from the start ([`Journal::pruned_through`]).
    pub async fn prune_tombstones(&self, before_unix: i64) -> Result<u64, JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let top: Option<i64> = sqlx::query_scalar(NEWEST_OLD_TOMBSTONE)
            .bind(before_unix)
            .fetch_one(&mut *tx)
            .await?;
        let Some(top) = top else {
            return Ok(0);
        };
        let gone = sqlx::query("DELETE FROM files WHERE deleted = 1 AND seq <= ? AND changed_unix < ?")
            .bind(top)
            .bind(before_unix)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "INSERT INTO journal_pruned (id, through) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET through = max(through, excluded.through)",
        )
        .bind(top)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// The highest sequence of a pruned tombstone (0 if none was): a backup that fetched less
    /// than this may have missed a deletion.
    pub async fn pruned_through(&self) -> Result<i64, JournalError> {
        let through: Option<i64> = sqlx::query_scalar("SELECT through FROM journal_pruned WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(through.unwrap_or(0))
    }

    /// The highest sequence number given so far (0 for an empty journal).
    pub async fn head(&self) -> Result<i64, JournalError> {
        Ok(sqlx::query_scalar(HEAD).fetch_one(&self.pool).await?)
    }

    /// Live files and bytes per category: kept by triggers as the journal changes (migration 0008),
    /// since every answer to a pull carries them.
    pub async fn totals(&self) -> Result<HashMap<String, Tally>, JournalError> {
        let rows = sqlx::query_as("SELECT category, files, bytes, NULL FROM files_tally WHERE files > 0")
            .fetch_all(&self.pool)
            .await?;
        Ok(tallies(rows))
    }

    /// Changes of files after `acked` per category (a deletion counts as a file of no bytes),
    /// with the time of the oldest: what the backup still has to apply.
    pub async fn pending_after(&self, acked: i64) -> Result<HashMap<String, Tally>, JournalError> {
        self.pending_changes_after(acked, false).await
    }

    /// As [`pending_after`](Self::pending_after), folders' changes included (as changes of no
    /// bytes) with `folders`: for a partner that takes them.
    pub async fn pending_changes_after(
        &self,
        acked: i64,
        folders: bool,
    ) -> Result<HashMap<String, Tally>, JournalError> {
        let many = self.head().await? - acked > MANY;
        let rows = sqlx::query_as(if many { PENDING_AFTER_MANY } else { PENDING_AFTER })
            .bind(acked)
            .bind(folders)
            .fetch_all(&self.pool)
            .await?;
        Ok(tallies(rows))
    }

    /// As [`current_hash`](Self::current_hash) for many files, on one connection.
    pub async fn current_hashes(&self, files: &[(&str, &RelPath)]) -> Result<Vec<Option<[u8; 32]>>, JournalError> {
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(files.len());
        for (category, path) in files {
            let hash: Option<Option<Vec<u8>>> =
                sqlx::query_scalar("SELECT hash FROM files WHERE category = ? AND path = ? AND deleted = 0")
                    .bind(category)
                    .bind(path.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            out.push(hash_of(hash.flatten()));
        }
        Ok(out)
    }

    /// The version the journal holds of many live files (meta and hash), on one connection:
    /// what the primary may serve. `None` for a file unknown, deleted, or a folder.
    pub async fn journaled(
        &self,
        files: &[(&str, &RelPath)],
    ) -> Result<Vec<Option<crate::serve::Journaled>>, JournalError> {
        type Row = (i64, i64, i64, i64, i64, Option<Vec<u8>>);
        let mut conn = self.pool.acquire().await?;
        let mut out = Vec::with_capacity(files.len());
        for (category, path) in files {
            let row: Option<Row> = sqlx::query_as(
                "SELECT size, mtime_ns, mode, uid, gid, hash FROM files \
                 WHERE category = ? AND path = ? AND deleted = 0",
            )
            .bind(category)
            .bind(path.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            out.push(row.and_then(|(size, mtime_ns, mode, uid, gid, hash)| {
                Some(crate::serve::Journaled {
                    meta: FileMeta::from_row(size, mtime_ns, mode, uid, gid),
                    hash: hash_of(hash)?,
                })
            }));
        }
        Ok(out)
    }

    /// The recorded hash of a live file, `None` if it is unknown or deleted.
    pub async fn current_hash(&self, category: &str, path: &RelPath) -> Result<Option<[u8; 32]>, JournalError> {
        let hash: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT hash FROM files WHERE category = ? AND path = ? AND deleted = 0")
                .bind(category)
                .bind(path.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(hash_of(hash.flatten()))
    }
}

/// Rows of (category, files, bytes, oldest change) as tallies by category.
pub(crate) fn tallies(rows: Vec<(String, i64, i64, Option<i64>)>) -> HashMap<String, Tally> {
    rows.into_iter()
        .map(|(c, files, bytes, oldest_unix)| {
            let tally = Tally {
                files: files as u64,
                bytes: bytes as u64,
                oldest_unix,
            };
            (c, tally)
        })
        .collect()
}

pub(crate) async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    category: &str,
    w: &Write,
    seq: i64,
    now_unix: i64,
) -> Result<(), JournalError> {
    let (meta, hash, deleted) = (&w.meta, w.hash, w.deleted);
    sqlx::query(
        // An upsert, not a REPLACE: the triggers keeping `files_tally` must see it (migration 0008).
        "INSERT INTO files (category, path, size, mtime_ns, mode, uid, gid, hash, deleted, seq, changed_unix, folder) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (category, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, \
         mode = excluded.mode, uid = excluded.uid, gid = excluded.gid, hash = excluded.hash, \
         deleted = excluded.deleted, seq = excluded.seq, changed_unix = excluded.changed_unix, folder = excluded.folder",
    )
    .bind(category)
    .bind(&w.path)
    .bind(meta.size as i64)
    .bind(meta.mtime_ns)
    .bind(i64::from(meta.mode))
    .bind(i64::from(meta.uid))
    .bind(i64::from(meta.gid))
    .bind(hash.map(|h| h.to_vec()))
    .bind(deleted)
    .bind(seq)
    .bind(now_unix)
    .bind(w.folder)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn journal(dir: &tempfile::TempDir) -> Journal {
        Journal::open(&dir.path().join("journal.db")).await.unwrap()
    }

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// What SQLite's planner does with `sql`, one line per step.
    async fn plan(j: &Journal, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind(0)
            .bind(false)
            .fetch_all(&j.pool)
            .await
            .unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    #[tokio::test]
    async fn what_runs_every_second_or_minute_reads_an_index_not_the_whole_journal() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(&dir).await;
        let pending = plan(&j, PENDING_AFTER).await;
        assert!(pending.contains("USING INDEX files_seq"), "{pending}");
        let under: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN SELECT path FROM files WHERE category = ?1 {UNDER}"
        ))
        .bind("voicemail:0")
        .bind(false)
        .bind("default/1001")
        .fetch_all(&j.pool)
        .await
        .unwrap();
        let under = under.into_iter().map(|r| r.3).collect::<String>();
        assert!(under.contains("category=? AND path>? AND path<?"), "{under}");
        let tombstones = plan(&j, NEWEST_OLD_TOMBSTONE).await;
        assert!(tombstones.contains("USING INDEX files_tombstones"), "{tombstones}");
        assert!(!format!("{pending}{tombstones}").contains("SCAN files"));
    }

    #[tokio::test]
    async fn the_totals_are_tallied_as_files_are_added_changed_deleted_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "1001/a.wav", b"12345");
        write(&root, "1001/b.wav", b"123");
        write(&root, "1002/c.wav", b"1");
        let j = journal(&dir).await;
        let select = Selector::all();
        j.scan("voicemail:0", &root, &select, false, 100).await.unwrap();
        write(&root, "1001/a.wav", b"1234567"); // changed
        std::fs::remove_file(root.join("1001/b.wav")).unwrap(); // deleted
        write(&root, "1003/d.wav", b"12"); // added, in a new folder
        j.scan("voicemail:0", &root, &select, false, 200).await.unwrap();
        j.prune_tombstones(300).await.unwrap();
        let counted: (i64, i64) =
            sqlx::query_as("SELECT count(*), sum(size) FROM files WHERE deleted = 0 AND folder = 0")
                .fetch_one(&j.pool)
                .await
                .unwrap();
        let totals = j.totals().await.unwrap();
        let t = totals["voicemail:0"];
        assert_eq!((t.files as i64, t.bytes as i64), counted);
        assert_eq!(counted, (3, 10));
    }

    #[tokio::test]
    async fn first_scan_records_every_file_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "default/1001/INBOX/msg0000.wav", b"hello");
        write(&root, "default/1001/INBOX/msg0000.txt", b"[message]");
        let j = journal(&dir).await;
        let r = j.scan("voicemail", &root, &Selector::all(), false, 100).await.unwrap();
        assert_eq!((r.files, r.bytes, r.added, r.modified, r.deleted), (2, 14, 2, 0, 0));
        let changes = j.changes_after(0, 100, false).await.unwrap();
        assert_eq!(changes.len(), 2);
        let wav = changes.iter().find(|c| c.path.as_str().ends_with(".wav")).unwrap();
        assert_eq!(wav.hash, Some(*blake3::hash(b"hello").as_bytes()));
        assert_eq!(wav.meta.size, 5);
        assert!(!wav.deleted);
        let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }

    #[tokio::test]
    async fn rescans_record_only_changes_and_deletions_with_new_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("monitor");
        write(&root, "a.wav", b"one");
        write(&root, "b.wav", b"two");
        let j = journal(&dir).await;
        j.scan("recordings", &root, &Selector::all(), false, 1).await.unwrap();

        let r = j.scan("recordings", &root, &Selector::all(), false, 2).await.unwrap();
        assert_eq!(
            (r.added, r.modified, r.deleted),
            (0, 0, 0),
            "an unchanged tree changes nothing"
        );
        assert!(j.changes_after(2, 100, false).await.unwrap().is_empty());

        write(&root, "a.wav", b"one, longer now");
        std::fs::remove_file(root.join("b.wav")).unwrap();
        write(&root, "c.wav", b"three");
        let r = j.scan("recordings", &root, &Selector::all(), false, 3).await.unwrap();
        assert_eq!((r.added, r.modified, r.deleted), (1, 1, 1));
        let changes = j.changes_after(2, 100, false).await.unwrap();
        let by_path: HashMap<&str, &Change> = changes.iter().map(|c| (c.path.as_str(), c)).collect();
        assert_eq!(
            by_path["a.wav"].hash,
            Some(*blake3::hash(b"one, longer now").as_bytes())
        );
        assert!(by_path["b.wav"].deleted && by_path["b.wav"].hash.is_none());
        assert!(!by_path["c.wav"].deleted);
        assert!(changes.iter().all(|c| c.seq > 2));

        // A file that comes back after deletion is an addition again.
        write(&root, "b.wav", b"two again");
        let r = j.scan("recordings", &root, &Selector::all(), false, 4).await.unwrap();
        assert_eq!((r.added, r.modified, r.deleted), (1, 0, 0));
    }

    #[tokio::test]
    async fn old_deletions_are_pruned_and_their_sequence_numbers_never_given_again() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        for f in ["a.wav", "b.wav", "c.wav"] {
            write(&root, f, f.as_bytes());
        }
        let j = journal(&dir).await;
        j.scan("voicemail", &root, &Selector::all(), false, 1).await.unwrap();
        std::fs::remove_file(root.join("b.wav")).unwrap();
        j.scan("voicemail", &root, &Selector::all(), false, 10).await.unwrap();
        std::fs::remove_file(root.join("c.wav")).unwrap();
        j.scan("voicemail", &root, &Selector::all(), false, 30).await.unwrap();
        let head = j.head().await.unwrap();
        assert_eq!(j.pruned_through().await.unwrap(), 0);

        // Only deletions older than the cutoff go; live files stay whatever their age.
        assert_eq!(j.prune_tombstones(25).await.unwrap(), 1);
        let left: Vec<String> = j
            .changes_after(0, 100, false)
            .await
            .unwrap()
            .iter()
            .map(|c| c.path.to_string())
            .collect();
        assert_eq!(left, ["a.wav", "c.wav"]);
        let b_seq = head - 1;
        assert_eq!(j.pruned_through().await.unwrap(), b_seq);

        // The newest change pruned: the head stays, and the next change comes after it.
        assert_eq!(j.prune_tombstones(100).await.unwrap(), 1);
        assert_eq!(j.pruned_through().await.unwrap(), head);
        assert_eq!(j.head().await.unwrap(), head);
        assert_eq!(j.prune_tombstones(100).await.unwrap(), 0, "nothing left to prune");
        write(&root, "d.wav", b"d");
        j.scan("voicemail", &root, &Selector::all(), false, 40).await.unwrap();
        let after = j.changes_after(head, 100, false).await.unwrap();
        assert_eq!(after.len(), 1);
        assert!(after[0].seq > head, "a backup at the old head sees the new file");
    }

    #[tokio::test]
    async fn folders_are_journaled_even_empty_and_not_again_when_their_files_change() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        std::fs::create_dir_all(root.join("default/1234/INBOX")).unwrap();
        write(&root, "default/1001/INBOX/msg0000.wav", b"hello");
        let j = journal(&dir).await;
        let r = j.scan("voicemail", &root, &Selector::all(), false, 1).await.unwrap();
        assert_eq!(r.files, 1, "folders are not files");
        let folders: Vec<String> = j
            .changes_after(0, 100, true)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.folder && !c.deleted && c.hash.is_none())
            .map(|c| c.path.to_string())
            .collect();
        assert!(folders.contains(&"default/1234/INBOX".to_string()), "{folders:?}");
        assert_eq!(folders.len(), 5, "{folders:?}");
        assert_eq!(j.totals().await.unwrap()["voicemail"].files, 1);

        // A new message changes its folder's time; only the message is journaled.
        let before = j.head().await.unwrap();
        write(&root, "default/1001/INBOX/msg0001.wav", b"again");
        j.scan("voicemail", &root, &Selector::all(), false, 2).await.unwrap();
        let new = j.changes_after(before, 100, true).await.unwrap();
        assert_eq!(new.len(), 1, "{new:?}");
        assert!(!new[0].folder);
        assert!(
            j.changes_after(0, 100, false).await.unwrap().iter().all(|c| !c.folder),
            "an older partner is never sent a folder"
        );
    }

    #[tokio::test]
    async fn categories_are_kept_apart_and_the_cursor_pages() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for i in 0..5 {
            write(&a, &format!("f{i}"), b"x");
        }
        write(&b, "f0", b"y");
        let j = journal(&dir).await;
        j.scan("config", &a, &Selector::all(), false, 1).await.unwrap();
        j.scan("moh", &b, &Selector::all(), false, 1).await.unwrap();
        // Scanning category "moh" must not delete "config"'s files.
        assert_eq!(
            j.scan("config", &a, &Selector::all(), false, 2).await.unwrap().deleted,
            0
        );
        let first = j.changes_after(0, 4, false).await.unwrap();
        assert_eq!(first.len(), 4);
        let rest = j.changes_after(first[3].seq, 100, false).await.unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest.iter().filter(|c| c.category == "moh").count(), 1);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_and_special_files_are_reported_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sounds");
        write(&root, "custom/welcome.gsm", b"audio");
        std::os::unix::fs::symlink("/etc/passwd", root.join("custom/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        let j = journal(&dir).await;
        let r = j.scan("prompts", &root, &Selector::all(), false, 1).await.unwrap();
        assert_eq!(r.files, 1);
        assert_eq!(r.skipped.len(), 2, "{:?}", r.skipped);
        assert!(r.skipped.iter().all(|(_, why)| why.contains("symbolic link")));
        let changes = j.changes_after(0, 100, false).await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path.as_str(), "custom/welcome.gsm");
    }

    #[tokio::test]
    async fn the_backups_partial_files_and_trash_are_not_data() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "default/1001/INBOX/msg0000.wav", b"x");
        write(&root, ".lbs-sync/partial/abc.part", b"half");
        write(&root, ".lbs-sync/trash/1/old.wav", b"old");
        write(
            &root,
            "sub/.lbs-sync/real.wav",
            b"only the root's sync folder is skipped",
        );
        let j = journal(&dir).await;
        let r = j.scan("voicemail", &root, &Selector::all(), false, 1).await.unwrap();
        assert_eq!(r.files, 2);
        let paths: Vec<String> = j
            .changes_after(0, 10, false)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.path.to_string())
            .collect();
        assert!(paths.contains(&"sub/.lbs-sync/real.wav".to_string()), "{paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with(".lbs-sync")), "{paths:?}");
    }

    #[tokio::test]
    async fn a_refresh_looks_only_where_it_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "default/1001/INBOX/msg0000.wav", b"a");
        write(&root, "default/1002/INBOX/msg0000.wav", b"b");
        let j = journal(&dir).await;
        j.scan("voicemail", &root, &Selector::all(), false, 1).await.unwrap();
        let before = j.head().await.unwrap();

        // A new message in 1001 and a whole mailbox (1002) gone: a refresh of 1001 sees only 1001.
        write(&root, "default/1001/INBOX/msg0001.wav", b"c");
        std::fs::remove_dir_all(root.join("default/1002")).unwrap();
        let inbox = RelPath::parse("default/1001").unwrap();
        let r = j
            .refresh("voicemail", &root, &Selector::all(), Some(&inbox), false, 2)
            .await
            .unwrap();
        assert_eq!((r.files, r.added, r.deleted), (2, 1, 0));

        // A refresh of the vanished folder marks just its files deleted.
        let gone = RelPath::parse("default/1002").unwrap();
        let r = j
            .refresh("voicemail", &root, &Selector::all(), Some(&gone), false, 3)
            .await
            .unwrap();
        assert_eq!((r.added, r.deleted), (0, 1));
        let changes = j.changes_after(before, 10, false).await.unwrap();
        assert_eq!(changes.len(), 2);
        assert!(changes
            .iter()
            .any(|c| c.deleted && c.path.as_str() == "default/1002/INBOX/msg0000.wav"));
        // With its folders, deepest first, after the file they held.
        let with_folders: Vec<(String, bool, bool)> = j
            .changes_after(before, 10, true)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.deleted)
            .map(|c| (c.path.to_string(), c.folder, c.deleted))
            .collect();
        assert_eq!(
            with_folders,
            vec![
                ("default/1002/INBOX/msg0000.wav".to_string(), false, true),
                ("default/1002/INBOX".to_string(), true, true),
                ("default/1002".to_string(), true, true),
            ]
        );

        // A single file can be refreshed too.
        write(&root, "default/1001/INBOX/msg0000.wav", b"changed");
        let one = RelPath::parse("default/1001/INBOX/msg0000.wav").unwrap();
        assert_eq!(
            j.refresh("voicemail", &root, &Selector::all(), Some(&one), false, 4)
                .await
                .unwrap()
                .modified,
            1
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_refresh_through_a_symlink_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("moh");
        write(&root, "default/song.gsm", b"music");
        let j = journal(&dir).await;
        j.scan("moh", &root, &Selector::all(), false, 1).await.unwrap();
        let before = j.head().await.unwrap();
        // The folder is replaced by a link elsewhere: it cannot be looked at, so nothing is deleted.
        std::fs::rename(root.join("default"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("moved"), root.join("default")).unwrap();
        let r = j
            .refresh(
                "moh",
                &root,
                &Selector::all(),
                Some(&RelPath::parse("default").unwrap()),
                false,
                2,
            )
            .await
            .unwrap();
        assert_eq!(r.deleted, 0);
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
        assert!(j.changes_after(before, 10, true).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn verify_rehashes_and_catches_silent_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("etc");
        write(&root, "queues.conf", b"strategy = ringall");
        let j = journal(&dir).await;
        j.scan("config", &root, &Selector::all(), false, 1).await.unwrap();
        // Same size, mtime put back: only a content re-check can see the change.
        let p = root.join("queues.conf");
        let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
        std::fs::write(&p, b"strategy = linear!").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(
            j.scan("config", &root, &Selector::all(), false, 2)
                .await
                .unwrap()
                .modified,
            0,
            "a quick scan trusts size+mtime"
        );
        assert_eq!(
            j.scan("config", &root, &Selector::all(), true, 3)
                .await
                .unwrap()
                .modified,
            1,
            "a verify scan re-hashes"
        );
    }

    #[tokio::test]
    async fn excluded_files_are_not_data_and_tallies_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "default/1001/INBOX/msg0000.wav", b"12345");
        write(&root, "default/1001/tmp/msg0001.wav", b"half");
        let j = journal(&dir).await;
        let select = Selector::new(&[], &["**/tmp/**".to_string()]).unwrap();
        let r = j.scan("voicemail", &root, &select, false, 10).await.unwrap();
        assert_eq!((r.files, r.added), (1, 1));
        // The file and its three folders; `tmp` holds only excluded files, so it is not data.
        let first = j.head().await.unwrap();
        assert_eq!(first, 4);
        let folders: Vec<String> = j
            .changes_after(0, 10, true)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.folder)
            .map(|c| c.path.to_string())
            .collect();
        assert_eq!(folders.len(), 3, "{folders:?}");
        assert!(!folders.iter().any(|f| f.ends_with("tmp")), "{folders:?}");
        let totals = j.totals().await.unwrap();
        assert_eq!((totals["voicemail"].files, totals["voicemail"].bytes), (1, 5));
        let path = RelPath::parse("default/1001/INBOX/msg0000.wav").unwrap();
        assert_eq!(
            j.current_hash("voicemail", &path).await.unwrap(),
            Some(*blake3::hash(b"12345").as_bytes())
        );

        std::fs::remove_file(root.join("default/1001/INBOX/msg0000.wav")).unwrap();
        write(&root, "b.wav", b"xy");
        j.scan("voicemail", &root, &select, false, 20).await.unwrap();
        let pending = j.pending_after(first).await.unwrap();
        assert_eq!(
            pending["voicemail"],
            Tally {
                files: 2,
                bytes: 2,
                oldest_unix: Some(20)
            },
            "one deletion (no bytes) and one new file"
        );
        assert!(j.pending_after(j.head().await.unwrap()).await.unwrap().is_empty());
        assert_eq!(j.current_hash("voicemail", &path).await.unwrap(), None);
        let b = RelPath::parse("b.wav").unwrap();
        assert_eq!(
            j.current_hashes(&[("voicemail", &path), ("voicemail", &b)])
                .await
                .unwrap(),
            vec![None, Some(*blake3::hash(b"xy").as_bytes())]
        );
    }

    #[tokio::test]
    async fn a_missing_root_is_an_error_not_a_mass_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        write(&root, "x", b"1");
        let j = journal(&dir).await;
        j.scan("voicemail", &root, &Selector::all(), false, 1).await.unwrap();
        std::fs::rename(&root, dir.path().join("elsewhere")).unwrap();
        assert!(matches!(
            j.scan("voicemail", &root, &Selector::all(), false, 2).await,
            Err(JournalError::Root { .. })
        ));
        assert!(
            j.changes_after(1, 100, false).await.unwrap().is_empty(),
            "nothing marked deleted"
        );
    }
}
