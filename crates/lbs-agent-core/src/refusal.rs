//! The one refusal type: what the domain answers when it will not or cannot do what was asked.
//! A kind (what sort of "no", which the HTTP layer maps to a status and the CLI to its words)
//! and a message in plain words that says what happened and what to do.
//!
//! Architecture Invariant: the domain returns `Refusal` (or its own `thiserror` enum that
//! converts into one) to both edges; no domain function returns `Result<_, String>`.

use std::fmt::Display;

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request itself is wrong (malformed, a bad link, a path outside its root).
    BadRequest,
    /// No valid credentials.
    Unauthorized,
    /// Valid credentials that do not allow this.
    Forbidden,
    NotFound,
    /// Understood, but the box's state does not allow it now (not safe, not the primary, …).
    Conflict,
    /// A file to put back would replace a different one; asking again with `replace` does that.
    DifferentFile,
    /// A box this one had to talk to did not answer, or refused.
    PartnerUnavailable,
    /// Something on this box failed (disk, database): the message is for the log, not the user.
    Internal,
}

#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Conflict, message)
    }

    pub fn different_file(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::DifferentFile, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::PartnerUnavailable, message)
    }

    /// A failure on this box; `e`'s text goes to the log, never to a client.
    pub fn internal(e: impl Display) -> Refusal {
        Refusal::new(RefusalKind::Internal, e.to_string())
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Refusal {
        Refusal::internal(format!("the agent's database: {e}"))
    }
}

impl From<lbs_sync::journal::JournalError> for Refusal {
    fn from(e: lbs_sync::journal::JournalError) -> Refusal {
        Refusal::internal(format!("the sync database: {e}"))
    }
}

impl From<lbs_history::HistoryError> for Refusal {
    fn from(e: lbs_history::HistoryError) -> Refusal {
        match e {
            lbs_history::HistoryError::InvalidQuery(m) => Refusal::bad_request(m),
            lbs_history::HistoryError::UnknownSeries(s) => Refusal::not_found(format!(
                "no series named `{s}` is recorded; GET /api/v1/metrics/series lists them"
            )),
            other => Refusal::internal(other),
        }
    }
}

impl From<lbs_sync::paths::PathError> for Refusal {
    fn from(e: lbs_sync::paths::PathError) -> Refusal {
        match e {
            lbs_sync::paths::PathError::Io { .. } => Refusal::internal(e),
            other => Refusal::bad_request(other.to_string()),
        }
    }
}

impl From<lbs_sync::install::InstallError> for Refusal {
    fn from(e: lbs_sync::install::InstallError) -> Refusal {
        use lbs_sync::install::InstallError as E;
        match e {
            E::Path(p) => p.into(),
            // What was sent does not match what was announced: the sender's mistake.
            E::HashMismatch { .. } | E::TooLong { .. } | E::SyncFolder(_) => Refusal::bad_request(e.to_string()),
            // Something on this box stands in the way; the message says what.
            E::FolderNotEmpty(_) | E::NotAFolder(_) => Refusal::conflict(e.to_string()),
            // Said in full: the person must free space on this box.
            E::DiskFull { .. } => Refusal::conflict(e.to_string()),
            E::Io { .. } => Refusal::internal(e),
        }
    }
}
