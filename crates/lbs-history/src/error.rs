//! `HistoryError`: everything that can go wrong opening, writing or querying the history store.

use std::path::PathBuf;

/// Error of every [`HistoryStore`](crate::HistoryStore) operation.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database file could not be opened or created.
    #[error("cannot open the history database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    /// The embedded schema migrations failed (e.g. the file was written by a newer version).
    #[error("cannot migrate the history database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("history database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A sample or query named a series that was never registered.
    #[error("unknown series `{0}`")]
    UnknownSeries(String),
    /// A query's parameters are out of range; the message is meant for the user.
    #[error("invalid history query: {0}")]
    InvalidQuery(String),
    /// A stored row holds a value this version cannot read (e.g. an unknown series kind).
    #[error("unreadable history data: {0}")]
    Corrupt(String),
}
