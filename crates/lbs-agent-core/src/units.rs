//! Sizes and durations in words, for messages a person reads ("1.2 GB", "2h 5m").

use std::time::Duration;

/// Bytes in decimal units, one decimal: "512 B", "1.2 GB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration as "45s", "12m 3s", or to the minute from an hour on: "2h 5m".
pub fn human_secs(secs: u64) -> String {
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_plainly() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_234_000_000), "1.2 GB");
        assert_eq!(human_secs(45), "45s");
        assert_eq!(human_secs(7_530), "2h 5m");
    }
}
