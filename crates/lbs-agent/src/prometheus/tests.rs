use lbs_history::SeriesKind;
use serde_json::json;

use super::*;

fn series(name: &str) -> SeriesInfo {
    SeriesInfo {
        name: name.into(),
        label: name.into(),
        unit: "x".into(),
        kind: SeriesKind::Resources,
        first_unix: None,
        last_unix: None,
    }
}

/// A backup that hears its primary, with one category behind and one failing.
fn backup() -> (FailoverStatus, SyncStatus) {
    let failover = json!({
        "role": "backup", "epoch": 3, "epoch_owner": "a", "role_since_unix": 100, "busy": null,
        "hold": {"hold_secs": 3600, "primary_for_secs": 50, "remaining_secs": 3550, "caught_up": false,
                 "pending_files": 2, "pending_bytes": 2048},
        "pbx": {"managed": true, "running": false, "should_run": false, "problem": null, "checked_unix": 1},
        "address": {"strategy": "dns", "target": "pbx.office.lan → 10.0.0.12", "held": false, "problem": null},
        "partner": {"paired": true, "name": "PBX \"A\"", "server_id": "a", "address": "10.0.0.11:7443",
                    "reachable": true, "checked": true, "role": "primary", "epoch": 3, "role_since_unix": 100,
                    "last_contact_unix": 1700000000, "message": null},
        "quarantined_files": 0, "last_change": null
    });
    let category = |name: &str, pending: u64, lag: Option<u64>, error: bool| {
        json!({
            "name": name, "label": name, "priority": 2, "local_files": 10, "local_bytes": 4096,
            "peer_files": 12, "peer_bytes": 6144, "pending_files": pending, "pending_bytes": pending * 1024,
            "lag_secs": lag, "last_success_unix": 1699999990,
            "last_error": if error { json!({"message": "disk full", "at_unix": 1}) } else { json!(null) },
            "throughput_bps": 0.0, "skipped": []
        })
    };
    let sync = json!({
        "role": "backup", "epoch": 3,
        "peer": {"state": "ok", "server_id": "a", "name": "A", "address": "x", "last_contact_unix": 1, "message": null},
        "categories": [category("voicemail", 2, Some(40), false), category("config", 0, None, true)],
        "history": []
    });
    (
        serde_json::from_value(failover).unwrap(),
        serde_json::from_value(sync).unwrap(),
    )
}

fn text(f: &FailoverStatus, s: &SyncStatus, latest: &[(SeriesInfo, i64, f64)]) -> String {
    text_in_maintenance(f, s, latest, None)
}

fn text_in_maintenance(
    f: &FailoverStatus,
    s: &SyncStatus,
    latest: &[(SeriesInfo, i64, f64)],
    maintenance: Option<&lbs_protocol::Maintenance>,
) -> String {
    render(&Snapshot {
        server_id: "id-1",
        name: "PBX \"B\"",
        started_unix: 1_699_999_000,
        failover: f,
        sync: s,
        maintenance,
        latest,
        alerts: &alerts(),
        health: &health(),
    })
}

/// This box alone, one disk failing by SMART and one a virtual disk without it.
fn health() -> lbs_protocol::PairHealth {
    let unread = json!({"state": "unavailable", "reason": "n/a"});
    let disk = |name: &str, smart: serde_json::Value| {
        json!({"name": name, "model": "ST3500418AS", "serial": null, "size_bytes": 500, "rotational": true,
               "transport": "sata", "smart": smart})
    };
    let failing = json!({"state": "read", "value": {
        "passed": true, "verdict": "failing", "reallocated_sectors": 304, "pending_sectors": 8,
        "uncorrectable_sectors": 8, "nvme_critical_warning": null, "nvme_media_errors": null,
        "percentage_used": null, "temperature_celsius": 38, "power_on_hours": 5, "checked_unix": 1}});
    serde_json::from_value(json!({
        "this": {
            "server_id": "id-1", "name": "PBX B", "role": "backup", "collected_unix": 1, "agent_version": "0.2.0",
            "api_version": 1, "cpu": unread, "memory": unread,
            "disks": {"state": "read", "value": [disk("sda", failing), disk("vda", unread.clone())]},
            "network": unread, "telephony": {"cards": unread, "spans": unread, "dahdi_loaded": false},
            "system": unread, "pbx": unread, "categories": {"digest": "x", "categories": []}, "storage": unread
        },
        "partner": null, "partner_note": null,
        "differences": [{"severity": "critical", "area": "disks", "code": "disk_failing", "server_id": "id-1",
                         "subject": "s", "message": "m", "fix": "f"}],
        "counts": {"critical": 1, "warning": 0, "info": 0}
    }))
    .unwrap()
}

#[test]
fn differences_by_severity_and_each_disk_read_by_smart() {
    let (f, s) = backup();
    let t = text(&f, &s, &[]);
    assert!(t.contains("lbs_health_differences{severity=\"critical\"} 1\n"), "{t}");
    assert!(t.contains("lbs_health_differences{severity=\"warning\"} 0\n"), "{t}");
    assert!(
        t.contains("lbs_disk_health_state{disk=\"sda\",model=\"ST3500418AS\"} 2\n"),
        "{t}"
    );
    assert!(!t.contains("disk=\"vda\""), "a disk without SMART is left out: {t}");
}

/// A mail channel failing with two alerts waiting, a webhook that delivered, one problem open.
fn alerts() -> lbs_protocol::AlertsStatus {
    serde_json::from_value(serde_json::json!({
        "channels": [
            {"channel": "email:smtp.example.com", "kind": "email", "queued": 2, "failing": true,
             "last_error": "nothing answers", "last_success_unix": null, "next_attempt_unix": 1},
            {"channel": "webhook:ntfy.sh", "kind": "webhook", "queued": 0, "failing": false,
             "last_error": null, "last_success_unix": 1_700_000_000, "next_attempt_unix": null}
        ],
        "open": [{"condition": "partner_silent", "title": "A does not answer", "since_unix": 1, "sent": true}]
    }))
    .unwrap()
}

#[test]
fn the_alert_outbox_is_seen_per_channel() {
    let (f, s) = backup();
    let t = text(&f, &s, &[]);
    for line in [
        "lbs_alerts_open 1",
        "lbs_alerts_queued{channel=\"email:smtp.example.com\"} 2",
        "lbs_alert_channel_failing{channel=\"email:smtp.example.com\"} 1",
        "lbs_alert_channel_failing{channel=\"webhook:ntfy.sh\"} 0",
        "lbs_alert_channel_last_success_timestamp_seconds{channel=\"webhook:ntfy.sh\"} 1700000000",
    ] {
        assert!(t.lines().any(|l| l == line), "no {line} in {t}");
    }
}

fn disk_work() -> lbs_protocol::Maintenance {
    lbs_protocol::Maintenance {
        until_unix: 1_700_003_600,
        reason: "new disk".into(),
        set_by: "Sam".into(),
        set_at_unix: 1_700_000_000,
    }
}

/// A primary on autopilot that lost its partner and the vote: fenced, no majority, the witness
/// out of reach.
fn fenced_autopilot() -> lbs_protocol::AutopilotStatus {
    serde_json::from_value(json!({
        "configured": true, "switch": null, "armed": false,
        "blockers": [{"kind": "no_quorum", "since_unix": 1, "until_unix": null, "message": "no vote"}],
        "members": [
            {"name": "PBX A", "endpoint": "https://10.0.0.11:2379", "reachable": true,
             "unreachable_since_unix": null, "problem": null},
            {"name": "witness", "endpoint": "https://10.0.0.5:2379", "reachable": false,
             "unreachable_since_unix": 1, "problem": "does not answer"}
        ],
        "quorum": false, "leader": null, "last_automatic": null,
        "fenced": {"since_unix": 1, "message": "PBX A stopped its phone system."}, "held": null,
        "settings": {"lease_secs": 10, "takeover_secs": 11, "prefer_service": false, "caught_up_within_secs": 60,
                     "flap_guard_secs": 3600},
        "summary": "PBX A stopped its phone system."
    }))
    .unwrap()
}

#[test]
fn the_autopilot_shows_when_it_is_set_up() {
    let (mut f, s) = backup();
    let none = text(&f, &s, &[]);
    assert!(!none.contains("lbs_autopilot"), "not set up: nothing: {none}");
    f.autopilot = Some(fenced_autopilot());
    let t = text(&f, &s, &[]);
    for line in [
        "lbs_autopilot_armed 0\n",
        "lbs_autopilot_switched_on 1\n",
        "lbs_autopilot_vote_quorum 0\n",
        "lbs_autopilot_vote_member_up{member=\"PBX A\"} 1\n",
        "lbs_autopilot_vote_member_up{member=\"witness\"} 0\n",
        "lbs_autopilot_fenced 1\n",
    ] {
        assert!(t.contains(line), "{line}: {t}");
    }
}

#[test]
fn maintenance_is_a_flag_and_its_end_while_it_is_on() {
    let (f, s) = backup();
    let off = text(&f, &s, &[]);
    assert!(off.contains("lbs_maintenance_active 0\n"), "{off}");
    assert!(!off.contains("lbs_maintenance_end_timestamp_seconds"), "{off}");
    let on = text_in_maintenance(&f, &s, &[], Some(&disk_work()));
    assert!(on.contains("lbs_maintenance_active 1\n"), "{on}");
    assert!(
        on.contains("lbs_maintenance_end_timestamp_seconds 1700003600\n"),
        "{on}"
    );
}

#[test]
fn the_partners_clock_is_shown_once_measured() {
    let (mut f, s) = backup();
    assert!(
        !text(&f, &s, &[]).contains("lbs_partner_clock_skew_seconds"),
        "not measured yet"
    );
    f.partner.clock_offset_secs = Some(-125);
    let t = text(&f, &s, &[]);
    assert!(t.contains("lbs_partner_clock_skew_seconds -125\n"), "{t}");
}

fn link(round_trip_ms: Option<f64>, loss_percent: Option<f64>) -> lbs_protocol::LinkReport {
    lbs_protocol::LinkReport {
        round_trip_ms,
        loss_percent,
        clock_offset_ms: None,
        capacity_bps: None,
        busiest_hour_bytes: None,
        busiest_hour_unix: None,
        behind_per_busy_hour_bytes: None,
        warning: None,
    }
}

#[test]
fn the_link_is_shown_in_base_units_once_measured() {
    let (f, mut s) = backup();
    assert!(!text(&f, &s, &[]).contains("lbs_link_"), "not measured yet");
    s.link = Some(link(Some(250.0), Some(5.0)));
    let t = text(&f, &s, &[]);
    assert!(t.contains("lbs_link_round_trip_seconds 0.25\n"), "{t}");
    assert!(t.contains("lbs_link_heartbeat_loss_ratio 0.05\n"), "{t}");
    s.link = Some(link(None, None));
    assert!(
        !text(&f, &s, &[]).contains("lbs_link_"),
        "no heartbeat this minute: nothing"
    );
}

#[test]
fn what_an_admin_alerts_on_is_there_with_labels_and_base_units() {
    let (f, s) = backup();
    let latest = vec![
        (series("net.eth0.rx"), 1, 10.0),
        (series("cpu.usage"), 1, 12.5),
        (series("net.eth1.rx"), 1, 20.0),
        (series("disk./var/spool.used_percent"), 1, 40.0),
        (series("load.5"), 1, 0.5),
        (series("something.new"), 1, 1.0),
    ];
    let t = text(&f, &s, &latest);
    assert!(
        t.contains("lbs_agent_info{server_id=\"id-1\",name=\"PBX \\\"B\\\"\",version=\""),
        "{t}"
    );
    assert!(t.contains("lbs_role_primary 0\n"), "{t}");
    assert!(t.contains("lbs_role_epoch 3\n"), "{t}");
    assert!(t.contains("lbs_partner_reachable 1\n"), "{t}");
    assert!(
        t.contains("lbs_partner_last_contact_timestamp_seconds 1700000000\n"),
        "{t}"
    );
    assert!(t.contains("lbs_sync_link_up 1\n"), "{t}");
    assert!(
        t.contains("lbs_sync_pending_bytes{category=\"voicemail\"} 2048\n"),
        "{t}"
    );
    assert!(t.contains("lbs_sync_lag_seconds{category=\"voicemail\"} 40\n"), "{t}");
    assert!(t.contains("lbs_sync_lag_seconds{category=\"config\"} 0\n"), "{t}");
    assert!(t.contains("lbs_sync_error{category=\"config\"} 1\n"), "{t}");
    assert!(t.contains("lbs_sync_error{category=\"voicemail\"} 0\n"), "{t}");
    assert!(t.contains("lbs_failover_caught_up 0\n"), "{t}");
    assert!(
        t.contains("lbs_pbx_running 0\n") && t.contains("lbs_pbx_should_run 0\n"),
        "{t}"
    );
    assert!(t.contains("lbs_address_held{strategy=\"dns\"} 0\n"), "{t}");
    // Ratios, not percent.
    assert!(t.contains("lbs_cpu_usage_ratio 0.125\n"), "{t}");
    assert!(t.contains("lbs_disk_used_ratio{mount=\"/var/spool\"} 0.4\n"), "{t}");
    assert!(t.contains("lbs_network_receive_bytes_per_second{interface=\"eth0\"} 10\nlbs_network_receive_bytes_per_second{interface=\"eth1\"} 20\n"));
    assert!(t.contains("lbs_load_average{period=\"5m\"} 0.5"), "{t}");
    assert!(!t.contains("something"), "{t}");
    assert!(!t.contains("percent"), "{t}");
    // One HELP and TYPE per family, whatever the number of samples.
    assert_eq!(t.matches("# TYPE lbs_network_receive_bytes_per_second").count(), 1);
    assert_eq!(t.matches("# TYPE lbs_sync_pending_bytes gauge").count(), 1);
}

#[test]
fn an_unpaired_box_says_so_and_nothing_about_a_partner() {
    let (mut f, mut s) = backup();
    f.partner.paired = false;
    f.pbx.running = None;
    s.categories.clear();
    let t = text(&f, &s, &[]);
    assert!(t.contains("lbs_partner_paired 0\n"), "{t}");
    assert!(!t.contains("lbs_partner_reachable"), "{t}");
    assert!(!t.contains("lbs_sync_link_up"), "{t}");
    assert!(!t.contains("lbs_pbx_running "), "unknown is absent, not 0: {t}");
}

#[test]
fn the_families_are_the_ones_the_alert_rules_and_the_dashboard_know() {
    // scripts/check-prometheus.sh checks the rules and the dashboard against its list; this keeps
    // that list equal to what the agent writes.
    let script = include_str!("../../../../scripts/check-prometheus.sh");
    let list = script
        .split("KNOWN=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    let mut known: Vec<&str> = list.split_whitespace().filter(|n| *n != "up").collect();
    known.sort_unstable();
    let (mut f, mut s) = backup();
    f.partner.clock_offset_secs = Some(-2);
    f.autopilot = Some(fenced_autopilot());
    s.link = Some(link(Some(12.0), Some(0.0)));
    let every_series = [
        "cpu.usage",
        "memory.used",
        "memory.total",
        "swap.used",
        "processes",
        "pbx.calls",
        "pbx.phones",
        "load.1",
        "disk./.used_percent",
        "disk./.read",
        "disk./.write",
        "net.eth0.rx",
        "net.eth0.tx",
    ];
    let latest: Vec<_> = every_series.iter().map(|n| (series(n), 1, 1.0)).collect();
    let t = text_in_maintenance(&f, &s, &latest, Some(&disk_work()));
    let mut written: Vec<&str> = t
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    written.sort_unstable();
    assert_eq!(written, known);
}
