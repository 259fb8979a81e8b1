//! `lbs-sync-bench`: the sync's figures side by side with `rsync -a` over loopback, on the same
//! generated tree, in one run (not a test: nothing here passes or fails).
//!
//! - initial copy time, as a ratio to rsync (aim ≤ 1.0), and the CPU both agents use meanwhile;
//! - a rescan of the unchanged tree (the journal's quick scan) against rsync's no-op run;
//! - change-to-backup latency of a new voicemail, p50 and p99 (aim p99 < 200 ms), idle and while
//!   a large recording copies (aim p99 < 100 ms);
//! - idle CPU of both agents while nothing changes.
//!
//! Run with `scripts/bench-sync.sh` (release build). Sizes: `LBS_BENCH_VOICEMAILS` (5000),
//! `LBS_BENCH_RECORDINGS` (50), `LBS_BENCH_RECORDING_MB` (20), `LBS_BENCH_SAMPLES` (100),
//! `LBS_BENCH_LOAD_MB` (4000: the recording copied meanwhile; 0 skips it).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lbs_tests::bench::{cpu_secs as cpu, env, voicemail_latency, voicemails_while, wait_copied, wait_journaled, write};
use lbs_tests::{free_port, noise, Agent};

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
    // The primary's first scan (hashing everything) is not part of the copy; wait for it.
    let t = Instant::now();
    wait_journaled(&a, files as u64).await;
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
    wait_copied(&b, files as u64).await;
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
    let inbox = "voicemail/default/1001/INBOX";
    let lat = voicemail_latency(
        &source.join(inbox),
        &b.dir.path().join("data").join(inbox),
        "latency",
        samples,
    )
    .await;
    println!(
        "change-to-backup latency, new 40 KB voicemail, {samples} samples: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (aim p99 < 200 ms)",
        lat.p50(),
        lat.p99(),
        lat.max()
    );

    // 4b. The same while a large recording copies (a reintegrated box catching up, music on hold
    // uploaded): voicemails at 50/s for as long as the copy is under way.
    let load_mb = env("LBS_BENCH_LOAD_MB", 4000);
    if load_mb > 0 {
        under_load(&source, &b, load_mb).await;
    }

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

/// Moves a `mb` MB recording into the primary's root (incompressible, written in 16 MB blocks
/// that differ), waits until the backup is copying it, then writes a 40 KB voicemail every 20 ms until
/// the recording has arrived, and prints when each voicemail reached the backup.
async fn under_load(source: &Path, b: &Agent, mb: usize) {
    let block = noise(7_000_000, 16 << 20);
    // Written beside the root, then moved in whole: the copy starts once it is complete.
    let staged = source.join("load.wav");
    let big = source.join("monitor/2026/11/load.wav");
    let t = Instant::now();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&staged).expect("create the load recording");
        let mut left = mb * 1_000_000;
        let mut i = 0u64;
        while left > 0 {
            let mut chunk = block[..left.min(block.len())].to_vec();
            chunk[..8].copy_from_slice(&i.to_le_bytes());
            f.write_all(&chunk).expect("write the load recording");
            left -= chunk.len();
            i += 1;
        }
        f.sync_all().expect("flush the load recording");
    }
    std::fs::rename(&staged, &big).expect("move the load recording in");
    println!(
        "load: a {mb} MB recording written on the primary in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Under way: the backup's partial copy has begun growing.
    let b_monitor = b.dir.path().join("data/monitor");
    let b_big = b_monitor.join("2026/11/load.wav");
    let partial = b_monitor.join(".lbs-sync/partial");
    let copying = || {
        std::fs::read_dir(&partial)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 16 << 20))
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while !copying() {
        assert!(
            Instant::now() < deadline,
            "the backup never began copying the load recording"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copy_started = Instant::now();
    let inbox = "voicemail/default/1002/INBOX";
    let mut copy_done = None;
    let lat = voicemails_while(
        &source.join(inbox),
        &b.dir.path().join("data").join(inbox),
        Duration::from_millis(20),
        || {
            if b_big.exists() {
                copy_done.get_or_insert(copy_started.elapsed());
            }
            copy_done.is_none()
        },
    )
    .await;
    let copy = copy_done.unwrap_or_default().as_secs_f64();
    println!(
        "change-to-backup latency while the {mb} MB recording copied ({copy:.1} s, {:.0} MB/s): {} voicemails at 50/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (aim p99 < 100 ms)",
        mb as f64 / copy.max(0.001),
        lat.0.len(),
        lat.p50(),
        lat.p99(),
        lat.max()
    );
}
