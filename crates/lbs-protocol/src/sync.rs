//! Sync and pairing types.
//!
//! Two audiences: the console reads [`SyncStatus`] (`GET /api/v1/sync`) and asks a box to pair
//! with [`PairWith`] (`POST /api/v1/pair`); the agents talk to each other under `/peer/v1` over
//! mutual TLS with [`PairRequest`], [`PullRequest`] and the content route. The agent-to-agent
//! types are not exported to TypeScript: no screen reads them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Role;

/// Path prefix of the agent-to-agent routes (mutual TLS, the paired peer's certificate only).
pub const PEER_PREFIX: &str = "/peer/v1";

/// `POST /api/v1/pair` (admin): make this box the backup of the primary the link points to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairWith {
    /// The primary's connection link (`lbs://…`, with an admin token).
    pub link: String,
}

/// `POST /peer/v1/pair`: sent by the joining box, with the primary's admin token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    pub server_id: String,
    pub name: String,
    /// `host:port` where the joining box's API answers.
    pub address: String,
    pub epoch: u64,
    /// The joining box's agent version and API range.
    #[serde(flatten)]
    pub versions: crate::AgentVersions,
    /// What the joining box is made of and its sync categories: the primary refuses categories
    /// that differ and records the hardware differences; absent from agents before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Box<crate::MachineInventory>>,
}

/// The primary's answer to a pairing: who it is, and the epoch both boxes now hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    pub server_id: String,
    pub name: String,
    pub role: Role,
    pub epoch: u64,
    /// Who became primary at that epoch (epochs compare as (number, owner)).
    #[serde(default)]
    pub epoch_owner: String,
    /// The primary's agent version and API range.
    #[serde(flatten)]
    pub versions: crate::AgentVersions,
    /// What the primary is made of, so the joining box knows the differences at once; absent
    /// from agents before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Box<crate::MachineInventory>>,
}

/// What a box has of one source (a category root), by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTally {
    pub source: String,
    pub files: u64,
    pub bytes: u64,
}

/// `POST /peer/v1/changes`: the backup asks for the changes after its cursor, waiting up to
/// `wait_ms` for one to happen, and tells what it has applied and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The journal the cursor belongs to (`None` on the first pull).
    pub journal_id: Option<String>,
    pub after: i64,
    pub limit: u32,
    pub wait_ms: u64,
    /// Every change up to this sequence is applied on the backup.
    pub acked: i64,
    pub held: Vec<SourceTally>,
    /// The backup mirrors folders: it may be sent folder changes. An older backup does not say
    /// so and is never sent one (it would take a change without a checksum for an error).
    #[serde(default)]
    pub folders: bool,
}

/// One journal entry on the wire. `source` is `<category>:<n>` (its n-th root); `path` is relative to the
/// root and is checked again on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireChange {
    pub seq: i64,
    pub source: String,
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// BLAKE3, hex; absent for a deletion or a folder.
    pub hash: Option<String>,
    pub deleted: bool,
    pub changed_unix: i64,
    /// A folder (only sent to a backup that asked with `folders`): made on the backup, or
    /// removed there once empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folder: bool,
}

/// The primary's answer: its role and epoch (the backup refuses data from anyone else than a
/// primary at an epoch at least its own), the journal's identity, and a page of changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub server_id: String,
    pub role: Role,
    pub epoch: u64,
    pub journal_id: String,
    /// The journal's highest sequence: the backup is caught up when its cursor reaches it.
    pub head: i64,
    pub changes: Vec<WireChange>,
    pub totals: Vec<SourceTally>,
    /// Categories whose first full scan is still running on the primary, with the files counted
    /// so far: none of them is in sync on the backup until it is done and its changes applied.
    #[serde(default)]
    pub counting: Vec<CategoryCounting>,
    /// The highest sequence of a deleted file's row the journal no longer holds (0: none): a
    /// backup that fetched less copies the journal again from the start and deletes what it
    /// holds that the primary no longer lists.
    #[serde(default)]
    pub pruned_through: i64,
}

/// A category the primary is still counting (its first full scan since it took the role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCounting {
    pub category: String,
    pub files_counted: u64,
}

/// Response header of `GET /peer/v1/content`: `zstd` when the body is compressed.
pub const CONTENT_ENCODING_HEADER: &str = "x-lbs-encoding";

/// Query of `GET /peer/v1/content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentQuery {
    pub source: String,
    pub path: String,
    /// The version wanted (hex BLAKE3); a different current version is answered 409.
    pub hash: String,
    /// Resume from this byte of the file.
    #[serde(default)]
    pub offset: u64,
}

/// Body of `POST /peer/v1/bundle`: many small files in one exchange, so a mail spool of
/// thousands of messages does not cost a round trip each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRequest {
    pub items: Vec<BundleItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleItem {
    pub source: String,
    pub path: String,
    /// The version wanted (hex BLAKE3).
    pub hash: String,
}

/// Most items in one bundle, and the largest file a bundle carries (bigger ones go alone,
/// resumable, through `/content`).
pub const BUNDLE_MAX_ITEMS: usize = 256;
pub const BUNDLE_MAX_FILE: u64 = 1 << 20;

/// The answer is one frame per item, in order: a status byte, the content's length as 8 bytes
/// big-endian, then the content (length 0 unless the status is `BUNDLE_OK`). The whole body may
/// be zstd-compressed (`x-lbs-encoding: zstd`).
pub const BUNDLE_OK: u8 = 0;
/// The file has changed or is gone: its newer change will follow.
pub const BUNDLE_SUPERSEDED: u8 = 1;
/// The path was refused (outside its root, a link, not a regular file, too big).
pub const BUNDLE_REFUSED: u8 = 2;

// ---- What the console reads ----------------------------------------------------------------

/// `GET /api/v1/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncStatus {
    pub role: Role,
    #[ts(type = "number")]
    pub epoch: u64,
    pub peer: SyncPeer,
    /// Highest priority first.
    pub categories: Vec<CategorySync>,
    /// The last hour, a point a minute, for a graph.
    pub history: Vec<SyncHistoryPoint>,
    /// The link to the partner: round trips, losses, clocks and whether it carries the
    /// office's busiest hour; absent from older agents and while unpaired.
    #[serde(default)]
    pub link: Option<LinkReport>,
}

/// The link between the two boxes as one of them sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LinkReport {
    /// The heartbeats' average round trip over the last minute, in milliseconds.
    pub round_trip_ms: Option<f64>,
    /// Heartbeats left unanswered over the last minute, in percent.
    pub loss_percent: Option<f64>,
    /// The partner's clock minus this box's, in milliseconds.
    #[ts(type = "number | null")]
    pub clock_offset_ms: Option<i64>,
    /// What the sync carried while it had work to do (bytes/s, the last 7 days), capped by the
    /// bandwidth limit; `None` until the link has had to work.
    pub capacity_bps: Option<f64>,
    /// The backup: the busiest hour of the office's changes in the last 7 days.
    pub busiest_hour_bytes: Option<f64>,
    #[ts(type = "number | null")]
    pub busiest_hour_unix: Option<i64>,
    /// How far the backup falls behind in such an hour, when the link cannot carry it.
    pub behind_per_busy_hour_bytes: Option<f64>,
    /// In plain words, when the link cannot (or barely can) carry the busiest hour.
    pub warning: Option<String>,
}

/// The sync link to the partner as this box sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncPeer {
    pub state: SyncLinkState,
    pub server_id: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    #[ts(type = "number | null")]
    pub last_contact_unix: Option<i64>,
    /// What is wrong, in plain words, when `state` is not `ok`.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SyncLinkState {
    /// No partner yet.
    Unpaired,
    /// Talking to the partner.
    Ok,
    /// The partner does not answer.
    Unreachable,
    /// The partner answers but the exchange is refused (wrong certificate, stale epoch, …).
    Refused,
    /// Paired, but no exchange has happened yet since the agent started.
    Connecting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategorySync {
    /// Key from the config, e.g. `voicemail`.
    pub name: String,
    /// e.g. "Voicemail".
    pub label: String,
    /// 1 is synced first.
    pub priority: u32,
    /// Files and bytes on this box.
    #[ts(type = "number")]
    pub local_files: u64,
    #[ts(type = "number")]
    pub local_bytes: u64,
    /// Files and bytes on the partner, as last reported.
    #[ts(type = "number | null")]
    pub peer_files: Option<u64>,
    #[ts(type = "number | null")]
    pub peer_bytes: Option<u64>,
    /// Changes not yet on the backup.
    #[ts(type = "number")]
    pub pending_files: u64,
    #[ts(type = "number")]
    pub pending_bytes: u64,
    /// Age of the oldest change not yet on the backup; `null` when nothing is pending.
    #[ts(type = "number | null")]
    pub lag_secs: Option<u64>,
    /// Last time this category was fully in sync or a change of it was applied.
    #[ts(type = "number | null")]
    pub last_success_unix: Option<i64>,
    pub last_error: Option<SyncProblem>,
    /// Bytes per second received (backup) or sent (primary), averaged over the last seconds.
    pub throughput_bps: f64,
    /// Entries that are not copied (links, special files, names that cannot travel), with why.
    pub skipped: Vec<SkippedFile>,
    /// While the primary's first full scan of this category runs: how far it got. The category
    /// is not in sync, whatever else says, until this is gone and nothing is pending.
    #[serde(default)]
    pub counting: Option<ScanProgress>,
    /// On the primary, for a database category with `watch`: which of its files are not watched
    /// for writes now (they do not exist yet, or cannot be watched), in words. Its changes then
    /// reach the backup at the next interval dump only. Absent from agents before it.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub watch_problem: Option<String>,
}

/// The primary's first full scan of a category, while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScanProgress {
    /// Files the primary has looked at so far.
    #[ts(type = "number")]
    pub files_counted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncProblem {
    pub message: String,
    #[ts(type = "number")]
    pub at_unix: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncHistoryPoint {
    #[ts(type = "number")]
    pub t: i64,
    pub pending_bytes: f64,
    pub lag_secs: f64,
    pub throughput_bps: f64,
}

/// `POST /api/v1/partner/link` (any token): a connection link to this box's partner, so the
/// console adds a whole office from one link. The partner issues the token (same role as the
/// caller's) over the paired mutual-TLS link; the certificate in the link is the one this box
/// pinned at pairing, so the console needs no confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerLink {
    /// `lbs://host:port/?fp=…&token=…&name=…`
    pub link: String,
}

/// `POST /peer/v1/link`: the partner asks this box for a token for a console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerTokenRequest {
    pub role: crate::TokenRole,
    pub label: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_counting_stay_readable_between_old_and_new_agents() {
        // An older backup's pull: it does not take folders.
        let old_pull = r#"{"journal_id":null,"after":0,"limit":10,"wait_ms":0,"acked":0,"held":[]}"#;
        assert!(!serde_json::from_str::<PullRequest>(old_pull).unwrap().folders);
        // An older primary's answer: no counting, changes without a folder flag.
        let old_page = r#"{"server_id":"a","role":"primary","epoch":1,"journal_id":"j","head":1,"totals":[],
            "changes":[{"seq":1,"source":"voicemail:0","path":"x","size":1,"mtime_ns":0,"mode":420,"uid":0,
            "gid":0,"hash":null,"deleted":true,"changed_unix":1}]}"#;
        let page: PullResponse = serde_json::from_str(old_page).unwrap();
        assert!(page.counting.is_empty());
        assert!(!page.changes[0].folder);
        // A file's change is written exactly as before (an older backup reads it unchanged).
        let text = serde_json::to_string(&page.changes[0]).unwrap();
        assert!(!text.contains("folder"), "{text}");
        // An older agent's status has no counting: nothing is being counted.
        let category = r#"{"name":"voicemail","label":"Voicemail","priority":2,"local_files":1,"local_bytes":1,
            "peer_files":null,"peer_bytes":null,"pending_files":0,"pending_bytes":0,"lag_secs":null,
            "last_success_unix":null,"last_error":null,"throughput_bps":0.0,"skipped":[]}"#;
        assert_eq!(serde_json::from_str::<CategorySync>(category).unwrap().counting, None);
    }
}
