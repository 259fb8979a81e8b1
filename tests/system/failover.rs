//! Roles and failover between two real agents on loopback: the promotion guards, an unplanned
//! failover and the old primary's reintegration with its quarantine, planned switchovers (the
//! hold, the override, nothing lost while a PBX keeps writing), concurrent promotions, a PBX
//! found running on the backup, and who may ask. The same flows on a simulated office network
//! (DNS, floating IP, a real SIP server) are in `office.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_protocol::{EventList, FailoverStatus, QuarantineList, Role, RoleChange};
use lbs_tests::{eventually, files, Agent};
use serde_json::json;

/// A stand-in PBX: `start` runs a background process (its own process group) that, when
/// `writer.on` exists, writes a numbered file into the voicemail root every 50 ms, each written
/// aside and renamed in — like a PBX recording voicemail only while it runs. It ends when the
/// test's directory is removed.
const FAKE_PBX: &str = r#"#!/bin/sh
dir=$(dirname "$0"); pidf="$dir/pbx.pid"
# A killed process may linger as a zombie until reaped: it does not count as running.
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat"; }
case "$1" in
start)
  if [ -f "$pidf" ] && alive "$(cat "$pidf")"; then exit 0; fi
  mkdir -p "$dir/tmp"
  setsid sh -c '
    d="$1"; n=0; stamp=$(date +%s%N)
    while [ -d "$d/data" ]; do
      if [ -f "$d/writer.on" ]; then
        n=$((n+1)); f="w-$stamp-$n.txt"
        echo "voicemail $n from $d" > "$d/tmp/$f" && mv "$d/tmp/$f" "$d/data/voicemail/$f"
      fi
      sleep 0.05
    done' pbx "$dir" >/dev/null 2>&1 &
  echo $! > "$pidf" ;;
stop)
  if [ -f "$pidf" ]; then
    pid=$(cat "$pidf"); kill -TERM "-$pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then echo "pid $pid did not stop" >&2; exit 1; fi
    rm -f "$pidf"
  fi ;;
running)
  [ -f "$pidf" ] && alive "$(cat "$pidf")" ;;
esac
"#;

/// Records each takeover call: `<take|release> <role> <epoch>`.
const HOOK: &str = "#!/bin/sh\necho \"$1 $LBS_ROLE $LBS_EPOCH\" >> \"$(dirname \"$0\")/hook.log\"\n";

pub(crate) fn script(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

/// The rest of the `[pbx]` section (init writes its header), then failover, takeover and sync.
pub(crate) fn box_config(dir: &Path, hold: &str, sync_extra: &str) -> String {
    let pbx = script(dir, "pbx.sh", FAKE_PBX);
    let hook = script(dir, "hook.sh", HOOK);
    let root = dir.join("data").join("voicemail");
    std::fs::create_dir_all(&root).unwrap();
    // The user-settings database: dumped on the primary, loaded by the restore command on promotion.
    let astdb = dir.join("data").join("astdb");
    std::fs::create_dir_all(&astdb).unwrap();
    let live = dir.join("astdb-live.txt");
    std::fs::write(&live, format!("FindMe for 1001 set on {}\n", dir.display())).unwrap();
    let restored = dir.join("restored.sql");
    format!(
        "start = [\"{pbx}\", \"start\"]\nstop = [\"{pbx}\", \"stop\"]\nrunning = [\"{pbx}\", \"running\"]\n\
         health = [\"{pbx}\", \"running\"]\ncheck_interval = \"1s\"\ncommand_timeout = \"10s\"\n\n\
         [failover]\nhold = \"{hold}\"\nheartbeat_interval = \"300ms\"\ndrain_timeout = \"60s\"\n\n\
         [takeover]\nstrategy = \"hook\"\ncommand = [\"{hook}\"]\n\n\
         [sync]\n{sync_extra}\n[[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n\
         [[sync.category]]\nname = \"astdb\"\npriority = 1\nroots = [\"{}\"]\ndump = [\"cat\", \"{}\"]\n\
         dump_file = \"astdb.sql\"\nrestore = [\"sh\", \"-c\", \"cp \\\"$LBS_DUMP_FILE\\\" {}\"]\n",
        root.display(),
        astdb.display(),
        live.display(),
        restored.display()
    )
}

pub(crate) struct Pair {
    pub(crate) a: Agent,
    pub(crate) b: Agent,
}

pub(crate) fn voicemail(agent: &Agent) -> PathBuf {
    agent.dir.path().join("data").join("voicemail")
}

fn paired(hold: &str) -> Pair {
    paired_with(hold, "")
}

/// As [`paired`], with more `[sync]` keys for B (e.g. a bandwidth cap).
fn paired_with(hold: &str, b_sync: &str) -> Pair {
    pair_of(|d| box_config(d, hold, ""), |d| box_config(d, hold, b_sync))
}

/// As [`paired`], with heartbeats a minute apart: for that minute only what the agents do
/// themselves (pairing, a switchover) tells one box about the other.
fn paired_slow_heartbeat(hold: &str) -> Pair {
    let slow = |d: &Path| box_config(d, hold, "").replace("\"300ms\"", "\"1m\"");
    pair_of(slow, slow)
}

/// Starts A and B with these configs (the rest of `[pbx]` onwards) and pairs B with A.
pub(crate) fn pair_of(a_config: impl FnOnce(&Path) -> String, b_config: impl FnOnce(&Path) -> String) -> Pair {
    let mut a = Agent::init_config("PBX A", "1s", a_config);
    let mut b = Agent::init_config("PBX B", "1s", b_config);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    Pair { a, b }
}

pub(crate) async fn failover(agent: &Agent) -> FailoverStatus {
    let r = agent.get("/api/v1/failover", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

pub(crate) async fn events(agent: &Agent) -> Vec<String> {
    let list: EventList = agent
        .get("/api/v1/events", &agent.link.token)
        .await
        .json()
        .await
        .unwrap();
    list.events
        .into_iter()
        .map(|e| format!("{}: {} [{}]", e.kind, e.message, e.actor))
        .collect()
}

/// POSTs a role change; returns the status code and the body (a `RoleChange` or an error).
pub(crate) async fn ask(agent: &Agent, route: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = agent.post(&format!("/api/v1/{route}"), &agent.link.token, body).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The agent's log without debug lines: what a test failure should show.
pub(crate) fn trail(agent: &Agent) -> String {
    let lines: Vec<String> = agent
        .log()
        .lines()
        .filter(|l| !l.contains(" DEBUG "))
        .map(String::from)
        .collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

pub(crate) fn pbx_running(agent: &Agent) -> bool {
    std::process::Command::new(agent.dir.path().join("pbx.sh"))
        .arg("running")
        .status()
        .unwrap()
        .success()
}

pub(crate) async fn role_of(agent: &Agent) -> (Role, u64) {
    let f = failover(agent).await;
    (f.role, f.epoch)
}

async fn same_files(pair: &Pair, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) = (files(&voicemail(&pair.a)), files(&voicemail(&pair.b)));
        if a == b {
            return;
        }
        if std::time::Instant::now() > deadline {
            if let Ok(dir) = std::env::var("LBS_TEST_KEEP_LOGS") {
                let _ = std::fs::write(format!("{dir}/a.log"), pair.a.log());
                let _ = std::fs::write(format!("{dir}/b.log"), pair.b.log());
            }
            let only = |x: &BTreeMap<String, Vec<u8>>, y: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
                x.iter()
                    .filter(|(k, v)| y.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .take(10)
                    .collect()
            };
            panic!(
                "timed out waiting for {what}: differing on A {:?}, on B {:?}\nA:\n{}\nB:\n{}",
                only(&a, &b),
                only(&b, &a),
                trail(&pair.a),
                trail(&pair.b)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn unplanned_failover_is_guarded_and_the_old_primary_comes_back_as_backup_with_a_quarantine() {
    let mut pair = paired("1h");
    std::fs::write(voicemail(&pair.a).join("msg0001.txt"), "hello from 1001").unwrap();
    std::fs::write(voicemail(&pair.a).join("msg0002.txt"), "call me back").unwrap();
    same_files(&pair, "the first voicemails on the backup").await;
    eventually(
        "the user settings dump on the backup",
        Duration::from_secs(20),
        || async { pair.b.dir.path().join("data/astdb/astdb.sql").exists().then_some(()) },
    )
    .await;
    assert!(
        pbx_running(&pair.a) && !pbx_running(&pair.b),
        "the PBX runs on the primary only: {}",
        pair.a
            .log()
            .lines()
            .filter(|l| l.contains("PBX"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // While the primary answers, promotion is refused, forced or not.
    let (code, body) = ask(&pair.b, "promote", json!({})).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("answers and is the primary"),
        "{body}"
    );
    let (code, body) = ask(&pair.b, "promote", json!({"force": true, "reason": "test"})).await;
    assert_eq!(code, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("two primaries"), "{body}");

    // The primary dies. Without force the backup still refuses, and says what to do.
    pair.a.kill9();
    let (code, body) = ask(&pair.b, "promote", json!({})).await;
    assert_eq!(code, 409, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("does not answer") && msg.contains("switched off or unplugged"),
        "{msg}"
    );
    let (code, body) = ask(&pair.b, "promote", json!({"force": true})).await;
    assert_eq!(code, 400, "a forced promotion needs a reason: {body}");

    // While it was cut off, the old primary kept writing (a new message, a changed one, and one
    // that happens to equal what the new primary gets).
    std::fs::write(voicemail(&pair.a).join("split.txt"), "left on A after the cut").unwrap();
    std::fs::write(voicemail(&pair.a).join("msg0002.txt"), "changed on A after the cut").unwrap();
    std::fs::write(voicemail(&pair.a).join("same.txt"), "identical").unwrap();

    let (code, body) = ask(
        &pair.b,
        "promote",
        json!({"force": true, "reason": "PBX A power supply died"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let change: RoleChange = serde_json::from_value(body).unwrap();
    assert!(change.ok, "{change:?}");
    assert_eq!((change.role, change.epoch), (Role::Primary, 2));
    let steps: Vec<&str> = change.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(steps, ["persist", "restore", "start_pbx", "take_address", "check_pbx"]);
    // The restore command loaded the user settings A had dumped, before the PBX started.
    let restored = std::fs::read_to_string(pair.b.dir.path().join("restored.sql")).unwrap();
    assert!(restored.contains(&*pair.a.dir.path().to_string_lossy()), "{restored}");
    assert!(pbx_running(&pair.b));
    let hook = std::fs::read_to_string(pair.b.dir.path().join("hook.log")).unwrap();
    assert!(hook.contains("take primary 2"), "{hook}");
    // Promoting again is idempotent: nothing changes, the steps are checked.
    let (code, body) = ask(&pair.b, "promote", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["already"], true);
    assert_eq!(body["epoch"], 2);
    std::fs::write(voicemail(&pair.b).join("after.txt"), "recorded on B").unwrap();
    std::fs::write(voicemail(&pair.b).join("same.txt"), "identical").unwrap();

    // The old primary comes back: it learns of epoch 2, stops its PBX, sets aside what diverged.
    pair.a.start();
    eventually("A to reintegrate as the backup", Duration::from_secs(20), || async {
        let f = failover(&pair.a).await;
        (f.role == Role::Backup && f.epoch == 2 && f.busy.is_none() && f.quarantined_files == 2).then_some(())
    })
    .await;
    assert!(!pbx_running(&pair.a), "the old primary's PBX must be stopped");
    let list: QuarantineList = pair
        .a
        .get("/api/v1/quarantine", &pair.a.link.token)
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<&str> = list.entries.iter().map(|q| q.path.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["msg0002.txt", "split.txt"],
        "the identical file is not quarantined"
    );
    for q in &list.entries {
        let kept = std::fs::read_to_string(&q.stored_at).unwrap();
        assert!(kept.contains("after the cut"), "{kept}");
        assert_eq!(q.lost_epoch, 1);
    }
    // Nothing the old primary holds overwrote the new primary; it now mirrors the new primary.
    let b_files = files(&voicemail(&pair.b));
    assert_eq!(b_files["msg0002.txt"], b"call me back");
    assert!(!b_files.contains_key("split.txt"));
    same_files(&pair, "A to mirror B").await;
    assert_eq!(role_of(&pair.b).await, (Role::Primary, 2));

    // A quarantined file is restored onto the primary, from the backup that keeps it.
    let split = list.entries.iter().find(|q| q.path == "split.txt").unwrap();
    let r = pair
        .a
        .post(
            "/api/v1/quarantine/restore",
            &pair.a.link.token,
            json!({"id": split.id}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        std::fs::read_to_string(voicemail(&pair.b).join("split.txt")).unwrap(),
        "left on A after the cut"
    );
    // The changed message conflicts with the primary's version: refused unless replaced.
    let changed = list.entries.iter().find(|q| q.path == "msg0002.txt").unwrap();
    let r = pair
        .a
        .post(
            "/api/v1/quarantine/restore",
            &pair.a.link.token,
            json!({"id": changed.id}),
        )
        .await;
    assert_eq!(r.status(), 412);
    let e: lbs_protocol::ApiError = r.json().await.unwrap();
    assert_eq!(e.code, "different_file");
    assert!(e.message.contains("replace"), "{}", e.message);
    same_files(&pair, "the restored file back on A").await;
    assert!(
        std::path::Path::new(&split.stored_at).exists(),
        "a restored file stays in the quarantine too"
    );

    let b_events = events(&pair.b).await.join("\n");
    assert!(
        b_events.contains("promoted: promoted (unplanned failover)"),
        "{b_events}"
    );
    assert!(b_events.contains("refused: promotion refused"), "{b_events}");
    assert!(
        b_events.contains("(local CLI)") || b_events.contains("token "),
        "{b_events}"
    );
    let a_events = events(&pair.a).await.join("\n");
    assert!(
        a_events.contains("reintegrated") && a_events.contains("quarantine_restored"),
        "{a_events}"
    );
}

#[tokio::test]
async fn switchover_honours_the_hold_and_loses_nothing_while_the_pbx_writes() {
    let pair = paired("8s");
    for agent in [&pair.a, &pair.b] {
        std::fs::write(agent.dir.path().join("writer.on"), "").unwrap();
    }
    // A is the primary since the pair was set up: the pair has never failed over, so there is
    // no hold to wait out, on either box's word.
    for (agent, name) in [(&pair.a, "A"), (&pair.b, "B")] {
        let hold = eventually(
            "the primary's hold as both boxes see it",
            Duration::from_secs(10),
            || async {
                let h = failover(agent).await.hold;
                h.primary_for_secs.is_some().then_some(h)
            },
        )
        .await;
        assert!(!hold.took_over && hold.remaining_secs == Some(0), "{name}: {hold:?}");
    }
    eventually("voicemail flowing to B", Duration::from_secs(15), || async {
        (files(&voicemail(&pair.b)).len() > 10).then_some(())
    })
    .await;

    // Asked of the primary: it is run by the backup. Everything written before the PBX stopped
    // reaches B before B starts its own PBX.
    let (code, body) = ask(&pair.a, "switchover", json!({})).await;
    assert_eq!(code, 200, "{body}");
    let change: RoleChange = serde_json::from_value(body).unwrap();
    assert!(change.ok, "{change:?}");
    assert_eq!(role_of(&pair.b).await, (Role::Primary, 2));
    assert_eq!(role_of(&pair.a).await.0, Role::Backup);
    assert!(pbx_running(&pair.b) && !pbx_running(&pair.a));
    // B took the role from A: its hold runs, as both boxes see it.
    let hold = failover(&pair.b).await.hold;
    assert!(hold.took_over && hold.remaining_secs.unwrap_or(0) > 0, "{hold:?}");

    // Switching straight back: refused, the new primary has not held the role for the hold.
    let (code, body) = ask(&pair.a, "switchover", json!({})).await;
    assert_eq!(code, 409, "{body}\nA:\n{}\nB:\n{}", trail(&pair.a), trail(&pair.b));
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("hold period") && msg.contains("override"), "{msg}");
    let (code, _) = ask(&pair.a, "switchover", json!({"override_guards": true})).await;
    assert_eq!(code, 400, "an override needs a reason");
    // After the hold, allowed.
    eventually("B's hold to end", Duration::from_secs(20), || async {
        (failover(&pair.b).await.hold.remaining_secs == Some(0)).then_some(())
    })
    .await;
    let (code, body) = ask(&pair.a, "switchover", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(role_of(&pair.a).await, (Role::Primary, 3));
    // And an override with a reason goes ahead at once; the audit log keeps the reason.
    let (code, body) = ask(
        &pair.b,
        "switchover",
        json!({"override_guards": true, "reason": "maintenance window ends"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["ok"],
        true,
        "{body}\nA:\n{}\nB:\n{}",
        trail(&pair.a),
        trail(&pair.b)
    );
    assert_eq!(role_of(&pair.b).await, (Role::Primary, 4));

    // Stop writing; both boxes end with exactly the same files: none lost in three handovers.
    for agent in [&pair.a, &pair.b] {
        std::fs::remove_file(agent.dir.path().join("writer.on")).unwrap();
    }
    same_files(&pair, "both boxes to hold the same voicemail").await;
    let all = files(&voicemail(&pair.b));
    let from_a = all
        .values()
        .filter(|v| String::from_utf8_lossy(v).contains(&*pair.a.dir.path().to_string_lossy()))
        .count();
    let from_b = all
        .values()
        .filter(|v| String::from_utf8_lossy(v).contains(&*pair.b.dir.path().to_string_lossy()))
        .count();
    assert!(
        from_a > 10 && from_b > 10,
        "both PBXs wrote ({from_a} from A, {from_b} from B)"
    );
    for agent in [&pair.a, &pair.b] {
        assert_eq!(failover(agent).await.quarantined_files, 0, "nothing diverged");
    }
    let log = events(&pair.b).await.join("\n");
    assert!(
        log.contains("guards overridden") && log.contains("hold period"),
        "{log}"
    );
    let reasons: EventList = pair
        .b
        .get("/api/v1/events", &pair.b.link.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(reasons
        .events
        .iter()
        .any(|e| e.reason.as_deref() == Some("maintenance window ends")));
}

#[tokio::test]
async fn a_switchover_is_refused_while_the_backup_has_a_backlog_it_has_not_even_fetched() {
    // B copies at 6 MB/s; A gets a 60 MB recording (a backlog: more than 50 MB) while B is down.
    let mut pair = paired_with("0s", "bandwidth_limit = \"6 MB/s\"");
    same_files(&pair, "the first copy").await;
    pair.b.stop();
    std::fs::write(
        voicemail(&pair.a).join("recording.wav"),
        lbs_tests::noise(7, 60_000_000),
    )
    .unwrap();
    eventually("A to journal the recording", Duration::from_secs(20), || async {
        (failover(&pair.a).await.hold.pending_bytes >= 60_000_000).then_some(())
    })
    .await;
    pair.b.start();
    eventually("B to hear from A", Duration::from_secs(10), || async {
        failover(&pair.b).await.partner.reachable.then_some(())
    })
    .await;
    // The primary counts what B has not applied, fetched or not; B's switchover asks it.
    let (code, body) = ask(&pair.b, "switchover", json!({})).await;
    assert_eq!(code, 409, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("still to copy") && msg.contains("MB"), "{msg}");
    let a = failover(&pair.a).await;
    assert!(!a.hold.caught_up && a.hold.pending_bytes >= 60_000_000, "{:?}", a.hold);
    // Once it is copied, the same switchover goes through, and nothing is lost.
    eventually("the recording on B", Duration::from_secs(60), || async {
        failover(&pair.b).await.hold.caught_up.then_some(())
    })
    .await;
    let (code, body) = ask(&pair.b, "switchover", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        std::fs::metadata(voicemail(&pair.b).join("recording.wav"))
            .unwrap()
            .len(),
        60_000_000
    );
}

#[tokio::test]
async fn concurrent_promotions_leave_exactly_one_primary() {
    let pair = paired("0s");
    let (code, body) = ask(&pair.a, "demote", json!({"reason": "both will be promoted at once"})).await;
    assert_eq!(code, 200, "{body}");
    assert!(!pbx_running(&pair.a));
    for round in 0..3 {
        let seen_before = (events(&pair.a).await.len(), events(&pair.b).await.len());
        let (ra, rb) = tokio::join!(ask(&pair.a, "promote", json!({})), ask(&pair.b, "promote", json!({})));
        assert!(
            ra.0 == 200 || rb.0 == 200,
            "round {round}: one promotion goes through: {ra:?} {rb:?}"
        );
        let settled = eventually("one primary", Duration::from_secs(15), || async {
            let (a, b) = (failover(&pair.a).await, failover(&pair.b).await);
            let primaries = [a.role, b.role].iter().filter(|r| **r == Role::Primary).count();
            (primaries == 1 && a.busy.is_none() && b.busy.is_none() && a.epoch == b.epoch).then_some((a, b))
        })
        .await;
        let (a, b) = settled;
        let primary = if a.role == Role::Primary { &pair.a } else { &pair.b };
        let backup = if a.role == Role::Primary { &pair.b } else { &pair.a };
        // The PBX follows the role.
        eventually("the PBX only on the primary", Duration::from_secs(10), || async {
            (pbx_running(primary) && !pbx_running(backup)).then_some(())
        })
        .await;
        let _ = b;
        // The box that stayed (or became) the backup took the winner's epoch: its audit log says
        // how, by a learned epoch or a reintegration, never silently.
        let backup_before = if a.role == Role::Primary {
            seen_before.1
        } else {
            seen_before.0
        };
        let trail = events(backup).await;
        let new = &trail[..trail.len() - backup_before];
        assert!(
            new.iter()
                .any(|e| e.starts_with("epoch_learned") || e.starts_with("reintegrating")),
            "round {round}: {new:#?}"
        );
        // Back to two backups for the next round.
        let (code, body) = ask(primary, "demote", json!({})).await;
        assert_eq!(code, 200, "{body}");
    }
}

#[tokio::test]
async fn a_pbx_running_on_the_backup_is_stopped_and_reported() {
    let pair = paired("1h");
    let pbx = pair.b.dir.path().join("pbx.sh");
    assert!(std::process::Command::new(&pbx)
        .arg("start")
        .status()
        .unwrap()
        .success());
    // The PBX this test started is stopped and reported (a check during pairing may already have
    // stopped the PBX B ran as a primary, and left the same words behind).
    eventually("the agent to stop it and say why", Duration::from_secs(10), || async {
        let f = failover(&pair.b).await;
        let said = f.pbx.problem.is_some_and(|p| p.contains("running on this backup"));
        (said && !pbx_running(&pair.b)).then_some(())
    })
    .await;
    let log = events(&pair.b).await.join("\n");
    assert!(log.contains("pbx_violation"), "{log}");
}

#[tokio::test]
async fn role_changes_need_an_admin_token_and_a_valid_request() {
    let pair = paired("1h");
    let out = pair
        .a
        .cli(&["token", "create", "--role", "viewer", "--label", "wallboard"]);
    let viewer = lbs_tests::parse_link(&String::from_utf8_lossy(&out.stdout)).token;
    for route in ["promote", "demote", "switchover", "quarantine/restore"] {
        let r = pair.a.post(&format!("/api/v1/{route}"), &viewer, json!({})).await;
        assert_eq!(r.status(), 403, "{route}");
    }
    let r = pair.a.get("/api/v1/failover", &viewer).await;
    assert_eq!(r.status(), 200, "a viewer sees the failover status");
    let r = pair
        .a
        .http()
        .post(pair.a.url("/api/v1/promote"))
        .bearer_auth(&pair.a.link.token)
        .header("content-type", "application/json")
        .body("{\"force\": \"yes\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = pair
        .a
        .post("/api/v1/quarantine/restore", &pair.a.link.token, json!({"id": 999}))
        .await;
    assert_eq!(r.status(), 400);
    // A stranger presenting its own certificate cannot send heartbeats or hand over.
    let stranger = Agent::init("stranger");
    for route in ["heartbeat", "handover", "switchover", "link"] {
        let r = stranger
            .as_partner_of(&pair.a)
            .post(pair.a.url(&format!("/peer/v1/{route}")))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{route}");
    }
    // The CLI: status shows the heartbeat and the hold, once B has heard from A (a status read
    // right after pairing comes before the first heartbeat; see the test below).
    eventually("B to hear from A", Duration::from_secs(10), || async {
        failover(&pair.b).await.partner.reachable.then_some(())
    })
    .await;
    let out = pair.b.cli(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Heartbeat:    PBX A answers: primary, epoch 1"), "{text}");
    let out = pair.b.cli(&["promote"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("answers and is the primary"));
}

#[tokio::test]
async fn before_the_first_heartbeat_the_partner_is_not_asked_yet_rather_than_silent() {
    // For the minute after pairing neither box has asked the other.
    let Pair { a: _a, b } = paired_slow_heartbeat("1h");
    let f = failover(&b).await;
    assert!(
        f.partner.paired && !f.partner.reachable && !f.partner.checked,
        "{:?}",
        f.partner
    );
    let text = String::from_utf8_lossy(&b.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("Heartbeat:    PBX A not asked yet"), "{text}");
    assert!(!text.contains("NOT"), "nothing was tried, so nothing failed: {text}");
}

#[tokio::test]
async fn after_a_switchover_the_old_primary_holds_the_new_epoch_so_its_own_promotion_outranks_it() {
    // Nothing but the switchover itself tells A the new epoch.
    let Pair { a, mut b } = paired_slow_heartbeat("0s");
    let (code, body) = ask(&b, "switchover", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(role_of(&b).await, (Role::Primary, 2));
    let fa = failover(&a).await;
    assert_eq!(
        (fa.role, fa.epoch),
        (Role::Backup, 2),
        "recorded with the handover, before any heartbeat"
    );
    assert_eq!(fa.epoch_owner, failover(&b).await.epoch_owner);
    // The new primary dies at once; the old one is promoted and ranks above it, so when B comes
    // back it is B that steps down.
    b.kill9();
    let (code, body) = ask(&a, "promote", json!({"force": true, "reason": "B died"})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(role_of(&a).await, (Role::Primary, 3));
    b.start();
    eventually("B to step down as the backup", Duration::from_secs(150), || async {
        let f = failover(&b).await;
        (f.role == Role::Backup && f.epoch == 3).then_some(())
    })
    .await;
    assert_eq!(role_of(&a).await, (Role::Primary, 3), "A stays the primary");
}

/// A promotion whose restore fails keeps the database copy it received: the new primary does not
/// dump its own old database over the only copy of the old primary's, says so, and loads it when
/// its agent starts again once the cause is fixed.
#[tokio::test]
async fn a_failed_restore_keeps_the_received_dump_and_the_next_start_loads_it() {
    let flaky_restore = |d: &Path| {
        let c = box_config(d, "1h", "");
        let fail = d.join("fail-restore");
        let restored = d.join("restored.sql");
        let start = c.find("restore = [").expect("a restore command");
        let end = start + c[start..].find('\n').expect("its line");
        let restore = format!(
            "restore = [\"sh\", \"-c\", \"test ! -e {} || {{ echo 'the database server is down' >&2; exit 1; }}; cp \\\"$LBS_DUMP_FILE\\\" {}\"]",
            fail.display(),
            restored.display()
        );
        // Dumped every 5 s: a dump over the received copy would show within the test.
        format!("{}{restore}\ndump_interval = \"5s\"{}", &c[..start], &c[end..])
    };
    let mut pair = pair_of(|d| box_config(d, "1h", ""), flaky_restore);
    let dump_on_b = pair.b.dir.path().join("data").join("astdb").join("astdb.sql");
    let from_a = pair.a.dir.path().to_string_lossy().to_string();
    eventually("A's user settings on B", Duration::from_secs(20), || async {
        std::fs::read_to_string(&dump_on_b).ok().filter(|t| t.contains(&from_a))
    })
    .await;
    std::fs::write(pair.b.dir.path().join("fail-restore"), b"").unwrap();
    pair.a.kill9();
    let (code, body) = ask(&pair.b, "promote", json!({"force": true, "reason": "PBX A died"})).await;
    assert_eq!(code, 200, "{body}");
    let change: RoleChange = serde_json::from_value(body).unwrap();
    assert!(!change.ok, "the restore failed: {change:?}");
    assert!(
        change.message.contains("systemctl restart lbs-agent"),
        "{}",
        change.message
    );

    // B is the primary and dumps on its own, but not over the copy it could not load.
    let said = eventually(
        "B to say the received copy is kept",
        Duration::from_secs(20),
        || async {
            let s: lbs_protocol::SyncStatus = pair.b.get("/api/v1/sync", &pair.b.link.token).await.json().await.ok()?;
            let astdb = s.categories.into_iter().find(|c| c.name == "astdb")?;
            astdb
                .last_error
                .map(|e| e.message)
                .filter(|m| m.contains("has not been loaded"))
        },
    )
    .await;
    assert!(said.contains("restart the agent"), "{said}");
    // A dump came due (every 5 s) and was refused, not written.
    eventually(
        "B's dump to come due and be refused",
        Duration::from_secs(20),
        || async {
            pair.b
                .log()
                .contains("has not been loaded on this box yet")
                .then_some(())
        },
    )
    .await;
    let kept = std::fs::read_to_string(&dump_on_b).unwrap();
    assert!(kept.contains(&from_a), "B dumped its own database over A's: {kept}");
    assert!(!pair.b.dir.path().join("restored.sql").exists());

    // The cause fixed, the agent started again: it loads the copy, then dumps as usual.
    std::fs::remove_file(pair.b.dir.path().join("fail-restore")).unwrap();
    pair.b.stop();
    pair.b.start();
    let restored = eventually("B to load A's user settings", Duration::from_secs(30), || async {
        std::fs::read_to_string(pair.b.dir.path().join("restored.sql")).ok()
    })
    .await;
    assert!(restored.contains(&from_a), "{restored}");
    let from_b = pair.b.dir.path().to_string_lossy().to_string();
    eventually("B to dump its own database again", Duration::from_secs(30), || async {
        std::fs::read_to_string(&dump_on_b).ok().filter(|t| t.contains(&from_b))
    })
    .await;
}
