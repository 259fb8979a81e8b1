//! The backup's trash between two real agents: a file deleted on the primary is listed on the
//! backup and put back from there onto the primary, then copied to the backup again; a different
//! file on the primary is replaced only when asked (and kept in the primary's trash); view-only
//! tokens, paths that try to leave the root and a primary that does not answer are refused in
//! plain words, with nothing touched; a backup away longer than deletions are remembered still
//! deletes what the primary deleted. The console's side runs against the same agents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_console_core::view::ErrorKind;
use lbs_console_core::{Console, Credentials};
use lbs_protocol::{ApiError, EventKind, EventList, TrashEntry, TrashList, TrashRestored};
use lbs_tests::{eventually, Agent};
use serde_json::json;

const MSG: &str = "default/1001/INBOX/msg0001.txt";
const OTHER: &str = "default/1001/INBOX/msg0002.txt";

fn voicemail(agent: &Agent) -> PathBuf {
    agent.dir.path().join("data").join("voicemail")
}

/// One voicemail root; deleted files kept three days.
fn config(dir: &Path) -> String {
    let root = dir.join("data").join("voicemail");
    std::fs::create_dir_all(&root).unwrap();
    format!(
        "\n[sync]\ntrash_retention = \"3d\"\n[[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n",
        root.display()
    )
}

struct Pair {
    a: Agent,
    b: Agent,
}

/// A (primary) and B, paired with the CLI as a technician does.
fn paired() -> Pair {
    let mut a = Agent::init_config("PBX A", "1s", config);
    let mut b = Agent::init_config("PBX B", "1s", config);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    Pair { a, b }
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Waits until `root/rel` holds `content`.
async fn holds(root: &Path, rel: &str, content: &[u8], what: &str) {
    let path = root.join(rel);
    eventually(what, Duration::from_secs(30), || async {
        (std::fs::read(&path).ok()? == content).then_some(())
    })
    .await;
}

async fn trash(agent: &Agent, token: &str) -> TrashList {
    let r = agent.get("/api/v1/trash", token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until `path` is in the trash of `agent`; returns the list.
async fn trashed(agent: &Agent, path: &str) -> TrashList {
    eventually(
        &format!("{path} in the trash of {}", agent.link.address),
        Duration::from_secs(30),
        || async {
            let list = trash(agent, &agent.link.token).await;
            list.entries.iter().any(|e| e.path == path).then_some(list)
        },
    )
    .await
}

/// Writes `content` at [`MSG`] on the primary, waits for the backup's copy, deletes it on the
/// primary and waits for the backup to keep it in its trash; returns that trash entry.
async fn deleted_on_the_primary(p: &Pair, content: &[u8]) -> TrashEntry {
    let (ra, rb) = (voicemail(&p.a), voicemail(&p.b));
    write(&ra, MSG, content);
    holds(&rb, MSG, content, "the message on the backup").await;
    std::fs::remove_file(ra.join(MSG)).unwrap();
    let list = trashed(&p.b, MSG).await;
    list.entries.into_iter().find(|e| e.path == MSG).unwrap()
}

fn viewer_token(agent: &Agent) -> String {
    let out = agent.cli(&["token", "create", "--role", "viewer", "--label", "wallboard"]);
    assert!(out.status.success());
    lbs_tests::parse_link(&String::from_utf8_lossy(&out.stdout)).token
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_deleted_on_the_primary_is_put_back_on_the_primary_from_the_backups_trash() {
    let p = paired();
    let (ra, rb) = (voicemail(&p.a), voicemail(&p.b));
    write(&ra, MSG, b"please call me back");
    holds(&rb, MSG, b"please call me back", "the message on the backup").await;
    let before = now();
    std::fs::remove_file(ra.join(MSG)).unwrap();

    // Listed on the backup, for any token.
    let viewer = viewer_token(&p.b);
    let list = trashed(&p.b, MSG).await;
    assert!(!rb.join(MSG).exists(), "the delete reached the backup");
    assert_eq!(list, trash(&p.b, &viewer).await, "a viewer sees the same list");
    assert_eq!((list.total_files, list.retention_secs), (1, 3 * 86400));
    let entry = list.entries[0].clone();
    assert_eq!(
        (
            entry.category.as_str(),
            entry.source.as_str(),
            entry.stored.as_str(),
            entry.size
        ),
        ("voicemail", "voicemail:0", MSG, 19)
    );
    assert!((before - 1..=now()).contains(&entry.deleted_unix), "{entry:?}");
    assert_eq!(entry.expires_unix, entry.deleted_unix + 3 * 86400);
    let key = json!({"source": entry.source, "deleted_unix": entry.deleted_unix, "stored": entry.stored});

    // A view-only token may look, not put back.
    let r = p.b.post("/api/v1/trash/restore", &viewer, key.clone()).await;
    assert_eq!(r.status(), 403);
    // Names that try to leave the root, or are not in the trash, touch nothing.
    for stored in ["../../etc/passwd", "/etc/passwd", "a/../../x", "a\\..\\b", ""] {
        let r =
            p.b.post(
                "/api/v1/trash/restore",
                &p.b.link.token,
                json!({"source": "voicemail:0", "deleted_unix": entry.deleted_unix, "stored": stored}),
            )
            .await;
        assert_eq!(r.status(), 400, "{stored}");
        let e: ApiError = r.json().await.unwrap();
        assert!(e.message.starts_with("refused"), "{stored}: {}", e.message);
    }
    let r =
        p.b.post(
            "/api/v1/trash/restore",
            &p.b.link.token,
            json!({"source": "../voicemail:0", "deleted_unix": entry.deleted_unix, "stored": MSG}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r =
        p.b.post(
            "/api/v1/trash/restore",
            &p.b.link.token,
            json!({"source": "voicemail:0", "deleted_unix": entry.deleted_unix - 100, "stored": MSG}),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert!(!ra.join(MSG).exists(), "nothing was put back by a refused request");

    // Put back: on the primary once the answer comes, then on the backup by the sync.
    let r = p.b.post("/api/v1/trash/restore", &p.b.link.token, key.clone()).await;
    assert_eq!(r.status(), 200);
    let done: TrashRestored = r.json().await.unwrap();
    assert_eq!(done.path, MSG);
    assert!(done.message.contains("PBX A"), "{}", done.message);
    assert_eq!(std::fs::read(ra.join(MSG)).unwrap(), b"please call me back");
    holds(
        &rb,
        MSG,
        b"please call me back",
        "the restored message back on the backup",
    )
    .await;
    // The trash keeps its copy until it expires.
    assert_eq!(trash(&p.b, &viewer).await.entries, vec![entry.clone()]);
    // Asked again: the same file is there already, nothing changes.
    let r = p.b.post("/api/v1/trash/restore", &p.b.link.token, key.clone()).await;
    assert_eq!(r.status(), 200);
    let events: EventList = p.b.get("/api/v1/events", &viewer).await.json().await.unwrap();
    assert!(
        events
            .events
            .iter()
            .any(|e| e.kind == EventKind::TrashRestored && e.message.contains(MSG) && e.actor.contains("token")),
        "{events:?}"
    );

    // A newer, different file at that path on the primary: refused unless replaced.
    write(&ra, OTHER, b"the old message");
    holds(&rb, OTHER, b"the old message", "the second message on the backup").await;
    std::fs::remove_file(ra.join(OTHER)).unwrap();
    let list = trashed(&p.b, OTHER).await;
    let old = list.entries.iter().find(|e| e.path == OTHER).unwrap();
    // Only one path's copies when asked (the CLI finds an old copy however full the trash is);
    // the totals still count the whole trash.
    let r = p.b.get(&format!("/api/v1/trash?path={OTHER}"), &viewer).await;
    assert_eq!(r.status(), 200);
    let only: TrashList = r.json().await.unwrap();
    assert_eq!(only.entries, vec![old.clone()]);
    assert_eq!(only.total_files, list.total_files);
    assert!(only.total_files >= 2, "{list:?}");
    write(&ra, OTHER, b"a newer message");
    holds(&rb, OTHER, b"a newer message", "the newer message on the backup").await;
    let key = json!({"source": old.source, "deleted_unix": old.deleted_unix, "stored": old.stored});
    let r = p.b.post("/api/v1/trash/restore", &p.b.link.token, key.clone()).await;
    assert_eq!(r.status(), 412);
    let e: ApiError = r.json().await.unwrap();
    assert_eq!(e.code, "different_file");
    assert!(e.message.contains("replace"), "{}", e.message);
    assert_eq!(
        std::fs::read(ra.join(OTHER)).unwrap(),
        b"a newer message",
        "not overwritten"
    );

    let mut replace = key;
    replace["replace"] = json!(true);
    let r = p.b.post("/api/v1/trash/restore", &p.b.link.token, replace).await;
    assert_eq!(r.status(), 200);
    assert_eq!(std::fs::read(ra.join(OTHER)).unwrap(), b"the old message");
    // The primary's newer file went to the primary's own trash, not away.
    let on_a = trash(&p.a, &p.a.link.token).await;
    assert!(on_a.entries.iter().any(|e| e.path == OTHER && e.size == 15), "{on_a:?}");
    holds(&rb, OTHER, b"the old message", "the replaced message on the backup").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn putting_a_file_back_while_the_primary_is_down_is_refused_in_plain_words_and_the_copy_stays() {
    let mut p = paired();
    let ra = voicemail(&p.a);
    let entry = deleted_on_the_primary(&p, b"please call me back").await;
    p.a.stop();

    let key = json!({"source": entry.source, "deleted_unix": entry.deleted_unix, "stored": entry.stored});
    let r = p.b.post("/api/v1/trash/restore", &p.b.link.token, key).await;
    assert_eq!(r.status(), 502);
    let e: ApiError = r.json().await.unwrap();
    assert!(
        e.message.contains("PBX A does not answer") && e.message.contains("still kept here"),
        "{}",
        e.message
    );
    assert!(!ra.join(MSG).exists());
    assert_eq!(trash(&p.b, &p.b.link.token).await.entries, vec![entry]);
}

/// The console's calls (`trash_list`, `restore_trash`) against the same agents: the list, the
/// "different file" refusal as its own kind (the UI offers "Replace" on it), and the replace.
/// Needs the Secret Service, as the other console tests do.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_lists_the_backups_trash_and_replaces_only_when_asked() {
    let p = paired();
    let (ra, rb) = (voicemail(&p.a), voicemail(&p.b));
    deleted_on_the_primary(&p, b"the old message").await;
    write(&ra, MSG, b"a newer message");
    holds(&rb, MSG, b"a newer message", "the newer message on the backup").await;

    let dir = tempfile::tempdir().unwrap();
    let service = format!("lbs-console-trash-test-{}", std::process::id());
    let creds = Credentials::with_service(&service);
    let console = Console::open(&dir.path().join("console.db"), creds.clone())
        .await
        .expect("console store");
    let b = console.add_by_link(&p.b.link.to_string(), None).await.unwrap();
    let list = console.trash_list(&b.id).await.unwrap();
    let entry = list.entries.iter().find(|e| e.path == MSG).unwrap();
    let err = console.restore_trash(&b.id, entry, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DifferentFile, "{err}");
    assert!(err.to_string().contains("replace"), "{err}");
    assert_eq!(std::fs::read(ra.join(MSG)).unwrap(), b"a newer message");
    let done = console.restore_trash(&b.id, entry, true).await.unwrap();
    assert_eq!(done.path, MSG);
    assert_eq!(std::fs::read(ra.join(MSG)).unwrap(), b"the old message");
    creds.delete(&b.id).await.unwrap();
}

/// The technician's way at the backup: `lbs-agent trash list` shows the deleted file, `trash
/// restore <path>` puts it back on the primary; a different file there is refused with the
/// flag to type, and `--replace` replaces it; an unknown path or time is refused in words.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_lists_the_trash_and_puts_a_file_back_on_the_primary() {
    let p = paired();
    let (ra, rb) = (voicemail(&p.a), voicemail(&p.b));
    let entry = deleted_on_the_primary(&p, b"please call me back").await;

    let listing = lbs_tests::lab::cli_ok(&p.b, &["trash", "list"]);
    assert!(listing.contains("kept on this box for 3days"), "{listing}");
    let row = listing.lines().find(|l| l.ends_with(MSG)).expect(&listing);
    assert!(row.contains("voicemail") && row.contains("19 B"), "{row}");
    let empty = lbs_tests::lab::cli_ok(&p.b, &["trash", "list", "--category", "prompts"]);
    assert!(empty.contains("No deleted file of prompts"), "{empty}");

    for (args, says) in [
        (
            vec!["trash", "restore", "default/1001/nothing.txt"],
            "no deleted file at default/1001/nothing.txt",
        ),
        (vec!["trash", "restore", MSG, "--deleted", "1000"], "no copy of"),
        (vec!["trash", "restore", MSG, "--deleted", "last week"], "is not a time"),
        (
            vec!["trash", "restore", MSG, "--category", "prompts"],
            "no deleted file at",
        ),
    ] {
        let out = p.b.cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
    }
    assert!(!ra.join(MSG).exists(), "nothing was put back by a refused command");

    // By the deletion time the list printed (RFC 3339), as a technician would copy it.
    let deleted = row.split_whitespace().next().unwrap();
    let out = lbs_tests::lab::cli_ok(&p.b, &["trash", "restore", MSG, "--deleted", deleted]);
    assert!(out.contains("put back") && out.contains("PBX A"), "{out}");
    assert_eq!(std::fs::read(ra.join(MSG)).unwrap(), b"please call me back");
    assert!(
        deleted.contains('T'),
        "{deleted} is an RFC 3339 time ({})",
        entry.deleted_unix
    );

    // A newer, different file on the primary: refused, with the flag that replaces it.
    write(&ra, MSG, b"a newer message");
    holds(&rb, MSG, b"a newer message", "the newer message on the backup").await;
    let out = p.b.cli(&["trash", "restore", MSG]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--replace"), "{err}");
    assert_eq!(
        std::fs::read(ra.join(MSG)).unwrap(),
        b"a newer message",
        "not overwritten"
    );
    lbs_tests::lab::cli_ok(&p.b, &["trash", "restore", MSG, "--replace"]);
    assert_eq!(std::fs::read(ra.join(MSG)).unwrap(), b"please call me back");
    let on_a = trash(&p.a, &p.a.link.token).await;
    assert!(on_a.entries.iter().any(|e| e.path == MSG && e.size == 15), "{on_a:?}");
}

/// A deletion is remembered in the primary's journal as long as the trash keeps the file
/// (`trash_retention`, 3 days here); a backup away for longer must not keep the file the primary
/// deleted meanwhile: its cursor is older than what the journal pruned, so it copies everything
/// again (while the office goes on writing) and moves what the primary no longer lists into its
/// trash. (The primary's clock is set 5 days ahead on its restart, so the pruning, which runs at
/// start and every minute, acts.)
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_away_longer_than_the_trash_keeps_deletions_still_deletes_what_the_primary_deleted() {
    let mut p = paired();
    let (a_root, b_root) = (voicemail(&p.a), voicemail(&p.b));
    write(&a_root, MSG, b"old message");
    write(&a_root, OTHER, b"kept message");
    holds(&b_root, MSG, b"old message", "the first message on B").await;
    holds(&b_root, OTHER, b"kept message", "the second message on B").await;
    p.b.stop();

    std::fs::remove_file(a_root.join(MSG)).unwrap();
    let a = &p.a;
    eventually("A to journal the deletion", Duration::from_secs(30), || async {
        let s: lbs_protocol::SyncStatus = a.get("/api/v1/sync", &a.link.token).await.json().await.ok()?;
        s.categories
            .iter()
            .any(|c| c.name == "voicemail" && c.local_files == 1)
            .then_some(())
    })
    .await;
    p.a.stop();
    lbs_tests::faults::fake_clock(&mut p.a, "+5d");
    p.a.start();
    let a = &p.a;
    eventually("A to prune the old deletion", Duration::from_secs(30), || async {
        a.log().contains("the journal forgot files deleted").then_some(())
    })
    .await;

    // The office never stops writing: the copy from the start reaches the primary's head without
    // ever being answered "nothing new", and must still end.
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (root, busy) = (a_root.clone(), busy.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while busy.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                write(&root, &format!("default/1002/INBOX/busy{n:05}.txt"), b"a busy office");
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    p.b.start();
    let path = b_root.join(MSG);
    eventually(
        "B to delete the message A deleted while B was away",
        Duration::from_secs(60),
        || async { (!path.exists()).then_some(()) },
    )
    .await;
    busy.store(false, std::sync::atomic::Ordering::SeqCst);
    writer.join().unwrap();
    let list = trashed(&p.b, MSG).await;
    assert_eq!(list.entries.iter().filter(|e| e.path == MSG).count(), 1);
    assert_eq!(std::fs::read(b_root.join(OTHER)).unwrap(), b"kept message");
    let log = p.b.log();
    assert!(
        log.contains("no longer remembers some deletions"),
        "B says why it copies everything again:\n{log}"
    );
    // B is back in step: a new file reaches it as usual.
    write(&a_root, "default/1001/INBOX/msg0003.txt", b"new message");
    holds(
        &b_root,
        "default/1001/INBOX/msg0003.txt",
        b"new message",
        "a new message on B",
    )
    .await;
}
