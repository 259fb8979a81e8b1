//! The bandwidth cap: a token bucket shared by every transfer of one box, so the sum of sync
//! traffic stays under `sync.bandwidth_limit` however many files move at once.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct Throttle {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl Throttle {
    /// `rate` in bytes per second; 0 means no cap.
    pub fn new(rate: u64) -> Throttle {
        Throttle {
            rate,
            state: Mutex::new((rate as f64 / 4.0, Instant::now())),
        }
    }

    /// Waits until `bytes` may pass. The bucket holds a quarter second of traffic, so bursts stay
    /// short.
    pub async fn take(&self, bytes: usize) {
        if self.rate == 0 {
            return;
        }
        let rate = self.rate as f64;
        let wait = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let refill = now.duration_since(s.1).as_secs_f64() * rate;
            s.0 = (s.0 + refill).min(rate / 4.0) - bytes as f64;
            s.1 = now;
            if s.0 < 0.0 {
                Duration::from_secs_f64(-s.0 / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_capped_stream_takes_as_long_as_the_cap_says() {
        let t = Throttle::new(1_000_000);
        let start = Instant::now();
        for _ in 0..40 {
            t.take(100_000).await;
        }
        // 4 MB at 1 MB/s, less the quarter-second bucket it starts with.
        let took = start.elapsed().as_secs_f64();
        assert!((3.7..=4.0).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_cap_never_waits() {
        let t = Throttle::new(0);
        let start = Instant::now();
        t.take(usize::MAX).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
