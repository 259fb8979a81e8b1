//! Automatic failover between two real agents on loopback, with a real three-member etcd vote
//! (TLS, client certificates): the pair goes on autopilot, a person switches it off and on, the
//! backup takes over a primary that is gone (and only then), a primary cut off from its partner
//! and the vote fences itself and resumes when nobody took over, and a lost vote never stops the
//! phones while the primary sees its partner. The same on a simulated office network with real
//! phones is in `office.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use lbs_protocol::{AutopilotAnswer, AutopilotStatus, BlockerKind, Role};
use lbs_tests::vote::VoteCluster;
use lbs_tests::{eventually, free_port, Agent};
use serde_json::json;

use crate::failover::{ask, box_config, events, failover, pair_of, pbx_running, trail, Pair};

/// A short lease so the tests take seconds; the partner's "PBX" is a port nobody answers on
/// (the fake PBX speaks no SIP), so a gone primary's PBX is silent.
fn autopilot_config(dir: &Path, vote: &VoteCluster, member: usize, lease: &str) -> String {
    box_config(dir, "1h", "").replacen(
        "[failover]\n",
        &format!(
            "[failover]\nautomatic = true\nlease = \"{lease}\"\nflap_guard = \"1h\"\npartner_sip = \"127.0.0.1:{}\"\n",
            free_port()
        ),
        1,
    ) + &vote.witness_toml(member)
}

struct Office {
    pair: Pair,
    vote: VoteCluster,
    _dir: tempfile::TempDir,
}

/// A paired office on autopilot: A the primary, B its backup, the vote's members named after them.
async fn office() -> Office {
    office_with_lease("3s").await
}

async fn office_with_lease(lease: &str) -> Office {
    lbs_tests::vote::require();
    let dir = tempfile::tempdir().unwrap();
    let vote = VoteCluster::start_named(dir.path(), ["PBX A", "PBX B", "witness"]);
    let pair = pair_of(
        |d| autopilot_config(d, &vote, 0, lease),
        |d| autopilot_config(d, &vote, 1, lease),
    );
    let office = Office { pair, vote, _dir: dir };
    for agent in [&office.pair.a, &office.pair.b] {
        eventually("the pair on autopilot", Duration::from_secs(30), || async {
            let s = autopilot(agent).await;
            (s.armed && s.leader.as_deref() == Some("PBX A")).then_some(())
        })
        .await;
    }
    office
}

async fn autopilot(agent: &Agent) -> AutopilotStatus {
    let r = agent.get("/api/v1/autopilot", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn switch(agent: &Agent, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = agent
        .http()
        .put(agent.url("/api/v1/autopilot"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn kinds(s: &AutopilotStatus) -> Vec<BlockerKind> {
    s.blockers.iter().map(|b| b.kind).collect()
}

#[tokio::test]
async fn a_person_switches_the_pair_off_and_on_from_either_box() {
    let o = office().await;
    let (a, b) = (&o.pair.a, &o.pair.b);
    let s = autopilot(a).await;
    assert!(
        s.summary.contains("if PBX A fails, PBX B takes over by itself"),
        "{}",
        s.summary
    );
    assert!(s.quorum && s.members.iter().all(|m| m.reachable), "{s:#?}");

    // Off needs a reason and an admin token.
    let (code, body) = switch(b, &b.link.token, json!({ "on": false })).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("say why"), "{body}");
    let viewer = crate::maintenance::viewer(b).await;
    let (code, _) = switch(b, &viewer, json!({ "on": false, "reason": "x" })).await;
    assert_eq!(code, 403);
    let look = b.get("/api/v1/autopilot", &viewer).await;
    assert_eq!(look.status(), 200, "a viewer may look");

    let (code, body) = switch(
        b,
        &b.link.token,
        json!({ "on": false, "reason": "moving the witness to the new NAS", "by": "Kim" }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let answer: AutopilotAnswer = serde_json::from_value(body).unwrap();
    assert!(answer.changed);
    assert!(
        matches!(answer.partner, lbs_protocol::PartnerNotice::Told { .. }),
        "{answer:?}"
    );
    // A heard it at once: not armed, and it says who and why.
    let s = autopilot(a).await;
    assert!(!s.armed);
    assert_eq!(kinds(&s)[0], BlockerKind::SwitchedOff, "{s:#?}");
    assert!(
        s.summary.contains("Kim switched automatic failover off"),
        "{}",
        s.summary
    );
    assert!(s.summary.contains("moving the witness to the new NAS"), "{}", s.summary);
    for agent in [a, b] {
        let log = events(agent).await;
        assert!(
            log.iter()
                .any(|e| e.starts_with("autopilot_switched") && e.contains("off by Kim")),
            "{log:#?}"
        );
    }
    // The same again changes nothing.
    let (_, body) = switch(a, &a.link.token, json!({ "on": false, "reason": "again" })).await;
    assert_eq!(body["changed"], false);

    let (code, _) = switch(a, &a.link.token, json!({ "on": true })).await;
    assert_eq!(code, 200);
    eventually("B on autopilot again", Duration::from_secs(10), || async {
        autopilot(b).await.armed.then_some(())
    })
    .await;
    // The switch survives a restart.
    let (code, _) = switch(a, &a.link.token, json!({ "on": false, "reason": "for the restart" })).await;
    assert_eq!(code, 200);
    let mut b = o.pair.b;
    b.stop();
    b.start();
    let s = autopilot(&b).await;
    assert_eq!(s.switch.map(|s| s.on), Some(false));
}

#[tokio::test]
async fn the_backup_takes_over_a_primary_that_is_gone_and_the_old_primary_rejoins() {
    let mut o = office().await;
    assert!(pbx_running(&o.pair.a));
    // The primary's power goes: its agent and its PBX at once.
    o.pair.a.kill9();
    let stop = std::process::Command::new(o.pair.a.dir.path().join("pbx.sh"))
        .arg("stop")
        .status()
        .unwrap();
    assert!(stop.success());
    let t0 = Instant::now();
    let b = &o.pair.b;
    eventually("B to take over by itself", Duration::from_secs(40), || async {
        let f = failover(b).await;
        (f.role == Role::Primary && f.pbx.running == Some(true)).then_some(())
    })
    .await;
    eprintln!("B took over {} ms after A went", t0.elapsed().as_millis());
    assert!(pbx_running(b));
    let log = events(b).await;
    assert!(
        log.iter()
            .any(|e| e.starts_with("promoted") && e.contains("[autopilot]")),
        "{log:#?}\n{}",
        trail(b)
    );
    let s = eventually("B to hold the leader key", Duration::from_secs(10), || async {
        let s = autopilot(b).await;
        (s.leader.as_deref() == Some("PBX B")).then_some(s)
    })
    .await;
    assert_eq!(
        s.last_automatic.as_ref().map(|l| l.by.as_str()),
        Some("PBX B"),
        "{s:#?}"
    );
    // Never an automatic switch back, and not a second failover within the flap guard.
    assert!(kinds(&s).contains(&BlockerKind::FlapGuard), "{s:#?}");

    // A comes back: it hears of B's higher epoch and rejoins as the backup; its PBX stays off.
    o.pair.a.start();
    let a = &o.pair.a;
    eventually("A to rejoin as the backup", Duration::from_secs(30), || async {
        let f = failover(a).await;
        (f.role == Role::Backup && f.busy.is_none()).then_some(())
    })
    .await;
    assert!(!pbx_running(a));
    assert_eq!(failover(b).await.role, Role::Primary);
    // Both boxes know of the automatic failover (it is kept in the vote).
    eventually("A to know of it", Duration::from_secs(10), || async {
        let s = autopilot(a).await;
        (s.last_automatic.map(|l| l.by).as_deref() == Some("PBX B")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_primary_whose_partner_took_over_while_its_agent_was_down_starts_fenced_and_stops_its_pbx() {
    // A lease that outlives B's freeze below while A starts (its heartbeat to B times out first).
    let mut o = office_with_lease("15s").await;
    // A's agent dies; its PBX runs on (it does not answer SIP here, so B takes over).
    o.pair.a.kill9();
    assert!(pbx_running(&o.pair.a));
    eventually("B to take over by itself", Duration::from_secs(60), || async {
        (failover(&o.pair.b).await.role == Role::Primary
            && autopilot(&o.pair.b).await.leader.as_deref() == Some("PBX B"))
        .then_some(())
    })
    .await;
    // B freezes before A's agent is back: A cannot hear of B's epoch from B, only from the vote.
    let b_pid = o.pair.b.pid().unwrap();
    signal(b_pid, "STOP");
    o.pair.a.start();
    let a = &o.pair.a;
    let fence = eventually("A to start fenced", Duration::from_secs(30), || async {
        autopilot(a).await.fenced
    })
    .await;
    assert!(fence.message.contains("PBX B holds the leader key"), "{fence:?}");
    assert!(
        !pbx_running(a),
        "a fenced start stops the PBX that ran on: {}",
        trail(a)
    );
    signal(b_pid, "CONT");
    eventually("A to rejoin as the backup", Duration::from_secs(30), || async {
        let f = failover(a).await;
        (f.role == Role::Backup && f.busy.is_none()).then_some(())
    })
    .await;
    assert!(!pbx_running(a));
    // B, frozen past half its lease and unable to hear A meanwhile, may fence itself when it
    // thaws; it runs the phones again once it holds the key (nobody else took it).
    eventually("B to run the phones", Duration::from_secs(30), || async {
        let s = autopilot(&o.pair.b).await;
        (s.fenced.is_none() && pbx_running(&o.pair.b)).then_some(())
    })
    .await;
    assert_eq!(failover(&o.pair.b).await.role, Role::Primary);
}

#[tokio::test]
async fn a_primary_cut_off_from_partner_and_vote_fences_itself_and_resumes_when_nobody_took_over() {
    let mut o = office().await;
    let b_pid = o.pair.b.pid().unwrap();
    // B's agent freezes (it can neither answer nor take over) and the vote loses its majority.
    signal(b_pid, "STOP");
    o.vote.kill(1);
    o.vote.kill(2);
    let a = &o.pair.a;
    let fenced = eventually("A to fence itself", Duration::from_secs(30), || async {
        autopilot(a).await.fenced
    })
    .await;
    assert!(fenced.message.contains("stopped its phone system"), "{fenced:?}");
    eventually("A's PBX stopped", Duration::from_secs(10), || async {
        (!pbx_running(a)).then_some(())
    })
    .await;
    let f = failover(a).await;
    assert_eq!(f.role, Role::Primary, "it keeps the role");
    assert!(events(a).await.iter().any(|e| e.starts_with("fenced")));

    // The vote comes back; nobody took over (B was frozen): A holds the key again and resumes.
    o.vote.restart(1);
    o.vote.restart(2);
    eventually("A to resume", Duration::from_secs(30), || async {
        let s = autopilot(a).await;
        (s.fenced.is_none() && pbx_running(a)).then_some(())
    })
    .await;
    assert!(events(a).await.iter().any(|e| e.starts_with("unfenced")));
    signal(b_pid, "CONT");
    eventually(
        "B still the backup and the pair on autopilot",
        Duration::from_secs(30),
        || async {
            let (fa, sb) = (failover(a).await, autopilot(&o.pair.b).await);
            (fa.role == Role::Primary && sb.armed).then_some(())
        },
    )
    .await;
    assert_eq!(failover(&o.pair.b).await.role, Role::Backup, "{}", trail(&o.pair.b));
}

#[tokio::test]
async fn a_lost_vote_never_stops_the_phones_while_the_primary_sees_its_partner() {
    let mut o = office().await;
    let a = &o.pair.a;
    // The witness alone: still armed, with a warning.
    o.vote.kill(2);
    let s = eventually("the witness reported lost", Duration::from_secs(20), || async {
        let s = autopilot(a).await;
        kinds(&s).contains(&BlockerKind::WitnessUnreachable).then_some(s)
    })
    .await;
    assert!(s.armed, "{s:#?}");
    // B's member too: no majority. A keeps the phones while it sees B; nobody moves.
    o.vote.kill(1);
    let s = eventually("A without the vote", Duration::from_secs(20), || async {
        let s = autopilot(a).await;
        kinds(&s).contains(&BlockerKind::NoQuorum).then_some(s)
    })
    .await;
    assert!(s.summary.starts_with("Not on autopilot"), "{}", s.summary);
    let lost_at = s.blockers[0].since_unix.unwrap();
    // Past the time a cut-off primary would have fenced itself (half the lease) by a margin.
    eventually("the lease's time to pass", Duration::from_secs(20), || async {
        (now_unix() >= lost_at + 5).then_some(())
    })
    .await;
    let s = autopilot(a).await;
    assert!(s.fenced.is_none(), "{s:#?}\n{}", trail(a));
    assert!(pbx_running(a));
    let b = autopilot(&o.pair.b).await;
    assert!(!b.armed);
    assert_eq!(failover(&o.pair.b).await.role, Role::Backup);
    assert!(!events(a).await.iter().any(|e| e.starts_with("fenced")));
}

#[tokio::test]
async fn with_the_vote_down_a_person_still_switches_over_and_fails_over() {
    let mut o = office().await;
    for i in 0..3 {
        o.vote.kill(i);
    }
    let (a, b) = (&o.pair.a, &o.pair.b);
    eventually("A without the vote", Duration::from_secs(20), || async {
        kinds(&autopilot(a).await)
            .contains(&BlockerKind::NoQuorum)
            .then_some(())
    })
    .await;
    // A planned switchover needs no vote.
    let (code, body) = ask(a, "switchover", json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(failover(b).await.role, Role::Primary);
    assert!(pbx_running(b) && !pbx_running(a));

    // B's power goes; a person fails over to A by hand. With the vote down and B off, A is
    // cut off from both, yet a person's failover keeps the phones: A does not fence itself.
    let mut b = o.pair.b;
    b.kill9();
    let stop = std::process::Command::new(b.dir.path().join("pbx.sh"))
        .arg("stop")
        .status()
        .unwrap();
    assert!(stop.success());
    eventually("A to see B gone", Duration::from_secs(20), || async {
        (!failover(a).await.partner.reachable).then_some(())
    })
    .await;
    let (code, body) = ask(
        a,
        "promote",
        json!({"force": true, "reason": "PBX B lost its power supply"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(pbx_running(a));
    let promoted = now_unix();
    eventually(
        "past the time a cut-off primary fences itself",
        Duration::from_secs(20),
        || async { (now_unix() >= promoted + 4).then_some(()) },
    )
    .await;
    let s = autopilot(a).await;
    assert!(s.fenced.is_none(), "{s:#?}\n{}", trail(a));
    assert!(pbx_running(a), "{}", trail(a));
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
