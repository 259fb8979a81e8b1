//! The console's logic against real agents: pinning, trust on first use, plain-language errors,
//! and tokens kept in the real OS keyring (Secret Service; run under `dbus-run-session` with
//! gnome-keyring, as `scripts/test.sh` does).

use lbs_console_core::view::ErrorKind;
use lbs_console_core::{Console, Credentials};
use lbs_tests::{eventually, free_port, Agent};

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

/// Removes a server added alone, with the office it landed in.
async fn remove(console: &Console, id: &str) {
    let pairs = console.pairs().await.unwrap();
    let pair = pairs
        .iter()
        .find(|p| p.servers.iter().any(|s| s == id))
        .expect("its office");
    console.remove_pair(&pair.id).await.unwrap();
}

#[tokio::test]
async fn a_pasted_link_adds_the_server_and_its_token_goes_to_the_keyring() {
    let mut agent = Agent::init("PBX A");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, creds) = console(&dir).await;
    let entry = console.add_by_link(&agent.link.to_string(), None).await.expect("added");
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
    let again = console.add_by_link(&agent.link.to_string(), None).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AlreadyAdded);

    remove(&console, &entry.id).await;
    assert!(console.list().await.unwrap().is_empty());
    assert_eq!(
        creds.load(&entry.id).await.unwrap_err().kind(),
        ErrorKind::Keyring,
        "keyring entry must be gone"
    );
}

#[tokio::test]
async fn a_link_wrapped_by_a_terminal_or_a_mail_still_adds_the_server() {
    let mut agent = Agent::init("PBX W");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let text = agent.link.to_string();
    // Broken inside the fingerprint, with the next line indented, as a mail program quotes it.
    let cut = text.find("fp=").unwrap() + 30;
    let wrapped = format!("{}\r\n    {}\n", &text[..cut], &text[cut..]);
    let entry = console
        .add_by_link(&wrapped, None)
        .await
        .expect("a wrapped link is accepted");
    assert_eq!(entry.fingerprint, agent.link.fingerprint);
    assert_eq!(console.status(&entry.id).await.unwrap().server_id, entry.server_id);
    remove(&console, &entry.id).await;
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
        .add_manual(&agent.address(), &agent.link.token, &probe.fingerprint, None)
        .await
        .unwrap();
    assert_eq!(entry.name, "PBX B");
    remove(&console, &entry.id).await;
}

#[tokio::test]
async fn a_changed_certificate_is_refused_with_a_warning_not_reported_as_down() {
    let mut real = Agent::init("PBX C");
    real.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let mut link = real.link.clone();
    link.fingerprint = "ab".repeat(32);
    let err = console.add_by_link(&link.to_string(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CertificateMismatch, "{err}");
    assert!(err.to_string().contains("different certificate"), "{err}");
    assert!(console.list().await.unwrap().is_empty(), "nothing stored on a mismatch");

    // A pinned server that is replaced by another box on the same address.
    let entry = console.add_by_link(&real.link.to_string(), None).await.unwrap();
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
    remove(&console, &entry.id).await;
}

#[tokio::test]
async fn refused_tokens_unreachable_agents_and_bad_input_get_plain_messages() {
    let mut agent = Agent::init("PBX D");
    agent.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;

    let mut link = agent.link.clone();
    link.token = "lbs_00000000_not-a-real-token".into();
    let err = console.add_by_link(&link.to_string(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("lbs-agent token create"), "{err}");

    let entry = console.add_by_link(&agent.link.to_string(), None).await.unwrap();
    drop(agent);
    let err = console.status(&entry.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    assert!(err.to_string().contains("switched on"), "{err}");
    remove(&console, &entry.id).await;

    let err = console.probe(&format!("127.0.0.1:{}", free_port())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable);
    for bad in ["not a link", "https://x:1", "lbs://x:1/?token=t"] {
        assert_eq!(
            console.add_by_link(bad, None).await.unwrap_err().kind(),
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

/// Two paired agents with short heartbeats and a one-hour hold, added to a console.
async fn office_pair(dir: &tempfile::TempDir) -> (Agent, Agent, Console, String, String) {
    let failover = |_: &std::path::Path| "\n[failover]\nhold = \"1h\"\nheartbeat_interval = \"300ms\"\n".to_string();
    let mut a = Agent::init_config("PBX A", "1s", failover);
    let mut b = Agent::init_config("PBX B", "1s", failover);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    let (console, _) = console(dir).await;
    let ea = console.add_by_link(&a.link.to_string(), None).await.unwrap();
    let eb = console.add_by_link(&b.link.to_string(), None).await.unwrap();
    (a, b, console, ea.id, eb.id)
}

/// The sentence of the console's one office, as the dashboard gets it.
async fn office_state(console: &Console) -> Option<lbs_console_core::pair::PairState> {
    let o = console.overview().await.ok()?;
    let [office] = o.offices.as_slice() else {
        panic!("expected one office, got {:?}", o.offices);
    };
    Some(office.state.clone())
}

#[tokio::test]
async fn the_failover_wizard_guards_live_in_the_console_core() {
    use lbs_console_core::pair::{Confirmation, PairLevel, WizardKind};
    let dir = tempfile::tempdir().unwrap();
    let (mut a, b, console, ia, ib) = office_pair(&dir).await;
    let state = lbs_tests::eventually(
        "the pair to be protected",
        std::time::Duration::from_secs(20),
        || async {
            let s = office_state(&console).await?;
            (s.level == PairLevel::Protected).then_some(s)
        },
    )
    .await;
    assert!(state.sentence.starts_with("Protected"), "{}", state.sentence);
    // Both alive: the wizard offers a planned switchover. The pair has never failed over (A has
    // been the primary since it was set up, seconds ago), so there is no hold to wait out.
    let x = console.assess(&ia, &ib).await.unwrap();
    assert_eq!(x.kind, Some(WizardKind::Planned));
    assert_eq!(x.hold_remaining_secs, Some(0));
    assert!(
        !x.warnings.iter().any(|w| w.contains("became the primary only")),
        "{:?}",
        x.warnings
    );

    // The primary dies: the pair is down, and the wizard turns into an unplanned failover that
    // needs the old primary confirmed off and the backup's name typed.
    a.kill9();
    let state = lbs_tests::eventually("the pair to be down", std::time::Duration::from_secs(20), || async {
        let s = office_state(&console).await?;
        (s.level == PairLevel::Down).then_some(s)
    })
    .await;
    assert!(
        state.sentence.starts_with("Primary PBX A unreachable"),
        "{}",
        state.sentence
    );
    let x = console.assess(&ia, &ib).await.unwrap();
    assert_eq!(x.kind, Some(WizardKind::Unplanned));
    assert_eq!(x.confirm_name, "PBX B");
    let mut c = Confirmation {
        typed_name: "PBX B".into(),
        ..Default::default()
    };
    let e = console.fail_over(&ia, &ib, &c).await.unwrap_err();
    assert!(e.to_string().contains("switched off or unplugged"), "{e}");
    let f: lbs_protocol::FailoverStatus = b.get("/api/v1/failover", &b.link.token).await.json().await.unwrap();
    assert_eq!(f.role, lbs_protocol::Role::Backup, "nothing was asked of the backup");
    c.old_primary_off = true;
    let change = console.fail_over(&ia, &ib, &c).await.unwrap();
    assert!(change.ok, "{change:?}");
    assert_eq!((change.role, change.epoch), (lbs_protocol::Role::Primary, 2));
    // The audit log on B names the console's token and the confirmed reason.
    let events: lbs_protocol::EventList = b.get("/api/v1/events", &b.link.token).await.json().await.unwrap();
    assert!(events.events.iter().any(|e| e.kind == lbs_protocol::EventKind::Promoted
        && e.reason.as_deref().unwrap_or_default().contains("confirmed off")));

    // A comes back as the backup. B took the role from it: switching back now is held back
    // until the hold is over, and only goes ahead early with a reason.
    a.start();
    let x = lbs_tests::eventually("A back as the backup", std::time::Duration::from_secs(30), || async {
        let x = console.assess(&ib, &ia).await.ok()?;
        (x.kind == Some(WizardKind::Planned)).then_some(x)
    })
    .await;
    assert!(
        x.warnings.iter().any(|w| w.contains("became the primary only")),
        "{:?}",
        x.warnings
    );
    assert!(x.hold_remaining_secs.unwrap_or(0) > 3_000, "{x:?}");
    let refused = console.fail_over(&ib, &ia, &Confirmation::default()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput);
    assert!(refused.to_string().contains("give a reason"), "{refused}");
}

#[tokio::test]
async fn a_backup_that_stops_answering_is_notified_and_shown_by_its_last_role() {
    use lbs_console_core::overview::alerts;
    use lbs_console_core::pair::PairLevel;
    let dir = tempfile::tempdir().unwrap();
    let (_a, mut b, console, _, ib) = office_pair(&dir).await;
    let healthy = lbs_tests::eventually(
        "the pair to be protected",
        std::time::Duration::from_secs(20),
        || async {
            let o = console.overview().await.ok()?;
            (o.offices[0].state.level == PairLevel::Protected).then_some(o)
        },
    )
    .await;
    b.kill9();
    let silent = lbs_tests::eventually("B to be silent", std::time::Duration::from_secs(20), || async {
        let o = console.overview().await.ok()?;
        let m = o.offices[0].machines.iter().find(|m| m.entry.id == ib)?;
        (!m.reachable).then_some(o)
    })
    .await;
    // What the poller would notify: the backup, in words that say the phones still work.
    let told = alerts(&healthy, &silent);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].title, "Office: the backup PBX B stopped answering");
    assert!(
        told[0]
            .body
            .starts_with("The phones still work on PBX A, but nothing is being copied. Check that PBX B is on"),
        "{}",
        told[0].body
    );
    assert!(alerts(&silent, &silent).is_empty(), "told once");
    // Its card shows the role it was last seen in, never a current one.
    let m = silent.offices[0].machines.iter().find(|m| m.entry.id == ib).unwrap();
    let note = m.silent_note.as_deref().unwrap_or_default();
    assert!(note.starts_with("Last seen as backup, silent for "), "{note}");
    assert!(m.failover.is_none(), "no current role for a silent box");
}

#[tokio::test]
async fn an_office_is_a_named_pair_and_removing_it_removes_its_servers_and_tokens() {
    let (mut a, mut b) = (Agent::init("PBX A"), Agent::init("PBX B"));
    a.start();
    b.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let ea = console.add_by_link(&a.link.to_string(), None).await.unwrap();
    // A single server first, its partner later.
    let pair = console
        .create_pair("  Main office ", std::slice::from_ref(&ea.id))
        .await
        .unwrap();
    assert_eq!((pair.name.as_str(), pair.servers.len()), ("Main office", 1));
    let eb = console.add_by_link(&b.link.to_string(), None).await.unwrap();
    let pair = console.add_to_pair(&pair.id, &eb.id).await.unwrap();
    assert_eq!(pair.servers, vec![ea.id.clone(), eb.id.clone()]);
    let third = console.add_to_pair(&pair.id, "no-such-server").await.unwrap_err();
    assert_eq!(third.kind(), ErrorKind::NotFound);
    let bad = console
        .create_pair(" ", std::slice::from_ref(&ea.id))
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    let twice = console
        .create_pair("Twice", &[ea.id.clone(), ea.id.clone()])
        .await
        .unwrap_err();
    assert!(twice.to_string().contains("two different servers"), "{twice}");
    let pair = console.rename_pair(&pair.id, "Head office").await.unwrap();
    assert_eq!(pair.name, "Head office");
    // Survives a restart of the console.
    drop(console);
    let (console, creds) = self::console(&dir).await;
    assert_eq!(console.pairs().await.unwrap(), vec![pair.clone()]);
    console.remove_pair(&pair.id).await.unwrap();
    assert!(console.pairs().await.unwrap().is_empty());
    assert!(console.list().await.unwrap().is_empty(), "its servers went with it");
    for id in [&ea.id, &eb.id] {
        assert_eq!(
            creds.load(id).await.unwrap_err().kind(),
            ErrorKind::Keyring,
            "and their tokens"
        );
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_machine_that_stops_answering_or_is_replaced_still_shows_its_history() {
    use lbs_protocol::{HistoryQuery, SeriesKind};
    let (mut a, mut b) = (Agent::init("PBX A"), Agent::init("PBX B"));
    for x in [&a, &b] {
        let out = x.cli(&["demo", "seed-history", "--days", "3"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    a.start();
    b.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let ea = console.add_by_link(&a.link.to_string(), None).await.unwrap();
    let office = console.pairs().await.unwrap()[0].id.clone();
    let eb = console.add_by_link(&b.link.to_string(), Some(&office)).await.unwrap();
    console.copy_histories().await.unwrap();

    let live = console.machine_series(&ea.server_id).await.unwrap();
    assert!(!live.from_copy);
    let role = live
        .series
        .iter()
        .find(|s| s.name == "role.primary")
        .expect("the role is recorded");
    assert_eq!(role.kind, SeriesKind::Role);
    let t = now();
    let q = HistoryQuery {
        series: "cpu.usage".into(),
        from: t - 86_400,
        to: t - 3_600,
        points: 100,
    };
    let from_agent = console.machine_history(&ea.server_id, &q).await.unwrap();
    assert!(from_agent.points.len() > 50, "{} points", from_agent.points.len());

    // A stops answering: the History tab is served from this computer's copy, the same figures.
    a.kill9();
    // The poller's look marks A silent: its graphs then go straight to the copy.
    console.overview().await.unwrap();
    let copy = console.machine_series(&ea.server_id).await.unwrap();
    assert!(copy.from_copy);
    assert_eq!(copy.live_error.map(|e| e.kind), Some(ErrorKind::Unreachable));
    assert!(
        copy.copy_until_unix.unwrap() > t - 600,
        "the copy reaches the last minutes"
    );
    assert!(copy.series.iter().any(|s| s.name == "cpu.usage"));
    let from_copy = console.machine_history(&ea.server_id, &q).await.unwrap();
    assert_eq!(
        (from_copy.resolution, from_copy.bucket_secs),
        (from_agent.resolution, from_agent.bucket_secs)
    );
    assert_eq!(from_copy.points.len(), from_agent.points.len());
    for (c, l) in from_copy.points.iter().zip(&from_agent.points) {
        assert_eq!(c.t, l.t);
        assert!(
            (c.avg - l.avg).abs() < 1e-6 && c.min == l.min && c.max == l.max,
            "{c:?} vs {l:?}"
        );
    }
    // Every series that recorded the last day is in the copy too.
    for s in live
        .series
        .iter()
        .filter(|s| s.first_unix.is_some_and(|f| f < t - 3_600))
    {
        let day = HistoryQuery {
            series: s.name.clone(),
            from: t - 86_400,
            to: t,
            points: 1_000,
        };
        assert!(
            !console
                .machine_history(&ea.server_id, &day)
                .await
                .unwrap()
                .points
                .is_empty(),
            "{} has no copied history",
            s.name
        );
    }
    // A short range is answered by minutes, as the copy holds no raw samples.
    let hour = HistoryQuery {
        from: t - 7_200,
        to: t - 3_600,
        points: 1_000,
        ..q.clone()
    };
    let minutes = console.machine_history(&ea.server_id, &hour).await.unwrap();
    assert_eq!(minutes.bucket_secs, 60);
    assert!(minutes.points.len() >= 59, "{} points", minutes.points.len());

    // A is replaced: taken out of the office, it is listed there as a former machine with its
    // history; the office's last server cannot be taken out on its own.
    console.remove_server(&ea.id).await.unwrap();
    let o = console.overview().await.unwrap();
    assert_eq!(o.offices.len(), 1);
    assert_eq!(o.offices[0].machines.len(), 1);
    assert_eq!(o.offices[0].former.len(), 1);
    assert_eq!(o.offices[0].former[0].server_id, ea.server_id);
    let former = console.machine_series(&ea.server_id).await.unwrap();
    assert!(former.from_copy && former.live_error.is_none());
    assert_eq!(
        console.machine_history(&ea.server_id, &q).await.unwrap().points.len(),
        from_agent.points.len()
    );
    let last = console.remove_server(&eb.id).await.unwrap_err();
    assert!(last.to_string().contains("remove the office instead"), "{last}");

    // Removing the office deletes the copies of its machines, current and former.
    let copies = dir.path().join("history");
    assert_eq!(
        std::fs::read_dir(&copies)
            .unwrap()
            .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|e| e == "db"))
            .count(),
        2
    );
    console.remove_pair(&office).await.unwrap();
    let left: Vec<_> = std::fs::read_dir(&copies)
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        console.machine_series(&ea.server_id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_server_that_moved_is_followed_only_to_the_same_machine() {
    let (mut a, mut b) = (Agent::init("PBX A"), Agent::init("PBX B"));
    a.start();
    b.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, _) = console(&dir).await;
    let ea = console.add_by_link(&a.link.to_string(), None).await.unwrap();
    // A moves to another port.
    a.stop();
    let port = free_port();
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace(&a.port.to_string(), &port.to_string());
    std::fs::write(&a.config, text).unwrap();
    a.port = port;
    a.start();
    assert_eq!(console.status(&ea.id).await.unwrap_err().kind(), ErrorKind::Unreachable);
    // Another box's address is refused: it is not the pinned machine.
    let wrong = console.change_address(&ea.id, &b.address()).await.unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::CertificateMismatch, "{wrong}");
    let bad = console.change_address(&ea.id, "not an address").await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    assert_eq!(console.list().await.unwrap()[0].address, ea.address, "nothing changed");
    let moved = console.change_address(&ea.id, &a.address()).await.unwrap();
    assert_eq!(moved.address, a.address());
    assert_eq!(console.status(&ea.id).await.unwrap().server_id, ea.server_id);
}

#[tokio::test]
async fn a_history_copy_that_cannot_be_written_costs_only_the_copy() {
    let mut a = Agent::init("PBX A");
    a.start();
    let dir = tempfile::tempdir().unwrap();
    // Where the copies go is taken by a file: nothing can be written there (as on a full or
    // read-only disk).
    std::fs::write(dir.path().join("history"), b"in the way").unwrap();
    let (console, _) = console(&dir).await;
    let ea = console.add_by_link(&a.link.to_string(), None).await.unwrap();
    console
        .copy_histories()
        .await
        .expect("a failed copy is logged, not fatal");
    // The agent's first samples come a tick after it listens.
    eventually("the first samples", std::time::Duration::from_secs(10), || async {
        let live = console.machine_series(&ea.server_id).await.unwrap();
        (!live.from_copy && !live.series.is_empty()).then_some(())
    })
    .await;
    a.kill9();
    let err = console.machine_series(&ea.server_id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert_eq!(std::fs::read(dir.path().join("history")).unwrap(), b"in the way");
}

#[tokio::test]
async fn a_new_access_token_replaces_the_old_only_if_the_server_accepts_it() {
    use lbs_protocol::TokenRole;
    let mut a = Agent::init("PBX A");
    a.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, creds) = console(&dir).await;
    let viewer = lbs_tests::parse_link(&String::from_utf8_lossy(
        &a.cli(&["token", "create", "--role", "viewer"]).stdout,
    ));
    let entry = console.add_by_link(&viewer.to_string(), None).await.unwrap();
    assert_eq!(console.status(&entry.id).await.unwrap().access, TokenRole::Viewer);

    for bad in ["", "  ", "lbs_00000000_not-a-real-token"] {
        assert!(console.change_token(&entry.id, bad).await.is_err(), "{bad:?}");
    }
    let refused = console
        .change_token(&entry.id, "lbs_00000000_not-a-real-token")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorized, "{refused}");
    assert_eq!(
        creds.load(&entry.id).await.unwrap(),
        viewer.token,
        "a refused token is not kept"
    );

    // The administrator token from `init` upgrades the console's access.
    console
        .change_token(&entry.id, &format!(" {} ", a.link.token))
        .await
        .unwrap();
    assert_eq!(creds.load(&entry.id).await.unwrap(), a.link.token);
    assert_eq!(console.status(&entry.id).await.unwrap().access, TokenRole::Admin);
}

/// A token is read from the keyring once and then kept in memory (a Secret Service read costs
/// tens of milliseconds, and every agent call needs one); storing and deleting go through.
#[tokio::test]
async fn tokens_are_read_from_the_keyring_once_and_deletes_go_through() {
    let service = format!("lbs-console-cache-test-{}", std::process::id());
    let (writer, reader, other) = (
        Credentials::with_service(&service),
        Credentials::with_service(&service),
        Credentials::with_service(&service),
    );
    writer.store("server-1", "first-token").await.unwrap();
    assert_eq!(reader.load("server-1").await.unwrap(), "first-token");
    // Gone from the keyring through another handle (another program): still known here.
    other.delete("server-1").await.unwrap();
    assert_eq!(reader.load("server-1").await.unwrap(), "first-token");
    assert_eq!(
        Credentials::with_service(&service)
            .load("server-1")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Keyring,
        "a console started now finds no token"
    );
    // Stored and deleted through this handle: memory and keyring agree.
    reader.store("server-1", "second-token").await.unwrap();
    assert_eq!(other.load("server-1").await.unwrap(), "second-token");
    reader.delete("server-1").await.unwrap();
    assert_eq!(reader.load("server-1").await.unwrap_err().kind(), ErrorKind::Keyring);
    other.delete("server-1").await.unwrap();
}

#[tokio::test]
async fn one_link_adds_the_whole_office_with_the_partner_pinned_and_the_same_access() {
    let mut a = Agent::init("PBX A");
    let mut b = Agent::init("PBX B");
    a.start();
    b.start();
    let dir = tempfile::tempdir().unwrap();
    let (console, creds) = console(&dir).await;
    // Not paired yet: the server comes alone, and nothing is said about a partner.
    let alone = console.add_office_by_link(&a.link.to_string(), None).await.unwrap();
    assert!(alone.partner.is_none() && alone.partner_problem.is_none(), "{alone:?}");
    remove(&console, &alone.server.id).await;

    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    // A view-only link to A brings B in with a view-only token of B's own.
    let out = a.cli(&["token", "create", "--role", "viewer", "--label", "wallboard"]);
    let viewer = lbs_tests::parse_link(&String::from_utf8_lossy(&out.stdout));
    let added = console.add_office_by_link(&viewer.to_string(), None).await.unwrap();
    let partner = added.partner.clone().unwrap_or_else(|| panic!("{added:?}"));
    assert_eq!(partner.name, "PBX B");
    assert_eq!(partner.fingerprint, b.link.fingerprint, "pinned from the pairing");
    let pairs = console.pairs().await.unwrap();
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0].servers.len(), 2, "one office with both: {pairs:?}");
    let status = console.status(&partner.id).await.unwrap();
    assert_eq!(status.access, lbs_protocol::TokenRole::Viewer);
    let token = creds.load(&partner.id).await.unwrap();
    assert_ne!(token, b.link.token, "B issued a token of its own");
    let out = b.cli(&["token", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("LBS Console (through PBX A, token "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    remove(&console, &added.server.id).await;

    // The partner switched off: the first server is added, and the reason is given.
    b.kill9();
    let half = console.add_office_by_link(&a.link.to_string(), None).await.unwrap();
    assert!(half.partner.is_none());
    let problem = half.partner_problem.unwrap_or_default();
    assert!(
        problem.contains("PBX B") && problem.contains("does not answer"),
        "{problem}"
    );
    assert_eq!(console.list().await.unwrap().len(), 1);
}
