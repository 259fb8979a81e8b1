//! Renders the latest samples in the Prometheus text exposition format, for offices that
//! already run Prometheus or Grafana. Series names map to metric families with labels.

use std::collections::BTreeMap;
use std::fmt::Write;

use lbs_history::SeriesInfo;
use lbs_protocol::Role;

pub struct AgentInfo<'a> {
    pub server_id: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub epoch: u64,
    pub uptime_secs: u64,
}

/// Label name and value pairs of one sample.
type Labels = Vec<(&'static str, String)>;

/// (family, help, labels) for a series name; `None` for names this version does not export.
fn family(name: &str) -> Option<(&'static str, &'static str, Labels)> {
    let plain = |f, h| Some((f, h, Vec::new()));
    match name {
        "cpu.usage" => return plain("lbs_cpu_usage_percent", "CPU use of the whole machine, percent."),
        "memory.used" => return plain("lbs_memory_used_bytes", "Memory in use."),
        "memory.total" => return plain("lbs_memory_total_bytes", "Installed memory."),
        "swap.used" => return plain("lbs_swap_used_bytes", "Swap in use."),
        "processes" => return plain("lbs_processes", "Number of processes."),
        "pbx.calls" => return plain("lbs_pbx_active_calls", "Active calls reported by the PBX probe."),
        "pbx.phones" => {
            return plain(
                "lbs_pbx_registered_phones",
                "Registered phones reported by the PBX probe.",
            )
        }
        _ => {}
    }
    if let Some(period) = name.strip_prefix("load.") {
        return Some((
            "lbs_load_average",
            "System load average.",
            vec![("period", format!("{period}m"))],
        ));
    }
    if let Some(rest) = name.strip_prefix("disk.") {
        let (mount, what) = rest.rsplit_once('.')?;
        let (f, h) = match what {
            "used_percent" => ("lbs_disk_used_percent", "Space used on a data mount, percent."),
            "read" => (
                "lbs_disk_read_bytes_per_second",
                "Bytes read per second on a data mount's device.",
            ),
            "write" => (
                "lbs_disk_write_bytes_per_second",
                "Bytes written per second on a data mount's device.",
            ),
            _ => return None,
        };
        return Some((f, h, vec![("mount", mount.to_owned())]));
    }
    if let Some(rest) = name.strip_prefix("net.") {
        let (iface, what) = rest.rsplit_once('.')?;
        let (f, h) = match what {
            "rx" => ("lbs_network_receive_bytes_per_second", "Bytes received per second."),
            "tx" => ("lbs_network_transmit_bytes_per_second", "Bytes sent per second."),
            _ => return None,
        };
        return Some((f, h, vec![("interface", iface.to_owned())]));
    }
    None
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

pub fn render(info: &AgentInfo<'_>, latest: &[(SeriesInfo, i64, f64)]) -> String {
    let mut families: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for (series, _t, value) in latest {
        if let Some((f, help, l)) = family(&series.name) {
            families
                .entry(f)
                .or_insert((help, Vec::new()))
                .1
                .push(format!("{f}{} {value}", labels(&l)));
        }
    }
    let mut out = String::new();
    let info_labels = labels(&[
        ("server_id", info.server_id.to_owned()),
        ("name", info.name.to_owned()),
        ("role", info.role.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_owned()),
    ]);
    let _ = writeln!(
        out,
        "# HELP lbs_agent_info The agent's identity and role.\n# TYPE lbs_agent_info gauge"
    );
    let _ = writeln!(out, "lbs_agent_info{info_labels} 1");
    let _ = writeln!(
        out,
        "# HELP lbs_role_primary 1 while this box holds the primary role.\n# TYPE lbs_role_primary gauge"
    );
    let _ = writeln!(out, "lbs_role_primary {}", u8::from(info.role == Role::Primary));
    let _ = writeln!(
        out,
        "# HELP lbs_epoch Role epoch of this box.\n# TYPE lbs_epoch gauge\nlbs_epoch {}",
        info.epoch
    );
    let _ = writeln!(
        out,
        "# HELP lbs_agent_uptime_seconds Seconds since the agent started.\n# TYPE lbs_agent_uptime_seconds gauge"
    );
    let _ = writeln!(out, "lbs_agent_uptime_seconds {}", info.uptime_secs);
    for (f, (help, lines)) in families {
        let _ = writeln!(out, "# HELP {f} {help}\n# TYPE {f} gauge");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbs_history::SeriesKind;

    fn s(name: &str) -> SeriesInfo {
        SeriesInfo {
            name: name.into(),
            label: name.into(),
            unit: "x".into(),
            kind: SeriesKind::Resources,
            first_unix: None,
            last_unix: None,
        }
    }

    #[test]
    fn families_group_samples_with_labels() {
        let info = AgentInfo {
            server_id: "id-1",
            name: "PBX \"A\"",
            role: Role::Primary,
            epoch: 3,
            uptime_secs: 9,
        };
        let latest = vec![
            (s("net.eth0.rx"), 1, 10.0),
            (s("cpu.usage"), 1, 12.5),
            (s("net.eth1.rx"), 1, 20.0),
            (s("disk./var/spool.used_percent"), 1, 40.0),
            (s("load.5"), 1, 0.5),
            (s("something.new"), 1, 1.0),
        ];
        let text = render(&info, &latest);
        assert!(text.contains("lbs_agent_info{server_id=\"id-1\",name=\"PBX \\\"A\\\"\",role=\"primary\""));
        assert!(text.contains("lbs_cpu_usage_percent 12.5\n"));
        assert!(text.contains("lbs_network_receive_bytes_per_second{interface=\"eth0\"} 10\nlbs_network_receive_bytes_per_second{interface=\"eth1\"} 20\n"));
        assert!(text.contains("lbs_disk_used_percent{mount=\"/var/spool\"} 40"));
        assert!(text.contains("lbs_load_average{period=\"5m\"} 0.5"));
        assert!(text.contains("lbs_epoch 3"));
        assert!(!text.contains("something"));
        assert_eq!(text.matches("# TYPE lbs_network_receive_bytes_per_second").count(), 1);
    }
}
