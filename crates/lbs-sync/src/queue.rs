//! The backup's durable to-do list. A page of changes fetched from the primary is written here
//! together with the new cursor in one transaction, so a crash after the commit loses nothing
//! and a crash before it fetches the page again. Workers then apply entries by priority; the
//! sequence the backup *acknowledges* to the primary is the one below its oldest unapplied entry.

use std::collections::HashMap;

use sqlx::SqlitePool;

use crate::journal::{Change, FileMeta, JournalError, Tally};
use crate::paths::RelPath;

/// What the backup holds at a path after applying a change: size and hash, or nothing (deleted).
pub type Held = Option<(u64, [u8; 32])>;

#[derive(Clone)]
pub struct Queue {
    pool: SqlitePool,
}

/// A change waiting to be applied, with how often it failed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub change: Change,
    pub priority: i64,
    pub attempts: i64,
}

type Row = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<Vec<u8>>,
    bool,
    i64,
    i64,
    bool,
);

impl Queue {
    pub fn new(pool: SqlitePool) -> Queue {
        Queue { pool }
    }

    /// The journal this queue follows and the last sequence fetched from it.
    pub async fn cursor(&self) -> Result<Option<(String, i64)>, JournalError> {
        Ok(
            sqlx::query_as("SELECT journal_id, fetched FROM queue_cursor WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Starts following another journal (another primary, or one started afresh): fetching starts
    /// over from 0. What is pending belonged to the old journal (its sequence numbers mean nothing
    /// in the new one) and goes: the new journal lists every file again.
    /// With `reconcile` (the journal no longer holds every deletion since its start), what this
    /// box holds and is not sent again by the time it reaches the head is deleted
    /// ([`Queue::finish_reconcile`]).
    pub async fn follow(&self, journal_id: &str, reconcile: bool) -> Result<(), JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM pending").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM resync_seen").execute(&mut *tx).await?;
        sqlx::query("INSERT OR REPLACE INTO queue_cursor (id, journal_id, fetched, reconcile) VALUES (1, ?, 0, ?)")
            .bind(journal_id)
            .bind(reconcile)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether this box is copying a journal again from the start to reconcile what it holds.
    pub async fn reconciling(&self) -> Result<bool, JournalError> {
        let r: Option<bool> = sqlx::query_scalar("SELECT reconcile FROM queue_cursor WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.unwrap_or(false))
    }

    /// The copy from the start reached the primary's head (at sequence `fetched`): every file
    /// held here that the primary did not list is queued for deletion (into the trash, as any
    /// deletion), and the reconciliation ends. Returns how many were queued (none when not
    /// reconciling).
    pub async fn finish_reconcile(&self, fetched: i64, now_unix: i64) -> Result<u64, JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let queued = sqlx::query(
            "INSERT INTO pending (category, path, seq, priority, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, folder) \
             SELECT h.category, h.path, ?1, 9, h.size, 0, 0, 0, 0, NULL, 1, ?2, 0 FROM held h \
             WHERE NOT EXISTS (SELECT 1 FROM resync_seen s WHERE s.category = h.category AND s.path = h.path) \
             AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.category = h.category AND p.path = h.path) \
             AND EXISTS (SELECT 1 FROM queue_cursor WHERE id = 1 AND reconcile = 1)",
        )
        .bind(fetched)
        .bind(now_unix)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM resync_seen").execute(&mut *tx).await?;
        sqlx::query("UPDATE queue_cursor SET reconcile = 0 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Forgets the cursor: the next pull follows the primary's journal from the start, checking
    /// every file again (after a reintegration moved files aside, the cursor no longer says what
    /// this box holds).
    pub async fn restart(&self) -> Result<(), JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM pending").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM queue_cursor").execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops every pending change: on promotion, what the old primary never delivered cannot be
    /// fetched any more (its files are quarantined there when it comes back).
    pub async fn clear_pending(&self) -> Result<u64, JournalError> {
        Ok(sqlx::query("DELETE FROM pending")
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Stores a fetched page and the cursor after it, atomically. A change replaces a pending
    /// one for the same path only if it is newer.
    pub async fn enqueue(&self, changes: &[(Change, i64)], fetched: i64) -> Result<(), JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (c, priority) in changes {
            sqlx::query(
                "INSERT INTO pending (category, path, seq, priority, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, folder) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (category, path) DO UPDATE SET seq = excluded.seq, priority = excluded.priority, \
                 size = excluded.size, mtime_ns = excluded.mtime_ns, mode = excluded.mode, uid = excluded.uid, \
                 gid = excluded.gid, hash = excluded.hash, deleted = excluded.deleted, folder = excluded.folder, \
                 changed_unix = min(pending.changed_unix, excluded.changed_unix), attempts = 0, not_before = 0 \
                 WHERE excluded.seq > pending.seq",
            )
            .bind(&c.category)
            .bind(c.path.as_str())
            .bind(c.seq)
            .bind(priority)
            .bind(c.meta.size as i64)
            .bind(c.meta.mtime_ns)
            .bind(i64::from(c.meta.mode))
            .bind(i64::from(c.meta.uid))
            .bind(i64::from(c.meta.gid))
            .bind(c.hash.map(|h| h.to_vec()))
            .bind(c.deleted)
            .bind(c.changed_unix)
            .bind(c.folder)
            .execute(&mut *tx)
            .await?;
            // While reconciling: the primary holds this path (or no longer does).
            let note = match c.deleted {
                false => {
                    "INSERT OR IGNORE INTO resync_seen (category, path) \
                          SELECT ?, ? WHERE EXISTS (SELECT 1 FROM queue_cursor WHERE id = 1 AND reconcile = 1)"
                }
                true => "DELETE FROM resync_seen WHERE category = ? AND path = ?",
            };
            sqlx::query(note)
                .bind(&c.category)
                .bind(c.path.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE queue_cursor SET fetched = max(fetched, ?) WHERE id = 1")
            .bind(fetched)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` entries due at `now`, most urgent first; with `max_size`, only deletions and
    /// files at most that big (the express lane for small files).
    pub async fn due(&self, now_unix: i64, limit: u32, max_size: Option<u64>) -> Result<Vec<Pending>, JournalError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT category, path, seq, priority, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, attempts, folder \
             FROM pending WHERE not_before <= ?1 AND (?2 IS NULL OR deleted OR size <= ?2) \
             ORDER BY priority, seq LIMIT ?3",
        )
        .bind(now_unix)
        .bind(max_size.map(|s| s as i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(pending_from_row).collect())
    }

    /// The entry was applied: it leaves the queue (unless a newer change replaced it meanwhile)
    /// and `held` records what the backup now has at that path (`None`: nothing, it was deleted).
    pub async fn applied(&self, change: &Change, held: Held) -> Result<(), JournalError> {
        self.applied_many(&[(change.clone(), held)]).await
    }

    /// As [`applied`](Self::applied) for many entries, in one transaction.
    pub async fn applied_many(&self, done: &[(Change, Held)]) -> Result<(), JournalError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (change, held) in done {
            record_applied(&mut tx, change, *held).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The entry could not be applied now: tried again from `retry_unix`.
    pub async fn postpone(&self, change: &Change, retry_unix: i64) -> Result<(), JournalError> {
        sqlx::query(
            "UPDATE pending SET attempts = attempts + 1, not_before = ? WHERE category = ? AND path = ? AND seq = ?",
        )
        .bind(retry_unix)
        .bind(&change.category)
        .bind(change.path.as_str())
        .bind(change.seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes every postponed entry due now (after the cause was fixed, e.g. space was freed).
    pub async fn retry_all_now(&self) -> Result<(), JournalError> {
        sqlx::query("UPDATE pending SET not_before = 0")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The sequence every change up to which is applied: what the backup acknowledges.
    pub async fn acknowledged(&self) -> Result<i64, JournalError> {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT min(seq) FROM pending")
            .fetch_one(&self.pool)
            .await?;
        let fetched = self.cursor().await?.map(|(_, f)| f).unwrap_or(0);
        Ok(oldest.map(|s| s - 1).unwrap_or(fetched).min(fetched))
    }

    /// Whether nothing is waiting to be applied.
    pub async fn is_empty(&self) -> Result<bool, JournalError> {
        Ok(!sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pending)")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Pending files and bytes per category (a deletion is a file of no bytes), oldest first seen.
    pub async fn pending(&self) -> Result<HashMap<String, Tally>, JournalError> {
        let rows = sqlx::query_as(
            "SELECT category, count(*), coalesce(sum(CASE WHEN deleted THEN 0 ELSE size END), 0), min(changed_unix) \
             FROM pending GROUP BY category",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(crate::journal::tallies(rows))
    }

    /// What the backup holds, per category.
    pub async fn held(&self) -> Result<HashMap<String, Tally>, JournalError> {
        let rows =
            // Kept by triggers (migration 0008): every pull carries it.
            sqlx::query_as("SELECT category, files, bytes, NULL FROM held_tally WHERE files > 0")
                .fetch_all(&self.pool)
                .await?;
        Ok(crate::journal::tallies(rows))
    }

    /// Adds `bytes` of the office's fresh changes to the clock hour of `at_unix`; hours older
    /// than eight days are forgotten.
    pub async fn count_incoming(&self, at_unix: i64, bytes: u64) -> Result<(), JournalError> {
        let hour = at_unix - at_unix.rem_euclid(3600);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO incoming_hourly (hour_unix, bytes) VALUES (?, ?) \
             ON CONFLICT (hour_unix) DO UPDATE SET bytes = bytes + excluded.bytes",
        )
        .bind(hour)
        .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM incoming_hourly WHERE hour_unix < ?")
            .bind(hour - 8 * 24 * 3600)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The clock hour since `since_unix` with the most fresh changes: (its start, bytes).
    pub async fn busiest_incoming_hour(&self, since_unix: i64) -> Result<Option<(i64, u64)>, JournalError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT hour_unix, bytes FROM incoming_hourly WHERE hour_unix >= ? AND bytes > 0 \
             ORDER BY bytes DESC, hour_unix DESC LIMIT 1",
        )
        .bind(since_unix - since_unix.rem_euclid(3600))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(h, b)| (h, b.max(0) as u64)))
    }
}

async fn record_applied(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    change: &Change,
    held: Held,
) -> Result<(), JournalError> {
    sqlx::query("DELETE FROM pending WHERE category = ? AND path = ? AND seq = ?")
        .bind(&change.category)
        .bind(change.path.as_str())
        .bind(change.seq)
        .execute(&mut **tx)
        .await?;
    match held {
        Some((size, hash)) => {
            // An upsert, not a REPLACE: the triggers keeping `held_tally` must see it.
            sqlx::query(
                "INSERT INTO held (category, path, size, hash) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (category, path) DO UPDATE SET size = excluded.size, hash = excluded.hash",
            )
            .bind(&change.category)
            .bind(change.path.as_str())
            .bind(size as i64)
            .bind(hash.to_vec())
            .execute(&mut **tx)
            .await?
        }
        None => {
            sqlx::query("DELETE FROM held WHERE category = ? AND path = ?")
                .bind(&change.category)
                .bind(change.path.as_str())
                .execute(&mut **tx)
                .await?
        }
    };
    Ok(())
}

fn pending_from_row(row: Row) -> Option<Pending> {
    let (category, path, seq, priority, size, mtime_ns, mode, uid, gid, hash, deleted, changed_unix, attempts, folder) =
        row;
    // Rows were validated before they were queued; one that no longer parses is dropped loudly.
    let path = match RelPath::parse(&path) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(%path, error = %e, "queued change with an invalid path skipped");
            return None;
        }
    };
    let hash = hash.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok());
    Some(Pending {
        change: Change {
            seq,
            category,
            path,
            meta: FileMeta {
                size: size as u64,
                mtime_ns,
                mode: mode as u32,
                uid: uid as u32,
                gid: gid as u32,
            },
            hash,
            deleted,
            folder,
            changed_unix,
        },
        priority,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: i64, category: &str, path: &str, size: u64, changed_unix: i64) -> Change {
        Change {
            seq,
            category: category.into(),
            path: RelPath::parse(path).unwrap(),
            meta: FileMeta {
                size,
                mtime_ns: 0,
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
            hash: Some([seq as u8; 32]),
            deleted: false,
            folder: false,
            changed_unix,
        }
    }

    async fn queue(dir: &tempfile::TempDir) -> Queue {
        let q = Queue::new(crate::db::open(&dir.path().join("sync.db")).await.unwrap());
        q.follow("journal-1", false).await.unwrap();
        q
    }

    #[tokio::test]
    async fn what_the_backup_holds_is_tallied_as_files_arrive_change_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let (a, b, c) = (
            change(1, "voicemail:0", "a.wav", 10, 0),
            change(2, "voicemail:0", "b.wav", 20, 0),
            change(3, "recordings:0", "c.wav", 300, 0),
        );
        q.applied_many(&[
            (a.clone(), Some((10, [1; 32]))),
            (b.clone(), Some((20, [2; 32]))),
            (c.clone(), Some((300, [3; 32]))),
        ])
        .await
        .unwrap();
        q.applied(&a, Some((15, [4; 32]))).await.unwrap(); // a.wav changed
        q.applied(&b, None).await.unwrap(); // b.wav deleted
        let counted: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT category, count(*), sum(size) FROM held GROUP BY category ORDER BY category")
                .fetch_all(&q.pool)
                .await
                .unwrap();
        let mut tallied: Vec<(String, i64, i64)> = q
            .held()
            .await
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, t.files as i64, t.bytes as i64))
            .collect();
        tallied.sort();
        assert_eq!(tallied, counted);
        assert_eq!(
            counted,
            vec![("recordings:0".into(), 1, 300), ("voicemail:0".into(), 1, 15)]
        );
    }

    #[tokio::test]
    async fn priority_comes_before_sequence_and_the_express_lane_skips_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let page = vec![
            (change(1, "recordings", "big.wav", 2_000_000_000, 10), 4),
            (change(2, "voicemail", "msg0000.wav", 40_000, 11), 2),
            (change(3, "config", "queues.conf", 300, 12), 1),
        ];
        q.enqueue(&page, 3).await.unwrap();
        let order: Vec<i64> = q
            .due(100, 10, None)
            .await
            .unwrap()
            .iter()
            .map(|p| p.change.seq)
            .collect();
        assert_eq!(order, vec![3, 2, 1]);
        let small = q.due(100, 10, Some(1 << 20)).await.unwrap();
        assert_eq!(small.len(), 2);
        assert_eq!(q.cursor().await.unwrap(), Some(("journal-1".into(), 3)));
    }

    #[tokio::test]
    async fn the_acknowledged_sequence_stops_below_the_oldest_unapplied_change() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let (a, b) = (change(5, "voicemail", "a", 1, 10), change(6, "voicemail", "b", 2, 20));
        q.enqueue(&[(a.clone(), 2), (b.clone(), 2)], 6).await.unwrap();
        assert_eq!(q.acknowledged().await.unwrap(), 4);
        assert_eq!(q.pending().await.unwrap()["voicemail"].oldest_unix, Some(10));
        q.applied(&b, Some((2, [6; 32]))).await.unwrap();
        assert_eq!(q.acknowledged().await.unwrap(), 4, "5 is still missing");
        q.applied(&a, Some((1, [5; 32]))).await.unwrap();
        assert_eq!(q.acknowledged().await.unwrap(), 6);
        assert!(q.is_empty().await.unwrap());
        let held = q.held().await.unwrap();
        assert_eq!((held["voicemail"].files, held["voicemail"].bytes), (2, 3));
        let mut gone = a.clone();
        gone.seq = 7;
        gone.deleted = true;
        gone.hash = None;
        q.applied(&gone, None).await.unwrap();
        assert_eq!(q.held().await.unwrap()["voicemail"].files, 1);
    }

    #[tokio::test]
    async fn a_newer_change_replaces_a_pending_one_and_an_older_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let old = change(1, "voicemail", "a", 1, 10);
        q.enqueue(&[(old.clone(), 2)], 1).await.unwrap();
        let newer = change(4, "voicemail", "a", 9, 40);
        q.enqueue(&[(newer.clone(), 2)], 4).await.unwrap();
        q.enqueue(&[(old.clone(), 2)], 4).await.unwrap();
        let due = q.due(100, 10, None).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].change.seq, 4);
        assert_eq!(
            due[0].change.changed_unix, 10,
            "the lag counts from the first unsynced change"
        );
        // Applying the superseded version leaves the newer one queued.
        q.applied(&old, Some((1, [1; 32]))).await.unwrap();
        assert_eq!(q.due(100, 10, None).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_postponed_change_waits_until_its_time_or_a_retry() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let c = change(1, "recordings", "r.wav", 100, 10);
        q.enqueue(&[(c.clone(), 4)], 1).await.unwrap();
        q.postpone(&c, 500).await.unwrap();
        assert!(q.due(100, 10, None).await.unwrap().is_empty());
        assert_eq!(q.due(500, 10, None).await.unwrap()[0].attempts, 1);
        q.retry_all_now().await.unwrap();
        assert_eq!(q.due(100, 10, None).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = queue(&dir).await;
            q.enqueue(&[(change(9, "config", "x", 1, 1), 1)], 12).await.unwrap();
        }
        let q = Queue::new(crate::db::open(&dir.path().join("sync.db")).await.unwrap());
        assert_eq!(q.cursor().await.unwrap(), Some(("journal-1".into(), 12)));
        assert_eq!(q.due(100, 10, None).await.unwrap().len(), 1);
        q.follow("journal-2", false).await.unwrap();
        assert_eq!(q.cursor().await.unwrap(), Some(("journal-2".into(), 0)));
        assert!(
            q.is_empty().await.unwrap(),
            "what was pending from the old journal goes"
        );
    }

    #[tokio::test]
    async fn a_restart_forgets_the_cursor_and_what_is_pending_but_not_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let held = change(3, "config", "held.conf", 1, 1);
        q.enqueue(&[(held.clone(), 1), (change(4, "config", "y", 1, 1), 1)], 4)
            .await
            .unwrap();
        q.applied(&held, Some((1, [1; 32]))).await.unwrap();
        q.restart().await.unwrap();
        assert_eq!(q.cursor().await.unwrap(), None);
        assert!(q.is_empty().await.unwrap());
        assert_eq!(q.held().await.unwrap()["config"].files, 1);
        assert_eq!(q.clear_pending().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_office_changes_are_summed_per_clock_hour_and_the_busiest_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        assert_eq!(q.busiest_incoming_hour(0).await.unwrap(), None);
        let hour = 1_700_002_800; // a whole hour
        q.count_incoming(hour + 10, 100).await.unwrap();
        q.count_incoming(hour + 3599, 50).await.unwrap();
        q.count_incoming(hour + 3600, 120).await.unwrap();
        assert_eq!(
            q.busiest_incoming_hour(hour - 7 * 86_400).await.unwrap(),
            Some((hour, 150))
        );
        // Only the hours asked for count.
        assert_eq!(
            q.busiest_incoming_hour(hour + 3600).await.unwrap(),
            Some((hour + 3600, 120))
        );
        // A week and a day later the old hours are gone.
        q.count_incoming(hour + 9 * 86_400, 1).await.unwrap();
        assert_eq!(q.busiest_incoming_hour(0).await.unwrap(), Some((hour + 9 * 86_400, 1)));
    }

    #[tokio::test]
    async fn a_reconciling_copy_deletes_what_it_holds_and_was_not_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir).await;
        let first: Vec<(Change, i64)> = ["x.wav", "y.wav", "z.wav"]
            .iter()
            .enumerate()
            .map(|(i, p)| (change(i as i64 + 1, "voicemail", p, 10, 1), 2))
            .collect();
        q.enqueue(&first, 3).await.unwrap();
        for (c, _) in &first {
            q.applied(c, Some((10, c.hash.unwrap()))).await.unwrap();
        }

        // The primary pruned deletions this box may have missed: everything again, from 0.
        q.follow("journal-1", true).await.unwrap();
        assert!(q.reconciling().await.unwrap());
        let mut gone = change(7, "voicemail", "w.wav", 0, 5);
        gone.deleted = true;
        gone.hash = None;
        let again = vec![
            (change(5, "voicemail", "x.wav", 10, 1), 2),
            (change(6, "voicemail", "y.wav", 10, 1), 2),
            (gone, 2),
        ];
        q.enqueue(&again, 7).await.unwrap();
        for (c, _) in &again {
            q.applied(c, c.hash.map(|h| (10, h))).await.unwrap();
        }
        assert_eq!(
            q.finish_reconcile(7, 50).await.unwrap(),
            1,
            "only z.wav was not sent again"
        );
        assert!(!q.reconciling().await.unwrap());
        let due = q.due(100, 10, None).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].change.path.as_str(), "z.wav");
        assert!(due[0].change.deleted && due[0].change.hash.is_none());
        // Not reconciling, an empty page changes nothing.
        assert_eq!(q.finish_reconcile(7, 60).await.unwrap(), 0);
        assert_eq!(q.due(100, 10, None).await.unwrap().len(), 1);
    }
}
