//! The `vip` takeover: a floating address that the primary holds on its interface, announced
//! with gratuitous ARP so switches and phones learn the new box in milliseconds instead of
//! waiting for their ARP caches to expire (about 45 s). Uses `ip` (iproute2) and `arping`
//! (iputils-arping), as an administrator would by hand.

use std::time::Duration;

use crate::command;
use crate::config::VipTakeover;
use crate::refusal::Refusal;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `ip` lies outside the floating address's network (`address/prefix`): a box there
/// could hold the address but nobody on the office's network would reach it.
pub fn outside(floating: (std::net::IpAddr, u8), ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (floating.0, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let prefix = u32::from(floating.1.min(32));
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(net) & mask != u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let prefix = u32::from(floating.1.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(net) & mask != u128::from(ip) & mask
        }
        _ => true,
    }
}

fn cidr(v: &VipTakeover) -> String {
    format!("{}/{}", v.address.0, v.address.1)
}

fn ip(args: &[&str]) -> Vec<String> {
    std::iter::once("ip")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

pub async fn take(v: &VipTakeover) -> Result<String, Refusal> {
    let cidr = cidr(v);
    // `replace` is idempotent: taking an address this box already holds is not an error.
    command::run_ok(
        &format!("adding {cidr} to {}", v.interface),
        &ip(&["addr", "replace", &cidr, "dev", &v.interface]),
        &[],
        TIMEOUT,
    )
    .await?;
    if v.address.0.is_ipv4() && v.arp_count > 0 {
        // The first announcement leaves at once; the rest (one a second) are not waited for.
        let arping: Vec<String> = [
            "arping",
            "-U",
            "-c",
            &v.arp_count.to_string(),
            "-I",
            &v.interface,
            &v.address.0.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let count = v.arp_count;
        tokio::spawn(async move {
            let wait = TIMEOUT + Duration::from_secs(u64::from(count));
            if let Err(e) = command::run_ok("the gratuitous ARP (arping)", &arping, &[], wait).await {
                tracing::warn!(error = %e, "the floating address was taken but not announced; phones may take up to a minute to find it");
            }
        });
    }
    Ok(format!("{cidr} is on {} and announced", v.interface))
}

pub async fn release(v: &VipTakeover) -> Result<String, Refusal> {
    let cidr = cidr(v);
    if held(v).await == Some(false) {
        return Ok(format!("{cidr} is not on {}", v.interface));
    }
    let o = command::run(&ip(&["addr", "del", &cidr, "dev", &v.interface]), &[], TIMEOUT).await?;
    // Not holding it is what we want (iproute2 words it differently across versions).
    if o.success || o.output.contains("Cannot assign requested address") || o.output.contains("Address not found") {
        Ok(format!("{cidr} is no longer on {}", v.interface))
    } else {
        Err(Refusal::internal(format!(
            "removing {cidr} from {} failed: {}",
            v.interface, o.output
        )))
    }
}

/// Whether the interface holds the address now.
pub async fn held(v: &VipTakeover) -> Option<bool> {
    let o = command::run(&ip(&["-o", "addr", "show", "dev", &v.interface]), &[], TIMEOUT)
        .await
        .ok()?;
    let needle = format!(" {} ", cidr(v));
    Some(o.success && format!("{} ", o.output.replace('\n', " ")).contains(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_outside_the_floating_network_is_found() {
        let net = |s: &str, p| (s.parse().unwrap(), p);
        let ip = |s: &str| s.parse().unwrap();
        assert!(!outside(net("192.168.1.10", 24), ip("192.168.1.12")));
        assert!(outside(net("192.168.1.10", 24), ip("192.168.2.12")));
        assert!(outside(net("192.168.1.10", 24), ip("10.2.0.12")));
        assert!(!outside(net("10.0.0.10", 8), ip("10.200.1.1")));
        assert!(!outside(net("192.168.1.10", 0), ip("8.8.8.8")), "/0 holds everything");
        assert!(outside(net("192.168.1.10", 32), ip("192.168.1.11")));
        assert!(
            !outside(net("192.168.1.10", 24), ip("::ffff:192.168.1.12")),
            "a mapped IPv4 address"
        );
        assert!(!outside(net("fd00:1::10", 64), ip("fd00:1::12")));
        assert!(outside(net("fd00:1::10", 64), ip("fd00:2::12")));
        assert!(outside(net("fd00:1::10", 64), ip("192.168.1.12")));
    }
}
