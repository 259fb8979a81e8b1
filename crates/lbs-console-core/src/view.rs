//! The shapes the console hands to its front end. Exported to TypeScript by `ts-rs`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What adding by link did: the server, and its partner when the server brought it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AddedServer {
    pub server: ServerEntry,
    pub partner: Option<ServerEntry>,
    /// Why the partner the server reported could not be added now, in plain words.
    pub partner_problem: Option<String>,
}

/// A server the console knows. The token is not here: it lives in the OS keyring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ServerEntry {
    /// The console's own identifier for this entry.
    pub id: String,
    pub name: String,
    /// `host:port` of the agent.
    pub address: String,
    /// Pinned SHA-256 of the agent's certificate, lowercase hex.
    pub fingerprint: String,
    /// The agent's server ID, learned on first contact.
    pub server_id: String,
    #[ts(type = "number")]
    pub added_unix: i64,
}

/// An office: two servers that back each other up (one while the second is still to be added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairEntry {
    pub id: String,
    /// The office's name, e.g. "Main office".
    pub name: String,
    /// The console's ids of its servers (`ServerEntry::id`), in the order they joined the pair.
    pub servers: Vec<String>,
    #[ts(type = "number")]
    pub created_unix: i64,
}

/// A machine taken out of an office (replaced): its history stays on this computer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FormerMachine {
    pub server_id: String,
    pub name: String,
    #[ts(type = "number")]
    pub removed_unix: i64,
}

/// A machine's series for the History tab, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MachineSeries {
    pub series: Vec<lbs_protocol::SeriesInfo>,
    /// True when they come from this computer's copy: the machine did not answer, or it is no
    /// longer in the office.
    pub from_copy: bool,
    /// The copy's newest period, when `from_copy`.
    #[ts(type = "number | null")]
    pub copy_until_unix: Option<i64>,
    /// Why the machine itself could not be asked, when it is still in the office.
    pub live_error: Option<ConsoleError>,
}

/// What the console saw when it first knocked on an address (trust on first use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProbeResult {
    pub address: String,
    /// SHA-256 of the certificate the address presented, lowercase hex.
    pub fingerprint: String,
}

/// Every failure the front end can be shown. `message` is a plain sentence that says what went
/// wrong and what to do; `kind` lets the UI pick an icon or a next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ConsoleError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorKind {
    /// No answer at the address (down, wrong address, firewall).
    Unreachable,
    /// The agent refused the token (revoked or mistyped).
    Unauthorized,
    /// The token is valid but may not do this (viewer).
    Forbidden,
    /// The agent presented a different certificate from the pinned one.
    CertificateMismatch,
    /// What the user typed or pasted cannot be used.
    InvalidInput,
    /// This server is already in the list.
    AlreadyAdded,
    /// No such server in the console's list.
    NotFound,
    /// The OS keyring refused to store or give back a token.
    Keyring,
    /// The console's own database failed.
    Storage,
    /// The agent answered with an error of its own.
    Agent,
    /// The agent's version and this console's cannot work together; the message says which to
    /// upgrade.
    Incompatible,
    /// The server turned the request down and said why (e.g. a failover guard).
    Refused,
    /// A file to put back would replace a different one; asking again with "replace" does it.
    DifferentFile,
}
