//! The console's own SQLite database: the list of servers (never their tokens).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use crate::error::Error;
use crate::view::ServerEntry;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

type Row = (String, String, String, String, String, i64);

fn entry((id, name, address, fingerprint, server_id, added_unix): Row) -> ServerEntry {
    ServerEntry {
        id,
        name,
        address,
        fingerprint,
        server_id,
        added_unix,
    }
}

impl Store {
    pub async fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    pub async fn list(&self) -> Result<Vec<ServerEntry>, Error> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, address, fingerprint, server_id, added_unix FROM servers ORDER BY name COLLATE NOCASE, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(entry).collect())
    }

    pub async fn get(&self, id: &str) -> Result<ServerEntry, Error> {
        let row: Option<Row> =
            sqlx::query_as("SELECT id, name, address, fingerprint, server_id, added_unix FROM servers WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(entry).ok_or(Error::NotFound)
    }

    pub async fn find_by_server_id(&self, server_id: &str) -> Result<Option<ServerEntry>, Error> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, name, address, fingerprint, server_id, added_unix FROM servers WHERE server_id = ?",
        )
        .bind(server_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(entry))
    }

    pub async fn insert(&self, e: &ServerEntry) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO servers (id, name, address, fingerprint, server_id, added_unix) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.id)
        .bind(&e.name)
        .bind(&e.address)
        .bind(&e.fingerprint)
        .bind(&e.server_id)
        .bind(e.added_unix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps the shown name in step with what the agent reports.
    pub async fn rename(&self, id: &str, name: &str) -> Result<(), Error> {
        sqlx::query("UPDATE servers SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let done = sqlx::query("DELETE FROM servers WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
