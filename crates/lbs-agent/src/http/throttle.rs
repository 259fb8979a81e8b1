//! Failed authentication, slowed per source address: a token guessed in a loop, a certificate
//! that is not the partner's. Only failures wait; the check comes first, so a valid token or the
//! partner's certificate is served at once from any address, the guessing one included (the real
//! console is never locked out). One failing request per address waits its delay, longer and
//! longer; a further failure from that address while one waits is answered at once with 429 and
//! its connection closed, so failures never pile up holding connections (an address's share of
//! them is the real console's too). Addresses count as in admission (IPv6 by /64). Failures are
//! logged (address and count, never what was presented) at most once a minute per address, and
//! beyond the addresses tracked, all others share one slowed entry and one rate-limited warning.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::serve::key_of;

/// Failures from one address answered without delay.
const FREE: u32 = 5;
/// The first delay after those; it doubles with each failure up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// An address with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(600);
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Addresses tracked at most; failures from further addresses share one entry.
const REMEMBERED: usize = 4096;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

struct Failures {
    count: u32,
    last: Instant,
    logged: Option<Instant>,
    /// Failures since the last log line.
    unlogged: u32,
    /// The one failing request of this address that may wait.
    turn: Arc<Semaphore>,
}

impl Failures {
    fn new(now: Instant) -> Self {
        Failures {
            count: 0,
            last: now,
            logged: None,
            unlogged: 0,
            turn: Arc::new(Semaphore::new(1)),
        }
    }

    /// Counts a failure; true when it is time for a warning.
    fn count(&mut self, now: Instant) -> bool {
        if now.duration_since(self.last) >= FORGET_AFTER {
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.unlogged = self.unlogged.saturating_add(1);
        self.last = now;
        let warn = self.count > FREE && self.logged.is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
        if warn {
            self.logged = Some(now);
        }
        warn
    }
}

struct Tracked {
    by_address: HashMap<IpAddr, Failures>,
    /// Failures from addresses beyond [`REMEMBERED`], together.
    others: Failures,
    /// When the forgotten addresses were last swept out (at most once a [`SWEEP_EVERY`], so a
    /// flood from many addresses does not scan the map on every failure).
    swept: Option<Instant>,
}

pub struct Throttle {
    tracked: Mutex<Tracked>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            tracked: Mutex::new(Tracked {
                by_address: HashMap::new(),
                others: Failures::new(Instant::now()),
                swept: None,
            }),
        }
    }
}

/// A failure from this address is already waiting: answer this one at once (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after: Duration,
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
    /// delay before the caller answers, or is [`Busy`] at once if another failure from that
    /// address is waiting. `None` (an address unknown, as in a test without a socket) is one
    /// address of its own.
    pub async fn failed(&self, address: Option<IpAddr>, what: &'static str) -> Result<(), Busy> {
        let address = key_of(address.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let (turn, delay) = {
            let now = Instant::now();
            let mut t = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
            if t.by_address.len() >= REMEMBERED
                && !t.by_address.contains_key(&address)
                && t.swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
            {
                t.by_address.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
                t.swept = Some(now);
            }
            let tracked = t.by_address.len() < REMEMBERED || t.by_address.contains_key(&address);
            let f = if tracked {
                t.by_address.entry(address).or_insert_with(|| Failures::new(now))
            } else {
                &mut t.others
            };
            if f.count(now) {
                if tracked {
                    tracing::warn!(
                        %address,
                        failures = f.count,
                        since_last_warning = f.unlogged,
                        "repeated failed {what} from this address (guessing?); its answers are slowed, valid requests are not"
                    );
                } else {
                    tracing::warn!(
                        latest = %address,
                        failures = f.count,
                        since_last_warning = f.unlogged,
                        "failed {what} from more addresses than are tracked ({REMEMBERED}); the others' failures are slowed together, valid requests are not"
                    );
                }
                f.unlogged = 0;
            }
            let delay = if tracked {
                delay_of(f.count)
            } else {
                delay_of(f.count).max(FIRST_DELAY)
            };
            (f.turn.clone(), delay)
        };
        if delay.is_zero() {
            return Ok(());
        }
        let Ok(_turn) = turn.try_acquire_owned() else {
            return Err(Busy { retry_after: delay });
        };
        tokio::time::sleep(delay).await;
        Ok(())
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
    async fn one_failure_per_address_waits_the_others_are_answered_at_once() {
        let throttle = Arc::new(Throttle::default());
        let guesser = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..FREE {
            assert_eq!(throttle.failed(guesser, "access token").await, Ok(()));
        }
        let started = tokio::time::Instant::now();
        let waiting = {
            let t = throttle.clone();
            tokio::spawn(async move { t.failed(guesser, "access token").await })
        };
        tokio::task::yield_now().await;
        // A second failure while the first waits: 429 at once, holding nothing.
        let busy = throttle.failed(guesser, "access token").await;
        assert_eq!(
            busy,
            Err(Busy {
                retry_after: Duration::from_millis(200)
            })
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        // Another address of the guesser's /64 shares its count; another address does not.
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for _ in 0..FREE {
            throttle.failed(v6("2001:db8::1"), "access token").await.unwrap();
        }
        let started = tokio::time::Instant::now();
        throttle.failed(v6("2001:db8::2"), "access token").await.unwrap();
        assert_eq!(started.elapsed(), FIRST_DELAY);
        let started = tokio::time::Instant::now();
        throttle
            .failed(Some(IpAddr::from([10, 0, 0, 10])), "access token")
            .await
            .unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "another address starts with no delay"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn addresses_beyond_those_tracked_are_slowed_together() {
        let throttle = Throttle::default();
        for n in 0..REMEMBERED as u32 {
            throttle
                .failed(Some(IpAddr::from(n.to_be_bytes())), "access token")
                .await
                .unwrap();
        }
        let newcomer = Some(IpAddr::from([192, 168, 9, 9]));
        let started = tokio::time::Instant::now();
        throttle.failed(newcomer, "access token").await.unwrap();
        assert_eq!(started.elapsed(), FIRST_DELAY, "not tracked, yet slowed");
        assert_eq!(throttle.tracked.lock().unwrap().by_address.len(), REMEMBERED);
    }
}
