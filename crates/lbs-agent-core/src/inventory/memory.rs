//! Memory, from `/proc/meminfo`.

use lbs_protocol::MemoryInfo;

use super::Unreadable;

/// Parses `/proc/meminfo` (`MemTotal:  16314208 kB`).
pub fn parse(text: &str) -> Result<MemoryInfo, Unreadable> {
    let field = |name: &str| -> Option<u64> {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let mut parts = rest.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            Some(match parts.next() {
                Some("kB") => n.saturating_mul(1024),
                _ => n,
            })
        })
    };
    let total_bytes = field("MemTotal").ok_or("/proc/meminfo has no MemTotal")?;
    Ok(MemoryInfo {
        total_bytes,
        swap_bytes: field("SwapTotal").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_vm_has_its_memory_in_kilobytes() {
        let text = include_str!("fixtures/meminfo-vm.txt");
        let m = parse(text).unwrap();
        let kb: u64 = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(m.total_bytes, kb * 1024);
        assert!(m.total_bytes > 1_000_000_000, "{m:?}");
        assert!(parse("Buffers: 3 kB\n").is_err());
    }
}
