//! Network interfaces and their link speeds, from `/sys/class/net`.

use std::path::Path;

use lbs_protocol::NetInterface;

use super::Unreadable;

/// The physical interfaces under `sys_net` (`/sys/class/net`): those backed by a device.
/// Loopback, bridges, bonds' slaves' masters, tunnels and veths have no `device` link.
pub fn read(sys_net: &Path) -> Result<Vec<NetInterface>, Unreadable> {
    let entries =
        std::fs::read_dir(sys_net).map_err(|e| Unreadable(format!("cannot list {}: {e}", sys_net.display())))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.join("device").exists() {
            continue;
        }
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
        out.push(interface(
            &entry.file_name().to_string_lossy(),
            read("operstate").as_deref(),
            // Reading `speed` of a link that is down fails with EINVAL.
            read("speed").as_deref(),
            read("address").as_deref(),
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One interface from its sysfs files' contents.
pub fn interface(name: &str, operstate: Option<&str>, speed: Option<&str>, address: Option<&str>) -> NetInterface {
    let state = operstate.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("unknown");
    // -1 (or 4294967295 from older kernels) means the driver does not know.
    let speed_mbps = speed
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| *s > 0 && *s < u32::MAX as i64)
        .map(|s| s as u32)
        .filter(|_| state == "up");
    NetInterface {
        name: name.to_owned(),
        mac: address.map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned),
        state: state.to_owned(),
        speed_mbps,
    }
}

/// The fastest link that is up, in Mbit/s.
pub fn fastest_link(interfaces: &[NetInterface]) -> Option<u32> {
    interfaces.iter().filter_map(|i| i.speed_mbps).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_the_driver_does_not_know_are_left_out() {
        let gig = interface("eno1", Some("up\n"), Some("1000\n"), Some("3c:ec:ef:00:00:01\n"));
        assert_eq!(gig.speed_mbps, Some(1000));
        assert_eq!(gig.mac.as_deref(), Some("3c:ec:ef:00:00:01"));
        assert_eq!(interface("eth0", Some("up"), Some("-1"), None).speed_mbps, None);
        assert_eq!(interface("eth0", Some("up"), Some("4294967295"), None).speed_mbps, None);
        let down = interface("eno2", Some("down"), None, None);
        assert_eq!((down.state.as_str(), down.speed_mbps), ("down", None));
        assert_eq!(fastest_link(&[gig, down]), Some(1000));
    }

    #[test]
    fn this_machine_lists_physical_interfaces_only() {
        let list = read(Path::new("/sys/class/net")).unwrap();
        assert!(list.iter().all(|i| i.name != "lo"), "{list:?}");
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("missing")).is_err());
    }
}
