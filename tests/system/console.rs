//! The console's logic against real agents: pinning, trust on first use, plain-language errors,
//! and tokens kept in the real OS keyring (Secret Service; run under `dbus-run-session` with
//! gnome-keyring, as `scripts/test.sh` does).

use lbs_console_core::view::ErrorKind;
use lbs_console_core::{Console, Credentials};
use lbs_tests::{free_port, Agent};

async fn console(dir: &tempfile::TempDir) -> (Console, Credentials) {
    let service = format!("lbs-console-test-{}", std::process::id());
    let creds = Credentials::with_service(&service);
    (
        Console::open(&dir.path().join("console.db"), creds.clone())
            .await
            .expect("console store"),
        creds,
    )
}

#[tokio::test]
async fn a_pasted_link_adds_the_server_and_its_token_goes_to_the_keyring() {
    let mut agent = Agent::init("PBX A");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, creds) = console(&dir).await;
    let entry = console.add_by_link(&agent.link.to_string()).await.expect("added");
    assert_eq!(entry.name, "PBX A");
    assert_eq!(entry.fingerprint, agent.link.fingerprint);
    assert_eq!(creds.load(&entry.id).await.unwrap(), agent.link.token);
    // Never in the console's own files.
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes
            .windows(agent.link.token.len())
            .any(|w| w == agent.link.token.as_bytes()));
    }
    let status = console.status(&entry.id).await.unwrap();
    assert_eq!(status.server_id, entry.server_id);
    let again = console.add_by_link(&agent.link.to_string()).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyAdded);

    console.remove(&entry.id).await.unwrap();
    assert!(console.list().await.unwrap().is_empty());
    assert_eq!(
        creds.load(&entry.id).await.unwrap_err().kind(),
        ErrorKind::Keyring,
        "keyring entry must be gone"
    );
}

#[tokio::test]
async fn trust_on_first_use_shows_the_real_fingerprint_and_pins_it() {
    let mut agent = Agent::init("PBX B");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let probe = console.probe(&agent.address()).await.unwrap();
    assert_eq!(probe.fingerprint, agent.link.fingerprint);
    let entry = console
        .add_manual(&agent.address(), &agent.link.token, &probe.fingerprint)
        .await
        .unwrap();
    assert_eq!(entry.name, "PBX B");
    console.remove(&entry.id).await.unwrap();
}

#[tokio::test]
async fn a_changed_certificate_is_refused_with_a_warning_not_reported_as_down() {
    let mut real = Agent::init("PBX C");
    real.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let mut link = real.link.clone();
    link.fingerprint = "ab".repeat(32);
    let err = console.add_by_link(&link.to_string()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CertificateMismatch, "{err}");
    assert!(err.to_string().contains("different certificate"), "{err}");
    assert!(console.list().await.unwrap().is_empty(), "nothing stored on a mismatch");

    // A pinned server that is replaced by another box on the same address.
    let entry = console.add_by_link(&real.link.to_string()).await.unwrap();
    let port = real.port;
    drop(real);
    let mut impostor = Agent::init("impostor");
    let text = std::fs::read_to_string(&impostor.config)
        .unwrap()
        .replace(&impostor.port.to_string(), &port.to_string());
    std::fs::write(&impostor.config, text).unwrap();
    impostor.port = port;
    impostor.start();
    let err = console.status(&entry.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CertificateMismatch, "{err}");
    console.remove(&entry.id).await.unwrap();
}

#[tokio::test]
async fn refused_tokens_unreachable_agents_and_bad_input_get_plain_messages() {
    let mut agent = Agent::init("PBX D");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;

    let mut link = agent.link.clone();
    link.token = "lbs_00000000_not-a-real-token".into();
    let err = console.add_by_link(&link.to_string()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("lbs-agent token create"), "{err}");

    let entry = console.add_by_link(&agent.link.to_string()).await.unwrap();
    drop(agent);
    let err = console.status(&entry.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    assert!(err.to_string().contains("switched on"), "{err}");
    console.remove(&entry.id).await.unwrap();

    let err = console.probe(&format!("127.0.0.1:{}", free_port())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    for bad in ["not a link", "https://x:1", "lbs://x:1/?token=t"] {
        assert_eq!(
            console.add_by_link(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    for bad in ["nohost", "host:notaport", "a b:1", "x:1/path"] {
        assert_eq!(
            console.probe(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{bad}"
        );
    }
}
