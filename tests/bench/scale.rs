//! `lbs-scale-bench`: how the sync grows with the tree (not a test: nothing here passes or fails).
//!
//! For each size (`LBS_SCALE_SIZES`, default 10000,100000,200000,1000000 voicemails of 4 KB in
//! 2,000 mailboxes), a fresh pair: the primary's first scan, the initial copy, both agents' memory
//! 15 s after the copy and after the idle window (resident; the agent's own part of it, not mapped
//! files; the peak since start; aim: under 50 MB at 200,000 files), the journal's size on each
//! box, a rescan of the unchanged tree, the change-to-backup latency of a new voicemail (aim:
//! independent of the tree's size) and both agents' CPU while nothing changes (aim: independent of
//! the tree's size).
//!
//! Run with `scripts/bench-scale.sh` (release build). `LBS_SCALE_SAMPLES` (200) latency samples,
//! `LBS_SCALE_IDLE_SECS` (30) the idle window.

use std::path::Path;
use std::time::{Duration, Instant};

use lbs_tests::bench::{
    anon_mb, cpu_percent, env, peak_mb, rss_mb, voicemail_latency, wait_copied, wait_journaled, write,
};
use lbs_tests::Agent;

/// `n` voicemails of 4 KB in 2,000 mailboxes (the content differs in its first bytes).
fn generate(root: &Path, n: usize) {
    let mut content = vec![0x55u8; 4096];
    for i in 0..n {
        content[..8].copy_from_slice(&(i as u64).to_le_bytes());
        write(
            root,
            &format!("default/{}/INBOX/msg{i:07}.wav", 1000 + i % 2000),
            &content,
        );
    }
}

fn config(voicemail: &Path) -> String {
    format!(
        "\n[sync]\n[[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n",
        voicemail.display()
    )
}

fn file_mb(path: &Path) -> f64 {
    // The database with its write-ahead log: what the journal takes on disk.
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = path.with_extension("db-wal");
    (size(path) + size(&wal)) as f64 / 1e6
}

async fn one(n: usize, samples: usize, idle: Duration) {
    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("voicemail");
    let t = Instant::now();
    generate(&source, n);
    let generated = t.elapsed().as_secs_f64();
    let src = source.clone();
    let mut a = Agent::init_config("scale A", "1s", move |_| config(&src));
    let mut b = Agent::init_config("scale B", "1s", |d| {
        let data = d.join("voicemail");
        std::fs::create_dir_all(&data).expect("mkdir");
        config(&data)
    });
    a.start();
    b.start();
    let t = Instant::now();
    wait_journaled(&a, n as u64).await;
    let scan = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    wait_copied(&b, n as u64).await;
    let copy = t.elapsed().as_secs_f64();
    let (pa, pb) = (a.pid().expect("pid"), b.pid().expect("pid"));
    // Settled: the copy's last pages are answered, the queue is empty, and the agents have handed
    // freed memory back (every 10 s).
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (rss_a, rss_b) = (rss_mb(pa), rss_mb(pb));
    let (db_a, db_b) = (
        file_mb(&a.dir.path().join("state/sync.db")),
        file_mb(&b.dir.path().join("state/sync.db")),
    );

    // A rescan of the unchanged tree: the journal's quick scan, in-process, the agent's own code.
    let journal = lbs_sync::journal::Journal::open(&work.path().join("rescan.db"))
        .await
        .expect("journal");
    let select = lbs_sync::select::Selector::all();
    journal
        .scan("voicemail:0", &source, &select, false, 1)
        .await
        .expect("scan");
    let t = Instant::now();
    journal
        .scan("voicemail:0", &source, &select, false, 2)
        .await
        .expect("rescan");
    let rescan = t.elapsed().as_secs_f64();
    drop(journal);

    let inbox = "default/1000/INBOX";
    let lat = voicemail_latency(
        &source.join(inbox),
        &b.dir.path().join("voicemail").join(inbox),
        "new",
        samples,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu_a, cpu_b) = tokio::join!(cpu_percent(pa, idle), cpu_percent(pb, idle));
    // And again once idle a while: what the agents hold for good.
    let (idle_a, idle_b) = (rss_mb(pa), rss_mb(pb));
    let (anon_a, anon_b) = (anon_mb(pa), anon_mb(pb));
    let (peak_a, peak_b) = (peak_mb(pa), peak_mb(pb));
    println!(
        "{n:>8} files | scan {scan:6.1} s | copy {copy:6.1} s | RSS after copy / idle A {rss_a:5.1} / {idle_a:5.1} MB ({anon_a:4.1} own, peak {peak_a:5.1}), B {rss_b:5.1} / {idle_b:5.1} MB ({anon_b:4.1} own, peak {peak_b:5.1}) | sync.db A {db_a:6.1} MB, B {db_b:6.1} MB | rescan {rescan:5.2} s | new voicemail p50 {:5.1} ms, p99 {:5.1} ms, max {:5.1} ms | idle CPU A {cpu_a:4.2} %, B {cpu_b:4.2} % (tree generated in {generated:.0} s)",
        lat.p50(),
        lat.p99(),
        lat.max()
    );
    a.stop();
    b.stop();
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("LBS_SCALE_SIZES")
        .unwrap_or_else(|_| "10000,100000,200000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let samples = env("LBS_SCALE_SAMPLES", 200);
    let idle = Duration::from_secs(env("LBS_SCALE_IDLE_SECS", 30) as u64);
    println!("lbs-scale-bench: agent {}", lbs_tests::agent_bin().display());
    for n in sizes {
        one(n, samples, idle).await;
    }
}
