//! Plausible past history for demos and benchmarks (`lbs-agent demo seed-history`): an office
//! day's rhythm — busy 8:00–18:00 on weekdays, quiet at night — over the series this box records.

use lbs_history::{HistoryError, HistoryStore, SeriesDef, SeriesKind};

use super::{Reading, SystemReader};
use crate::config::Config;

/// Seconds between seeded samples: roll-ups are per minute, so finer adds nothing to the past.
const STEP: i64 = 60;

/// 0 at night and on weekends, up to 1 at mid-morning and mid-afternoon (UTC).
fn office_activity(t: i64) -> f64 {
    let day = (t / 86_400 + 3) % 7; // 0 = Monday (1970-01-01 was a Thursday)
    if day >= 5 {
        return 0.03;
    }
    let hour = (t % 86_400) as f64 / 3600.0;
    if !(8.0..18.0).contains(&hour) {
        return 0.05;
    }
    let lunch_dip = if (12.0..13.5).contains(&hour) { 0.55 } else { 1.0 };
    (((hour - 8.0) / 10.0 * std::f64::consts::PI).sin() * lunch_dip).max(0.05)
}

/// Deterministic noise in [-1, 1] for a time and a series.
fn noise(t: i64, salt: usize) -> f64 {
    let mut x = (t as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add((salt as u64).wrapping_mul(1442695040888963407));
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    (x % 20_001) as f64 / 10_000.0 - 1.0
}

fn value(r: &Reading, t: i64, salt: usize, progress: f64) -> f64 {
    let f = office_activity(t);
    let n = noise(t, salt);
    let v = match r.name.as_str() {
        "cpu.usage" => 4.0 + 35.0 * f + 3.0 * n,
        "memory.used" => r.value * (0.9 + 0.15 * f),
        "memory.total" => r.value,
        "swap.used" => r.value,
        "processes" => r.value + 15.0 * f + 3.0 * n,
        "pbx.calls" => (14.0 * f + 2.0 * n).round(),
        "pbx.phones" => (38.0 + 6.0 * f + n).round(),
        "role.primary" => r.value,
        name if name.starts_with("load.") => 0.15 + 1.6 * f + 0.1 * n,
        name if name.ends_with(".used_percent") => r.value - 3.0 * (1.0 - progress),
        name if name.starts_with("disk.") => 40_000.0 + 2_500_000.0 * f * (1.0 + 0.5 * n),
        name if name.ends_with(".rx") => 15_000.0 + 450_000.0 * f * (1.0 + 0.4 * n),
        name if name.ends_with(".tx") => 12_000.0 + 380_000.0 * f * (1.0 + 0.4 * n),
        _ => r.value,
    };
    v.max(0.0)
}

/// Writes `days` of samples ending now; returns how many were written.
/// Start and length of the demo's past switchover drill: the backup held the role for three hours
/// two days before the seeding ended, so the graphs show both boxes' primary periods.
const DRILL_BEFORE_END: i64 = 2 * 86_400;
const DRILL_SECS: i64 = 3 * 3_600;

/// `primary_now`: the box's role today; it held the other one during the drill.
pub async fn seed(config: &Config, history: &HistoryStore, days: u32, primary_now: bool) -> Result<u64, HistoryError> {
    let mut reader = SystemReader::new(&config.metrics);
    let mut now_readings = reader.read();
    now_readings.push(super::role_reading(primary_now));
    now_readings.push(Reading::new(
        "pbx.calls",
        "Active calls",
        "count",
        SeriesKind::PbxActivity,
        0.0,
    ));
    now_readings.push(Reading::new(
        "pbx.phones",
        "Registered phones",
        "count",
        SeriesKind::PbxActivity,
        0.0,
    ));
    let defs: Vec<SeriesDef> = now_readings.iter().map(Reading::def).collect();
    history.register(&defs).await?;
    let end = crate::clock::now_unix() - config.metrics.interval as i64;
    let start = end - i64::from(days) * 86_400;
    let mut written = 0u64;
    let mut t = start - start % STEP;
    while t < end {
        let chunk_end = (t + 86_400).min(end);
        let mut rows: Vec<(i64, &str, f64)> = Vec::new();
        while t < chunk_end {
            let progress = (t - start) as f64 / (end - start).max(1) as f64;
            let drill = (end - DRILL_BEFORE_END..end - DRILL_BEFORE_END + DRILL_SECS).contains(&t);
            for (salt, r) in now_readings.iter().enumerate() {
                let v = value(r, t, salt, progress);
                let v = if drill && r.name == "role.primary" { 1.0 - v } else { v };
                rows.push((t, r.name.as_str(), v));
            }
            t += STEP;
        }
        history.record_many(&rows).await?;
        written += rows.len() as u64;
    }
    history.roll_up(crate::clock::now_unix()).await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_are_busier_than_nights_and_weekends() {
        let monday_10 = 4 * 86_400 + 10 * 3600; // 1970-01-05 was a Monday
        let monday_3 = 4 * 86_400 + 3 * 3600;
        let saturday_10 = 9 * 86_400 + 10 * 3600;
        assert!(office_activity(monday_10) > 0.5);
        assert!(office_activity(monday_3) < 0.1);
        assert!(office_activity(saturday_10) < 0.1);
    }

    #[test]
    fn noise_stays_in_range() {
        assert!((0..1000).all(|t| (-1.0..=1.0).contains(&noise(t, 3))));
    }
}
