//! A scan of a category root against the journal, in bounded memory. The tree is walked in the
//! journal's own order (paths compared as bytes, as SQLite's key sorts them), the journal's rows
//! are read a page at a time in that order, and the two are merged as sorted lists: a path on disk
//! only is new, in the journal only is deleted, in both is compared. Nothing holds the whole
//! category (it did: a full scan of 200,000 files doubled the agent's memory for its duration);
//! what a scan holds is a page of rows, a batch of writes, the entries of the folders on the way
//! down to where it is, and the rows of what it found deleted (recorded last).
//!
//! The walk's order: in each folder, a file sorts by its name, a folder's own row by its name and
//! what is inside the folder by its name and a '/'. So "a", "a.txt", "a/x", "a0" come out as
//! SQLite sorts their paths ('.' < '/' < '0'), and everything under "a/" together.
//!
//! Data safety: a file whose size or mtime changes while it is hashed is left for the next scan;
//! symlinks and special files are reported, never followed or recorded. Only what the walk saw
//! the absence of is deleted: a root that cannot be listed is an error; nothing is taken for
//! deleted under a folder that could not be listed (whole: a listing cut short by an I/O error
//! counts), at an entry that could not be read, or under one that became a folder after its
//! folder was listed; and never a row recorded after the scan began (another scan beside it
//! recorded a file this walk had no chance to see).

use std::cmp::Ordering as Order;
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::Handle;

use crate::journal::{hash_of, upsert, FileMeta, Journal, JournalError, ScanReport, Write, HEAD, UNDER};
use crate::paths::RelPath;
use crate::select::Selector;

/// Rows read from the journal at a time.
const PAGE: i64 = 1024;
/// Changes recorded per transaction. Each transaction is whole; a scan of a changed tree is
/// recorded in several, each change with its own sequence number as before.
const BATCH: usize = 4096;

/// What a scan is asked: a category, its root, what it selects, where (`under`: a file or folder
/// inside the root; `None`: all of it), and whether every file is hashed (`verify`) or only those
/// whose size, time, mode or owner changed.
pub(crate) struct Ask<'a> {
    pub category: &'a str,
    pub root: &'a Path,
    pub select: &'a Selector,
    pub under: Option<&'a RelPath>,
    pub verify: bool,
    pub now_unix: i64,
    /// Adds one per file looked at: a long first scan's progress, for the status.
    pub counted: &'a AtomicU64,
}

/// Runs the scan; blocking (it reads the disk), the journal reached through `rt`.
pub(crate) fn run(rt: &Handle, journal: &Journal, ask: &Ask) -> Result<ScanReport, JournalError> {
    // Rows recorded after this (by a scan running beside this one: a switchover's flush beside
    // the half-hourly pass) may be of files whose folder this walk listed before they came: never
    // taken for deleted here; the next scan sees them as they are.
    let started_at = rt.block_on(journal.head())?;
    merge(rt, journal, ask, started_at)
}

/// The scan, once the journal's head at its start is known.
fn merge(rt: &Handle, journal: &Journal, ask: &Ask, started_at: i64) -> Result<ScanReport, JournalError> {
    let mut walk = Walk::start(ask.root, ask.select, ask.under)?;
    let mut rows = Rows::new(rt, journal, ask);
    let mut out = Writes::new(rt, journal, ask.category, ask.now_unix);
    let mut report = ScanReport::default();
    // Deletions are recorded after every addition and change, as one transaction used to: a
    // mailbox renamed has its new files journaled before its old ones are gone. Files first, then
    // folders deepest first: on the backup a folder is emptied before its own deletion comes.
    let (mut gone_files, mut gone_folders): (Vec<Known>, Vec<Known>) = (Vec::new(), Vec::new());
    let (mut disk, mut known) = (walk.next(), rows.next()?);
    loop {
        let order = match (&disk, &known) {
            (None, None) => break,
            (Some(_), None) => Order::Less,
            (None, Some(_)) => Order::Greater,
            (Some(d), Some(k)) => d.path.as_bytes().cmp(k.path.as_bytes()),
        };
        match order {
            Order::Less => {
                if let Some(d) = disk.take() {
                    compare(ask, d, None, &mut report, &mut out)?;
                }
                disk = walk.next();
            }
            Order::Equal => {
                if let Some(d) = disk.take() {
                    compare(ask, d, known.take(), &mut report, &mut out)?;
                }
                (disk, known) = (walk.next(), rows.next()?);
            }
            Order::Greater => {
                if let Some(k) = known.take() {
                    // The walk is past this path: it is not on disk, unless it lies where the walk
                    // could not look. (The walk has opened every folder before this path already.)
                    if !k.deleted && k.seq <= started_at && walk.looked_at(&k.path) {
                        if k.folder {
                            gone_folders.push(k);
                        } else {
                            report.deleted += 1;
                            gone_files.push(k);
                        }
                    }
                }
                known = rows.next()?;
            }
        }
    }
    gone_folders.sort_by_key(|k| std::cmp::Reverse(k.path.matches('/').count()));
    for k in gone_files.into_iter().chain(gone_folders) {
        out.push(k.gone())?;
    }
    out.finish()?;
    report.files = walk.report.files;
    report.bytes = walk.report.bytes;
    report.skipped.append(&mut walk.report.skipped);
    Ok(report)
}

/// One path found on disk, and what the journal holds for it (if anything): records the change.
fn compare(
    ask: &Ask,
    disk: Found,
    known: Option<Known>,
    report: &mut ScanReport,
    out: &mut Writes,
) -> Result<(), JournalError> {
    let live = known.as_ref().filter(|k| !k.deleted);
    if disk.folder {
        if live.is_some_and(|k| k.folder && k.meta == disk.meta) {
            return Ok(());
        }
        return out.push(disk.write(None));
    }
    ask.counted.fetch_add(1, Ordering::Relaxed);
    let same_meta = live.is_some_and(|k| !k.folder && k.meta == disk.meta);
    if same_meta && !ask.verify {
        return Ok(());
    }
    let hash = match hash_settled(&ask.root.join(&disk.path), &disk.meta) {
        Ok(Some(h)) => h,
        // Changed while being read: left for the next scan.
        Ok(None) => {
            report.unsettled += 1;
            return Ok(());
        }
        // Unreadable now is not deleted: the journal's row stays as it is.
        Err(e) => {
            report.skipped.push((disk.path, e.to_string()));
            return Ok(());
        }
    };
    match live {
        Some(k) if same_meta && k.hash == Some(hash) => return Ok(()),
        Some(_) => report.modified += 1,
        None => report.added += 1,
    }
    out.push(disk.write(Some(hash)))
}

/// BLAKE3 of a file, or `None` if it changed while being read.
fn hash_settled(path: &Path, before: &FileMeta) -> std::io::Result<Option<[u8; 32]>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let after = FileMeta::of(&file.metadata()?);
    Ok((after == *before).then(|| *hasher.finalize().as_bytes()))
}

/// A file or folder the walk found that is data: its path in the root and its meta. A folder's
/// meta is mode and owner only (its time changes with every file in it).
struct Found {
    path: String,
    meta: FileMeta,
    folder: bool,
}

impl Found {
    fn write(self, hash: Option<[u8; 32]>) -> Write {
        Write {
            path: self.path,
            meta: self.meta,
            hash,
            deleted: false,
            folder: self.folder,
        }
    }
}

/// One entry of a folder still to visit: its name, and with `inside` what is in the folder
/// (sorted after its name and a '/'), else the entry itself.
struct Item {
    /// The name, with the '/' when `inside`: what the folder's entries sort by.
    key: Vec<u8>,
    inside: bool,
    /// The listing said a folder: its contents are walked too.
    folder: bool,
}

impl Item {
    fn name(&self) -> &OsStr {
        OsStr::from_bytes(&self.key[..self.key.len() - usize::from(self.inside)])
    }
}

/// The tree under the root (or `under`), in the journal's order.
struct Walk<'a> {
    root: &'a Path,
    select: &'a Selector,
    /// The folders being walked, outermost first: each with what is left of it, largest key
    /// first (taken from the end).
    stack: Vec<(PathBuf, Vec<Item>)>,
    /// Files and bytes found, and what was skipped and why.
    report: ScanReport,
    /// Where the walk was asked to look (`None`: the whole root).
    under: Option<String>,
    /// Folders that could not be read: nothing under them is taken for deleted.
    unreadable: Vec<String>,
}

impl<'a> Walk<'a> {
    fn start(root: &'a Path, select: &'a Selector, under: Option<&RelPath>) -> Result<Walk<'a>, JournalError> {
        let root_error = |reason: String| JournalError::Root {
            path: root.to_owned(),
            reason,
        };
        let meta = std::fs::symlink_metadata(root).map_err(|e| root_error(e.to_string()))?;
        if !meta.is_dir() {
            return Err(root_error("not a directory".into()));
        }
        let mut walk = Walk {
            root,
            select,
            stack: Vec::new(),
            report: ScanReport::default(),
            under: under.map(|u| u.as_str().to_owned()),
            unreadable: Vec::new(),
        };
        let Some(rel) = under else {
            // A root that cannot be listed is an error, never a category whose files are all gone.
            walk.open(root.to_owned()).map_err(|e| root_error(e.to_string()))?;
            return Ok(walk);
        };
        let start = match crate::paths::resolve(root, rel) {
            Ok(p) => p,
            Err(e) => {
                walk.cannot_read(rel.to_string(), e.to_string());
                return Ok(walk);
            }
        };
        match std::fs::symlink_metadata(&start) {
            // Gone: everything known under it is deleted.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => walk.cannot_read(rel.to_string(), e.to_string()),
            Ok(m) => {
                let (Some(parent), Some(name)) = (start.parent(), start.file_name()) else {
                    return Ok(walk);
                };
                // The place itself, and (a folder) what is in it.
                let mut items = vec![item(name, false, m.is_dir())];
                if m.is_dir() {
                    items.push(item(name, true, true));
                }
                items.sort_by(|a, b| b.key.cmp(&a.key));
                walk.stack.push((parent.to_owned(), items));
            }
        }
        Ok(walk)
    }

    /// Whether the walk looked where `path` would be: inside what it was asked to walk, and not
    /// in a folder it could not read.
    fn looked_at(&self, path: &str) -> bool {
        let inside = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
        self.under.as_deref().is_none_or(inside) && !self.unreadable.iter().any(|d| inside(d))
    }

    fn cannot_read(&mut self, rel: String, why: String) {
        self.report.skipped.push((rel.clone(), why));
        self.unreadable.push(rel);
    }

    /// Lists `dir` onto the stack, in the journal's order. A folder inside the root that cannot
    /// be listed, whole, is recorded as such (nothing under it is taken for deleted); the root's
    /// own listing failing is the caller's error.
    fn open(&mut self, dir: PathBuf) -> std::io::Result<()> {
        let rel = |dir: &Path| dir.strip_prefix(self.root).unwrap_or(dir).display().to_string();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if dir == self.root => return Err(e),
            Err(e) => {
                self.cannot_read(rel(&dir), e.to_string());
                return Ok(());
            }
        };
        let mut items = Vec::new();
        for entry in entries {
            // A listing cut short (an I/O error half way) is not a folder whose other files are
            // gone: what was listed is walked, and nothing else under it is taken for deleted.
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if dir == self.root => return Err(e),
                Err(e) => {
                    self.cannot_read(rel(&dir), e.to_string());
                    break;
                }
            };
            let name = entry.file_name();
            // The backup's partial files and trash are not data.
            if dir == self.root && name == crate::install::SYNC_DIR {
                continue;
            }
            // The entry's own type (a link is not followed): a folder is also walked into.
            let folder = entry.file_type().is_ok_and(|t| t.is_dir());
            if folder {
                items.push(item(&name, true, true));
            }
            items.push(item(&name, false, folder));
        }
        items.sort_by(|a, b| b.key.cmp(&a.key));
        self.stack.push((dir, items));
        Ok(())
    }
}

fn item(name: &OsStr, inside: bool, folder: bool) -> Item {
    let mut key = name.as_bytes().to_vec();
    if inside {
        key.push(b'/');
    }
    Item { key, inside, folder }
}

impl Iterator for Walk<'_> {
    type Item = Found;

    fn next(&mut self) -> Option<Found> {
        loop {
            let (dir, items) = self.stack.last_mut()?;
            let Some(item) = items.pop() else {
                self.stack.pop();
                continue;
            };
            let path = dir.join(item.name());
            if item.inside {
                // Inside the root, so a failure is recorded, never returned.
                let _ = self.open(path);
                continue;
            }
            let rel = || path.strip_prefix(self.root).unwrap_or(&path).display().to_string();
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                // Gone since the folder was listed: as if it never was.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // There, but not readable: neither it nor anything under it is gone.
                Err(e) => {
                    let (rel, why) = (rel(), e.to_string());
                    self.cannot_read(rel, why);
                    continue;
                }
            };
            // A folder now that was something else when listed: its contents were not walked.
            if meta.is_dir() && !item.folder {
                let rel = rel();
                self.cannot_read(rel, "became a folder while it was scanned".into());
                continue;
            }
            let found = if meta.is_dir() {
                folder(self.root, self.select, &path, &meta)
            } else {
                file(self.root, self.select, &path, &meta, &mut self.report)
            };
            if found.is_some() {
                return found;
            }
        }
    }
}

/// A folder inside the root (never the root itself), if the selection wants it.
fn folder(root: &Path, select: &Selector, path: &Path, meta: &std::fs::Metadata) -> Option<Found> {
    // A name that cannot travel: its files are reported one by one.
    let rel = RelPath::from_local(root, path).ok()?;
    if !select.wants_folder(rel.as_str()) {
        return None;
    }
    let mut meta = FileMeta::of(meta);
    (meta.size, meta.mtime_ns) = (0, 0);
    Some(Found {
        path: rel.as_str().to_owned(),
        meta,
        folder: true,
    })
}

/// A regular file with its metadata, or `None` with the reason for skipping it reported.
fn file(
    root: &Path,
    select: &Selector,
    path: &Path,
    meta: &std::fs::Metadata,
    report: &mut ScanReport,
) -> Option<Found> {
    let shown = || path.strip_prefix(root).unwrap_or(path).display().to_string();
    let kind = meta.file_type();
    if kind.is_symlink() || !kind.is_file() {
        let why = if kind.is_symlink() {
            "symbolic link: not followed"
        } else {
            "special file: not copied"
        };
        report.skipped.push((shown(), why.into()));
        return None;
    }
    let rel = match RelPath::from_local(root, path) {
        Ok(r) => r,
        Err(e) => {
            report.skipped.push((shown(), e.to_string()));
            return None;
        }
    };
    if !select.wants(rel.as_str()) {
        return None;
    }
    let meta = FileMeta::of(meta);
    report.files += 1;
    report.bytes += meta.size;
    Some(Found {
        path: rel.as_str().to_owned(),
        meta,
        folder: false,
    })
}

/// A journal row of the category: its meta, whether it is a deletion, its hash (read for a verify
/// scan only: a quick scan compares meta, and a file whose meta changed is recorded whatever its
/// hash, its new mtime must travel too), whether a folder.
struct Known {
    path: String,
    /// The sequence number of the row's last change.
    seq: i64,
    meta: FileMeta,
    deleted: bool,
    hash: Option<[u8; 32]>,
    folder: bool,
}

impl Known {
    /// The row marking this path deleted.
    fn gone(self) -> Write {
        Write {
            path: self.path,
            meta: self.meta,
            hash: None,
            deleted: true,
            folder: self.folder,
        }
    }
}

/// The category's rows at or under `under`, in key order, a page at a time: each page a short
/// read through the key's index, starting after the last path read. The next page is read while
/// this one is merged, as the old scan read the journal while it walked the disk.
struct Rows<'a> {
    rt: &'a Handle,
    ask: PageAsk,
    page: VecDeque<Known>,
    next: Option<tokio::task::JoinHandle<Result<VecDeque<Known>, JournalError>>>,
}

/// What a page is read with (owned: the read runs on the runtime while the merge goes on).
#[derive(Clone)]
struct PageAsk {
    pool: sqlx::SqlitePool,
    category: String,
    under: Option<String>,
    with_hash: bool,
}

impl<'a> Rows<'a> {
    fn new(rt: &'a Handle, journal: &Journal, ask: &Ask) -> Rows<'a> {
        let ask = PageAsk {
            pool: journal.pool().clone(),
            category: ask.category.to_owned(),
            under: ask.under.map(|u| u.as_str().to_owned()),
            with_hash: ask.verify,
        };
        let next = Some(rt.spawn(read_page(ask.clone(), String::new())));
        Rows {
            rt,
            ask,
            page: VecDeque::new(),
            next,
        }
    }

    fn next(&mut self) -> Result<Option<Known>, JournalError> {
        if self.page.is_empty() {
            let Some(reading) = self.next.take() else {
                return Ok(None);
            };
            self.page = self
                .rt
                .block_on(reading)
                .map_err(|e| JournalError::Interrupted(e.to_string()))??;
            // A full page: there may be more after it.
            if self.page.len() as i64 == PAGE {
                if let Some(last) = self.page.back() {
                    self.next = Some(self.rt.spawn(read_page(self.ask.clone(), last.path.clone())));
                }
            }
        }
        Ok(self.page.pop_front())
    }
}

impl Drop for Rows<'_> {
    fn drop(&mut self) {
        if let Some(reading) = self.next.take() {
            reading.abort();
        }
    }
}

/// Up to [`PAGE`] rows after path `after`.
async fn read_page(ask: PageAsk, after: String) -> Result<VecDeque<Known>, JournalError> {
    type Row = (String, i64, i64, i64, i64, i64, i64, bool, Option<Vec<u8>>, bool);
    let rows: Vec<Row> = match &ask.under {
        None => {
            sqlx::query_as(&page_all())
                .bind(&ask.category)
                .bind(ask.with_hash)
                .bind(&after)
                .bind(PAGE)
                .fetch_all(&ask.pool)
                .await?
        }
        Some(u) => {
            // One range of the key holds `u` and everything under it (see `UNDER`).
            sqlx::query_as(&page_under())
                .bind(&ask.category)
                .bind(ask.with_hash)
                .bind(u)
                .bind(&after)
                .bind(PAGE)
                .fetch_all(&ask.pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(
            |(path, seq, size, mtime_ns, mode, uid, gid, deleted, hash, folder)| Known {
                path,
                seq,
                meta: FileMeta::from_row(size, mtime_ns, mode, uid, gid),
                deleted,
                hash: hash_of(hash),
                folder,
            },
        )
        .collect())
}

const COLUMNS: &str = "SELECT path, seq, size, mtime_ns, mode, uid, gid, deleted, \
     CASE WHEN ?2 THEN hash END, folder FROM files WHERE category = ?1";

/// A page of the whole category after path `?3`.
fn page_all() -> String {
    format!("{COLUMNS} AND path > ?3 ORDER BY path LIMIT ?4")
}

/// A page of the rows at or under `?3` after path `?4`.
fn page_under() -> String {
    format!("{COLUMNS} {UNDER} AND path > ?4 ORDER BY path LIMIT ?5")
}

/// The scan's changes, recorded a batch per transaction, each with the next sequence number. An
/// unchanged tree writes nothing at all.
struct Writes<'a> {
    rt: &'a Handle,
    journal: &'a Journal,
    category: &'a str,
    now_unix: i64,
    batch: Vec<Write>,
}

impl<'a> Writes<'a> {
    fn new(rt: &'a Handle, journal: &'a Journal, category: &'a str, now_unix: i64) -> Writes<'a> {
        Writes {
            rt,
            journal,
            category,
            now_unix,
            batch: Vec::new(),
        }
    }

    fn push(&mut self, w: Write) -> Result<(), JournalError> {
        self.batch.push(w);
        if self.batch.len() >= BATCH {
            self.finish()?;
        }
        Ok(())
    }

    /// Records what is waiting.
    fn finish(&mut self) -> Result<(), JournalError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.rt.block_on(async {
            let mut tx = self.journal.pool().begin_with("BEGIN IMMEDIATE").await?;
            let mut next: i64 = sqlx::query_scalar(HEAD).fetch_one(&mut *tx).await?;
            for w in &batch {
                next += 1;
                upsert(&mut tx, self.category, w, next, self.now_unix).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Names that sort differently as paths than as a folder's listing would: a folder and files
    /// named like it with a byte before '/' ('.', '-', ' ') or after it ('0'), accents, capitals.
    const AWKWARD: &[&str] = &[
        "m/x.wav",
        "m/sub/deep/y.wav",
        "m.wav",
        "m-1.wav",
        "m 2/z.wav",
        "m0.wav",
        "m/.hidden",
        "é/ü.wav",
        "Z.wav",
        "m/sub.wav",
        "m/sub/z",
    ];

    #[test]
    fn the_walk_comes_out_in_the_journals_order() {
        let dir = tempfile::tempdir().unwrap();
        for (i, rel) in AWKWARD.iter().enumerate() {
            write(dir.path(), rel, &[i as u8]);
        }
        std::fs::create_dir_all(dir.path().join(".lbs-sync/trash")).unwrap();
        let select = Selector::all();
        let walked: Vec<String> = Walk::start(dir.path(), &select, None)
            .unwrap()
            .map(|f| f.path)
            .collect();
        let mut sorted = walked.clone();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        sorted.dedup();
        assert_eq!(walked, sorted, "in byte order, each once");
        assert!(walked.contains(&"m".to_owned()) && walked.contains(&"m/sub/deep".to_owned()));
        assert_eq!(
            walked.len(),
            AWKWARD.len() + 5,
            "every file and folder: m, m/sub, m/sub/deep, m 2, é"
        );
        assert!(!walked.iter().any(|p| p.starts_with(".lbs-sync")));

        let under = RelPath::parse("m").unwrap();
        let walked: Vec<String> = Walk::start(dir.path(), &select, Some(&under))
            .unwrap()
            .map(|f| f.path)
            .collect();
        assert_eq!(walked.first().map(String::as_str), Some("m"));
        assert!(walked.iter().all(|p| p == "m" || p.starts_with("m/")), "{walked:?}");
    }

    #[tokio::test]
    async fn a_tree_larger_than_a_page_and_a_batch_is_merged_whole_and_a_rescan_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("voicemail");
        // Enough files for several pages of rows and batches of writes, in awkward places.
        let n = 3 * BATCH;
        for i in 0..n {
            let rel = match i % 4 {
                0 => format!("default/{}/INBOX/msg{i:05}.wav", 1000 + i % 7),
                1 => format!("default/{}.wav", 1000 + i),
                2 => format!("default/{} old/msg{i:05}.wav", 1000 + i % 3),
                _ => format!("default0/msg{i:05}.wav"),
            };
            write(&root, &rel, &(i as u64).to_le_bytes());
        }
        let j = Journal::open(&dir.path().join("journal.db")).await.unwrap();
        let all = Selector::all();
        let r = j.scan("voicemail", &root, &all, false, 1).await.unwrap();
        assert_eq!((r.files, r.added, r.modified, r.deleted), (n as u64, n as u64, 0, 0));
        let head = j.changes_after(0, u32::MAX, true).await.unwrap();
        let seqs: std::collections::HashSet<i64> = head.iter().map(|c| c.seq).collect();
        assert_eq!(seqs.len(), head.len(), "each change its own sequence number");
        let last = head.iter().map(|c| c.seq).max().unwrap();

        for verify in [false, true] {
            let r = j.scan("voicemail", &root, &all, verify, 2).await.unwrap();
            assert_eq!((r.added, r.modified, r.deleted), (0, 0, 0), "verify {verify}");
        }
        assert!(j.changes_after(last, 100, true).await.unwrap().is_empty());

        // A folder deleted with its files, and one file in every hundred elsewhere.
        std::fs::remove_dir_all(root.join("default/1002 old")).unwrap();
        let mut removed = 0;
        for i in (0..n).filter(|i| i % 4 == 1 && i % 100 == 1) {
            std::fs::remove_file(root.join(format!("default/{}.wav", 1000 + i))).unwrap();
            removed += 1;
        }
        let in_folder = (0..n).filter(|i| i % 4 == 2 && i % 3 == 2).count();
        let r = j.scan("voicemail", &root, &all, false, 3).await.unwrap();
        assert_eq!((r.added, r.modified, r.deleted), (0, 0, (removed + in_folder) as u64));
        let changes = j.changes_after(last, u32::MAX, true).await.unwrap();
        let folder_at = changes.iter().position(|c| c.path.as_str() == "default/1002 old");
        assert_eq!(
            folder_at,
            Some(changes.len() - 1),
            "the folder's deletion comes after its files'"
        );
        assert!(changes.iter().all(|c| c.deleted));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_file_recorded_by_another_scan_after_this_one_started_is_not_taken_for_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("monitor");
        write(&root, "a.wav", b"one");
        write(&root, "b.wav", b"two");
        let j = Journal::open(&dir.path().join("journal.db")).await.unwrap();
        let all = Selector::all();
        j.scan("recordings", &root, &all, false, 1).await.unwrap();
        let started_at = j.head().await.unwrap();
        // Meanwhile another scan records a recording that has just ended, in a folder this scan
        // listed before it came (here: not on disk for this scan at all) ...
        write(&root, "c.wav", b"three");
        j.refresh(
            "recordings",
            &root,
            &all,
            Some(&RelPath::parse("c.wav").unwrap()),
            false,
            2,
        )
        .await
        .unwrap();
        std::fs::remove_file(root.join("c.wav")).unwrap();
        // ... and a file this scan knew of is really gone.
        std::fs::remove_file(root.join("a.wav")).unwrap();
        let counted = AtomicU64::new(0);
        let (j2, root2) = (j.clone(), root.clone());
        let rt = Handle::current();
        let report = tokio::task::spawn_blocking(move || {
            let ask = Ask {
                category: "recordings",
                root: &root2,
                select: &all,
                under: None,
                verify: false,
                now_unix: 3,
                counted: &counted,
            };
            merge(&rt, &j2, &ask, started_at)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(report.deleted, 1, "a.wav only");
        let changes = j.changes_after(started_at, 100, false).await.unwrap();
        let c = changes.iter().rfind(|c| c.path.as_str() == "c.wav").unwrap();
        assert!(!c.deleted, "c.wav is the other scan's to judge: {changes:?}");
        assert!(changes.iter().any(|c| c.path.as_str() == "a.wav" && c.deleted));
    }

    #[tokio::test]
    async fn a_page_of_rows_is_read_through_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("journal.db")).await.unwrap();
        for (sql, args) in [(page_all(), 4), (page_under(), 5)] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain)
                .bind("voicemail")
                .bind(false);
            for _ in 2..args {
                q = q.bind("default/1001");
            }
            let plan: String = q.fetch_all(j.pool()).await.unwrap().into_iter().map(|r| r.3).collect();
            assert!(plan.contains("PRIMARY KEY (category=? AND path>?"), "{plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "read in the key's order, not sorted: {plan}"
            );
        }
    }
}
