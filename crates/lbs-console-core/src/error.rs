//! The console's error type. Each variant renders as a sentence an office manager can act on;
//! `to_view` hands it to the front end as `{kind, message}`.

use thiserror::Error;

use crate::view::{ConsoleError, ErrorKind};

#[derive(Debug, Error)]
pub enum Error {
    #[error("{name} did not answer at {address}. Check that the server is switched on and connected to the network, and that the address is right.")]
    Unreachable { name: String, address: String },
    #[error("{name} refused the access token. It may have been revoked or mistyped: create a new one on the server with `lbs-agent token create` and enter it with \"New access token…\" on the server's card.")]
    Unauthorized { name: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("The server at {address} presented a different certificate from the one this console trusts, so the console refused to connect. If the server was reinstalled, remove it and add it again with its new connection link; otherwise someone may be intercepting the connection: contact your IT contractor.")]
    CertificateMismatch { address: String, presented: Option<String> },
    #[error("{0}")]
    InvalidInput(String),
    #[error("{name} is already in your list of servers.")]
    AlreadyAdded { name: String },
    #[error("That server is no longer in your list.")]
    NotFound,
    #[error("The system keyring could not {action} the access token: {detail}. On Linux, make sure a keyring service (GNOME Keyring or KWallet) is running and unlocked.")]
    Keyring { action: &'static str, detail: String },
    #[error(
        "The console could not read or write its own database ({0}). Check free disk space and restart the console."
    )]
    Storage(String),
    #[error("{name} answered with an error: {message}")]
    Agent { name: String, message: String },
    #[error("{0}")]
    Incompatible(String),
    /// A request the server understood and turned down, with its reason (a failover guard, a
    /// partner that does not answer, a request that is not valid).
    #[error("{name} refused: {message}")]
    Refused { name: String, message: String },
    /// A file to put back would replace a different one (the agent's 412 `different_file`).
    #[error("{name} refused: {message}")]
    DifferentFile { name: String, message: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unreachable { .. } => ErrorKind::Unreachable,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::CertificateMismatch { .. } => ErrorKind::CertificateMismatch,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::AlreadyAdded { .. } => ErrorKind::AlreadyAdded,
            Error::NotFound => ErrorKind::NotFound,
            Error::Keyring { .. } => ErrorKind::Keyring,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Agent { .. } => ErrorKind::Agent,
            Error::Incompatible(_) => ErrorKind::Incompatible,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::DifferentFile { .. } => ErrorKind::DifferentFile,
        }
    }

    pub fn to_view(&self) -> ConsoleError {
        ConsoleError {
            kind: self.kind(),
            message: self.to_string(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<lbs_protocol::LinkError> for Error {
    fn from(e: lbs_protocol::LinkError) -> Self {
        Error::InvalidInput(capitalise(&e.to_string()))
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
