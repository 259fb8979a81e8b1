//! The link between the two boxes as this box sees it: the heartbeats' round trips and losses
//! and the partner's clock (written by `failover`, which runs the heartbeat), the office's
//! changes as they arrive from the primary and what the sync carried while it had work to do.
//! The sampler records it each tick (`link.*` series); the sync status says whether the link can
//! carry the office's busiest hour — the question for a backup in another building.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use lbs_protocol::LinkReport;

use crate::units::{human_bytes, human_secs};

/// Heartbeats kept for the "now" figures of the status (a minute at the default interval).
const RECENT: usize = 60;
/// A change the primary journaled longer ago than this is a backlog (a first copy, a backup
/// catching up), not the office changing now.
pub const FRESH_SECS: i64 = 600;
/// The link is said to be close to its limit above this share of what it carried.
const CLOSE: f64 = 0.8;

pub const ROUND_TRIP: &str = "link.round_trip_ms";
pub const LOSS: &str = "link.loss_percent";
pub const CLOCK_OFFSET: &str = "link.clock_offset_ms";
pub const CAPACITY: &str = "link.capacity";
pub const INCOMING: &str = "sync.incoming";

#[derive(Default)]
struct Inner {
    /// The last heartbeats: `Some(round trip)` answered, `None` lost.
    recent: VecDeque<Option<Duration>>,
    /// Since the last tick: answered, lost, the round trips' sum.
    answered: u32,
    lost: u32,
    round_trip_sum: Duration,
    clock_offset_ms: Option<i64>,
    /// Since the last tick: bytes of fresh changes announced by the primary.
    incoming: u64,
    /// Backup side: a page of changes reached the primary's head since this box followed its
    /// journal — what comes next is the office changing, not a first copy or a catch-up.
    caught_up: bool,
}

/// What one sampler tick records of the link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkTick {
    pub round_trip_ms: Option<f64>,
    pub loss_percent: Option<f64>,
    pub clock_offset_ms: Option<i64>,
    pub incoming_bytes: u64,
}

#[derive(Default)]
pub struct LinkMeter(Mutex<Inner>);

impl LinkMeter {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// One heartbeat to the partner: answered after `round_trip`, or lost (`None`).
    pub fn heartbeat(&self, round_trip: Option<Duration>) {
        self.with(|i| {
            if i.recent.len() == RECENT {
                i.recent.pop_front();
            }
            i.recent.push_back(round_trip);
            match round_trip {
                Some(rt) => {
                    i.answered += 1;
                    i.round_trip_sum += rt;
                }
                None => i.lost += 1,
            }
        });
    }

    /// The partner's clock minus this box's, as last measured (`None`: not known, e.g. the
    /// last heartbeat went unanswered: an old figure is not recorded as a new one).
    pub fn clock(&self, offset_ms: Option<i64>) {
        self.with(|i| i.clock_offset_ms = offset_ms);
    }

    /// Whether the backup has reached the primary's head since it began following this journal.
    pub fn caught_up(&self) -> bool {
        self.with(|i| i.caught_up)
    }

    pub fn set_caught_up(&self, yes: bool) {
        self.with(|i| i.caught_up = yes);
    }

    /// The bytes of the `changes` that are the office changing now: not deleted, not folders,
    /// journaled by the primary within [`FRESH_SECS`] of `now` (on this box's clock, the
    /// partner's measured offset taken off).
    pub fn fresh_bytes(&self, changes: &[lbs_protocol::WireChange], now: i64) -> u64 {
        let offset = self.with(|i| i.clock_offset_ms.unwrap_or(0)) / 1000;
        changes
            .iter()
            .filter(|c| !c.deleted && !c.folder && (now - (c.changed_unix - offset)).abs() <= FRESH_SECS)
            .map(|c| c.size)
            .sum()
    }

    /// Changes announced by the primary (backup side): only fresh ones count as the office's
    /// changes, so a first copy or a catch-up does not read as the office's busiest hour.
    pub fn announced(&self, bytes: u64) {
        self.with(|i| i.incoming += bytes);
    }

    /// The figures since the last tick, and starts the next.
    pub fn take(&self) -> LinkTick {
        self.with(|i| {
            let sent = i.answered + i.lost;
            let tick = LinkTick {
                round_trip_ms: (i.answered > 0)
                    .then(|| i.round_trip_sum.as_secs_f64() * 1000.0 / f64::from(i.answered)),
                loss_percent: (sent > 0).then(|| 100.0 * f64::from(i.lost) / f64::from(sent)),
                clock_offset_ms: i.clock_offset_ms,
                incoming_bytes: i.incoming,
            };
            i.answered = 0;
            i.lost = 0;
            i.round_trip_sum = Duration::ZERO;
            i.incoming = 0;
            tick
        })
    }

    /// The last minute of heartbeats: (average round trip in ms, percent lost), for the status.
    pub fn recent(&self) -> (Option<f64>, Option<f64>, Option<i64>) {
        self.with(|i| {
            let answered: Vec<Duration> = i.recent.iter().flatten().copied().collect();
            let round_trip = (!answered.is_empty())
                .then(|| answered.iter().sum::<Duration>().as_secs_f64() * 1000.0 / answered.len() as f64);
            let loss = (!i.recent.is_empty())
                .then(|| 100.0 * (i.recent.len() - answered.len()) as f64 / i.recent.len() as f64);
            (round_trip, loss, i.clock_offset_ms)
        })
    }

    pub fn forget(&self) {
        self.with(|i| *i = Inner::default());
    }
}

/// What the sync carried during a tick, as a measure of the link's capacity: only when it had
/// work the whole tick (something pending at its start and at its end) and did move some — a
/// partner away, or a file waiting to be retried, leaves work pending but says nothing of the
/// link — else the rate says how much there was to copy, not how much the link can carry.
pub fn capacity_sample(pending_before: u64, pending_now: u64, moved: u64, tick: Duration) -> Option<f64> {
    (pending_before > 0 && pending_now > 0 && moved > 0 && !tick.is_zero()).then(|| moved as f64 / tick.as_secs_f64())
}

/// Whether the link carries the office's busiest hour, in the office manager's words.
///
/// `busiest` is the busiest clock hour of changes from the primary (its average rate in bytes/s
/// and when it began), `carried` what the sync carried while it had work (its best hour), `cap`
/// the configured bandwidth limit (0: none). With no measure of what the link carries there is nothing to
/// compare yet: the link has never had to work.
pub fn assess(
    partner: &str,
    busiest: Option<(f64, i64)>,
    carried: Option<f64>,
    cap: u64,
    recent: (Option<f64>, Option<f64>, Option<i64>),
) -> LinkReport {
    let capacity = match (carried, cap) {
        (Some(c), 0) => Some(c),
        (Some(c), cap) => Some(c.min(cap as f64)),
        (None, 0) => None,
        (None, cap) => Some(cap as f64),
    };
    let (round_trip_ms, loss_percent, clock_offset_ms) = recent;
    let mut report = LinkReport {
        round_trip_ms,
        loss_percent,
        clock_offset_ms,
        capacity_bps: capacity,
        busiest_hour_bytes: busiest.map(|(rate, _)| rate * 3600.0),
        busiest_hour_unix: busiest.map(|(_, at)| at),
        behind_per_busy_hour_bytes: None,
        warning: None,
    };
    let (Some((rate, _)), Some(capacity)) = (busiest, capacity) else {
        return report;
    };
    if rate <= 0.0 || capacity <= 0.0 {
        return report;
    }
    let hour = human_bytes((rate * 3600.0) as u64);
    let carries = format!("{}/s", human_bytes(capacity as u64));
    if rate > capacity {
        let behind = (rate - capacity) * 3600.0;
        report.behind_per_busy_hour_bytes = Some(behind);
        report.warning = Some(format!(
            "The link from {partner} cannot keep up with the office's busiest hour: {hour} changed in it, and the link \
             carried about {carries} while copying. In such an hour this server falls about {} behind, {} of copying \
             to catch up on. Raise the link's speed (or the bandwidth limit), or expect recent recordings and \
             voicemail to be missing after a failover at a busy time.",
            human_bytes(behind as u64),
            human_secs((behind / capacity) as u64),
        ));
    } else if rate > capacity * CLOSE {
        report.warning = Some(format!(
            "The link from {partner} is close to its limit in the office's busiest hour: {hour} changed in it, and the \
             link carried about {carries} while copying. A busier hour would leave this server behind: consider a \
             faster link."
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_averages_the_answered_heartbeats_and_counts_the_lost() {
        let m = LinkMeter::default();
        assert_eq!(m.take(), LinkTick::default(), "nothing measured: nothing recorded");
        m.heartbeat(Some(Duration::from_millis(100)));
        m.heartbeat(Some(Duration::from_millis(300)));
        m.heartbeat(None);
        m.heartbeat(None);
        m.clock(Some(-1500));
        m.announced(4000);
        let t = m.take();
        assert_eq!(t.round_trip_ms, Some(200.0));
        assert_eq!(t.loss_percent, Some(50.0));
        assert_eq!((t.clock_offset_ms, t.incoming_bytes), (Some(-1500), 4000));
        let next = m.take();
        assert_eq!(
            (next.round_trip_ms, next.loss_percent, next.incoming_bytes),
            (None, None, 0)
        );
        assert_eq!(next.clock_offset_ms, Some(-1500), "the clock stays as last measured");
        // The status's minute still holds them.
        assert_eq!(m.recent(), (Some(200.0), Some(50.0), Some(-1500)));
    }

    #[test]
    fn the_recent_window_keeps_the_last_minute_of_heartbeats() {
        let m = LinkMeter::default();
        for _ in 0..RECENT {
            m.heartbeat(None);
        }
        for _ in 0..RECENT {
            m.heartbeat(Some(Duration::from_millis(10)));
        }
        assert_eq!(m.recent(), (Some(10.0), Some(0.0), None));
    }

    #[test]
    fn capacity_is_measured_only_while_the_sync_had_work_all_along() {
        let s = Duration::from_secs(10);
        assert_eq!(capacity_sample(5, 3, 1_000_000, s), Some(100_000.0));
        assert_eq!(
            capacity_sample(0, 3, 1_000_000, s),
            None,
            "work arrived during the tick"
        );
        assert_eq!(capacity_sample(5, 0, 1_000_000, s), None, "it ran out of work");
        assert_eq!(capacity_sample(5, 5, 0, Duration::ZERO), None);
        assert_eq!(
            capacity_sample(5, 5, 0, s),
            None,
            "work pending, nothing moved: the partner is away"
        );
    }

    #[test]
    fn a_link_slower_than_the_busiest_hour_says_how_far_behind_it_falls() {
        // 2 MB/s of changes at the busiest hour, 1 MB/s carried.
        let r = assess(
            "PBX A",
            Some((2_000_000.0, 1_000)),
            Some(1_000_000.0),
            0,
            (Some(40.0), Some(0.0), Some(3)),
        );
        assert_eq!(r.behind_per_busy_hour_bytes, Some(3_600_000_000.0));
        let w = r.warning.unwrap();
        assert!(w.starts_with("The link from PBX A cannot keep up"), "{w}");
        assert!(w.contains("falls about 3.6 GB behind, 1h of copying"), "{w}");
        assert_eq!((r.round_trip_ms, r.clock_offset_ms), (Some(40.0), Some(3)));
    }

    #[test]
    fn a_link_near_its_limit_is_said_and_a_comfortable_one_is_not() {
        let near = assess("PBX A", Some((900.0, 0)), Some(1000.0), 0, (None, None, None));
        assert!(near.warning.unwrap().contains("close to its limit"));
        assert_eq!(near.behind_per_busy_hour_bytes, None);
        let fine = assess("PBX A", Some((100.0, 0)), Some(1000.0), 0, (None, None, None));
        assert_eq!(fine.warning, None);
    }

    #[test]
    fn the_bandwidth_limit_caps_what_the_link_can_carry() {
        let r = assess("PBX A", Some((600.0, 0)), Some(10_000.0), 500, (None, None, None));
        assert_eq!(r.capacity_bps, Some(500.0));
        assert!(r.warning.unwrap().contains("cannot keep up"));
        // Never busy and no limit: nothing to compare with yet.
        let r = assess("PBX A", Some((600.0, 0)), None, 0, (None, None, None));
        assert_eq!((r.capacity_bps, r.warning), (None, None));
    }

    fn change(size: u64, changed_unix: i64, deleted: bool) -> lbs_protocol::WireChange {
        lbs_protocol::WireChange {
            seq: 1,
            source: "voicemail:0".into(),
            path: "a".into(),
            size,
            mtime_ns: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            hash: None,
            deleted,
            changed_unix,
            folder: false,
        }
    }

    #[test]
    fn only_fresh_changes_count_as_the_office_changing_on_this_boxs_clock() {
        let m = LinkMeter::default();
        let now = 1_000_000;
        let page = [
            change(100, now - 5, false),
            change(1000, now - FRESH_SECS - 1, false),
            change(10, now, true),
        ];
        assert_eq!(m.fresh_bytes(&page, now), 100);
        // The primary's clock an hour ahead: its times are taken back to this box's.
        m.clock(Some(3_600_000));
        let ahead = [change(100, now + 3600 - 5, false)];
        assert_eq!(m.fresh_bytes(&ahead, now), 100);
    }
}
