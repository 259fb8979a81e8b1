//! Renders what an admin alerts on in the Prometheus text exposition format, for offices that
//! already run Prometheus or Grafana: the role and epoch, the partner, the pair's maintenance,
//! each category's sync, the PBX and the address, and the latest resource samples.
//!
//! Names follow Prometheus's conventions: base units (`_seconds`, `_bytes`, `_ratio` rather
//! than percent), one family per quantity with labels (`category`, `mount`, `interface`) rather
//! than names per instance, and an `_info` family for versions. Everything here is a gauge: the
//! agent serves states and the sampler's rates, not counters of its own. The alert rules and the
//! Grafana dashboard in `packaging/` use these names; `scripts/check-prometheus.sh` checks that
//! they exist. The agent's own alerts (`[alerts]`) show their outbox here too, so a channel that
//! keeps failing is itself seen.

use std::collections::BTreeMap;
use std::fmt::Write;

use lbs_history::SeriesInfo;
use lbs_protocol::{
    AlertsStatus, DiskVerdict, FailoverStatus, Maintenance, PairHealth, Reading, Role, Severity, SyncLinkState,
    SyncStatus,
};

/// Everything one scrape shows.
pub struct Snapshot<'a> {
    pub server_id: &'a str,
    pub name: &'a str,
    pub started_unix: i64,
    pub failover: &'a FailoverStatus,
    pub sync: &'a SyncStatus,
    /// The pair's maintenance, while it is on.
    pub maintenance: Option<&'a Maintenance>,
    /// The latest sample of each recorded series.
    pub latest: &'a [(SeriesInfo, i64, f64)],
    /// The agent's own alerts: each channel's outbox, what is open.
    pub alerts: &'a AlertsStatus,
    /// The two machines compared (`GET /api/v1/health`).
    pub health: &'a PairHealth,
}

/// Label name and value pairs of one sample.
type Labels = Vec<(&'static str, String)>;

/// Families in the order they are first written, each with its help and its samples.
#[derive(Default)]
struct Families {
    order: Vec<&'static str>,
    by_name: BTreeMap<&'static str, (&'static str, Vec<String>)>,
}

impl Families {
    fn add(&mut self, family: &'static str, help: &'static str, labels: &[(&str, String)], value: f64) {
        let entry = self.by_name.entry(family).or_insert_with(|| {
            self.order.push(family);
            (help, Vec::new())
        });
        entry.1.push(format!("{family}{} {value}", render_labels(labels)));
    }

    fn flag(&mut self, family: &'static str, help: &'static str, labels: &[(&str, String)], on: bool) {
        self.add(family, help, labels, f64::from(u8::from(on)));
    }

    fn text(self) -> String {
        let mut out = String::new();
        for family in self.order {
            let (help, lines) = &self.by_name[family];
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} gauge");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render_labels(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{{{}}}", inner.join(","))
}

pub fn render(s: &Snapshot<'_>) -> String {
    let mut m = Families::default();
    m.add(
        "lbs_agent_info",
        "The agent's identity and versions.",
        &[
            ("server_id", s.server_id.to_owned()),
            ("name", s.name.to_owned()),
            ("version", env!("CARGO_PKG_VERSION").to_owned()),
            ("api_version", lbs_protocol::API_VERSION.to_string()),
        ],
        1.0,
    );
    m.add(
        "lbs_agent_start_time_seconds",
        "When the agent started, Unix time.",
        &[],
        s.started_unix as f64,
    );
    role(&mut m, s.failover);
    partner(&mut m, s.failover, s.sync);
    maintenance(&mut m, s.maintenance);
    autopilot(&mut m, s.failover);
    sync(&mut m, s.sync);
    pbx_and_address(&mut m, s.failover);
    alerts(&mut m, s.alerts);
    health(&mut m, s.health);
    for (series, _t, value) in s.latest {
        if let Some((family, help, labels, scale)) = resource(&series.name) {
            m.add(family, help, &labels, value * scale);
        }
    }
    m.text()
}

fn role(m: &mut Families, f: &FailoverStatus) {
    m.flag(
        "lbs_role_primary",
        "1 while this box holds the primary role.",
        &[],
        f.role == Role::Primary,
    );
    m.add(
        "lbs_role_epoch",
        "The role epoch; it only grows, by one at each failover or switchover.",
        &[],
        f.epoch as f64,
    );
    m.flag(
        "lbs_failover_caught_up",
        "1 when the backup has every change the primary journaled.",
        &[],
        f.hold.caught_up,
    );
    m.add(
        "lbs_quarantined_files",
        "Files set aside when this box came back as an old primary, waiting for a person.",
        &[],
        f.quarantined_files as f64,
    );
}

fn partner(m: &mut Families, f: &FailoverStatus, sync: &SyncStatus) {
    let p = &f.partner;
    m.flag(
        "lbs_partner_paired",
        "1 when this box has a partner box.",
        &[],
        p.paired,
    );
    if !p.paired {
        return;
    }
    m.flag(
        "lbs_partner_reachable",
        "1 when the partner answered the last heartbeat.",
        &[],
        p.reachable,
    );
    if let Some(t) = p.last_contact_unix {
        m.add(
            "lbs_partner_last_contact_timestamp_seconds",
            "When the partner last answered, Unix time.",
            &[],
            t as f64,
        );
    }
    if let Some(offset) = p.clock_offset_secs {
        m.add(
            "lbs_partner_clock_skew_seconds",
            "How far the partner's clock is ahead of this box's (negative: behind), at the last heartbeat it answered.",
            &[],
            offset as f64,
        );
    }
    if let Some(link) = &sync.link {
        if let Some(ms) = link.round_trip_ms {
            m.add(
                "lbs_link_round_trip_seconds",
                "The heartbeats' average round trip to the partner over the last minute.",
                &[],
                ms / 1000.0,
            );
        }
        if let Some(p) = link.loss_percent {
            m.add(
                "lbs_link_heartbeat_loss_ratio",
                "Share of the heartbeats to the partner left unanswered over the last minute.",
                &[],
                p / 100.0,
            );
        }
    }
    m.flag(
        "lbs_sync_link_up",
        "1 while the sync link to the partner works.",
        &[],
        sync.peer.state == SyncLinkState::Ok,
    );
}

/// The alert rules hold what the work causes while it is on (`unless … lbs_maintenance_active`).
fn maintenance(m: &mut Families, on: Option<&Maintenance>) {
    m.flag(
        "lbs_maintenance_active",
        "1 while the pair is in maintenance: alerts about the work are held, nothing happens automatically.",
        &[],
        on.is_some(),
    );
    if let Some(on) = on {
        m.add(
            "lbs_maintenance_end_timestamp_seconds",
            "When the maintenance on now ends by itself, Unix time.",
            &[],
            on.until_unix as f64,
        );
    }
}

/// Automatic failover, when it is set up: armed or not, the vote as this box reaches it, and a
/// fence (a primary that stopped its PBX because it was cut off).
fn autopilot(m: &mut Families, f: &FailoverStatus) {
    let Some(a) = f.autopilot.as_ref().filter(|a| a.configured) else {
        return;
    };
    m.flag(
        "lbs_autopilot_armed",
        "1 while the pair would fail over by itself if its primary died now.",
        &[],
        a.armed,
    );
    m.flag(
        "lbs_autopilot_switched_on",
        "1 unless a person switched automatic failover off for the pair.",
        &[],
        a.switch.as_ref().is_none_or(|s| s.on),
    );
    m.flag(
        "lbs_autopilot_vote_quorum",
        "1 while this box reaches a majority of the vote (etcd: the two boxes and the witness).",
        &[],
        a.quorum,
    );
    for member in &a.members {
        m.flag(
            "lbs_autopilot_vote_member_up",
            "1 while this box reaches the vote's member.",
            &[("member", member.name.clone())],
            member.reachable,
        );
    }
    m.flag(
        "lbs_autopilot_fenced",
        "1 while this primary has stopped its PBX because it lost both its partner and the vote.",
        &[],
        a.fenced.is_some(),
    );
}

fn sync(m: &mut Families, sync: &SyncStatus) {
    for c in &sync.categories {
        let l = [("category", c.name.clone())];
        m.add(
            "lbs_sync_local_files",
            "Files of the category on this box.",
            &l,
            c.local_files as f64,
        );
        m.add(
            "lbs_sync_local_bytes",
            "Bytes of the category on this box.",
            &l,
            c.local_bytes as f64,
        );
        m.add(
            "lbs_sync_pending_files",
            "Changed files not yet on the backup.",
            &l,
            c.pending_files as f64,
        );
        m.add(
            "lbs_sync_pending_bytes",
            "Bytes of changed files not yet on the backup.",
            &l,
            c.pending_bytes as f64,
        );
        m.add(
            "lbs_sync_lag_seconds",
            "Age of the oldest change not yet on the backup; 0 when nothing is pending.",
            &l,
            c.lag_secs.unwrap_or(0) as f64,
        );
        if let Some(t) = c.last_success_unix {
            m.add(
                "lbs_sync_last_success_timestamp_seconds",
                "When the category was last in sync or a change of it applied, Unix time.",
                &l,
                t as f64,
            );
        }
        m.flag(
            "lbs_sync_error",
            "1 while the category's last sync attempt failed.",
            &l,
            c.last_error.is_some(),
        );
        m.add(
            "lbs_sync_skipped_files",
            "Entries the sync does not carry (links, special files, names that cannot travel).",
            &l,
            c.skipped.len() as f64,
        );
    }
}

fn pbx_and_address(m: &mut Families, f: &FailoverStatus) {
    m.flag(
        "lbs_pbx_managed",
        "1 when the agent starts and stops the PBX.",
        &[],
        f.pbx.managed,
    );
    m.flag(
        "lbs_pbx_should_run",
        "1 where the PBX should run: on the primary, outside a handover.",
        &[],
        f.pbx.should_run,
    );
    if let Some(running) = f.pbx.running {
        m.flag("lbs_pbx_running", "1 while the PBX runs on this box.", &[], running);
    }
    m.flag(
        "lbs_address_held",
        "1 while this box holds the phones' address.",
        &[("strategy", f.address.strategy.clone())],
        f.address.held,
    );
}

fn alerts(m: &mut Families, a: &AlertsStatus) {
    m.add(
        "lbs_alerts_open",
        "Problems the agent's own alerts have open now (sent, or held during maintenance).",
        &[],
        a.open.len() as f64,
    );
    for c in &a.channels {
        let l = [("channel", c.channel.clone())];
        m.add(
            "lbs_alerts_queued",
            "Alerts waiting in the outbox for a channel (mail server or webhook).",
            &l,
            c.queued as f64,
        );
        m.flag(
            "lbs_alert_channel_failing",
            "1 while the channel's last delivery attempt failed (it is retried).",
            &l,
            c.failing,
        );
        if let Some(t) = c.last_success_unix {
            m.add(
                "lbs_alert_channel_last_success_timestamp_seconds",
                "When the channel last accepted an alert, Unix time.",
                &l,
                t as f64,
            );
        }
    }
}

/// (family, help, labels, scale to base units) of a resource series; `None` for names this
/// version does not export.
/// The pair's differences by severity, and each disk of this box by its SMART verdict (a disk
/// whose health cannot be read is left out, not counted as good).
fn health(m: &mut Families, h: &PairHealth) {
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        m.add(
            "lbs_health_differences",
            "Differences between the two boxes (and problems of either) that matter for a failover, by severity; \
             see `lbs-agent health`.",
            &[("severity", severity.to_string())],
            h.differences.iter().filter(|d| d.severity == severity).count() as f64,
        );
    }
    let Some(disks) = h.this.disks.value() else { return };
    for d in disks {
        let Reading::Read { value } = &d.smart else { continue };
        let state = match value.verdict {
            DiskVerdict::Good => 0.0,
            DiskVerdict::Worn => 1.0,
            DiskVerdict::Failing => 2.0,
        };
        m.add(
            "lbs_disk_health_state",
            "A disk's health by SMART: 0 good, 1 wearing out (replaced sectors, endurance used), 2 failing.",
            &[("disk", d.name.clone()), ("model", d.model.clone().unwrap_or_default())],
            state,
        );
    }
}

fn resource(name: &str) -> Option<(&'static str, &'static str, Labels, f64)> {
    let plain = |f, h| Some((f, h, Vec::new(), 1.0));
    match name {
        "cpu.usage" => {
            return Some((
                "lbs_cpu_usage_ratio",
                "CPU use of the whole machine, 0 to 1.",
                Vec::new(),
                0.01,
            ))
        }
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
        let labels = vec![("period", format!("{period}m"))];
        return Some(("lbs_load_average", "System load average.", labels, 1.0));
    }
    if let Some(rest) = name.strip_prefix("disk.") {
        let (mount, what) = rest.rsplit_once('.')?;
        let (f, h, scale) = match what {
            "used_percent" => ("lbs_disk_used_ratio", "Space used on a data mount, 0 to 1.", 0.01),
            "read" => (
                "lbs_disk_read_bytes_per_second",
                "Bytes read per second on a data mount's device, over the last sample interval.",
                1.0,
            ),
            "write" => (
                "lbs_disk_write_bytes_per_second",
                "Bytes written per second on a data mount's device, over the last sample interval.",
                1.0,
            ),
            _ => return None,
        };
        return Some((f, h, vec![("mount", mount.to_owned())], scale));
    }
    if let Some(rest) = name.strip_prefix("net.") {
        let (iface, what) = rest.rsplit_once('.')?;
        let (f, h) = match what {
            "rx" => (
                "lbs_network_receive_bytes_per_second",
                "Bytes received per second, over the last sample interval.",
            ),
            "tx" => (
                "lbs_network_transmit_bytes_per_second",
                "Bytes sent per second, over the last sample interval.",
            ),
            _ => return None,
        };
        return Some((f, h, vec![("interface", iface.to_owned())], 1.0));
    }
    None
}

#[cfg(test)]
mod tests;
