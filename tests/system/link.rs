//! The link between the two boxes (issue 17): measured at every heartbeat, recorded in the
//! history, and judged against the office's changes — a backup in another building is only as
//! good as its link. And the clocks: a partner whose clock is wrong is measured, recorded and
//! alerted, and the hold before switching back does not move with it.

use std::time::Duration;

use lbs_protocol::{AlertsStatus, FailoverStatus, HistoryResponse, SyncStatus};
use lbs_tests::relay::Relay;
use lbs_tests::{eventually, Agent};

use crate::failover::{box_config, voicemail};

async fn get<T: serde::de::DeserializeOwned>(agent: &Agent, path: &str) -> Option<T> {
    agent.get(path, &agent.link.token).await.json().await.ok()
}

/// The highest value of `series` this agent recorded in the last ten minutes.
async fn recorded_max(agent: &Agent, series: &str) -> Option<f64> {
    let now = lbs_agent_core::clock::now_unix();
    let path = format!(
        "/api/v1/metrics/history?series={series}&from={}&to={}&points=600",
        now - 600,
        now + 5
    );
    let h: HistoryResponse = get(agent, &path).await?;
    h.points.iter().map(|p| p.max).reduce(f64::max)
}

// Several threads: the relay runs in this runtime while the test blocks on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_through_a_slow_relay_is_measured_recorded_and_a_link_too_slow_for_the_office_is_said() {
    let mut a = Agent::init_config("PBX A", "1s", |d| box_config(d, "1h", ""));
    // B copies at most 1 KB/s (3.6 MB an hour): less than the office below changes in an hour.
    let mut b = Agent::init_config("PBX B", "1s", |d| box_config(d, "1h", "bandwidth_limit = \"1 KB/s\"\n"));
    a.start();
    b.start();
    // B reaches A through a relay that adds 60 ms each way, as a link to another building.
    let relay = Relay::start(a.address().parse().expect("A's address"), Duration::from_millis(60)).await;
    let mut through = a.link.clone();
    through.address = relay.addr.to_string();
    let out = b.cli(&["pair", &through.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));

    let report = eventually("B to measure its round trip to A", Duration::from_secs(20), || async {
        let s: SyncStatus = get(&b, "/api/v1/sync").await?;
        s.link.filter(|l| l.round_trip_ms.is_some_and(|ms| ms >= 120.0))
    })
    .await;
    let round_trip = report.round_trip_ms.unwrap_or_default();
    assert!(round_trip < 2000.0, "{report:?}");
    // A heartbeat may time out on a loaded machine; most are answered.
    assert!(report.loss_percent.is_some_and(|p| p < 20.0), "{report:?}");
    assert!(
        report.clock_offset_ms.is_some_and(|ms| ms.abs() < 1000),
        "the same clock: {report:?}"
    );
    // A reaches B directly, and measures its own heartbeats' round trip too.
    eventually("A to measure its round trip to B", Duration::from_secs(20), || async {
        let s: SyncStatus = get(&a, "/api/v1/sync").await?;
        s.link.and_then(|l| l.round_trip_ms)
    })
    .await;
    let recorded = eventually(
        "B's history to hold the round trip",
        Duration::from_secs(20),
        || async { recorded_max(&b, "link.round_trip_ms").await.filter(|ms| *ms >= 120.0) },
    )
    .await;
    assert!(recorded < 2000.0, "{recorded}");

    // The office changes 8 MB within the hour, more than 1 KB/s carries in one (even if a clock
    // hour ends while it is written, one side of it holds 4 MB): B says how far it falls behind in
    // such an hour, with the figures it measured.
    for i in 0..40 {
        let bytes = lbs_tests::noise(i, 200_000);
        std::fs::write(voicemail(&a).join(format!("msg{i:04}.wav")), bytes).unwrap();
    }
    let report = eventually("B to say the link cannot keep up", Duration::from_secs(60), || async {
        let s: SyncStatus = get(&b, "/api/v1/sync").await?;
        // The changes arrive a page at a time: "close to its limit" may be said on the way.
        s.link
            .filter(|l| l.warning.as_ref().is_some_and(|w| w.contains("cannot keep up")))
    })
    .await;
    let warning = report.warning.clone().unwrap_or_default();
    assert!(warning.starts_with("The link from PBX A cannot keep up"), "{warning}");
    let capacity = report.capacity_bps.unwrap_or_default();
    assert!(capacity > 0.0 && capacity <= 1000.0, "capped by the limit: {report:?}");
    let hour = report.busiest_hour_unix.unwrap_or_default();
    assert_eq!(hour % 3600, 0, "a clock hour: {report:?}");
    assert!(
        report.busiest_hour_bytes.unwrap_or_default() > capacity * 3600.0,
        "{report:?}"
    );
    assert!(
        report.behind_per_busy_hour_bytes.unwrap_or_default() > 0.0,
        "{report:?}"
    );
    // And B's history holds the burst, at the next tick.
    eventually(
        "B's history to hold the office's changes",
        Duration::from_secs(20),
        || async { recorded_max(&b, "sync.incoming").await.filter(|rate| *rate > 40_000.0) },
    )
    .await;

    // The link cut: B's heartbeats go unanswered, and it counts them.
    relay.cut();
    eventually("B to count lost heartbeats", Duration::from_secs(20), || async {
        let s: SyncStatus = get(&b, "/api/v1/sync").await?;
        s.link.filter(|l| l.loss_percent.is_some_and(|p| p > 0.0))
    })
    .await;
    eventually("B's history to hold the losses", Duration::from_secs(20), || async {
        recorded_max(&b, "link.loss_percent").await.filter(|p| *p > 0.0)
    })
    .await;
    let metrics = b.get("/api/v1/metrics", &b.link.token).await.text().await.unwrap();
    assert!(metrics.contains("lbs_link_heartbeat_loss_ratio "), "{metrics}");
    assert!(metrics.contains("lbs_link_round_trip_seconds "), "{metrics}");
    relay.mend();
    b.stop();
    a.stop();
}

#[tokio::test]
async fn a_wrong_clock_is_measured_recorded_and_alerted_and_the_hold_does_not_move_with_it() {
    let mut a = Agent::init_config("PBX A", "1s", |d| box_config(d, "1h", ""));
    let mut b = Agent::init_config("PBX B", "1s", |d| box_config(d, "1h", ""));
    // B's clock two hours behind (only the wall clock: the monotonic clock runs on).
    lbs_tests::faults::fake_clock(&mut b, "-2h");
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));

    // Each box measures the other's clock.
    let seen_by_a = eventually("A to measure B's clock", Duration::from_secs(20), || async {
        let f: FailoverStatus = get(&a, "/api/v1/failover").await?;
        f.partner.clock_offset_secs.map(|o| (o, f.partner.clock_problem))
    })
    .await;
    assert!((-7210..=-7190).contains(&seen_by_a.0), "{seen_by_a:?}");
    let problem = seen_by_a.1.unwrap_or_default();
    assert!(
        problem.starts_with("PBX B's clock is 2h behind this box's"),
        "{problem}"
    );
    let seen_by_b = eventually("B to measure A's clock", Duration::from_secs(20), || async {
        let f: FailoverStatus = get(&b, "/api/v1/failover").await?;
        f.partner.clock_offset_secs
    })
    .await;
    assert!((7190..=7210).contains(&seen_by_b), "{seen_by_b}");
    // Recorded in A's history, and alerted by the backup (B).
    let recorded = eventually("A's history to hold the offset", Duration::from_secs(20), || async {
        let now = lbs_agent_core::clock::now_unix();
        let path = format!(
            "/api/v1/metrics/history?series=link.clock_offset_ms&from={}&to={}&points=10",
            now - 600,
            now + 5
        );
        let h: HistoryResponse = get(&a, &path).await?;
        h.points.last().map(|p| p.avg)
    })
    .await;
    assert!((-7_210_000.0..=-7_190_000.0).contains(&recorded), "{recorded}");
    let alert = eventually("B to alert the clocks", Duration::from_secs(20), || async {
        let s: AlertsStatus = get(&b, "/api/v1/alerts").await?;
        s.open.into_iter().find(|o| o.condition == "clock_skew")
    })
    .await;
    assert_eq!(alert.title, "The clocks of PBX B and PBX A differ by 2 h");

    // B takes over (a switchover): for A, now its backup, B has been the primary for seconds —
    // not the two hours B's clock would say — and the hour's hold lies ahead.
    let out = b.cli(&["switchover"]);
    assert!(
        out.status.success(),
        "switchover: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hold = eventually("A to follow B as its backup", Duration::from_secs(30), || async {
        let f: FailoverStatus = get(&a, "/api/v1/failover").await?;
        (f.role == lbs_protocol::Role::Backup && f.hold.primary_for_secs.is_some()).then_some(f.hold)
    })
    .await;
    assert!(hold.primary_for_secs.unwrap_or(u64::MAX) < 120, "{hold:?}");
    assert!(hold.remaining_secs.unwrap_or(0) > 3600 - 120, "{hold:?}");
    // B's own view agrees.
    let f: FailoverStatus = get(&b, "/api/v1/failover").await.expect("B's status");
    assert!(f.hold.remaining_secs.unwrap_or(0) > 3600 - 120, "{:?}", f.hold);
    b.stop();
    a.stop();
}

/// A floating address moves only within its network: B, set up with one, says it cannot reach
/// its partner on another network (here A at 127.0.0.1, the address on 192.0.2.0/24). B stays
/// the backup, so it never takes the address.
#[tokio::test]
async fn a_floating_address_for_a_partner_on_another_network_is_said() {
    let vip = |d: &std::path::Path| {
        let c = box_config(d, "1h", "");
        let start = c.find("[takeover]").expect("a takeover section");
        let end = start + c[start..].find("\n\n").expect("its end");
        format!(
            "{}[takeover]\nstrategy = \"vip\"\naddress = \"192.0.2.10/24\"\ninterface = \"lo\"\narp_count = 0{}",
            &c[..start],
            &c[end..]
        )
    };
    let pair = crate::failover::pair_of(|d| box_config(d, "1h", ""), vip);
    let warning = eventually(
        "B to say the address cannot move to A",
        Duration::from_secs(20),
        || async {
            let f: FailoverStatus = get(&pair.b, "/api/v1/failover").await?;
            f.address.warning
        },
    )
    .await;
    assert!(
        warning.starts_with(
            "The floating address 192.0.2.10/24 cannot move to PBX A: PBX A is at 127.0.0.1, on another network."
        ),
        "{warning}"
    );
    assert!(warning.contains("DNS takeover"), "{warning}");
    let shown = String::from_utf8_lossy(&pair.b.cli(&["status"]).stdout).to_string();
    assert!(
        shown.contains("WARNING: The floating address 192.0.2.10/24 cannot move"),
        "{shown}"
    );
    // A, with the hook, has nothing to say.
    let f: FailoverStatus = get(&pair.a, "/api/v1/failover").await.expect("A's status");
    assert_eq!(f.address.warning, None);
}

/// A backup paired with a primary that holds data copies all of it at once: that is not the
/// office changing, and must not read as its busiest hour (a false "cannot keep up" for a week).
#[tokio::test]
async fn a_first_copy_is_not_taken_for_the_office_changing() {
    let mut a = Agent::init_config("PBX A", "1s", |d| box_config(d, "1h", ""));
    let mut b = Agent::init_config("PBX B", "1s", |d| box_config(d, "1h", ""));
    for i in 0..20 {
        std::fs::write(
            voicemail(&a).join(format!("old{i:03}.wav")),
            lbs_tests::noise(i, 100_000),
        )
        .unwrap();
    }
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    eventually("B to hold the primary's voicemail", Duration::from_secs(60), || async {
        (lbs_tests::files(&voicemail(&b)).len() == 20).then_some(())
    })
    .await;
    let report = eventually("B's report of the link", Duration::from_secs(20), || async {
        let s: SyncStatus = get(&b, "/api/v1/sync").await?;
        s.link.filter(|l| l.round_trip_ms.is_some())
    })
    .await;
    assert_eq!(report.busiest_hour_bytes, None, "the first copy counted: {report:?}");
    // A change once caught up is the office changing.
    std::fs::write(voicemail(&a).join("new.wav"), lbs_tests::noise(99, 50_000)).unwrap();
    let report = eventually("B to count the new voicemail", Duration::from_secs(30), || async {
        let s: SyncStatus = get(&b, "/api/v1/sync").await?;
        s.link.filter(|l| l.busiest_hour_bytes.is_some())
    })
    .await;
    assert_eq!(report.busiest_hour_bytes, Some(50_000.0), "{report:?}");
    b.stop();
    a.stop();
}

/// Whether this machine has an established TCP connection from local port `local` to remote port
/// `remote` (IPv4, as the agents here listen): `/proc/net/tcp`, state 01.
fn established(local: u16, remote: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |field: &str| field.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && port(f[1]) == Some(local) && port(f[2]) == Some(remote) && f[3] == "01"
    })
}

/// A partner gone mid-transfer without a word — its kernel still answering, its window closed,
/// nothing read — does not hold the primary's connection (and the task serving it) for good: after
/// a minute without progress (TCP_USER_TIMEOUT) the primary's kernel gives the connection up.
/// Without it, a closed window is probed for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_stops_reading_mid_transfer_is_let_go_after_a_minute() {
    // A serves at most 2 MB/s: the 64 MB recording is still on its way when the partner goes.
    let mut a = Agent::init_config("PBX A", "1s", |d| box_config(d, "1h", "bandwidth_limit = \"2 MB/s\"\n"));
    let mut b = Agent::init_config("PBX B", "1s", |d| box_config(d, "1h", ""));
    std::fs::write(voicemail(&a).join("recording.wav"), lbs_tests::noise(7, 64 << 20)).unwrap();
    a.start();
    b.start();
    let relay = Relay::start(a.address().parse().expect("A's address"), Duration::ZERO).await;
    let mut through = a.link.clone();
    through.address = relay.addr.to_string();
    let out = b.cli(&["pair", &through.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    let (end, _) = eventually("the recording to be on its way", Duration::from_secs(60), || async {
        relay.busiest_from_target().filter(|(_, n)| *n >= 4 << 20)
    })
    .await;
    relay.stall();
    let a_port = a.port;
    assert!(
        established(a_port, end.port()),
        "the transfer's connection is open when the partner stops reading"
    );
    // A minute of closed window, then the probes' back-off: well within three.
    eventually(
        "A to let the stalled connection go",
        Duration::from_secs(180),
        || async { (!established(a_port, end.port())).then_some(()) },
    )
    .await;
    assert!(a.pid().is_some(), "A is still running");
    b.stop();
    a.stop();
}
