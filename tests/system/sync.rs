//! Continuous sync between two real agents on loopback: pairing, every category, continuous
//! changes, deletes into the trash, resume after `kill -9`, refusals (wrong certificate, stale
//! epoch, paths that try to leave their root), and a full disk on the backup.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_protocol::{SyncLinkState, SyncStatus};
use lbs_tests::{eventually, noise, Agent};

/// (name, priority) of the categories both test boxes sync, as on a stock Asterisk box.
const CATEGORIES: &[(&str, u32)] = &[
    ("config", 1),
    ("astdb", 1),
    ("voicemail", 2),
    ("prompts", 3),
    ("recordings", 4),
    ("moh", 4),
];

fn root(agent: &Agent, category: &str) -> PathBuf {
    agent.dir.path().join("data").join(category)
}

/// The `[sync]` section: every category under `<dir>/data`, the user-settings database dumped
/// from `<dir>/astdb-live.txt` (a stand-in for `sqlite3 astdb.sqlite3 .dump`).
fn sync_config(dir: &Path, extra: &str) -> String {
    let mut text = format!("\n[sync]\ndump_interval = \"10s\"\n{extra}\n");
    for (name, priority) in CATEGORIES {
        let r = dir.join("data").join(name);
        std::fs::create_dir_all(&r).unwrap();
        text += &format!(
            "[[sync.category]]\nname = \"{name}\"\npriority = {priority}\nroots = [\"{}\"]\nexclude = [\"**/tmp/**\"]\n",
            r.display()
        );
        if *name == "astdb" {
            let live = dir.join("astdb-live.txt");
            std::fs::write(&live, "INSERT INTO astdb VALUES('/CW/1001','ENABLED');\n").unwrap();
            text += &format!("dump = [\"cat\", \"{}\"]\ndump_file = \"astdb.sql\"\n", live.display());
        }
    }
    text
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Every data file under `root` (the sync folder aside): path → (BLAKE3, mode).
fn tree(root: &Path) -> BTreeMap<String, (String, u32)> {
    walk(root, true)
}

/// As [`tree`] with sizes instead of hashes: cheap enough to poll.
fn sizes(root: &Path) -> BTreeMap<String, (String, u32)> {
    walk(root, false)
}

fn walk(root: &Path, hash: bool) -> BTreeMap<String, (String, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            // The sync folder, links (never copied) and excluded `tmp` folders are not data.
            if rel == ".lbs-sync" || meta.file_type().is_symlink() || rel.ends_with("/tmp") {
                continue;
            }
            if meta.is_dir() {
                stack.push(path);
            } else {
                let id = if hash {
                    blake3::hash(&std::fs::read(&path).unwrap()).to_hex().to_string()
                } else {
                    meta.len().to_string()
                };
                out.insert(rel, (id, meta.mode() & 0o7777));
            }
        }
    }
    out
}

struct Pair {
    a: Agent,
    b: Agent,
}

/// Two agents, A (primary) and B, started; B paired to A with the CLI, as a technician does.
fn paired(a_extra: &str, b_extra: &str) -> Pair {
    let (ae, be) = (a_extra.to_owned(), b_extra.to_owned());
    let mut a = Agent::init_config("PBX A", "1s", move |d| sync_config(d, &ae));
    let mut b = Agent::init_config("PBX B", "1s", move |d| sync_config(d, &be));
    a.start();
    b.start();
    pair(&a, &b);
    Pair { a, b }
}

fn pair(a: &Agent, b: &Agent) {
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(
        out.status.success(),
        "pair failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("now its backup"));
}

async fn status(agent: &Agent) -> SyncStatus {
    let r = agent.get("/api/v1/sync", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn converged(pair: &Pair, what: &str, timeout_secs: u64) {
    let debug = std::env::var_os("LBS_TEST_DEBUG").is_some();
    let started = std::time::Instant::now();
    eventually(what, Duration::from_secs(timeout_secs), || async {
        if debug && started.elapsed().as_millis() % 5000 < 200 {
            let counts: Vec<String> = CATEGORIES
                .iter()
                .map(|(c, _)| {
                    format!(
                        "{c} {}/{}",
                        tree(&root(&pair.b, c)).len(),
                        tree(&root(&pair.a, c)).len()
                    )
                })
                .collect();
            let s = status(&pair.b).await;
            let pending: Vec<String> = s
                .categories
                .iter()
                .map(|c| format!("{}:{}:{:?}", c.name, c.pending_files, c.last_error))
                .collect();
            eprintln!("{:?} {counts:?} {:?} {pending:?}", started.elapsed(), s.peer.state);
            let (ta, tb) = (sizes(&root(&pair.a, "voicemail")), sizes(&root(&pair.b, "voicemail")));
            let missing: Vec<_> = ta.keys().filter(|k| !tb.contains_key(*k)).take(5).collect();
            let sa = status(&pair.a).await;
            let vm = sa
                .categories
                .iter()
                .find(|c| c.name == "voicemail")
                .map(|c| (c.local_files, c.pending_files));
            eprintln!("missing on B: {missing:?}; A journal (files, pending): {vm:?}");
            if started.elapsed() > Duration::from_secs(60) {
                eprintln!(
                    "{}",
                    pair.a
                        .log()
                        .lines()
                        .filter(|l| l.contains("deleted on this box") || l.contains("WARN"))
                        .take(20)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                let trash = root(&pair.b, "voicemail").join(".lbs-sync/trash");
                eprintln!("B trash: {:?}", std::fs::read_dir(&trash).map(|d| d.count()));
            }
        }
        let same = |f: fn(&Path) -> BTreeMap<String, (String, u32)>| {
            CATEGORIES
                .iter()
                .all(|(c, _)| f(&root(&pair.a, c)) == f(&root(&pair.b, c)))
        };
        (same(sizes) && same(tree)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_category_syncs_initially_and_continuously_with_deletes_kept_in_the_trash() {
    let mut p = paired("", "");
    let a_dir = p.a.dir.path().join("data");
    let a = |c: &str| a_dir.join(c);
    // A realistic tree: config, mailboxes, prompts, music on hold and some large recordings.
    write(
        &a("config"),
        "extensions.conf",
        b"[default]\nexten => 100,1,Dial(PJSIP/100)\n",
    );
    write(&a("config"), "queues.conf", b"[support]\nstrategy = ringall\n");
    for i in 0..1000 {
        let mailbox = 1001 + i % 20;
        write(
            &a("voicemail"),
            &format!("default/{mailbox}/INBOX/msg{i:04}.wav"),
            &noise(i, 4_000 + (i as usize * 37) % 20_000),
        );
        write(
            &a("voicemail"),
            &format!("default/{mailbox}/INBOX/msg{i:04}.txt"),
            format!("[message]\ncallerid=\"Caller {i}\" <555{i:04}>\n").as_bytes(),
        );
    }
    write(&a("voicemail"), "default/1001/tmp/in-progress.wav", b"being recorded");
    for i in 0..3 {
        write(
            &a("recordings"),
            &format!("2026/11/25/call-{i}.wav"),
            &noise(1000 + i, 6_000_000),
        );
    }
    write(&a("prompts"), "custom/welcome.gsm", &noise(7, 50_000));
    write(&a("moh"), "default/song.wav", &noise(8, 2_000_000));
    std::fs::set_permissions(a("config").join("queues.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    converged(&p, "the initial copy", 180).await;
    assert!(
        !root(&p.b, "voicemail")
            .join("default/1001/tmp/in-progress.wav")
            .exists(),
        "excluded files are not copied"
    );
    assert_eq!(
        std::fs::read_to_string(root(&p.b, "astdb").join("astdb.sql")).unwrap(),
        "INSERT INTO astdb VALUES('/CW/1001','ENABLED');\n",
        "the database arrives as its dump"
    );
    assert_eq!(
        std::fs::metadata(root(&p.b, "config").join("queues.conf"))
            .unwrap()
            .mode()
            & 0o777,
        0o640,
        "permission bits are kept"
    );

    // Continuous changes: new, changed, renamed, deleted — in every category.
    write(&a("voicemail"), "default/1005/INBOX/msg9000.wav", b"a new message");
    write(&a("config"), "queues.conf", b"[support]\nstrategy = linear\n");
    std::fs::rename(
        a("prompts").join("custom/welcome.gsm"),
        a("prompts").join("custom/hello.gsm"),
    )
    .unwrap();
    std::fs::remove_file(a("voicemail").join("default/1002/INBOX/msg0001.wav")).unwrap();
    write(&a("recordings"), "2026/11/25/call-9.wav", &noise(99, 1_000_000));
    write(&a("moh"), "default/song2.wav", &noise(9, 10_000));
    converged(&p, "the changes", 30).await;
    let trash = root(&p.b, "voicemail").join(".lbs-sync/trash");
    let trashed: Vec<_> = std::fs::read_dir(&trash).unwrap().flatten().collect();
    assert_eq!(trashed.len(), 1);
    assert!(
        trashed[0].path().join("default/1002/INBOX/msg0001.wav").is_file(),
        "a delete on the primary moves the backup's copy to the trash"
    );

    // The dump command fails (its database is gone): an error with its output, the last good
    // dump stays; once the database is back, its next dump carries the change over.
    let live = p.a.dir.path().join("astdb-live.txt");
    std::fs::remove_file(&live).unwrap();
    let problem = eventually("the failing dump to be reported", Duration::from_secs(30), || async {
        let s = status(&p.a).await;
        s.categories.into_iter().find(|c| c.name == "astdb")?.last_error
    })
    .await;
    assert!(
        problem.message.contains("dump command") && problem.message.contains("No such file"),
        "{}",
        problem.message
    );
    assert!(
        root(&p.b, "astdb").join("astdb.sql").is_file(),
        "the last good dump stays"
    );
    std::fs::write(&live, "INSERT INTO astdb VALUES('/CW/1001','DISABLED');\n").unwrap();
    let copy = root(&p.b, "astdb").join("astdb.sql");
    eventually("the new dump on B", Duration::from_secs(30), || async {
        std::fs::read_to_string(&copy)
            .is_ok_and(|t| t.contains("DISABLED"))
            .then_some(())
    })
    .await;
    converged(&p, "the new dump", 30).await;
    eventually("the dump error to clear", Duration::from_secs(30), || async {
        let s = status(&p.a).await;
        s.categories
            .into_iter()
            .find(|c| c.name == "astdb")
            .is_some_and(|c| c.last_error.is_none())
            .then_some(())
    })
    .await;

    // The status on both sides agrees and says everything is in sync.
    let (sa, sb) = (status(&p.a).await, status(&p.b).await);
    assert_eq!(sb.peer.state, SyncLinkState::Ok, "{:?}", sb.peer);
    assert_eq!(sb.peer.name.as_deref(), Some("PBX A"));
    assert_eq!(sa.peer.name.as_deref(), Some("PBX B"));
    assert_eq!(sa.categories.len(), CATEGORIES.len());
    assert_eq!(sa.categories[0].priority, 1, "highest priority first");
    let vm = sb.categories.iter().find(|c| c.name == "voicemail").unwrap();
    assert_eq!(
        vm.local_files, 2000,
        "1000 messages with their envelopes, one deleted, one added"
    );
    assert_eq!(vm.peer_files, Some(2000));
    assert_eq!((vm.pending_files, vm.lag_secs), (0, None));
    assert!(vm.last_success_unix.is_some() && vm.last_error.is_none(), "{vm:?}");
    eventually(
        "the primary to see the backup caught up",
        Duration::from_secs(30),
        || async {
            let s = status(&p.a).await;
            s.categories
                .iter()
                .all(|c| c.pending_files == 0 && c.peer_files == Some(c.local_files))
                .then_some(())
        },
    )
    .await;

    // The partner goes away: the backup says so; changes made meanwhile arrive when it is back.
    p.a.stop();
    eventually("the backup to notice", Duration::from_secs(30), || async {
        let s = status(&p.b).await;
        (s.peer.state == SyncLinkState::Unreachable).then_some(s)
    })
    .await;
    write(
        &a("voicemail"),
        "default/1007/INBOX/msg9001.wav",
        b"left while the agent was down",
    );
    p.a.start();
    converged(&p, "the changes made while the agent was away", 30).await;

    let out = p.b.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Sync:         in contact"), "{text}");
    assert!(text.contains("voicemail"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_killed_on_either_side_resumes_and_never_leaves_a_torn_file() {
    // A cap on the primary makes a 24 MB recording take about 6 s: time to kill both sides.
    let mut p = paired("bandwidth_limit = \"4 MB/s\"", "");
    let big = noise(42, 24_000_000);
    write(&root(&p.a, "recordings"), "big.wav", &big);
    let target = root(&p.b, "recordings").join("big.wav");
    let partial_dir = root(&p.b, "recordings").join(".lbs-sync/partial");
    let partial_size = || -> u64 {
        std::fs::read_dir(&partial_dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "part"))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    eventually("part of the recording to arrive", Duration::from_secs(30), || async {
        (partial_size() > 2_000_000).then_some(())
    })
    .await;
    p.b.kill9();
    assert!(!target.exists(), "no torn file in place after the backup was killed");
    let kept = partial_size();
    p.b.start();
    eventually("the transfer to resume", Duration::from_secs(30), || async {
        (partial_size() > kept + 1_000_000).then_some(())
    })
    .await;
    p.a.kill9();
    assert!(!target.exists(), "no torn file in place after the primary was killed");
    p.a.start();
    converged(&p, "the recording to complete", 60).await;
    assert_eq!(blake3::hash(&std::fs::read(&target).unwrap()), blake3::hash(&big));
    let log = p.b.log();
    assert!(
        log.contains("broke off") || log.contains("does not answer"),
        "the interruption was seen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_paired_partner_may_use_the_partner_routes() {
    let p = paired("", "");
    let stranger = Agent::init_config("stranger", "1s", |d| sync_config(d, ""));
    let url = p.a.url("/peer/v1/changes");
    let body = serde_json::json!({"journal_id": null, "after": 0, "limit": 10, "wait_ms": 0, "acked": 0, "held": []});
    // No client certificate at all.
    let r = p.a.http().post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A certificate, but not the partner's.
    let r = stranger
        .as_partner_of(&p.a)
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let msg: lbs_protocol::ApiError = r.json().await.unwrap();
    assert!(msg.message.contains("not the paired partner"), "{}", msg.message);
    // The partner.
    let r = p.b.as_partner_of(&p.a).post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Pairing needs the primary's admin token too.
    let pair = serde_json::json!({"server_id": "x", "name": "x", "address": "127.0.0.1:1", "epoch": 1});
    let r = stranger
        .as_partner_of(&p.a)
        .post(p.a.url("/peer/v1/pair"))
        .bearer_auth("lbs_wrong_token")
        .json(&pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partner_with_another_certificate_is_refused_and_the_status_says_why() {
    let mut p = paired("", "");
    write(&root(&p.a, "config"), "sip.conf", b"[general]\n");
    converged(&p, "the first copy", 30).await;
    // Another box takes over the primary's address (a reinstall, or an impostor).
    p.a.stop();
    let mut impostor = Agent::init_config("impostor", "1s", |d| sync_config(d, ""));
    let config = std::fs::read_to_string(&impostor.config)
        .unwrap()
        .replace(&format!("127.0.0.1:{}", impostor.port), &p.a.address());
    std::fs::write(&impostor.config, config).unwrap();
    impostor.port = p.a.port;
    write(&root(&impostor, "config"), "sip.conf", b"[general]\nevil=yes\n");
    impostor.start();
    let s = eventually("the backup to refuse the impostor", Duration::from_secs(30), || async {
        let s = status(&p.b).await;
        (s.peer.state == SyncLinkState::Refused).then_some(s)
    })
    .await;
    assert!(
        s.peer
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("different certificate"),
        "{:?}",
        s.peer
    );
    assert_eq!(
        std::fs::read(root(&p.b, "config").join("sip.conf")).unwrap(),
        b"[general]\n",
        "nothing from the impostor"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_primary_steps_down_and_what_it_wrote_meanwhile_is_quarantined() {
    let mut p = paired("", "");
    write(&root(&p.a, "config"), "a.conf", b"1");
    converged(&p, "the first copy", 30).await;
    // The backup has since been through a failover elsewhere: its epoch is higher than A's. A,
    // still a primary, writes a file the backup never gets.
    p.b.stop();
    write(&root(&p.a, "config"), "stale.conf", b"written by a stale primary");
    let role_file = p.b.state_dir().join("role.json");
    let mut role: serde_json::Value = serde_json::from_slice(&std::fs::read(&role_file).unwrap()).unwrap();
    role["epoch"] = 5.into();
    std::fs::write(&role_file, serde_json::to_vec(&role).unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    p.b.start();
    // Whichever comes first, the backup refusing A's data or A hearing of epoch 5 and stepping
    // down, A's file never reaches B; A ends as a backup with the file in its quarantine.
    let f = eventually("A to step down", Duration::from_secs(30), || async {
        let f: lbs_protocol::FailoverStatus = p.a.get("/api/v1/failover", &p.a.link.token).await.json().await.ok()?;
        (f.role == lbs_protocol::Role::Backup && f.busy.is_none()).then_some(f)
    })
    .await;
    assert_eq!(f.epoch, 5);
    let q: lbs_protocol::QuarantineList =
        p.a.get("/api/v1/quarantine", &p.a.link.token)
            .await
            .json()
            .await
            .unwrap();
    assert!(
        q.entries
            .iter()
            .any(|e| e.path == "stale.conf" && e.category == "config"),
        "{q:?}"
    );
    assert!(!root(&p.b, "config").join("stale.conf").exists());
    assert!(
        !root(&p.a, "config").join("stale.conf").exists(),
        "moved aside, not left in place"
    );
    converged(&p, "A to mirror B again", 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paths_that_try_to_leave_their_root_are_refused_in_names_and_in_the_protocol() {
    let p = paired("", "");
    let (ra, rb) = (root(&p.a, "voicemail"), root(&p.b, "voicemail"));
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"not for the backup").unwrap();
    // On the primary: a link out of the root is reported, not followed.
    std::os::unix::fs::symlink(outside.path(), ra.join("escape")).unwrap();
    // On the backup: a planted link where a mailbox folder should be is not written through.
    std::os::unix::fs::symlink(outside.path(), rb.join("default")).unwrap();
    write(&ra, "default/1001/INBOX/msg0000.wav", b"message");
    write(&ra, "ok/msg.wav", b"fine");
    eventually("the good file", Duration::from_secs(30), || async {
        rb.join("ok/msg.wav").is_file().then_some(())
    })
    .await;
    let s = eventually("the refusal to be reported", Duration::from_secs(30), || async {
        let s = status(&p.b).await;
        let vm = s.categories.into_iter().find(|c| c.name == "voicemail")?;
        vm.last_error.is_some().then_some(vm)
    })
    .await;
    assert!(s.last_error.unwrap().message.contains("symbolic link"));
    assert!(
        !outside.path().join("1001").exists(),
        "nothing written outside the root"
    );
    let sa = status(&p.a).await;
    let vm = sa.categories.iter().find(|c| c.name == "voicemail").unwrap();
    assert!(
        vm.skipped
            .iter()
            .any(|s| s.path == "escape" && s.reason.contains("symbolic link")),
        "{:?}",
        vm.skipped
    );

    // In the protocol: the partner asks for paths outside the root.
    let client = p.b.as_partner_of(&p.a);
    let zero = "0".repeat(64);
    for bad in [
        "../../../etc/passwd",
        "/etc/passwd",
        "escape/secret",
        "a/../../x",
        "a\\..\\b",
    ] {
        let r = client
            .get(p.a.url("/peer/v1/content"))
            .query(&[("source", "voicemail:0"), ("path", bad), ("hash", &zero)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let e: lbs_protocol::ApiError = r.json().await.unwrap();
        assert!(e.message.starts_with("refused"), "{bad}: {}", e.message);
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: mounts a small tmpfs as the backup's recordings folder"]
async fn a_full_disk_on_the_backup_is_a_clear_error_and_sync_recovers_when_space_is_freed() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test mounts a tmpfs: run it as root (CI does)"
    );
    let mut p = paired("", "");
    // The backup's recordings folder on a 4 MB disk.
    p.b.stop();
    let rec = root(&p.b, "recordings");
    let mount = |opts: &str| {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&rec)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount {opts}");
    };
    mount("size=4m");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(rec.clone());
    p.b.start();
    write(&root(&p.a, "recordings"), "long-call.wav", &noise(5, 6_000_000));
    write(
        &root(&p.a, "voicemail"),
        "default/1001/INBOX/msg0000.wav",
        b"still arrives",
    );
    let s = eventually("the full disk to be reported", Duration::from_secs(30), || async {
        let s = status(&p.b).await;
        let rec = s.categories.into_iter().find(|c| c.name == "recordings")?;
        rec.last_error.is_some().then_some(rec)
    })
    .await;
    let msg = s.last_error.unwrap().message;
    assert!(msg.contains("is full") && msg.contains("Free some space"), "{msg}");
    assert!(s.pending_files >= 1);
    assert!(!rec.join("long-call.wav").exists(), "nothing half-written in place");
    let vm = root(&p.b, "voicemail").join("default/1001/INBOX/msg0000.wav");
    eventually(
        "the voicemail despite the full recordings disk",
        Duration::from_secs(20),
        || async { vm.is_file().then_some(()) },
    )
    .await;
    // Space is freed: the transfer resumes and completes.
    mount("remount,size=64m");
    converged(&p, "the recording after space was freed", 90).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_that_grows_while_it_is_sent_arrives_whole_without_an_error() {
    // The cap makes the first version take about 3 s to send: time for the call to go on.
    let p = paired("bandwidth_limit = \"2 MB/s\"", "");
    let (ra, rb) = (root(&p.a, "recordings"), root(&p.b, "recordings"));
    let first = noise(7, 6_000_000);
    write(&ra, "call.wav", &first);
    let partial_dir = rb.join(".lbs-sync/partial");
    eventually("the recording to start arriving", Duration::from_secs(30), || async {
        let started = std::fs::read_dir(&partial_dir)
            .map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 500_000)))
            .unwrap_or(false);
        started.then_some(())
    })
    .await;
    // The call goes on: the file grows while its journaled version is being sent.
    let more = noise(8, 1_000_000);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(ra.join("call.wav"))
        .unwrap();
    std::io::Write::write_all(&mut f, &more).unwrap();
    drop(f);
    let whole: Vec<u8> = [first, more].concat();
    eventually("the whole recording on the backup", Duration::from_secs(60), || async {
        let held = std::fs::read(rb.join("call.wav")).ok()?;
        (blake3::hash(&held) == blake3::hash(&whole)).then_some(())
    })
    .await;
    let log = p.b.log();
    assert!(
        !log.contains("longer than announced"),
        "the grown file was sent past its journaled size:\n{}",
        log.lines()
            .filter(|l| l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn folders_are_mirrored_and_a_renamed_folder_leaves_no_empty_folders_behind() {
    let p = paired("", "");
    let (ra, rb) = (root(&p.a, "voicemail"), root(&p.b, "voicemail"));
    // A new mailbox: empty folders only, as Asterisk makes them.
    std::fs::create_dir_all(ra.join("default/1234/INBOX")).unwrap();
    std::fs::set_permissions(ra.join("default/1234/INBOX"), std::fs::Permissions::from_mode(0o750)).unwrap();
    write(&ra, "default/2000/INBOX/msg0000.txt", b"[message]");
    std::fs::create_dir_all(ra.join("default/2000/Family")).unwrap();
    eventually("the empty folders on the backup", Duration::from_secs(30), || async {
        let inbox = std::fs::metadata(rb.join("default/1234/INBOX")).ok()?;
        let family = rb.join("default/2000/Family").is_dir();
        let msg = rb.join("default/2000/INBOX/msg0000.txt").is_file();
        (inbox.is_dir() && inbox.mode() & 0o7777 == 0o750 && family && msg).then_some(())
    })
    .await;

    // The mailbox is renamed and the empty one removed on the primary.
    std::fs::rename(ra.join("default/2000"), ra.join("default/3000")).unwrap();
    std::fs::remove_dir(ra.join("default/1234/INBOX")).unwrap();
    eventually(
        "the renamed mailbox, and nothing left of the old",
        Duration::from_secs(30),
        || async {
            let moved = rb.join("default/3000/INBOX/msg0000.txt").is_file() && rb.join("default/3000/Family").is_dir();
            let old_gone = !rb.join("default/2000").exists() && !rb.join("default/1234/INBOX").exists();
            (moved && old_gone).then_some(())
        },
    )
    .await;
    assert!(rb.join("default/1234").is_dir(), "a folder still on the primary stays");
    assert!(
        rb.join(".lbs-sync/trash").is_dir(),
        "the old message went to the trash, as deletes do"
    );
    let s = status(&p.b).await;
    let vm = s.categories.iter().find(|c| c.name == "voicemail").unwrap();
    assert!(vm.last_error.is_none(), "{:?}", vm.last_error);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_in_sync_before_the_primary_has_counted_every_file_and_the_backup_holds_them() {
    // A real large tree: the primary's first scan takes a moment.
    const FILES: usize = 40_000;
    let mut a = Agent::init_config("PBX A", "1s", |d| sync_config(d, ""));
    let mut b = Agent::init_config("PBX B", "1s", |d| sync_config(d, ""));
    let ra = root(&a, "voicemail");
    for i in 0..FILES {
        write(
            &ra,
            &format!("default/{}/INBOX/msg{:04}.txt", 1000 + i / 100, i % 100),
            format!("[message]\nid={i}\n").as_bytes(),
        );
    }
    a.start();
    let first = status(&a).await;
    let vm = first.categories.iter().find(|c| c.name == "voicemail").unwrap();
    assert!(vm.counting.is_some(), "the primary says it is counting: {vm:?}");
    b.start();
    pair(&a, &b);

    // From pairing until the copy is complete, the backup never says voicemail is in sync
    // unless it holds every file; it says the primary is counting while it does.
    let counted_so_far = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let done = eventually("the backup to hold every voicemail", Duration::from_secs(240), || {
        let (a, b, counted) = (&a, &b, counted_so_far.clone());
        async move {
            let sb = status(b).await;
            let vm = sb.categories.iter().find(|c| c.name == "voicemail").unwrap().clone();
            if let Some(c) = &vm.counting {
                counted.lock().unwrap().push(c.files_counted);
                assert!(vm.last_success_unix.is_none(), "in sync while counting: {vm:?}");
            }
            let says_in_sync = vm.counting.is_none() && vm.pending_files == 0 && vm.last_success_unix.is_some();
            if says_in_sync {
                assert_eq!(
                    vm.local_files, FILES as u64,
                    "said in sync while holding only part: {vm:?}"
                );
            }
            let sa = status(a).await;
            let on_a = sa.categories.iter().find(|c| c.name == "voicemail").unwrap();
            (says_in_sync && on_a.counting.is_none() && on_a.pending_files == 0).then_some(vm)
        }
    })
    .await;
    let counted = counted_so_far.lock().unwrap().clone();
    assert!(
        !counted.is_empty(),
        "the backup reported the primary's counting at least once"
    );
    assert!(counted.windows(2).all(|w| w[0] <= w[1]), "{counted:?}");
    assert_eq!(done.local_files, FILES as u64);
}
