//! The box's `sync.db`: the journal (primary side) and the queue (backup side) share one SQLite
//! file, since either box can hold either role.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open the sync database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("the sync database's schema could not be applied: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens (creating if needed) and migrates the sync database. `synchronous = FULL`: a cursor or a
/// queue row that was committed survives a power cut.
pub async fn open(path: &Path) -> Result<SqlitePool, DbError> {
    let open_error = |source| DbError::Open {
        path: path.to_owned(),
        source,
    };
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(open_error)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(open_error)?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}
