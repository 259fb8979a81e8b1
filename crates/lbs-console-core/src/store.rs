//! The console's own SQLite database: the list of servers (never their tokens).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use crate::error::Error;
use crate::view::{FormerMachine, PairEntry, ServerEntry};

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

    /// Takes a server out of its office, remembering it there as a former machine.
    pub async fn retire(&self, e: &ServerEntry, pair: &str, at_unix: i64) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO former_machines (server_id, name, pair_id, removed_unix) VALUES (?, ?, ?, ?)",
        )
        .bind(&e.server_id)
        .bind(&e.name)
        .bind(pair)
        .bind(at_unix)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pair_members WHERE server_id = ?")
            .bind(&e.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM servers WHERE id = ?")
            .bind(&e.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The machines that left each office, by office id, most recent first.
    pub async fn formers(&self) -> Result<HashMap<String, Vec<FormerMachine>>, Error> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT pair_id, server_id, name, removed_unix FROM former_machines ORDER BY removed_unix DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_pair: HashMap<String, Vec<FormerMachine>> = HashMap::new();
        for (pair, server_id, name, removed_unix) in rows {
            by_pair.entry(pair).or_default().push(FormerMachine {
                server_id,
                name,
                removed_unix,
            });
        }
        Ok(by_pair)
    }

    /// Forgets a former machine (it was added again, or its history was deleted).
    pub async fn forget_former(&self, server_id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM former_machines WHERE server_id = ?")
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_address(&self, id: &str, address: &str) -> Result<(), Error> {
        let done = sqlx::query("UPDATE servers SET address = ? WHERE id = ?")
            .bind(address)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// When each server last answered and in which role (`primary`/`backup`), by the console's id.
    pub async fn seen(&self) -> Result<Vec<(String, i64, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, last_seen_unix, last_role FROM servers WHERE last_seen_unix IS NOT NULL AND last_role IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn set_seen(&self, id: &str, at_unix: i64, role: &str) -> Result<(), Error> {
        sqlx::query("UPDATE servers SET last_seen_unix = ?, last_role = ? WHERE id = ?")
            .bind(at_unix)
            .bind(role)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every pair with its servers (by the console's ids), by name.
    pub async fn pairs(&self) -> Result<Vec<PairEntry>, Error> {
        let pairs: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT id, name, created_unix FROM pairs ORDER BY name COLLATE NOCASE, id")
                .fetch_all(&self.pool)
                .await?;
        let members: Vec<(String, String)> = sqlx::query_as(
            // rowid: the order servers joined the pair (added_unix ties within a second).
            "SELECT m.pair_id, m.server_id FROM pair_members m JOIN servers s ON s.id = m.server_id ORDER BY m.rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(pairs
            .into_iter()
            .map(|(id, name, created_unix)| PairEntry {
                servers: members
                    .iter()
                    .filter(|(p, _)| *p == id)
                    .map(|(_, s)| s.clone())
                    .collect(),
                id,
                name,
                created_unix,
            })
            .collect())
    }

    pub async fn pair(&self, id: &str) -> Result<PairEntry, Error> {
        self.pairs()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(Error::NotFound)
    }

    pub async fn insert_pair(&self, p: &PairEntry) -> Result<(), Error> {
        sqlx::query("INSERT INTO pairs (id, name, created_unix) VALUES (?, ?, ?)")
            .bind(&p.id)
            .bind(&p.name)
            .bind(p.created_unix)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn rename_pair(&self, id: &str, name: &str) -> Result<(), Error> {
        let done = sqlx::query("UPDATE pairs SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Puts a server into a pair (out of any other).
    pub async fn join_pair(&self, pair: &str, server: &str) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM pair_members WHERE server_id = ?")
            .bind(server)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO pair_members (pair_id, server_id) VALUES (?, ?)")
            .bind(pair)
            .bind(server)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes every pair with no server left (and its former machines).
    pub async fn drop_empty_pairs(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM former_machines WHERE pair_id NOT IN (SELECT pair_id FROM pair_members)")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pairs WHERE id NOT IN (SELECT pair_id FROM pair_members)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the pair, its servers and its former machines, at once. Returns the server IDs of
    /// the machines it held, current and former (whose history copies go with it).
    pub async fn remove_pair(&self, id: &str) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        // The members' console ids (`None` for a former machine) and machine server IDs.
        let held: Vec<(Option<String>, String)> = sqlx::query_as(
            "SELECT s.id, s.server_id FROM pair_members m JOIN servers s ON s.id = m.server_id WHERE m.pair_id = ?1 \
             UNION ALL SELECT NULL, server_id FROM former_machines WHERE pair_id = ?1",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pair_members WHERE pair_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM former_machines WHERE pair_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for server in held.iter().filter_map(|(server, _)| server.as_ref()) {
            sqlx::query("DELETE FROM servers WHERE id = ?")
                .bind(server)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM pairs WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        tx.commit().await?;
        Ok(held.into_iter().map(|(_, machine)| machine).collect())
    }
}
