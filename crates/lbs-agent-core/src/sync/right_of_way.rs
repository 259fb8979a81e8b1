//! The small files' right of way. A voicemail must reach the backup as fast while gigabytes are
//! copied as when the pair is idle; on a box of two cores a large transfer otherwise takes the
//! CPU (TLS, hashing, writing), the disk and the bandwidth cap's tokens, and each small change
//! waits its turn at every one of them. So while small files wait or travel, large files pause
//! between chunks: on the backup while its workers fetch and install them, on the primary while
//! it serves them. A pause is bounded, so a large file always moves, in the gaps at least.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The longest a large file's chunk waits for small files at once.
const MOST_PAUSE: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct RightOfWay {
    /// Small changes were queued that no worker has taken yet: the low bit; above it, how many
    /// times small changes were queued, so a worker that found nothing clears only what it saw
    /// (one word, so the check and the clearing are one step).
    waiting: AtomicU64,
    /// Batches of small files being fetched, installed or served now.
    moving: AtomicUsize,
    /// Wakes the paused large transfers when the small files are through.
    clear: Notify,
}

/// While alive, small files are on the move: large transfers give way.
pub struct Moving(Arc<RightOfWay>);

impl Drop for Moving {
    fn drop(&mut self) {
        if self.0.moving.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.wake_if_clear();
        }
    }
}

impl RightOfWay {
    /// Small changes were queued (backup: a page of changes brought some).
    pub fn queued(&self) {
        let _ = self
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| Some((w | 1).wrapping_add(2)));
    }

    /// What has been queued so far: read before looking for small changes to take.
    pub fn seen(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// The express lane looked for small changes after [`seen`](Self::seen) and found none: none
    /// are due, unless more were queued meanwhile (their page committed after the look).
    pub fn none_due(&self, seen: u64) {
        if self
            .waiting
            .compare_exchange(seen, seen & !1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.wake_if_clear();
        }
    }

    /// Nothing small is this box's to wait for (its role or its partner changed).
    pub fn clear(&self) {
        self.waiting.fetch_and(!1, Ordering::SeqCst);
        self.wake_if_clear();
    }

    /// Small files are fetched, installed or served until the guard is dropped.
    pub fn moving(self: &Arc<Self>) -> Moving {
        self.moving.fetch_add(1, Ordering::SeqCst);
        Moving(self.clone())
    }

    fn busy(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) & 1 == 1 || self.moving.load(Ordering::SeqCst) > 0
    }

    fn wake_if_clear(&self) {
        if !self.busy() {
            self.clear.notify_waiters();
        }
    }

    /// A large transfer's turn between two chunks: waits while small files wait or move, for
    /// [`MOST_PAUSE`] at most.
    pub async fn give_way(&self) {
        if !self.busy() {
            return;
        }
        let _ = tokio::time::timeout(MOST_PAUSE, async {
            loop {
                let cleared = self.clear.notified();
                tokio::pin!(cleared);
                // Registered before the check, so a wake between the two is not missed.
                cleared.as_mut().enable();
                if !self.busy() {
                    return;
                }
                cleared.await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_large_transfer_waits_while_small_files_move_and_goes_on_when_they_are_through() {
        let way = Arc::new(RightOfWay::default());
        let start = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(start.elapsed(), Duration::ZERO, "nothing small: no wait");

        let moving = way.moving();
        let paused = tokio::spawn({
            let way = way.clone();
            async move {
                let t = tokio::time::Instant::now();
                way.give_way().await;
                t.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_millis(40)).await;
        drop(moving);
        let waited = paused.await.unwrap();
        assert_eq!(
            waited,
            Duration::from_millis(40),
            "resumed as soon as the small files were through"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_is_bounded_and_queued_work_counts_until_none_is_due() {
        let way = Arc::new(RightOfWay::default());
        way.queued();
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), MOST_PAUSE, "never stopped for good");
        let seen = way.seen();
        way.none_due(seen);
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn small_changes_queued_after_the_look_for_them_still_have_the_right_of_way() {
        let way = Arc::new(RightOfWay::default());
        // The express lane looks and finds nothing; a page brings small changes; then the lane
        // says none are due: they are, and large transfers still give way.
        let seen = way.seen();
        way.queued();
        way.none_due(seen);
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), MOST_PAUSE, "the new small changes kept their right of way");
        // The next look sees them; once taken, none are due.
        let seen = way.seen();
        way.none_due(seen);
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
        // A role change clears whatever was queued.
        way.queued();
        way.clear();
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
