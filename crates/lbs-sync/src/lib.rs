//! lbs-sync: the building blocks of continuous sync (issue 4), as a library with no HTTP inside.
//!
//! - [`paths`]: every path that arrives from the network is checked here before it touches a disk
//!   (Invariant 5: nothing leaves its root).
//! - [`journal`]: the primary's change journal in SQLite — every file of every category with
//!   size, mtime, mode, BLAKE3 and a sequence number.
//! - `scan`: a root compared with the journal, both read in the same order and merged, so a scan
//!   holds a page of rows and a batch of writes, never the whole category.
//! - [`select`]: include and exclude globs deciding which files of a root are data.
//! - [`queue`]: the backup's durable to-do list — changes fetched but not yet applied, in
//!   priority order — and its record of what it holds.
//! - [`watch`]: inotify on the category roots, events gathered and reduced to places to refresh.
//! - [`write_watch`]: inotify on a database's own files, so its dump runs when it was written
//!   (reads, the dump's own among them, never count).
//! - [`quarantine`]: the record of files set aside by a reintegration (Invariant 3).
//! - [`install`]: the backup's side — resumable partial files, verified, fsynced and renamed into
//!   place; deletes into a dated trash.
//! - [`serve`]: the primary's side — what the backup asks for, checked (path inside its root,
//!   the journaled version, unchanged on disk) before it is read.
//! - [`batch`]: the backup's batch install — deletions, folders and held content first, then
//!   fetched files staged, flushed once, renamed, flushed again.
//! - [`trash`]: reading that trash back — what is kept, and where a kept file lived.
//!
//! Architecture Invariant: no sockets and no axum here; the agent serves and pulls, this crate
//! decides what is safe and what changed.

pub mod batch;
pub mod db;
pub mod install;
pub mod journal;
pub mod paths;
pub mod quarantine;
pub mod queue;
mod scan;
pub mod select;
pub mod serve;
pub mod trash;
pub mod watch;
pub mod write_watch;
