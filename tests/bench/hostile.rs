//! `lbs-hostile-bench`: each hostile client of `lbs_tests::hostile` against a real pair for a
//! fixed time (`LBS_HOSTILE_SECS`, default 20 s), beside the same time with no attack. Measured
//! from outside: a console's `GET /api/v1/status` on a new connection every 250 ms (p50/p99 and
//! failures within 5 s), the partner's sync (a voicemail written on the primary every 500 ms, the
//! time until it is on the backup), the heartbeat (the share of samples in which the primary sees
//! its partner reachable) and the primary's RSS (its peak during the attack). The attacks come
//! from 127.0.0.2; the console and the partner use 127.0.0.1. `LBS_AGENT_BIN` runs another agent
//! binary (e.g. an older one, for before/after figures).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::FailoverStatus;
use lbs_tests::hostile::{self, loopback, Attack, Tally, Target};
use lbs_tests::{percentile, proc_usage, Agent};

fn voicemail(agent: &Agent) -> PathBuf {
    agent.dir.path().join("data").join("voicemail")
}

fn config(dir: &Path) -> String {
    let root = dir.join("data").join("voicemail");
    std::fs::create_dir_all(&root).expect("voicemail dir");
    format!(
        "\n[sync]\n[[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n",
        root.display()
    )
}

struct Figures {
    console_ms: Vec<f64>,
    console_failed: usize,
    sync_ms: Vec<f64>,
    sync_missing: usize,
    reachable: (usize, usize),
    peak_rss_mib: f64,
    attempts: u64,
    refused: u64,
}

fn pct(v: &mut [f64], p: f64) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.sort_by(f64::total_cmp);
    format!("{:.0}", percentile(v, p))
}

async fn failover_status(client: &reqwest::Client, a: &Agent) -> Option<FailoverStatus> {
    let r = client
        .get(a.url("/api/v1/failover"))
        .bearer_auth(&a.link.token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

/// One phase: `attack` (or none) for `secs`, measured.
async fn phase(a: &Agent, b: &Agent, attack: Option<Attack>, secs: u64, round: usize) -> Figures {
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let attacker = attack.map(|attack| {
        let target = Arc::new(Target {
            from: loopback(2),
            to: a.address().parse().expect("address"),
            pin: a.link.fingerprint.clone(),
            token: a.link.token.clone(),
        });
        tokio::spawn(hostile::run(attack, target, tally.clone(), stop.clone()))
    });
    // Let the attack build up before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = Instant::now() + Duration::from_secs(secs);
    let pid = a.pid().expect("running");

    let console = async {
        let (mut ms, mut failed) = (Vec::new(), 0);
        while Instant::now() < end {
            let started = Instant::now();
            let ok = a
                .http()
                .get(a.url("/api/v1/status"))
                .bearer_auth(&a.link.token)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
            } else {
                failed += 1;
            }
            tokio::time::sleep(Duration::from_millis(250).saturating_sub(started.elapsed())).await;
        }
        (ms, failed)
    };
    let sync = async {
        let (vm_a, vm_b) = (voicemail(a), voicemail(b));
        let mut pending: Vec<(String, Instant)> = Vec::new();
        let mut ms = Vec::new();
        let mut next = Instant::now();
        let mut n = 0;
        // Written until the end; looked for until 20 s after it.
        while Instant::now() < end || (!pending.is_empty() && Instant::now() < end + Duration::from_secs(20)) {
            if Instant::now() >= next && Instant::now() < end {
                n += 1;
                let name = format!("r{round}-msg{n:04}.wav");
                let path = vm_a.join(&name);
                let tmp = vm_a.join(format!(".{name}.part"));
                std::fs::write(&tmp, lbs_tests::noise(n, 8 * 1024)).expect("write voicemail");
                std::fs::rename(&tmp, &path).expect("rename voicemail");
                pending.push((name, Instant::now()));
                next += Duration::from_millis(500);
            }
            pending.retain(|(name, at)| {
                let there = std::fs::metadata(vm_b.join(name)).is_ok_and(|m| m.len() == 8 * 1024);
                if there {
                    ms.push(at.elapsed().as_secs_f64() * 1000.0);
                }
                !there
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (ms, pending.len())
    };
    let watch = async {
        let client = a.http();
        let (mut up, mut samples, mut peak) = (0, 0, 0.0f64);
        while Instant::now() < end {
            if let Some((_, kib)) = proc_usage(pid) {
                peak = peak.max(kib as f64 / 1024.0);
            }
            if let Some(f) = failover_status(&client, a).await {
                samples += 1;
                if f.partner.reachable {
                    up += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        ((up, samples), peak)
    };
    let ((console_ms, console_failed), (sync_ms, sync_missing), (reachable, peak_rss_mib)) =
        tokio::join!(console, sync, watch);
    let _ = stop_tx.send(true);
    if let Some(t) = attacker {
        let _ = t.await;
    }
    assert!(
        proc_usage(pid).is_some(),
        "the agent died during the attack: {}",
        a.log()
    );
    Figures {
        console_ms,
        console_failed,
        sync_ms,
        sync_missing,
        reachable,
        peak_rss_mib,
        attempts: tally.attempts.load(Ordering::Relaxed),
        refused: tally.refused.load(Ordering::Relaxed),
    }
}

#[tokio::main]
async fn main() {
    hostile::raise_open_files();
    let secs: u64 = std::env::var("LBS_HOSTILE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut a = Agent::init_config("PBX A", "1s", config);
    let mut b = Agent::init_config("PBX B", "1s", config);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    let client = a.http();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !failover_status(&client, &a).await.is_some_and(|f| f.partner.reachable) {
        assert!(
            Instant::now() < deadline,
            "the pair never became reachable: {}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let attacks = [
        None,
        Some(Attack::IdleTls(1000)),
        Some(Attack::HalfOpen(1000)),
        Some(Attack::Garbage),
        Some(Attack::EndlessHeaders(20)),
        Some(Attack::SlowHeaders(200)),
        Some(Attack::SlowBody(200)),
        Some(Attack::BigBodies),
        Some(Attack::Guessing(16)),
    ];
    println!(
        "hostile clients against a pair, {secs} s each, from 127.0.0.2 (agent {})",
        lbs_tests::agent_bin().display()
    );
    println!(
        "{:<30} {:>9} {:>8} | {:>7} {:>7} {:>6} | {:>7} {:>7} {:>7} | {:>9} | {:>8}",
        "attack",
        "attempts",
        "refused",
        "con p50",
        "con p99",
        "failed",
        "syn p50",
        "syn p99",
        "missing",
        "reachable",
        "peak RSS"
    );
    for (round, attack) in attacks.into_iter().enumerate() {
        let mut f = phase(&a, &b, attack, secs, round).await;
        let name = attack.map_or("none".to_owned(), Attack::name);
        println!(
            "{:<30} {:>9} {:>8} | {:>7} {:>7} {:>6} | {:>7} {:>7} {:>7} | {:>9} | {:>5.1} MiB",
            name,
            f.attempts,
            f.refused,
            pct(&mut f.console_ms, 0.5),
            pct(&mut f.console_ms, 0.99),
            f.console_failed,
            pct(&mut f.sync_ms, 0.5),
            pct(&mut f.sync_ms, 0.99),
            f.sync_missing,
            // Of the samples read: none read (the console's own request refused) is "—".
            if f.reachable.1 == 0 {
                "—".to_owned()
            } else {
                format!("{:.0}%", 100.0 * f.reachable.0 as f64 / f.reachable.1 as f64)
            },
            f.peak_rss_mib
        );
        // Let the agent settle (held connections closed, idle ones reclaimed) before the next.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
