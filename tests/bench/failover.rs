//! `lbs-failover-bench`: failover and switchover times on the simulated office network (root).
//!
//! For each address strategy (floating IP, DNS) it runs repeated unplanned failovers: cut the
//! primary off, promote the backup (`lbs-agent promote --force`), and time from the promote call
//! to the phone's first SIP answer from the new primary; then the old primary is plugged back
//! in, reintegrates, and the next round fails over the other way. Then planned switchovers with
//! both PBXs writing voicemail: their time, the longest the phone went unanswered, and files lost.
//!
//! Then, with real phones (baresip) registered with the primary's kamailio, whose registrations
//! the agents sync and restore: from the primary being cut off to the first call from phone 1
//! to phone 2 that connects through the new primary, and to the first call that connects to a
//! phone that did not register again (its registration interval is an hour); the independent
//! observer watches each run and its report is printed.
//!
//! Then automatic failover (the pair on autopilot with the witness's vote): the primary is
//! powered off (agent, PBX, etcd member and link at once) and nobody acts; from the power cut to
//! the first call from phone 1 to phone 2 that connects through the box that took over (phone 2
//! registered for an hour, so it never registers again in between), at the agent's defaults and
//! at the fastest safe settings, for both strategies. And the fault matrix
//! (`lbs_tests::faults`), each case several times, as a table.
//!
//! `LBS_FAILOVER_ROUNDS` sets the rounds per strategy (default 10); `LBS_FAILOVER_ONLY=phones`,
//! `=autopilot` or `=matrix` runs only that part (`LBS_MATRIX_RUNS`, default 3, the matrix's
//! runs per case).

use std::time::{Duration, Instant};

use lbs_protocol::Role;
use lbs_tests::baresip::{Outcome, SipPhone};
use lbs_tests::lab::{cli_ok, failover_status, now_ms, wait_for, Lab, Strategy};
use lbs_tests::observer::Observer;
use lbs_tests::{faults, files};
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

/// How the backup takes over once the primary `old` is cut off: the one step to swap when the
/// pair fails over by itself (then it only waits; the phones' calls, tried from the moment of
/// the cut, measure the rest).
type Trigger = fn(old: &Agent, new: &Agent);

/// Today's failover: the office manager promotes the backup as soon as its heartbeat reports
/// the primary gone.
fn manual_promotion(_old: &Agent, new: &Agent) {
    wait_for("the backup to notice", Duration::from_secs(10), || {
        !failover_status(new).partner.reachable
    });
    cli_ok(new, &["promote", "--force", "--reason", "benchmark"]);
}

/// From `cut_ms`, calls `ext` from `phone` until a call connects through box `via`; returns
/// when it did (unix ms), or `None` if none did within `within`. Each try that gets no answer
/// within a second is hung up and tried again.
fn connected_at(lab: &Lab, phone: &mut SipPhone, ext: u32, via: &str, within: Duration) -> Option<u64> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let call = phone.call(ext, Duration::from_secs(1));
        let through = call.id.as_deref().and_then(|id| lab.call_seen_by(via, id));
        if call.outcome == Outcome::Established && through.as_deref() == Some("relayed") {
            phone.hangup();
            return Some(call.ended_ms);
        }
        phone.hangup();
        if call.outcome != Outcome::NoAnswer {
            // A refusal comes back at once: do not hammer the PBX.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    None
}

/// Per round: (cut → first call 1 → 2 through the new primary, cut → first call reaching
/// phone 3, which did not register again), in ms, `None` when none connected within 60 s.
type PhoneRound = (Option<f64>, Option<f64>);

/// Unplanned failovers back and forth with four real phones: 1 calls 2 (registered every
/// minute, as the measurement of the old behaviour), 4 calls 3 (registered once, for an
/// hour: it never registers again during the run), at the same time from the cut on.
fn phone_failovers(n: u32, strategy: Strategy, rounds: usize, trigger: Trigger) -> (Vec<PhoneRound>, String) {
    let lab = Lab::up(n);
    let (a, b) = lab.office(strategy, "1h");
    let observer = Observer::start(&lab, strategy, &[("a", &a), ("b", &b)]);
    let mut phones: Vec<SipPhone> = (1001..=1004).map(|ext| lab.sip_phone(ext, strategy)).collect();
    for p in &mut phones {
        p.register(if p.ext == 1002 { 60 } else { 3600 });
    }
    let boxes: [(&str, &Agent); 2] = [("a", &a), ("b", &b)];
    let mut out = Vec::new();
    for round in 0..rounds {
        let (old, new) = if round % 2 == 0 {
            (boxes[0], boxes[1])
        } else {
            (boxes[1], boxes[0])
        };
        wait_for("the heartbeat", Duration::from_secs(10), || {
            failover_status(new.1).partner.reachable
        });
        let synced = new.1.dir.path().join("registrations/registrations.sql");
        wait_for(
            "every phone's registration on the backup",
            Duration::from_secs(20),
            || std::fs::read_to_string(&synced).is_ok_and(|t| (1001..=1004).all(|e| t.contains(&format!("'{e}'")))),
        );
        let phone3_registered = phones[2].registrations();
        let cut_ms = now_ms();
        lab.cut(old.0);
        trigger(old.1, new.1);
        let [p1, _, p3, p4] = &mut phones[..] else {
            unreachable!("four phones")
        };
        let within = Duration::from_secs(60);
        let lab_ref = &lab;
        let (to2, to3) = std::thread::scope(|s| {
            let to2 = s.spawn(|| connected_at(lab_ref, p1, 1002, new.0, within));
            let to3 = connected_at(lab_ref, p4, 1003, new.0, within);
            (to2.join().expect("caller thread"), to3)
        });
        assert_eq!(p3.registrations(), phone3_registered, "phone 3 registered again");
        let ms = |t: Option<u64>| t.map(|t| t.saturating_sub(cut_ms) as f64);
        eprintln!(
            "  phones {strategy:?} round {round}: cut {} → call 1→2 through {} after {:?} ms, call to phone 3 (not registered again) after {:?} ms",
            old.0,
            new.0,
            ms(to2),
            ms(to3)
        );
        out.push((ms(to2), ms(to3)));
        lab.heal(old.0);
        wait_for("the old primary to reintegrate", Duration::from_secs(60), || {
            let f = failover_status(old.1);
            f.role == Role::Backup && f.busy.is_none() && f.hold.caught_up
        });
    }
    drop(phones);
    let report = observer.stop();
    (out, report.to_string())
}

fn phone_stats(name: &str, values: impl Iterator<Item = Option<f64>>) -> String {
    let all: Vec<Option<f64>> = values.collect();
    let mut got: Vec<f64> = all.iter().flatten().copied().collect();
    let missed = all.len() - got.len();
    let mut line = if got.is_empty() {
        format!("{name:<34} none connected")
    } else {
        stats(name, &mut got)
    };
    if missed > 0 {
        line.push_str(&format!("   ({missed} of {} not within 60 s)", all.len()));
    }
    line
}

fn main() {
    let rounds: usize = std::env::var("LBS_FAILOVER_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let matrix_runs: usize = std::env::var("LBS_MATRIX_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    match std::env::var("LBS_FAILOVER_ONLY").as_deref() {
        Ok("phones") => return phones(rounds),
        Ok("autopilot") => return autopilot(rounds),
        Ok("matrix") => return matrix(matrix_runs),
        _ => {}
    }
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
    phones(rounds);
    autopilot(rounds);
    matrix(matrix_runs);
}

/// The primary powered off, the pair on autopilot: nobody acts. Rounds alternate the direction.
fn autopilot(rounds: usize) {
    println!(
        "\nAutomatic failover: the primary powered off (agent, PBX, etcd member and link at once), nobody acts; \
         from the power cut to the first call 1→2 through the box that took over, {rounds} rounds each\n"
    );
    let cases = [
        (74, Strategy::Vip, faults::DEFAULTS),
        (75, Strategy::Dns, faults::DEFAULTS),
        (76, Strategy::Vip, faults::FASTEST),
        (77, Strategy::Dns, faults::FASTEST),
    ];
    for (n, strategy, timing) in cases {
        let mut o = faults::Office::up(n, strategy, timing, None);
        let observer = Observer::start(&o.lab, strategy, &[("a", &o.a), ("b", &o.b)]);
        let mut back = Vec::new();
        for round in 0..rounds {
            let old = o.settled(Duration::from_secs(120), true);
            let new = faults::other(old);
            let t0 = now_ms();
            o.power_off(old);
            let at = o.call_through(new, timing.takeover_due() + Duration::from_secs(30));
            let ms = at.map(|t| t.saturating_sub(t0) as f64);
            eprintln!(
                "  autopilot {strategy:?} {} round {round}: power off {old} → call 1→2 through {new} after {ms:?} ms",
                timing.name
            );
            back.push(ms);
            if at.is_none() {
                // Say why before giving up on the run.
                for agent in [&o.a, &o.b] {
                    let log = agent.log();
                    let tail: Vec<&str> = log.lines().filter(|l| !l.contains(" DEBUG ")).collect();
                    eprintln!(
                        "--- {}:\n{}",
                        agent.config.display(),
                        tail[tail.len().saturating_sub(60)..].join("\n")
                    );
                }
                let survivor = if new == "a" { &o.a } else { &o.b };
                eprintln!("{}", cli_ok(survivor, &["autopilot"]));
            }
            o.forget_last_automatic(new);
            o.power_on(old);
        }
        o.settled(Duration::from_secs(120), false);
        let report = observer.stop();
        let label = match strategy {
            Strategy::Vip => "floating IP",
            Strategy::Dns => "DNS (TSIG)",
        };
        println!(
            "{}",
            phone_stats(
                &format!("{label}, {}: power off → call 1→2", timing.name),
                back.into_iter()
            )
        );
        println!(
            "  observer: {} dual answers, {} samples with both agents claiming the primary role",
            report.dual_answers.len(),
            report.both_claim_primary
        );
    }
}

/// The fault matrix, each case `runs` times with a floating address and once with DNS, at the
/// agent's defaults: a markdown table for docs/benchmarks.md.
fn matrix(runs: usize) {
    println!("\nThe fault matrix at the agent's defaults (heartbeat 1 s, lease 10 s), {runs} runs per case with a floating address and 1 with DNS\n");
    println!("| case | automatic failovers (expected) | dual answers | calls connect again (p50 / max) | calls during the fault | files lost |");
    println!("|---|---|---|---|---|---|");
    for fault in faults::Fault::ALL {
        let mut results = Vec::new();
        for run in 0..=runs {
            let strategy = if run < runs { Strategy::Vip } else { Strategy::Dns };
            results.push(faults::run(78, fault, strategy, faults::DEFAULTS));
        }
        let taken: Vec<String> = results.iter().map(|r| r.taken.to_string()).collect();
        let dual: usize = results.iter().map(|r| r.dual_answers).sum();
        let lost: usize = results.iter().map(|r| r.files_lost).sum();
        let mut back: Vec<f64> = results
            .iter()
            .filter_map(|r| r.calls_back_ms)
            .map(|t| t as f64)
            .collect();
        back.sort_by(f64::total_cmp);
        let back = if back.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{:.1} s / {:.1} s",
                percentile(&back, 0.5) / 1000.0,
                back[back.len() - 1] / 1000.0
            )
        };
        let during: Vec<bool> = results.iter().filter_map(|r| r.call_during_fault).collect();
        let during = if during.is_empty() {
            "—".to_string()
        } else {
            format!("{} of {}", during.iter().filter(|d| **d).count(), during.len())
        };
        println!(
            "| {} | {} ({}) | {dual} | {back} | {during} | {lost} |",
            fault.label(),
            taken.join(", "),
            fault.expected_failovers()
        );
    }
}

fn phones(rounds: usize) {
    println!(
        "\nReal phones (baresip; kamailio keeping registrations in SQLite, synced every second), \
         the backup promoted by hand once its heartbeat reports the primary gone, {rounds} rounds each\n"
    );
    for (n, strategy, label) in [(55, Strategy::Vip, "floating IP"), (56, Strategy::Dns, "DNS (TSIG)")] {
        let (rounds, report) = phone_failovers(n, strategy, rounds, manual_promotion);
        println!(
            "{}",
            phone_stats(&format!("{label}: cut → call 1→2 connects"), rounds.iter().map(|r| r.0))
        );
        println!(
            "{}",
            phone_stats(
                &format!("{label}: cut → call to unregistered"),
                rounds.iter().map(|r| r.1)
            )
        );
        println!("{report}\n");
    }
}
