//! Times a person at the box reads, in the box's own time zone: "14:30", "tomorrow 09:00".

use std::fmt::Display;

use chrono::{Local, TimeZone};

/// `t` (Unix seconds) on the clock of this box, as seen at `now`.
pub fn clock(t: i64, now: i64) -> String {
    clock_in(&Local, t, now)
}

fn clock_in<Tz: TimeZone>(tz: &Tz, t: i64, now: i64) -> String
where
    Tz::Offset: Display,
{
    let (Some(at), Some(today)) = (tz.timestamp_opt(t, 0).single(), tz.timestamp_opt(now, 0).single()) else {
        return format!("{t} (Unix time)");
    };
    match (at.date_naive() - today.date_naive()).num_days() {
        0 => at.format("%H:%M").to_string(),
        1 => at.format("tomorrow %H:%M").to_string(),
        _ => at.format("%Y-%m-%d %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_today_is_the_hour_and_tomorrow_says_so() {
        let paris = chrono::FixedOffset::east_opt(3600).unwrap();
        // 2025-11-30 10:00 in Paris.
        let now = 1_764_493_200;
        assert_eq!(clock_in(&paris, now + 4 * 3600 + 1800, now), "14:30");
        assert_eq!(clock_in(&paris, now + 23 * 3600, now), "tomorrow 09:00");
        assert_eq!(clock_in(&paris, now + 3 * 86_400, now), "2025-12-03 10:00");
    }
}
