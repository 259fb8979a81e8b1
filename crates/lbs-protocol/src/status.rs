//! Identity, role and access types: `/status`, `/tokens`, error bodies.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The role a box holds in its pair. Belongs to the role, not to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Role {
    /// Runs the PBX and serves its data to the backup.
    Primary,
    /// Keeps a live copy; its PBX stays stopped.
    Backup,
}

/// How settled a box is in its role. The role alone can mislead for a moment: a box that starts
/// as the primary from its record may have lost the role while it was down, and an old primary
/// that hears of a newer one is a backup from the moment it hears, though its PBX takes a moment
/// to stop. A console must not count either as a running primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RoleStanding {
    /// The role is what it says.
    #[default]
    Settled,
    /// Started as the primary from its record and has not yet asked its partner whether it
    /// still is (its PBX is not started until it has).
    Unconfirmed,
    /// Learned that its partner is the primary at a newer epoch: recorded as the backup, and
    /// stopping its PBX and letting the address go.
    SteppingDown,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        })
    }
}

/// Maintenance mode: a technician's "I am working on it", set on either box for the pair. Until
/// `until_unix` the boxes hold the alerts the work will cause (a partner rebooting, a PBX
/// stopped) and take no automatic action; sync keeps running. It always ends by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Maintenance {
    /// When it ends by itself (Unix seconds).
    #[ts(type = "number")]
    pub until_unix: i64,
    /// Why, in the technician's words ("replacing the disk of PBX A").
    pub reason: String,
    /// Who set it: the access token's label, or the command line on a box.
    pub set_by: String,
    /// When it was set (Unix seconds); of two settings the later one wins.
    #[ts(type = "number")]
    pub set_at_unix: i64,
}

/// What `GET /api/v1/status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ServerStatus {
    pub server_id: String,
    pub name: String,
    pub role: Role,
    /// Whether the role is settled (see `RoleStanding`); absent from older agents.
    #[serde(default)]
    pub standing: RoleStanding,
    /// Grows with every role change; persisted before the change takes effect.
    #[ts(type = "number")]
    pub epoch: u64,
    /// Agent version (semver).
    pub version: String,
    pub api_version: u32,
    /// The oldest API version the agent still works with (see `ApiRange`).
    #[serde(default = "crate::version::first")]
    pub api_min_version: u32,
    /// Seconds since the agent process started.
    #[ts(type = "number")]
    pub uptime_secs: u64,
    /// Seconds since the machine booted.
    #[ts(type = "number")]
    pub host_uptime_secs: u64,
    pub hostname: String,
    /// SHA-256 of the agent's TLS certificate (DER), lowercase hex.
    pub fingerprint: String,
    /// Role of the token used for this request.
    pub access: TokenRole,
    pub peer: PeerSummary,
    /// Seconds between resource samples.
    #[ts(type = "number")]
    pub sample_interval_secs: u64,
    /// The pair's maintenance, while it is on; absent from older agents.
    #[serde(default)]
    pub maintenance: Option<Maintenance>,
}

/// What this box knows of its partner. Pairing arrives with the sync issue; until then every
/// agent reports `unpaired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "lowercase")]
#[ts(export)]
pub enum PeerSummary {
    Unpaired,
    Paired {
        server_id: String,
        address: String,
        reachable: bool,
        /// A heartbeat has been tried since pairing or start (see `PartnerStatus::checked`).
        #[serde(default = "crate::tried")]
        checked: bool,
        #[ts(type = "number | null")]
        last_contact_unix: Option<i64>,
    },
}

/// Answer of the unauthenticated `GET /healthz`: says only that the process is alive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Health {
    pub ok: bool,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum TokenRole {
    /// Everything, including changes.
    Admin,
    /// Reads everything, changes nothing.
    Viewer,
}

impl ServerStatus {
    /// The API versions the agent works with.
    pub fn api_range(&self) -> crate::ApiRange {
        crate::ApiRange {
            version: self.api_version,
            min: self.api_min_version,
        }
    }
}

impl std::fmt::Display for TokenRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenRole::Admin => "admin",
            TokenRole::Viewer => "viewer",
        })
    }
}

impl std::str::FromStr for TokenRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(TokenRole::Admin),
            "viewer" => Ok(TokenRole::Viewer),
            other => Err(format!("unknown token role `{other}`: use `admin` or `viewer`")),
        }
    }
}

/// A stored token as listed by `GET /api/v1/tokens`. The secret itself is never listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TokenInfo {
    /// Short public identifier, used to revoke.
    pub id: String,
    pub role: TokenRole,
    pub label: String,
    #[ts(type = "number")]
    pub created_unix: i64,
    #[ts(type = "number | null")]
    pub last_used_unix: Option<i64>,
}

/// Answer of `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TokenCreated {
    pub info: TokenInfo,
    pub token: String,
}

/// JSON body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `unauthorized`, `forbidden`, `bad_request`;
    /// `different_file` (412) when a file to put back would replace a different one.
    pub code: String,
    /// Plain-language explanation for a person.
    pub message: String,
}
