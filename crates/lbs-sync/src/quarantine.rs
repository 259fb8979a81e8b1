//! The record of quarantined files (Invariant 3: nothing diverged is deleted). The files
//! themselves sit in `<root>/.lbs-sync/quarantine/<time>/`; this table says what each was, where
//! it lived, which lost epoch wrote it and whether someone has restored it.

use sqlx::SqlitePool;

use crate::journal::JournalError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub id: i64,
    pub source: String,
    pub path: String,
    pub size: u64,
    pub hash: Option<[u8; 32]>,
    pub stored_at: String,
    pub quarantined_unix: i64,
    pub lost_epoch: u64,
    pub restored_unix: Option<i64>,
}

type Row = (i64, String, String, i64, Option<Vec<u8>>, String, i64, i64, Option<i64>);

fn from_row(r: Row) -> Quarantined {
    let (id, source, path, size, hash, stored_at, quarantined_unix, lost_epoch, restored_unix) = r;
    Quarantined {
        id,
        source,
        path,
        size: size.max(0) as u64,
        hash: hash.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok()),
        stored_at,
        quarantined_unix,
        lost_epoch: lost_epoch.max(0) as u64,
        restored_unix,
    }
}

const COLUMNS: &str = "id, source, path, size, hash, stored_at, quarantined_unix, lost_epoch, restored_unix";

#[derive(Clone)]
pub struct QuarantineStore {
    pool: SqlitePool,
}

impl QuarantineStore {
    pub fn new(pool: SqlitePool) -> Self {
        QuarantineStore { pool }
    }

    /// Records a file just moved aside (`id` is assigned).
    pub async fn add(&self, q: &Quarantined) -> Result<i64, JournalError> {
        let id = sqlx::query_scalar(
            "INSERT INTO quarantine (source, path, size, hash, stored_at, quarantined_unix, lost_epoch) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&q.source)
        .bind(&q.path)
        .bind(q.size as i64)
        .bind(q.hash.map(|h| h.to_vec()))
        .bind(&q.stored_at)
        .bind(q.quarantined_unix)
        .bind(q.lost_epoch as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Newest first.
    pub async fn list(&self) -> Result<Vec<Quarantined>, JournalError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM quarantine ORDER BY id DESC"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    pub async fn get(&self, id: i64) -> Result<Option<Quarantined>, JournalError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM quarantine WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(from_row))
    }

    pub async fn mark_restored(&self, id: i64, now_unix: i64) -> Result<(), JournalError> {
        sqlx::query("UPDATE quarantine SET restored_unix = ? WHERE id = ?")
            .bind(now_unix)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Files waiting for someone to look at them (not restored).
    pub async fn open_count(&self) -> Result<u64, JournalError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine WHERE restored_unix IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_are_kept_and_restores_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = QuarantineStore::new(crate::db::open(&dir.path().join("sync.db")).await.unwrap());
        let entry = Quarantined {
            id: 0,
            source: "voicemail:0".into(),
            path: "default/1001/INBOX/msg0001.wav".into(),
            size: 42,
            hash: Some([7; 32]),
            stored_at: "/x/.lbs-sync/quarantine/1/default/1001/INBOX/msg0001.wav".into(),
            quarantined_unix: 1_700_000_000,
            lost_epoch: 3,
            restored_unix: None,
        };
        let id = store.add(&entry).await.unwrap();
        assert_eq!(store.open_count().await.unwrap(), 1);
        store.mark_restored(id, 1_700_000_100).await.unwrap();
        let got = store.get(id).await.unwrap().unwrap();
        assert_eq!(got.restored_unix, Some(1_700_000_100));
        assert_eq!(got.hash, Some([7; 32]));
        assert_eq!(store.open_count().await.unwrap(), 0);
        assert_eq!(store.list().await.unwrap().len(), 1, "a restored entry stays listed");
    }
}
