//! The small files' right of way. A voicemail must reach the backup as fast while gigabytes are
//! copied as when the pair is idle; on a box of two cores a large transfer otherwise takes the
//! CPU (TLS, hashing, writing), the disk and the bandwidth cap's tokens, and each small change
//! waits its turn at every one of them. So while small files wait or travel, large files pause
//! between chunks: on the backup while its workers fetch and install them, on the primary while
//! it serves them. A pause is bounded, so a large file always moves, in the gaps at least.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The longest a large file's chunk waits for small files at once.
const MOST_PAUSE: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct RightOfWay {
    /// Small changes were queued that no worker has taken yet.
    waiting: AtomicBool,
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
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Nothing small is due any more (the express lane found nothing to take).
    pub fn none_due(&self) {
        self.waiting.store(false, Ordering::SeqCst);
        self.wake_if_clear();
    }

    /// Small files are fetched, installed or served until the guard is dropped.
    pub fn moving(self: &Arc<Self>) -> Moving {
        self.moving.fetch_add(1, Ordering::SeqCst);
        Moving(self.clone())
    }

    fn busy(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) || self.moving.load(Ordering::SeqCst) > 0
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
        way.none_due();
        let t = tokio::time::Instant::now();
        way.give_way().await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }
}
