//! Maintenance mode on the wire: what a person asks for (`POST /api/v1/maintenance`), what the
//! agent answers, and the record the two boxes exchange so that they agree on it (in every
//! heartbeat and in `POST /peer/v1/maintenance`). The setting itself is [`Maintenance`].

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Maintenance;

/// The shortest maintenance the agents accept, in seconds: shorter would end before the work
/// has begun.
pub const MAINTENANCE_MIN_SECS: u64 = 60;
/// The longest, in seconds: a maintenance forgotten overnight still ends by the next morning's
/// calls.
pub const MAINTENANCE_MAX_SECS: u64 = 24 * 3600;

/// `POST /api/v1/maintenance` (admin): maintenance for the pair, from now for `for_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceRequest {
    /// How long, in seconds: from 60 (1 minute) to 86,400 (24 hours).
    #[ts(type = "number")]
    pub for_secs: u64,
    /// Why, in the technician's words; required.
    pub reason: String,
    /// Who does the work, as they give it (the command line sends the login name); without it,
    /// the access token's label. The audit log always names the token as well.
    #[serde(default)]
    pub by: Option<String>,
}

/// `DELETE /api/v1/maintenance` (admin): ends it for the pair now. The body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceEndRequest {
    /// Who ends it, as they give it; without it, the access token's label.
    #[serde(default)]
    pub by: Option<String>,
}

/// Whether the partner box heard of a change made on this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum PartnerNotice {
    /// This box has no partner: the setting holds for this box alone.
    Unpaired,
    /// Nothing changed, so the partner was not asked.
    NotAsked,
    /// The partner has the same setting now.
    Told { name: String },
    /// The partner could not be told; it learns the setting from the next heartbeat it answers.
    NotTold { name: String, message: String },
}

/// The answer of `GET`, `POST` and `DELETE /api/v1/maintenance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MaintenanceAnswer {
    /// The maintenance on now, if any.
    pub maintenance: Option<Maintenance>,
    /// The request changed something (ending a maintenance that was not on changes nothing).
    pub changed: bool,
    pub partner: PartnerNotice,
}

// ---- Between the agents (not exported to TypeScript) ----------------------------------------

/// How a maintenance setting ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceEnd {
    /// When (Unix seconds): when a person ended it, or `until_unix` when its time ran out.
    pub at_unix: i64,
    /// Who ended it; `None` when its time ran out.
    pub by: Option<String>,
}

/// The latest maintenance setting a box knows of, and whether it has ended. The boxes exchange
/// this rather than "on" or "off" so that an end travels like a start: of two records, the one
/// whose last change (its start, or its end) is later wins, and an end wins over the start of
/// the same setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRecord {
    pub setting: Maintenance,
    /// `None` while it runs (until `setting.until_unix`).
    pub ended: Option<MaintenanceEnd>,
}
