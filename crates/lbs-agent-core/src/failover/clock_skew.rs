//! Whether the partner's clock agrees with this box's. The maintenance record and the audit log
//! compare times written on both boxes, so a wrong clock on either makes a maintenance end early
//! or late; an automatic failover, when one comes, will need both clocks right too. Measured at
//! every heartbeat the partner answers: its clock when it wrote the answer, against the middle of
//! the round trip here; half the round trip is what the transit could explain.

use crate::units::human_secs;

/// One measurement of the partner's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew {
    /// The partner's clock minus this box's, in milliseconds.
    pub offset_ms: i64,
    /// Half the round trip: how much of the offset the transit could explain.
    pub uncertainty_ms: i64,
}

impl ClockSkew {
    /// From a heartbeat sent at `sent_ms` (this box's clock) and answered `round_trip_ms` later,
    /// whose answer the partner wrote at `theirs_ms` (its clock).
    pub fn measure(sent_ms: i64, round_trip_ms: i64, theirs_ms: i64) -> ClockSkew {
        let round_trip = round_trip_ms.max(0);
        let middle = sent_ms.saturating_add(round_trip / 2);
        ClockSkew {
            offset_ms: theirs_ms.saturating_sub(middle),
            uncertainty_ms: round_trip - round_trip / 2,
        }
    }

    /// The clocks differ by more than `tolerance_ms`, whatever the transit took.
    pub fn too_far(&self, tolerance_ms: i64) -> bool {
        self.offset_ms.saturating_abs().saturating_sub(self.uncertainty_ms) > tolerance_ms
    }

    /// The offset in whole seconds (rounded), as the status and the metrics show it.
    pub fn offset_secs(&self) -> i64 {
        let ms = self.offset_ms;
        ms / 1000 + i64::from(ms % 1000 >= 500) - i64::from(ms % 1000 <= -500)
    }

    /// In words, while the clocks are too far apart: "PBX B's clock is 2m 5s ahead of this box's…".
    pub fn problem(&self, partner: &str, tolerance_ms: i64) -> Option<String> {
        if !self.too_far(tolerance_ms) {
            return None;
        }
        let way = if self.offset_ms > 0 { "ahead of" } else { "behind" };
        Some(format!(
            "{partner}'s clock is {} {way} this box's: the maintenance and the audit log compare times written on \
             both boxes; set both clocks with NTP (`timedatectl set-ntp true`)",
            human_secs(self.offset_secs().unsigned_abs())
        ))
    }
}

/// How long the sender of `hb` had held its role when it wrote it, plus `age` (how long ago it
/// arrived, by this box's monotonic clock). Both times of the difference are the sender's
/// own, so neither box's clock error counts: the hold before switching back does not depend on
/// the clocks agreeing. An older agent that sends no clock: by this box's clock.
pub fn role_for_secs(hb: &lbs_protocol::Heartbeat, age: std::time::Duration) -> u64 {
    let since_ms = hb.role_since_unix.saturating_mul(1000);
    let held_ms = match hb.now_unix_ms {
        Some(theirs) => theirs
            .saturating_sub(since_ms)
            .saturating_add(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)),
        None => crate::clock::now_unix_ms().saturating_sub(since_ms),
    };
    (held_ms.max(0) / 1000) as u64
}

/// What changed between two measurements, worth a line in the log: `Some(true)` when the clocks
/// have just gone too far apart, `Some(false)` when they agree again, `None` otherwise (so a
/// partner whose clock stays wrong is logged once, not at every heartbeat). No measurement (an
/// older agent) says nothing.
pub fn news(before: Option<&ClockSkew>, after: Option<&ClockSkew>, tolerance_ms: i64) -> Option<bool> {
    let is = after?.too_far(tolerance_ms);
    let was = before.is_some_and(|b| b.too_far(tolerance_ms));
    (was != is).then_some(is)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tolerance these tests were written for.
    const T: i64 = 30_000;

    #[test]
    fn the_offset_is_taken_at_the_middle_of_the_round_trip() {
        // Sent at 1000 ms, answered 200 ms later; the partner wrote its answer at 1100 ms.
        let same = ClockSkew::measure(1000, 200, 1100);
        assert_eq!((same.offset_ms, same.uncertainty_ms), (0, 100));
        assert!(!same.too_far(T));
        assert_eq!(same.problem("PBX B", T), None);
        let ahead = ClockSkew::measure(1000, 200, 1100 + 125_000);
        assert_eq!(ahead.offset_secs(), 125);
        assert!(ahead.too_far(T));
        let said = ahead.problem("PBX B", T).unwrap_or_default();
        assert!(said.starts_with("PBX B's clock is 2m 5s ahead of this box's"), "{said}");
        assert!(said.contains("NTP"), "{said}");
        let behind = ClockSkew::measure(1000, 0, 1000 - 40_600);
        assert_eq!(behind.offset_secs(), -41);
        assert!(behind
            .problem("PBX B", T)
            .unwrap_or_default()
            .contains("41s behind this box's"));
    }

    #[test]
    fn a_slow_round_trip_can_explain_an_offset_but_not_a_wrong_clock() {
        // 31 s off, but the answer took 10 s: the transit could explain 5 s of it.
        assert!(!ClockSkew::measure(0, 10_000, 5_000 + 31_000).too_far(T));
        assert!(ClockSkew::measure(0, 10_000, 5_000 + 36_000).too_far(T));
        assert!(!ClockSkew::measure(0, 0, 30_000).too_far(T), "30 s is tolerated");
        // Any numbers: no overflow.
        let wild = ClockSkew::measure(i64::MIN, i64::MAX, i64::MAX);
        assert!(wild.too_far(T));
        assert!(wild.problem("PBX B", T).is_some());
        assert!(ClockSkew::measure(i64::MAX, -5, i64::MIN).too_far(T));
    }

    #[test]
    fn the_time_in_role_is_read_on_the_senders_clock() {
        let hb = |since: i64, now_ms: Option<i64>| lbs_protocol::Heartbeat {
            server_id: "b".into(),
            role: lbs_protocol::Role::Primary,
            epoch: 2,
            epoch_owner: "b".into(),
            role_since_unix: since,
            promoted: Some(true),
            unapplied_files: 0,
            unapplied_bytes: 0,
            unapplied_oldest_unix: None,
            maintenance: None,
            now_unix_ms: now_ms,
            autopilot: None,
            inventory: None,
            versions: crate::compat::ours(),
        };
        // A partner whose clock is two hours ahead, primary for 10 min by its clock: 10 min,
        // plus the 5 s since its heartbeat arrived, whatever this box's clock says.
        let ahead = crate::clock::now_unix() + 7200;
        let took = hb(ahead - 600, Some(ahead * 1000));
        assert_eq!(role_for_secs(&took, std::time::Duration::from_secs(5)), 605);
        // Its clock set back since: never negative.
        assert_eq!(
            role_for_secs(&hb(ahead, Some(ahead * 1000 - 60_000)), Default::default()),
            0
        );
        // An older agent: this box's clock.
        let old = hb(crate::clock::now_unix() - 60, None);
        assert!((60..=61).contains(&role_for_secs(&old, Default::default())));
    }

    #[test]
    fn a_wrong_clock_is_news_once_and_again_when_it_is_right() {
        let ok = ClockSkew::measure(0, 10, 5);
        let off = ClockSkew::measure(0, 10, 90_000);
        let off_more = ClockSkew::measure(0, 10, 95_000);
        assert_eq!(news(None, Some(&ok), T), None);
        assert_eq!(news(Some(&ok), Some(&off), T), Some(true));
        assert_eq!(news(Some(&off), Some(&off_more), T), None, "still wrong: nothing new");
        assert_eq!(news(Some(&off_more), Some(&ok), T), Some(false));
        assert_eq!(news(None, Some(&off), T), Some(true));
        assert_eq!(
            news(Some(&off), None, T),
            None,
            "an older agent: not known, nothing said"
        );
    }
}
