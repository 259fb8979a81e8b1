//! The trash: files deleted on the primary whose copies a box keeps for `trash_retention`
//! (Invariant 4). The console lists them with [`TrashList`] (`GET /api/v1/trash`; `?path=…` for
//! the copies of one file only) and puts one back with [`TrashRestoreRequest`]
//! (`POST /api/v1/trash/restore`, admin), which restores it on the primary — through the partner
//! when the box holding the trash is the backup — so the sync brings it back to the backup like
//! any new file.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One file kept in a box's trash. `(source, deleted_unix, stored)` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TrashEntry {
    pub category: String,
    /// The root key (`<category>:<n>`) the file belongs to.
    pub source: String,
    /// Where it lived, relative to the category root (where it goes back to).
    pub path: String,
    /// Its name in the trash folder: `path`, or `path.1`, … when the same path was deleted more
    /// than once within one second.
    pub stored: String,
    #[ts(type = "number")]
    pub size: u64,
    /// When this box moved it to its trash: on a backup, as the primary's delete arrived.
    #[ts(type = "number")]
    pub deleted_unix: i64,
    /// When the trash is emptied of it (within the hour after).
    #[ts(type = "number")]
    pub expires_unix: i64,
}

/// `GET /api/v1/trash` (any token): newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TrashList {
    /// At most [`TRASH_LIST_MAX`], the newest.
    pub entries: Vec<TrashEntry>,
    /// Every file in the trash, listed or not.
    #[ts(type = "number")]
    pub total_files: u64,
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// How long a deleted file is kept (`sync.trash_retention`).
    #[ts(type = "number")]
    pub retention_secs: u64,
    /// Category roots whose trash could not be read, with the reason.
    pub unreadable: Vec<String>,
}

/// Most entries in one [`TrashList`].
pub const TRASH_LIST_MAX: usize = 2000;

/// `POST /api/v1/trash/restore` (admin): put a deleted file back where it lived, on the primary.
/// The copy stays in the trash until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TrashRestoreRequest {
    pub source: String,
    #[ts(type = "number")]
    pub deleted_unix: i64,
    pub stored: String,
    /// Replace a different file now at that path on the primary (it goes to the primary's trash).
    #[serde(default)]
    pub replace: bool,
}

/// The answer to a restore: the path put back and what happened, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TrashRestored {
    pub path: String,
    pub message: String,
}
