//! Failed authentication, slowed per source address: a token guessed in a loop, a certificate
//! that is not the partner's. Only failures wait; the check comes first, so a valid token or the
//! partner's certificate is served at once from any address, the guessing one included (the real
//! console is never locked out). Each address's failures wait their turn one at a time, longer
//! and longer, and are logged (address and count, never what was presented) at most once a
//! minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Failures from one address answered without delay.
const FREE: u32 = 5;
/// The first delay after those; it doubles with each failure up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// An address with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(600);
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Addresses remembered at most; beyond, a failure from a new address waits the longest delay.
const REMEMBERED: usize = 4096;

struct Failures {
    count: u32,
    last: Instant,
    logged: Option<Instant>,
    /// Failures since the last log line.
    unlogged: u32,
    /// One failing request of this address waits at a time.
    turn: Arc<Semaphore>,
}

#[derive(Default)]
pub struct Throttle {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

/// The delay of the `count`th failure in a row.
fn delay_of(count: u32) -> Duration {
    if count <= FREE {
        return Duration::ZERO;
    }
    let doublings = (count - FREE - 1).min(16);
    (FIRST_DELAY * 2u32.pow(doublings)).min(MAX_DELAY)
}

impl Throttle {
    /// A request from `address` failed to authenticate (`what`: e.g. "access token"): waits its
    /// turn and its delay before the caller answers. `None` (an address unknown, as in a test
    /// without a socket) is one address of its own.
    pub async fn failed(&self, address: Option<IpAddr>, what: &'static str) {
        let address = address.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let (turn, delay) = {
            let now = Instant::now();
            let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= REMEMBERED && !map.contains_key(&address) {
                map.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            }
            if map.len() >= REMEMBERED && !map.contains_key(&address) {
                tracing::warn!(%address, "failed {what} from too many addresses to track; answering after the longest delay");
                (None, MAX_DELAY)
            } else {
                let f = map.entry(address).or_insert_with(|| Failures {
                    count: 0,
                    last: now,
                    logged: None,
                    unlogged: 0,
                    turn: Arc::new(Semaphore::new(1)),
                });
                if now.duration_since(f.last) >= FORGET_AFTER {
                    f.count = 0;
                }
                f.count = f.count.saturating_add(1);
                f.unlogged = f.unlogged.saturating_add(1);
                f.last = now;
                if f.count > FREE && f.logged.is_none_or(|at| now.duration_since(at) >= LOG_EVERY) {
                    tracing::warn!(
                        %address,
                        failures = f.count,
                        since_last_warning = f.unlogged,
                        "repeated failed {what} from this address (guessing?); its answers are slowed, valid requests are not"
                    );
                    f.logged = Some(now);
                    f.unlogged = 0;
                }
                (Some(f.turn.clone()), delay_of(f.count))
            }
        };
        if delay.is_zero() {
            return;
        }
        // The semaphore is never closed; a failure to acquire only means no wait for the turn.
        let _turn = match turn {
            Some(t) => t.acquire_owned().await.ok(),
            None => None,
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_to_a_bound() {
        let d: Vec<u64> = (1..=12).map(|n| delay_of(n).as_millis() as u64).collect();
        assert_eq!(d, [0, 0, 0, 0, 0, 100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(delay_of(u32::MAX), MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_of_one_address_wait_their_turn_and_others_do_not_wait_for_them() {
        let throttle = Arc::new(Throttle::default());
        let guesser = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..FREE {
            throttle.failed(guesser, "access token").await;
        }
        let started = tokio::time::Instant::now();
        // Three at once from the guesser: one at a time, 100 + 200 + 400 ms.
        let all = (0..3).map(|_| {
            let t = throttle.clone();
            tokio::spawn(async move { t.failed(guesser, "access token").await })
        });
        for h in all.collect::<Vec<_>>() {
            h.await.unwrap();
        }
        assert!(
            started.elapsed() >= Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
        let started = tokio::time::Instant::now();
        throttle
            .failed(Some(IpAddr::from([10, 0, 0, 10])), "access token")
            .await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "another address starts with no delay"
        );
    }
}
