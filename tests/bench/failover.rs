//! `lbs-failover-bench`: failover and switchover times on the simulated office network (root).
//!
//! For each address strategy (floating IP, DNS) it runs repeated unplanned failovers: cut the
//! primary off, promote the backup (`lbs-agent promote --force`), and time from the promote call
//! to the phone's first SIP answer from the new primary; then the old primary is plugged back
//! in, reintegrates, and the next round fails over the other way. Then planned switchovers with
//! both PBXs writing voicemail: their time, the longest the phone went unanswered, and files lost.
//!
//! `LBS_FAILOVER_ROUNDS` sets the rounds per strategy (default 10).

use std::time::Duration;

use lbs_protocol::Role;
use lbs_tests::files;
use lbs_tests::lab::{cli_ok, failover_status, now_ms, wait_for, Lab, Strategy};
use lbs_tests::{percentile, Agent};

fn stats(name: &str, ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "{name:<34} n={:<3} p50 {:>7.0} ms   p99 {:>7.0} ms   max {:>7.0} ms",
        ms.len(),
        percentile(ms, 0.5),
        percentile(ms, 0.99),
        ms.last().copied().unwrap_or(0.0)
    )
}

/// Unplanned failovers back and forth; returns the times (ms) from promote to the phone's answer.
fn failovers(n: u32, strategy: Strategy, rounds: usize) -> Vec<f64> {
    let lab = Lab::up(n);
    let (a, b) = lab.office(strategy, "1h");
    let mut phone = lab.phone(strategy);
    phone.answered_by("a", now_ms(), Duration::from_secs(20));
    let boxes: [(&str, &Agent); 2] = [("a", &a), ("b", &b)];
    let mut times = Vec::new();
    for round in 0..rounds {
        let (old, new) = if round % 2 == 0 {
            (boxes[0], boxes[1])
        } else {
            (boxes[1], boxes[0])
        };
        // As in an office: the boxes have been talking for a while when the primary fails.
        wait_for("the heartbeat", Duration::from_secs(10), || {
            failover_status(new.1).partner.reachable
        });
        lab.cut(old.0);
        wait_for("the backup to notice", Duration::from_secs(10), || {
            !failover_status(new.1).partner.reachable
        });
        let t0 = now_ms();
        let out = cli_ok(new.1, &["promote", "--force", "--reason", "benchmark"]);
        let promoted = now_ms() - t0;
        if promoted > 1000 {
            eprintln!("  a slow promotion, step by step:\n{out}");
        }
        let answered = phone.answered_by(new.0, t0, Duration::from_secs(60));
        times.push((answered - t0) as f64);
        eprintln!(
            "  {strategy:?} round {round}: promote returned after {promoted} ms, the phone reached box {} after {} ms",
            new.0,
            answered - t0
        );
        lab.heal(old.0);
        wait_for("the old primary to reintegrate", Duration::from_secs(60), || {
            let f = failover_status(old.1);
            f.role == Role::Backup && f.busy.is_none() && f.hold.caught_up
        });
    }
    times
}

/// Planned switchovers back and forth with both PBXs writing voicemail: (switchover ms, longest
/// phone gap ms, files lost).
fn switchovers(n: u32, rounds: usize) -> (Vec<f64>, Vec<f64>, usize) {
    let lab = Lab::up(n);
    let (a, b) = lab.office(Strategy::Vip, "0s");
    let mut phone = lab.phone(Strategy::Vip);
    phone.answered_by("a", now_ms(), Duration::from_secs(20));
    let boxes: [(&str, &Agent); 2] = [("a", &a), ("b", &b)];
    let (mut took, mut gaps, mut lost) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        let (old, new) = if round % 2 == 0 {
            (boxes[0], boxes[1])
        } else {
            (boxes[1], boxes[0])
        };
        wait_for("the backup to catch up", Duration::from_secs(60), || {
            failover_status(new.1).hold.caught_up
        });
        std::thread::sleep(Duration::from_secs(1));
        let t0 = now_ms();
        cli_ok(new.1, &["switchover"]);
        took.push((now_ms() - t0) as f64);
        phone.answered_by(new.0, t0, Duration::from_secs(30));
        let probes = phone.since(t0.saturating_sub(2000), Duration::from_millis(500));
        // The longest time between two answers the phone received.
        let answered: Vec<u64> = probes
            .iter()
            .filter(|p| p.answered_by.is_some())
            .map(|p| p.done_ms)
            .collect();
        let gap = answered.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        gaps.push(gap as f64);
        // Everything the old primary's PBX wrote is on the new primary.
        let (on_old, on_new) = (
            files(&old.1.dir.path().join("voicemail")),
            files(&new.1.dir.path().join("voicemail")),
        );
        let prefix = format!("vm-{}-", old.0);
        lost += on_old
            .iter()
            .filter(|(name, content)| name.starts_with(&prefix) && on_new.get(*name) != Some(content))
            .count();
    }
    (took, gaps, lost)
}

fn main() {
    let rounds: usize = std::env::var("LBS_FAILOVER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    println!(
        "Failover on the simulated office (namespaces, knot, kamailio, a SIP OPTIONS phone), {rounds} rounds each\n"
    );
    let mut vip = failovers(71, Strategy::Vip, rounds);
    println!("{}", stats("unplanned failover, floating IP", &mut vip));
    let mut dns = failovers(72, Strategy::Dns, rounds);
    println!("{}", stats("unplanned failover, DNS (TSIG)", &mut dns));
    let (mut took, mut gaps, lost) = switchovers(73, rounds);
    println!("{}", stats("planned switchover (command)", &mut took));
    println!("{}", stats("planned switchover (phone unanswered)", &mut gaps));
    println!("planned switchover: {lost} voicemail files lost (aim: 0)");
    println!("\nAims: under 2 s with a floating IP, under 5 s with DNS (the product we replace: 2-10 minutes).");
}
