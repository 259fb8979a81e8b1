//! The `lbs-agent` command line as a technician uses it: init, token management, status, and
//! refusal of bad configs.

use lbs_protocol::ServerStatus;
use lbs_tests::{parse_link, run_cli, Agent};

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn init_prints_a_link_with_the_real_fingerprint_and_refuses_to_run_twice() {
    let agent = Agent::init("init-test");
    let cert = std::fs::read_to_string(agent.state_dir().join("tls/cert.pem")).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"));
    assert_eq!(agent.link.fingerprint.len(), 64);
    assert_eq!(agent.link.name.as_deref(), Some("init-test"));
    let identity_before = std::fs::read(agent.state_dir().join("identity.json")).unwrap();
    let out = agent.cli(&["init"]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("already has an identity"), "{err}");
    assert_eq!(
        std::fs::read(agent.state_dir().join("identity.json")).unwrap(),
        identity_before
    );
}

#[tokio::test]
async fn status_reports_the_running_agent_in_words_and_json() {
    let mut agent = Agent::init("status-test");
    let out = agent.cli(&["status"]);
    assert!(!out.status.success(), "status must fail while the agent is stopped");
    assert!(text(&out).1.contains("not answering"), "{}", text(&out).1);

    agent.start();
    let (words, err) = text(&agent.cli(&["status"]));
    assert!(words.contains("Name:         status-test"), "{words}{err}");
    assert!(words.contains("Role:         primary (epoch 1)"), "{words}");
    assert!(words.contains("not paired yet"), "{words}");
    let out = agent.cli(&["status", "--json"]);
    let status: ServerStatus = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(status.fingerprint, agent.link.fingerprint);
    assert_eq!(status.name, "status-test");
}

#[tokio::test]
async fn tokens_from_the_cli_work_until_revoked_even_while_the_agent_runs() {
    let mut agent = Agent::init("token-cli");
    agent.start();
    let out = agent.cli(&["token", "create", "--role", "viewer", "--label", "front desk"]);
    assert!(out.status.success());
    let link = parse_link(&text(&out).0);
    assert_eq!(link.fingerprint, agent.link.fingerprint);
    let ok = agent.get("/api/v1/status", &link.token).await;
    assert_eq!(ok.status(), 200);
    let status: ServerStatus = ok.json().await.unwrap();
    assert_eq!(status.access, lbs_protocol::TokenRole::Viewer);

    let (list, _) = text(&agent.cli(&["token", "list"]));
    assert!(list.contains("front desk") && list.contains("viewer"), "{list}");
    assert!(!list.contains(&link.token));
    let id = link.token.split('_').nth(1).unwrap();
    assert!(agent.cli(&["token", "revoke", id]).status.success());
    let refused = agent.get("/api/v1/status", &link.token).await;
    assert_eq!(refused.status(), 401);
    let out = agent.cli(&["token", "revoke", "nosuchid"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no token with id `nosuchid`"));
}

#[test]
fn invalid_config_is_refused_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nname = \"x\"\nstate_dir = \"/tmp/x\"\n\n[metrics]\ninterval = \"fast\"\n",
    )
    .unwrap();
    let out = run_cli(&["run", "--config", path.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("invalid duration \"fast\""), "{err}");

    let out = run_cli(&["run", "--config", dir.path().join("missing.toml").to_str().unwrap()]);
    assert!(text(&out).1.contains("cannot read the config file"), "{}", text(&out).1);
}

#[test]
fn a_second_agent_on_the_same_state_directory_is_refused() {
    let mut agent = Agent::init("lock");
    agent.start();
    // Same config: same state dir (and port). The lock must refuse it before the port does.
    let out = agent.cli(&["run"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("another lbs-agent is already running"),
        "{}",
        text(&out).1
    );
}

#[test]
fn run_without_init_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    let state = dir.path().join("state");
    std::fs::write(
        &path,
        format!("[server]\nname = \"x\"\nstate_dir = \"{}\"\n", state.display()),
    )
    .unwrap();
    let out = run_cli(&["run", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("run `lbs-agent init"), "{}", text(&out).1);
}
