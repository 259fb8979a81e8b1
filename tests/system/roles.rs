//! The role has one writer: pairing raced against a promotion ends in one outcome, audited; an old
//! primary that hears of a newer one says "stepping down" before its slow PBX has stopped; a box
//! that starts from a record saying "primary" says it has not checked its partner until it has,
//! and starts no PBX meanwhile. (Concurrent promotions and learned epochs: `failover.rs`.)

use std::path::Path;
use std::time::Duration;

use lbs_protocol::{Role, RoleStanding, ServerStatus};
use lbs_tests::{eventually, Agent};
use serde_json::json;

use crate::failover::{ask, box_config, events, failover, pair_of, pbx_running, script, Pair};

/// The box's role record, as on disk.
fn role_file(agent: &Agent) -> serde_json::Value {
    let text = std::fs::read_to_string(agent.state_dir().join("role.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn status(agent: &Agent) -> ServerStatus {
    let r = agent.get("/api/v1/status", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn signal(agent: &Agent, sig: libc::c_int) {
    let pid = agent.pid().expect("agent running") as libc::pid_t;
    // SAFETY: a plain kill(2) on a child process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[tokio::test]
async fn pairing_raced_against_a_promotion_ends_in_one_outcome_and_both_are_audited() {
    for round in 0..3 {
        let mut a = Agent::init_config("PBX A", "1s", |d| box_config(d, "0s", ""));
        let mut b = Agent::init_config("PBX B", "1s", |d| box_config(d, "0s", ""));
        a.start();
        b.start();
        // B starts as a backup of nobody, as a box being set up does.
        let (code, body) = ask(&b, "demote", json!({})).await;
        assert_eq!(code, 200, "{body}");
        let link = a.link.to_string();
        let pair = b.post("/api/v1/pair", &b.link.token, json!({ "link": link }));
        let promote = ask(&b, "promote", json!({}));
        let (paired, promoted) = tokio::join!(pair, promote);
        assert_eq!(paired.status(), 200, "round {round}: pairing goes through");
        // Either the promotion ran first (then pairing made B the backup again) or pairing did
        // (then the promotion was refused: A answers as the primary). Never a mix of the two.
        let refused = promoted.0 == 409;
        assert!(refused || promoted.0 == 200, "round {round}: {promoted:?}");
        let (fa, fb) = eventually(
            "A primary, B its backup, at one epoch",
            Duration::from_secs(15),
            || async {
                let (fa, fb) = (failover(&a).await, failover(&b).await);
                (fa.role == Role::Primary
                    && fb.role == Role::Backup
                    && fb.partner.reachable
                    && fa.partner.reachable
                    && fa.busy.is_none()
                    && fb.busy.is_none())
                .then_some((fa, fb))
            },
        )
        .await;
        assert_eq!(
            (fa.epoch, &fa.epoch_owner),
            (fb.epoch, &fb.epoch_owner),
            "round {round}: both boxes rank the same"
        );
        let record = role_file(&b);
        assert_eq!(
            (record["role"].as_str(), record["epoch"].as_u64()),
            (Some("backup"), Some(fb.epoch)),
            "round {round}: what B says is what B recorded"
        );
        eventually("the PBX on A only", Duration::from_secs(10), || async {
            (pbx_running(&a) && !pbx_running(&b)).then_some(())
        })
        .await;
        // The audit log tells the same story, in order (newest first).
        let trail: Vec<String> = events(&b)
            .await
            .into_iter()
            .filter(|e| e.starts_with("paired") || e.starts_with("promoted") || e.starts_with("refused"))
            .collect();
        let kinds: Vec<&str> = trail.iter().map(|e| e.split(':').next().unwrap_or("")).collect();
        let expected = if refused {
            ["refused", "paired"]
        } else {
            ["paired", "promoted"]
        };
        assert_eq!(kinds, expected, "round {round}: {trail:#?}");
        let a_trail = events(&a).await.join("\n");
        assert!(a_trail.contains("paired: PBX B joined"), "round {round}: {a_trail}");
        assert!(
            !a_trail.contains("reintegrat"),
            "round {round}: A never lost its role: {a_trail}"
        );
    }
}

/// A PBX whose stop takes two seconds, as a real one finishing its calls does.
fn slow_stop_config(dir: &Path) -> String {
    let config = box_config(dir, "0s", "");
    let pbx = dir.join("pbx.sh").display().to_string();
    let slow = script(dir, "slow-stop.sh", &format!("#!/bin/sh\nsleep 2\nexec {pbx} stop\n"));
    config.replace(
        &format!("stop = [\"{pbx}\", \"stop\"]"),
        &format!("stop = [\"{slow}\"]"),
    )
}

#[tokio::test]
async fn an_old_primary_says_stepping_down_before_its_slow_pbx_has_stopped() {
    let Pair { a, b } = pair_of(slow_stop_config, |d| box_config(d, "0s", ""));
    eventually("the PBX on A", Duration::from_secs(10), || async {
        pbx_running(&a).then_some(())
    })
    .await;
    // A is cut off (its agent frozen); B is promoted, as an office manager would.
    signal(&a, libc::SIGSTOP);
    let (code, body) = ask(&b, "promote", json!({"force": true, "reason": "A does not answer"})).await;
    signal(&a, libc::SIGCONT);
    assert_eq!(code, 200, "{body}");
    // A hears of epoch 2 within a heartbeat. From then on it never says "primary", though its
    // PBX takes two seconds to stop.
    let seen = std::sync::Mutex::new(Vec::new());
    eventually("A settled as the backup", Duration::from_secs(30), || async {
        let s = status(&a).await;
        let running = pbx_running(&a);
        seen.lock().unwrap().push((s.role, s.standing, s.epoch, running));
        (s.role == Role::Backup && s.standing == RoleStanding::Settled && !running).then_some(())
    })
    .await;
    let seen = seen.into_inner().unwrap();
    let learned = seen.iter().position(|r| r.2 == 2).expect("A learned epoch 2");
    assert!(
        seen[learned..].iter().all(|r| r.0 == Role::Backup),
        "once A knows of epoch 2 it is a backup: {seen:?}"
    );
    assert!(
        seen.iter().any(|&(role, standing, _, running)| role == Role::Backup
            && standing == RoleStanding::SteppingDown
            && running),
        "A said it was stepping down while its PBX was still stopping: {seen:?}"
    );
}

#[tokio::test]
async fn a_box_starting_as_the_primary_says_so_only_after_asking_its_partner() {
    let Pair { mut a, b } = pair_of(|d| box_config(d, "0s", ""), |d| box_config(d, "0s", ""));
    eventually("the PBX on A", Duration::from_secs(10), || async {
        pbx_running(&a).then_some(())
    })
    .await;
    a.stop();
    let (code, body) = ask(&b, "promote", json!({"force": true, "reason": "A is down"})).await;
    assert_eq!(code, 200, "{body}");
    let pbx = a.dir.path().join("pbx.sh");
    assert!(std::process::Command::new(&pbx).arg("stop").status().unwrap().success());
    // B is frozen while A starts again from a record that says "primary": A cannot know yet
    // that it lost the role, and says so.
    signal(&b, libc::SIGSTOP);
    a.start();
    let first = status(&a).await;
    assert_eq!(
        (first.role, first.standing),
        (Role::Primary, RoleStanding::Unconfirmed),
        "{first:?}"
    );
    assert!(!pbx_running(&a), "no PBX before the partner has been asked");
    signal(&b, libc::SIGCONT);
    // Once it hears B, it steps down.
    eventually("A to become the backup", Duration::from_secs(30), || async {
        let s = status(&a).await;
        (s.role == Role::Backup && s.standing == RoleStanding::Settled && s.epoch == 2).then_some(())
    })
    .await;
    assert!(!pbx_running(&a));
}
