//! The disks' health read outside the agent's sandbox (issue 17): the real `lbs-agent smart
//! snapshot` on this machine records every whole disk, each with its health or why not, checked
//! against smartctl run here independently (this machine's virtio disk has no SMART: the
//! snapshot says so per disk); an agent that cannot run smartctl itself shows the snapshot's
//! readings; and an agent kept from the disks as its packaged unit keeps it (root: a private
//! /dev) shows a fresh snapshot, and says plainly what to check when there is none, when it is
//! old, or when it cannot be read — never a crash.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_protocol::{DiskInfo, PairHealth, Reading, SmartReport};
use lbs_tests::{eventually, Agent, WITHOUT_DISKS};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn snapshot_file(agent: &Agent) -> PathBuf {
    agent.state_dir().join("smart").join("disks.json")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Runs the real subcommand and returns the snapshot it wrote.
fn take_snapshot(agent: &Agent) -> serde_json::Value {
    // Not through the agent's wrapper: the timer's unit may open the disks.
    let out = std::process::Command::new(lbs_tests::agent_bin())
        .args(["smart", "snapshot", "--config"])
        .arg(&agent.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let file = snapshot_file(agent);
    assert!(
        text(&out).contains(&format!("Written to {}.", file.display())),
        "{}",
        text(&out)
    );
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// The snapshot's reading of each disk, by name.
fn readings(snapshot: &serde_json::Value) -> Vec<(String, Reading<SmartReport>)> {
    snapshot["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                serde_json::from_value(d["smart"].clone()).unwrap(),
            )
        })
        .collect()
}

/// The whole disks the kernel has (backed by a device, not empty, not a CD drive).
fn kernel_disks() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let sectors: u64 = std::fs::read_to_string(e.path().join("size"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            e.path().join("device").exists() && sectors > 0 && !name.starts_with("sr")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn health(agent: &Agent) -> PairHealth {
    let r = agent.get("/api/v1/health", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The health once the agent has a reading (or a reason) for every disk.
async fn disks_read(agent: &Agent) -> (PairHealth, Vec<DiskInfo>) {
    eventually("every disk's health, or why not", Duration::from_secs(60), || async {
        let h = health(agent).await;
        let disks = h.this.disks.value()?.clone();
        let done = disks.iter().all(|d| match &d.smart {
            Reading::Read { .. } => true,
            Reading::Unavailable { reason } => !reason.starts_with("not read yet"),
        });
        done.then_some((h, disks))
    })
    .await
}

/// PATH without the folders holding smartctl: the agent cannot ask the disks itself.
fn path_without_smartctl() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let kept: Vec<&str> = path
        .split(':')
        .filter(|dir| !dir.is_empty() && !Path::new(dir).join("smartctl").exists())
        .collect();
    kept.join(":")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_records_each_disk_and_an_agent_without_smartctl_shows_it() {
    let mut a = Agent::init_with("PBX A", "1s");
    let before = now();
    let snapshot = take_snapshot(&a);
    assert_eq!(snapshot["format"], 1);
    let taken = snapshot["taken_unix"].as_i64().unwrap();
    assert!((before..=now()).contains(&taken), "{taken}");
    let found = readings(&snapshot);
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, kernel_disks(), "{snapshot}");

    // Each disk as smartctl, run here, says it: read, or why not (this machine's virtio disk
    // does not report SMART; without root, no permission).
    for (name, reading) in &found {
        let out = std::process::Command::new("smartctl")
            .args(["--json", "--health", &format!("/dev/{name}")])
            .output()
            .unwrap();
        let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        match (&said["smart_status"]["passed"], reading) {
            (serde_json::Value::Bool(passed), Reading::Read { value }) => {
                assert_eq!(value.passed, *passed, "{name}");
                assert_eq!(value.checked_unix, taken, "{name}");
            }
            (serde_json::Value::Null, Reading::Unavailable { reason }) => {
                let messages = said["smartctl"]["messages"].to_string();
                if messages.contains("Unable to detect device type") {
                    assert!(
                        reason.contains(&format!("/dev/{name} does not report SMART")),
                        "{reason}"
                    );
                } else {
                    assert!(reason.contains(&format!("/dev/{name}")), "{reason}");
                }
            }
            other => panic!("{name}: smartctl says {said}, the snapshot {other:?}"),
        }
    }

    // An agent that cannot run smartctl shows the snapshot's readings, not "not installed".
    a.env.push(("PATH".into(), path_without_smartctl()));
    a.start();
    let (h, disks) = disks_read(&a).await;
    for (name, reading) in &found {
        let d = disks.iter().find(|d| &d.name == name).unwrap();
        assert_eq!(&d.smart, reading, "{name}");
    }
    assert!(
        h.differences.iter().all(|d| d.code != "smart_unavailable"),
        "{:?}",
        h.differences
    );
    // The command line says the same, each disk with its health or why not.
    let out = a.cli(&["health"]);
    assert!(out.status.success(), "{}", text(&out));
    for (name, reading) in &found {
        let expected = match reading {
            Reading::Read { .. } => "read just now".to_owned(),
            Reading::Unavailable { reason } => format!("health unknown: {reason}"),
        };
        assert!(words(&text(&out)).contains(&words(&expected)), "{name}: {}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: runs the agent in a mount namespace with a private /dev, as its packaged unit does"]
async fn an_agent_kept_from_the_disks_uses_the_snapshot_and_says_what_to_check_without_one() {
    let mut a = Agent::init_with("PBX A", "1s");
    a.wrapper = WITHOUT_DISKS.iter().map(|s| s.to_string()).collect();
    let file = snapshot_file(&a);
    let note = |h: &PairHealth| h.differences.iter().find(|d| d.code == "smart_unavailable").cloned();

    // No snapshot yet: each disk says the timer has left none, and the note says what to check.
    a.start();
    let (h, disks) = disks_read(&a).await;
    for d in &disks {
        let Reading::Unavailable { reason } = &d.smart else {
            panic!("{d:?}")
        };
        assert!(
            reason.contains(&format!("/dev/{} is not visible to the agent", d.name)),
            "{reason}"
        );
        assert!(
            reason.contains(&format!(
                "lbs-agent-smart.timer, which reads the disks' health for the agent, has left no reading ({} does \
                 not exist)",
                file.display()
            )),
            "{reason}"
        );
    }
    let n = note(&h).expect("the smart_unavailable note");
    assert!(n.fix.contains("systemctl status lbs-agent-smart.timer"), "{}", n.fix);
    assert!(
        n.fix.contains("systemctl enable --now lbs-agent-smart.timer"),
        "{}",
        n.fix
    );
    a.stop();

    // A fresh snapshot: each disk's reading as the timer's run left it, no note.
    let snapshot = take_snapshot(&a);
    let found = readings(&snapshot);
    a.start();
    let (h, disks) = disks_read(&a).await;
    assert_eq!(disks.len(), found.len());
    for (name, reading) in &found {
        let d = disks.iter().find(|d| &d.name == name).unwrap();
        assert_eq!(&d.smart, reading, "{name}");
    }
    assert_eq!(note(&h), None, "{:?}", h.differences);
    a.stop();

    // The same snapshot four hours old: not shown as current; the timer is said to have stopped.
    let mut old = snapshot.clone();
    old["taken_unix"] = (now() - 4 * 3600).into();
    std::fs::write(&file, serde_json::to_vec(&old).unwrap()).unwrap();
    a.start();
    let (h, disks) = disks_read(&a).await;
    for d in &disks {
        match &d.smart {
            Reading::Unavailable { reason } => {
                assert!(
                    reason.starts_with(&format!("the last reading of /dev/{}'s health is 4h", d.name)),
                    "{reason}"
                );
                assert!(
                    reason.contains(
                        "lbs-agent-smart.timer, which reads it for the agent every hour, has not run since or fails"
                    ),
                    "{reason}"
                );
            }
            // A failing or worn disk stays as it was read, with its time.
            Reading::Read { value } => assert_ne!(value.verdict, lbs_protocol::DiskVerdict::Good, "{d:?}"),
        }
    }
    if disks.iter().any(|d| matches!(d.smart, Reading::Unavailable { .. })) {
        let n = note(&h).expect("the smart_unavailable note");
        assert!(n.message.contains("4h"), "{}", n.message);
        assert!(n.fix.contains("systemctl status lbs-agent-smart.timer"), "{}", n.fix);
    }
    a.stop();

    // A snapshot that cannot be read: a plain note, and the agent goes on.
    std::fs::write(&file, b"{\"format\": 1, \"taken_unix\": ").unwrap();
    a.start();
    let (h, disks) = disks_read(&a).await;
    for d in &disks {
        let Reading::Unavailable { reason } = &d.smart else {
            panic!("{d:?}")
        };
        assert!(
            reason.contains(&format!(
                "the reading lbs-agent-smart.timer left cannot be used: {} is not a snapshot of the disks",
                file.display()
            )),
            "{reason}"
        );
    }
    assert!(note(&h).is_some(), "{:?}", h.differences);
    let out = a.cli(&["status"]);
    assert!(out.status.success(), "the agent still answers: {}", text(&out));
}
