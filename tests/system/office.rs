//! Failover on a simulated office network (`tests/lab/office.sh`): two boxes whose agents start
//! and stop a real SIP server (kamailio), a real DNS server (knot) taking TSIG-signed updates, a
//! floating address with gratuitous ARP, and a phone that keeps sending SIP OPTIONS. Each test
//! asserts what the phone and the data see. Needs root (namespaces): ignored unless run with
//! `--include-ignored`, as `scripts/test.sh` does as root.

use std::path::PathBuf;
use std::time::Duration;

use lbs_protocol::Role;
use lbs_tests::files;
use lbs_tests::lab::{cli_ok, failover_status as failover, now_ms, wait_for, Lab, Strategy};
use lbs_tests::Agent;

fn voicemail(agent: &Agent) -> PathBuf {
    agent.dir.path().join("voicemail")
}

/// A paired office in lab `n`.
fn office(n: u32, strategy: Strategy, hold: &str) -> (Lab, Agent, Agent) {
    let lab = Lab::up(n);
    let (a, b) = lab.office(strategy, hold);
    (lab, a, b)
}

/// Cuts the primary A off the network, fails over to B and measures the time from the promote
/// call to the phone's first answer from B. Then heals A: it must reintegrate as the backup,
/// keep its PBX stopped, quarantine what it wrote while cut off, and overwrite nothing on B.
fn failover_and_reintegration(n: u32, strategy: Strategy) -> (Lab, Agent, Agent, u64) {
    let (lab, a, b) = office(n, strategy, "1h");
    let mut phone = lab.phone(strategy);
    phone.answered_by("a", now_ms(), Duration::from_secs(20));
    wait_for("voicemail written on A to reach B", Duration::from_secs(20), || {
        files(&voicemail(&b)).len() >= 5
    });

    wait_for("the heartbeat", Duration::from_secs(10), || {
        failover(&b).partner.reachable
    });
    lab.cut("a");
    // The heartbeat notices within a few beats; the office manager then fails over.
    wait_for("B to see A unreachable", Duration::from_secs(10), || {
        !failover(&b).partner.reachable
    });
    let t0 = now_ms();
    let out = cli_ok(&b, &["promote", "--force", "--reason", "PBX A lost its network"]);
    let promoted_ms = now_ms() - t0;
    let answered = phone.answered_by("b", t0, Duration::from_secs(30));
    let failover_ms = answered.saturating_sub(t0);
    assert!(out.contains("is now the primary"), "{out}");
    eprintln!(
        "office {strategy:?}: promote took {promoted_ms} ms, the phone reached B {failover_ms} ms after the call"
    );
    let status = failover(&b);
    assert_eq!((status.role, status.epoch), (Role::Primary, 2));
    assert!(lab.pbx_running("b"));
    // While cut off, A is still a primary running its PBX, which keeps writing voicemail.
    assert!(lab.pbx_running("a"), "A does not know yet");
    let b_before_heal = files(&voicemail(&b));

    lab.heal("a");
    wait_for("A to reintegrate as the backup", Duration::from_secs(30), || {
        let f = failover(&a);
        f.role == Role::Backup && f.epoch == 2 && f.busy.is_none()
    });
    assert!(!lab.pbx_running("a"), "the old primary's PBX must be stopped");
    let f = failover(&a);
    assert!(
        f.quarantined_files > 0,
        "A wrote voicemail while cut off: it must be in quarantine"
    );
    let listing = cli_ok(&a, &["quarantine", "list"]);
    assert!(listing.contains("vm-a-"), "{listing}");
    // Nothing A holds overwrote B: every file B had is unchanged, and none of A's cut-off
    // voicemail appeared there.
    let b_after = files(&voicemail(&b));
    for (name, content) in &b_before_heal {
        assert_eq!(b_after.get(name), Some(content), "{name} changed on the new primary");
    }
    // The phone keeps reaching B after A is back.
    let later = phone.since(now_ms(), Duration::from_secs(2));
    if let Ok(dir) = std::env::var("LBS_TEST_KEEP_LOGS") {
        let _ = std::fs::write(format!("{dir}/office-a.log"), a.log());
        let _ = std::fs::write(format!("{dir}/office-b.log"), b.log());
    }
    assert!(
        !later.is_empty() && later.iter().all(|p| p.answered_by.as_deref() == Some("b")),
        "{later:?}"
    );
    (lab, a, b, failover_ms)
}

#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio)"]
fn office_failover_by_dns() {
    let (lab, a, b, ms) = failover_and_reintegration(41, Strategy::Dns);
    assert!(ms < 30_000, "{ms}");
    // The name points at B in the office DNS server.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("phone"),
            "dig",
            "+short",
            &format!("@{}", lab.ip("dns")),
            &lab.var("LAB_NAME"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), lab.ip("b"));
    drop((a, b));
}

#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio)"]
fn office_failover_by_floating_ip_then_a_planned_switch_back() {
    let (lab, a, b, ms) = failover_and_reintegration(42, Strategy::Vip);
    assert!(ms < 30_000, "{ms}");
    // Switching back at once: refused, B has not held the role for the hold period.
    let out = a.cli(&["switchover"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("hold period"), "{text}");
    // Overridden with a reason: B stops its PBX, A gets every change, then takes over. The
    // PBXs write voicemail all along; none is lost.
    wait_for("A to catch up", Duration::from_secs(30), || failover(&a).hold.caught_up);
    let mut phone = lab.phone(Strategy::Vip);
    phone.answered_by("b", now_ms(), Duration::from_secs(10));
    let t0 = now_ms();
    cli_ok(
        &a,
        &[
            "switchover",
            "--override",
            "--reason",
            "A repaired, switching back tonight",
        ],
    );
    let took = now_ms() - t0;
    let back = phone.answered_by("a", t0, Duration::from_secs(20));
    eprintln!("office switchover: {took} ms, phone on A after {} ms", back - t0);
    assert_eq!(failover(&a).role, Role::Primary);
    assert_eq!(failover(&b).role, Role::Backup);
    assert!(lab.pbx_running("a") && !lab.pbx_running("b"));
    // Every voicemail B's PBX wrote is on A, byte for byte.
    let (on_a, on_b) = (files(&voicemail(&a)), files(&voicemail(&b)));
    let lost: Vec<&String> = on_b
        .iter()
        .filter(|(name, content)| name.starts_with("vm-b-") && on_a.get(*name) != Some(content))
        .map(|(n, _)| n)
        .collect();
    assert!(lost.is_empty(), "lost in the switchover: {lost:?}");
    assert!(
        on_b.keys().filter(|n| n.starts_with("vm-b-")).count() > 5,
        "B's PBX wrote voicemail"
    );
    let events = cli_ok(&a, &["events"]);
    assert!(events.contains("A repaired, switching back tonight"), "{events}");
    drop((a, b));
}

#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio)"]
fn a_refused_dns_update_is_explained_and_a_second_promote_finishes_the_job() {
    let lab = Lab::up(43);
    let mut a = lab.agent("a", "PBX A", "primary", Strategy::Dns, "1h");
    let mut b = lab.agent("b", "PBX B", "backup", Strategy::Dns, "1h");
    // B was set up with a wrong TSIG secret.
    let wrong = b.dir.path().join("wrong.secret");
    std::fs::write(&wrong, "d3Jvbmcgc2VjcmV0IGZvciB0aGUgb2ZmaWNlIGRucw==").unwrap();
    let right = lab.dir.path().join("tsig.secret");
    let config = std::fs::read_to_string(&b.config).unwrap();
    std::fs::write(
        &b.config,
        config.replace(&right.display().to_string(), &wrong.display().to_string()),
    )
    .unwrap();
    a.start();
    b.start();
    cli_ok(&b, &["pair", &a.link.to_string()]);
    wait_for("the heartbeat", Duration::from_secs(10), || {
        failover(&b).partner.reachable
    });
    lab.cut("a");
    wait_for("B to see A unreachable", Duration::from_secs(10), || {
        !failover(&b).partner.reachable
    });
    let out = b.cli(&["promote", "--force", "--reason", "PBX A lost its network"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "a failed step makes the command fail: {text}");
    assert!(
        text.contains("did not accept the signature") && text.contains("secret"),
        "{text}"
    );
    assert!(text.contains("promote again"), "{text}");
    let f = failover(&b);
    assert_eq!(f.role, Role::Primary, "the role changed; only the address step failed");
    assert!(f
        .address
        .problem
        .is_some_and(|p| p.contains("BADSIG") || p.contains("BADKEY")));
    // Fixed, the same command finishes the job: the PBX keeps running, the name moves.
    std::fs::copy(&right, &wrong).unwrap();
    let out = cli_ok(&b, &["promote"]);
    assert!(out.contains("already the primary"), "{out}");
    let mut phone = lab.phone(Strategy::Dns);
    phone.answered_by("b", now_ms(), Duration::from_secs(10));
    let events = cli_ok(&b, &["events"]);
    assert!(events.contains("PBX A lost its network"), "{events}");
    drop((a, b));
}
