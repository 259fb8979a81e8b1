//! When one database category is dumped: soon after its files were written (`watch`), and on its
//! `dump_interval`, the safety net. Pure: the caller passes the time in.
//!
//! The rules, each with a test below:
//! - a write starts a dump once the database has been quiet for [`QUIET`], and at the latest
//!   [`MAX_WAIT`] after the first write of a burst that does not stop (a settings page saving
//!   ten rows makes one dump, and a database written without pause is still dumped);
//! - one dump of a category at a time; writes seen while it runs make exactly one more after it;
//! - after a dump, a write waits at least `watch_min_gap`, and at least [`DUTY`] times as long
//!   as that dump took: a database written all day (call records share MariaDB's redo log with
//!   the settings) costs at most a tenth of the time in dumps, however large it is;
//! - every dump, whatever started it, puts the next interval dump one `dump_interval` later;
//! - a dump that failed is tried again after the gap, then twice as long each time, up to
//!   `dump_interval`: a database that is down is not asked every second.

use std::time::Duration;

use tokio::time::Instant;

/// How long a database must stay unwritten before its dump starts.
pub const QUIET: Duration = Duration::from_millis(200);
/// The longest a dump waits for writes to pause.
pub const MAX_WAIT: Duration = Duration::from_secs(1);
/// After a dump, the next one a write asks for waits this many times as long as it took.
pub const DUTY: u32 = 9;

#[derive(Debug)]
pub struct DumpTimer {
    every: Duration,
    gap: Duration,
    next_interval: Instant,
    /// Writes no dump has covered yet: the first and the last seen.
    pending: Option<(Instant, Instant)>,
    running: bool,
    /// No dump a write asks for starts before this.
    rest_until: Option<Instant>,
    failures: u32,
}

impl DumpTimer {
    /// A category dumped every `every` and after writes, at most once per `gap`; `now` is just
    /// after a dump (the primary's first pass dumps every database).
    pub fn new(every: Duration, gap: Duration, now: Instant) -> DumpTimer {
        DumpTimer {
            every,
            gap,
            next_interval: now + every,
            pending: None,
            running: false,
            rest_until: None,
            failures: 0,
        }
    }

    /// The database was written at `now`.
    pub fn written(&mut self, now: Instant) {
        self.pending = Some(match self.pending {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the next dump is due; `None` while one runs.
    pub fn next_due(&self) -> Option<Instant> {
        if self.running {
            return None;
        }
        let asked = self.pending.map(|(first, last)| {
            let settled = (last + QUIET).min(first + MAX_WAIT);
            self.rest_until.map_or(settled, |rest| settled.max(rest))
        });
        Some(asked.map_or(self.next_interval, |at| at.min(self.next_interval)))
    }

    /// A dump starts at `now`: it covers every write seen so far.
    pub fn start(&mut self, now: Instant) {
        self.running = true;
        self.pending = None;
        self.next_interval = now + self.every;
    }

    /// The dump started `took` ago ended at `now`, well or not.
    pub fn finished(&mut self, now: Instant, took: Duration, ok: bool) {
        self.running = false;
        let rest = self.gap.max(took.saturating_mul(DUTY));
        if ok {
            self.failures = 0;
            self.rest_until = Some(now + rest);
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let backoff = self
            .gap
            .saturating_mul(1u32 << (self.failures - 1).min(16))
            .min(self.every);
        self.rest_until = Some(now + rest.max(backoff));
        // What it was to cover is still not dumped: try again then.
        self.written(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    /// Runs the timer over `until` in 10 ms steps: writes at the given offsets, each dump taking
    /// `took`; returns when each dump started (offsets from the start).
    fn simulate(t: &mut DumpTimer, t0: Instant, writes: &[Duration], took: Duration, until: Duration) -> Vec<Duration> {
        let mut starts = Vec::new();
        let mut running_until: Option<Instant> = None;
        let mut writes = writes.to_vec();
        writes.sort();
        let mut next_write = 0;
        let mut now = t0;
        while now <= t0 + until {
            while next_write < writes.len() && t0 + writes[next_write] <= now {
                t.written(now);
                next_write += 1;
            }
            if let Some(end) = running_until {
                if end <= now {
                    t.finished(now, took, true);
                    running_until = None;
                }
            }
            if running_until.is_none() && t.next_due().is_some_and(|due| due <= now) {
                starts.push(now - t0);
                t.start(now);
                running_until = Some(now + took);
                assert_eq!(t.next_due(), None, "never two dumps of a category at once");
            }
            now += 10 * MS;
        }
        starts
    }

    fn timer(t0: Instant) -> DumpTimer {
        DumpTimer::new(Duration::from_secs(3600), SEC, t0)
    }

    #[test]
    fn a_burst_of_writes_makes_one_dump_once_the_database_is_quiet() {
        let t0 = Instant::now();
        let mut t = timer(t0);
        // A settings page saving ten rows, 20 ms apart.
        let burst: Vec<Duration> = (0..10).map(|i| 100 * MS + i * 20 * MS).collect();
        let starts = simulate(&mut t, t0, &burst, 50 * MS, 10 * SEC);
        assert_eq!(starts, vec![280 * MS + QUIET], "one dump, QUIET after the last write");
    }

    #[test]
    fn a_database_written_without_pause_is_dumped_within_max_wait_then_at_the_bounded_rate() {
        let t0 = Instant::now();
        let mut t = timer(t0);
        // A write every 50 ms for a minute: never quiet.
        let writes: Vec<Duration> = (0..1200).map(|i| i * 50 * MS).collect();
        let starts = simulate(&mut t, t0, &writes, 100 * MS, 60 * SEC);
        assert_eq!(
            starts[0], MAX_WAIT,
            "the first dump does not wait for a pause that never comes"
        );
        for pair in starts.windows(2) {
            // At least the gap (1 s) after the previous dump ended.
            assert!(pair[1] - pair[0] >= 100 * MS + SEC, "{starts:?}");
        }
        assert!(starts.len() <= 60, "{} dumps in a minute: {starts:?}", starts.len());
        assert!(starts.len() >= 50, "still dumped about once per gap: {starts:?}");
    }

    #[test]
    fn a_slow_dump_rests_nine_times_its_length_so_dumping_takes_a_tenth_of_the_time_at_most() {
        let t0 = Instant::now();
        let mut t = timer(t0);
        let writes: Vec<Duration> = (0..600).map(|i| i * 100 * MS).collect();
        let took = 2 * SEC;
        let starts = simulate(&mut t, t0, &writes, took, 60 * SEC);
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= took + 9 * took, "{starts:?}");
        }
        let busy = took * starts.len() as u32;
        assert!(busy <= 60 * SEC / 10 + took, "{busy:?} of 60 s dumping: {starts:?}");
    }

    #[test]
    fn writes_during_a_dump_make_exactly_one_more_after_it() {
        let t0 = Instant::now();
        let mut t = timer(t0);
        t.written(t0);
        let start = t.next_due().unwrap();
        assert_eq!(start, t0 + QUIET);
        t.start(start);
        assert_eq!(t.next_due(), None, "nothing else starts while it runs");
        // Five writes while the 300 ms dump runs.
        for i in 1..=5 {
            t.written(start + i * 50 * MS);
        }
        let end = start + 300 * MS;
        t.finished(end, 300 * MS, true);
        let again = t.next_due().unwrap();
        // The gap is 1 s, but the dump took 300 ms: it rests nine times that.
        assert_eq!(again, end + 2700 * MS, "after the rest");
        t.start(again);
        t.finished(again + 300 * MS, 300 * MS, true);
        assert_eq!(
            t.next_due(),
            Some(again + Duration::from_secs(3600)),
            "and then only the interval"
        );
    }

    #[test]
    fn the_interval_is_the_safety_net_and_any_dump_moves_it() {
        let t0 = Instant::now();
        let mut t = DumpTimer::new(60 * SEC, SEC, t0);
        assert_eq!(t.next_due(), Some(t0 + 60 * SEC), "no write: the interval");
        let starts = simulate(&mut t, t0, &[], 10 * MS, 185 * SEC);
        assert_eq!(starts, vec![60 * SEC, 120 * SEC, 180 * SEC]);
        let mut t = DumpTimer::new(60 * SEC, SEC, t0);
        let starts = simulate(&mut t, t0, &[30 * SEC], 10 * MS, 125 * SEC);
        assert_eq!(starts, vec![30 * SEC + QUIET, 90 * SEC + QUIET]);
    }

    #[test]
    fn a_failing_dump_is_tried_again_ever_later_up_to_the_interval() {
        let t0 = Instant::now();
        let mut t = DumpTimer::new(60 * SEC, SEC, t0);
        t.written(t0);
        let mut now = t.next_due().unwrap();
        let mut waits = Vec::new();
        for _ in 0..9 {
            t.start(now);
            let end = now + 10 * MS;
            t.finished(end, 10 * MS, false);
            let next = t.next_due().unwrap();
            waits.push((next - end).as_millis());
            now = next;
        }
        // Capped by the interval, counted from each dump's start.
        assert_eq!(waits, vec![1000, 2000, 4000, 8000, 16000, 32000, 59990, 59990, 59990]);
        // Once it works again, the next write waits only the gap.
        t.start(now);
        t.finished(now + 10 * MS, 10 * MS, true);
        assert_eq!(t.next_due(), Some(now + 60 * SEC), "nothing pending: the interval");
        t.written(now + 20 * MS);
        assert_eq!(t.next_due(), Some(now + 10 * MS + SEC));
    }
}
