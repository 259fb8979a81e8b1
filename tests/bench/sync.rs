//! `lbs-sync-bench`: the sync's figures side by side with `rsync -a` over loopback, on the same
//! generated tree, in one run (not a test: nothing here passes or fails).
//!
//! - initial copy time, as a ratio to rsync (aim ≤ 1.0), and the CPU both agents use meanwhile;
//! - a rescan of the unchanged tree (the journal's quick scan) against rsync's no-op run;
//! - change-to-backup latency of a new voicemail, p50 and p99 (aim p99 < 200 ms);
//! - idle CPU of both agents while nothing changes.
//!
//! Run with `scripts/bench-sync.sh` (release build). Sizes: `LBS_BENCH_VOICEMAILS` (5000),
//! `LBS_BENCH_RECORDINGS` (50), `LBS_BENCH_RECORDING_MB` (20), `LBS_BENCH_SAMPLES` (100).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lbs_protocol::SyncStatus;
use lbs_tests::{free_port, noise, percentile, proc_usage, Agent};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A mail spool and a recordings folder: `voicemails` messages of 8–120 KB with their `.txt`
/// envelopes in 50 mailboxes, and `recordings` call recordings of `mb` MB.
fn generate(root: &Path, voicemails: usize, recordings: usize, mb: usize) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0u64);
    for dir in ["voicemail", "monitor"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    for i in 0..voicemails {
        let size = 8_000 + (i * 7919) % 112_000;
        let dir = format!("voicemail/default/{}/INBOX", 1001 + i % 50);
        write(root, &format!("{dir}/msg{i:05}.wav"), &noise(i as u64, size));
        let txt = format!(
            "[message]\norigmailbox={}\ncallerid=\"Caller\" <555{i:05}>\nduration={}\n",
            1001 + i % 50,
            size / 16_000
        );
        write(root, &format!("{dir}/msg{i:05}.txt"), txt.as_bytes());
        files += 2;
        bytes += (size + txt.len()) as u64;
    }
    for i in 0..recordings {
        write(
            root,
            &format!("monitor/2026/11/call-{i:03}.wav"),
            &noise(100_000 + i as u64, mb * 1_000_000),
        );
        files += 1;
        bytes += (mb * 1_000_000) as u64;
    }
    (files, bytes)
}

/// The `[sync]` section: voicemail and recordings under `data`.
fn config(data: &Path) -> String {
    format!(
        "\n[sync]\n\
         [[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n\
         [[sync.category]]\nname = \"recordings\"\npriority = 4\nroots = [\"{}\"]\n",
        data.join("voicemail").display(),
        data.join("monitor").display()
    )
}

/// An rsync daemon serving `dir` as module `data` on a loopback port.
struct RsyncDaemon {
    child: std::process::Child,
    port: u16,
    _conf: tempfile::TempDir,
}

impl RsyncDaemon {
    fn start(dir: &Path) -> RsyncDaemon {
        let conf = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let text = format!(
            "use chroot = no\n[data]\npath = {}\nread only = true\nuid = root\ngid = root\n",
            dir.display()
        );
        std::fs::write(conf.path().join("rsyncd.conf"), text).expect("conf");
        let child = Command::new("rsync")
            .args(["--daemon", "--no-detach", "--address=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--config={}", conf.path().join("rsyncd.conf").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsync --daemon (install rsync)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "rsync daemon did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        RsyncDaemon {
            child,
            port,
            _conf: conf,
        }
    }

    /// `rsync -a [extra]` of the whole module into `dest`; returns the wall time.
    fn pull(&self, dest: &Path, extra: &[&str]) -> Duration {
        let t = Instant::now();
        let ok = Command::new("rsync")
            .arg("-a")
            .args(extra)
            .arg(format!("rsync://127.0.0.1:{}/data/", self.port))
            .arg(dest)
            .status()
            .expect("rsync")
            .success();
        assert!(ok, "rsync failed");
        t.elapsed()
    }
}

impl Drop for RsyncDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sync_status(agent: &Agent, http: &reqwest::Client) -> Option<SyncStatus> {
    http.get(agent.url("/api/v1/sync"))
        .bearer_auth(&agent.link.token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

fn cpu(pid: u32) -> f64 {
    proc_usage(pid).map(|(c, _)| c).unwrap_or(0.0)
}

fn drop_caches() {
    // Both tools then start from a cold page cache, as after a reboot. Needs root; harmless if not.
    let _ = Command::new("sync").status();
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
}

#[tokio::main]
async fn main() {
    let voicemails = env("LBS_BENCH_VOICEMAILS", 5000);
    let recordings = env("LBS_BENCH_RECORDINGS", 50);
    let mb = env("LBS_BENCH_RECORDING_MB", 20);
    let samples = env("LBS_BENCH_SAMPLES", 100);
    println!("lbs-sync-bench: agent {}", lbs_tests::agent_bin().display());

    let work = tempfile::tempdir().expect("tempdir");
    let source = work.path().join("source");
    let t = Instant::now();
    let (files, bytes) = generate(&source, voicemails, recordings, mb);
    println!(
        "tree: {files} files, {:.0} MB ({voicemails} voicemails with envelopes, {recordings} recordings of {mb} MB), generated in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // 1. rsync -a over loopback (rsync daemon protocol, no encryption).
    let daemon = RsyncDaemon::start(&source);
    let rsync_dest = work.path().join("rsync-copy");
    drop_caches();
    let rsync_initial = daemon.pull(&rsync_dest, &[]);
    let rsync_noop = daemon.pull(&rsync_dest, &[]);
    std::fs::remove_dir_all(&rsync_dest).expect("clean");
    // The same with every file flushed to disk, as LBS does (Invariant 2): like for like.
    drop_caches();
    let rsync_fsync = daemon.pull(&rsync_dest, &["--fsync"]);
    drop(daemon);
    std::fs::remove_dir_all(&rsync_dest).expect("clean");
    println!(
        "rsync -a: initial {:.2} s, no-op rerun {:.3} s; rsync -a --fsync: initial {:.2} s",
        rsync_initial.as_secs_f64(),
        rsync_noop.as_secs_f64(),
        rsync_fsync.as_secs_f64()
    );

    // 2. LBS: A journals the tree, B (empty) pairs and copies it.
    let src = source.clone();
    let mut a = Agent::init_config("bench A", "5s", move |_| config(&src));
    let mut b = Agent::init_config("bench B", "5s", |d| {
        let data = d.join("data");
        std::fs::create_dir_all(data.join("voicemail")).expect("mkdir");
        std::fs::create_dir_all(data.join("monitor")).expect("mkdir");
        config(&data)
    });
    a.start();
    b.start();
    let (ha, hb) = (a.http(), b.http());
    // The primary's first scan (hashing everything) is not part of the copy; wait for it.
    let t = Instant::now();
    loop {
        let s = sync_status(&a, &ha).await;
        let journaled: u64 = s.map(|s| s.categories.iter().map(|c| c.local_files).sum()).unwrap_or(0);
        if journaled == files as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "LBS primary's first scan (BLAKE3 of every file): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    drop_caches();
    let (pa, pb) = (a.pid().expect("pid"), b.pid().expect("pid"));
    let (ca, cb) = (cpu(pa), cpu(pb));
    let t = Instant::now();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    loop {
        if let Some(s) = sync_status(&b, &hb).await {
            let held: u64 = s.categories.iter().map(|c| c.local_files).sum();
            let pending: u64 = s.categories.iter().map(|c| c.pending_files).sum();
            if held == files as u64 && pending == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lbs_initial = t.elapsed();
    let secs = lbs_initial.as_secs_f64();
    println!(
        "LBS initial copy: {secs:.2} s = {:.2} × rsync -a (aim ≤ 1.0), {:.2} × rsync -a --fsync; CPU meanwhile: primary {:.0} %, backup {:.0} % of one core",
        secs / rsync_initial.as_secs_f64(),
        secs / rsync_fsync.as_secs_f64(),
        100.0 * (cpu(pa) - ca) / secs,
        100.0 * (cpu(pb) - cb) / secs
    );

    // 3. Rescan of the unchanged tree: the journal's quick scan, in-process, same code as the agent.
    let journal = lbs_sync::journal::Journal::open(&work.path().join("rescan.db"))
        .await
        .expect("journal");
    let select = lbs_sync::select::Selector::all();
    journal
        .scan("voicemail:0", &source.join("voicemail"), &select, false, 1)
        .await
        .expect("scan");
    journal
        .scan("recordings:0", &source.join("monitor"), &select, false, 1)
        .await
        .expect("scan");
    let t = Instant::now();
    let mut changed = 0;
    for (key, dir) in [("voicemail:0", "voicemail"), ("recordings:0", "monitor")] {
        let r = journal
            .scan(key, &source.join(dir), &select, false, 2)
            .await
            .expect("scan");
        changed += r.added + r.modified + r.deleted;
    }
    let rescan = t.elapsed();
    println!(
        "rescan of the unchanged tree: LBS {:.3} s ({changed} changes found) vs rsync no-op {:.3} s = {:.2} × rsync",
        rescan.as_secs_f64(),
        rsync_noop.as_secs_f64(),
        rescan.as_secs_f64() / rsync_noop.as_secs_f64()
    );

    // 4. Change-to-backup latency of a new voicemail (~40 KB): written on A, complete on B.
    let b_root = b.dir.path().join("data/voicemail/default/1001/INBOX");
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("latency{i:04}.wav");
        let content = noise(900_000 + i as u64, 40_000);
        let target = b_root.join(&name);
        let t = Instant::now();
        write(&source.join("voicemail/default/1001/INBOX"), &name, &content);
        loop {
            if target.exists() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "latency sample {i} never arrived"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "change-to-backup latency, new 40 KB voicemail, {samples} samples: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (aim p99 < 200 ms)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );

    // 5. Idle CPU while nothing changes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (ca, cb) = (cpu(pa), cpu(pb));
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "idle, nothing changing, 30 s: primary {:.2} %, backup {:.2} % of one core",
        100.0 * (cpu(pa) - ca) / secs,
        100.0 * (cpu(pb) - cb) / secs
    );
    a.stop();
    b.stop();
}
