//! The vote automatic failover stands on: three real etcd members over TLS with client
//! certificates (`lbs_tests::vote::VoteCluster`). Proves what the autopilot relies on: what one
//! member takes another gives back, only a client with a certificate of the vote's CA is
//! served, two members of three still decide, and one alone refuses a linearizable read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_tests::eventually;
use lbs_tests::vote::{etcdctl_for, ClientIdentity, Etcd, VoteCluster};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `etcdctl get key --print-value-only` through member `via` with `identity`: the value, or
/// `Err` with etcdctl's words.
fn get(
    vote: &VoteCluster,
    identity: &ClientIdentity,
    via: usize,
    key: &str,
    serializable: bool,
) -> Result<String, String> {
    let consistency = if serializable {
        "--consistency=s"
    } else {
        "--consistency=l"
    };
    let out = vote.etcdctl_as(identity, &[via], &["get", key, "--print-value-only", consistency]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(text(&out))
    }
}

/// A put through member `via`, tried again while the members elect a new leader (a second or
/// two after the leader is lost, as any etcd client does).
fn put(vote: &VoteCluster, via: usize, key: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = vote.etcdctl(via, &["put", key, value]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "put through {via}: {}\n{}",
            text(&out),
            vote.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An HTTPS client for etcd's JSON gateway that trusts the vote's CA and presents `identity`'s
/// certificate, or none.
fn gateway_client(vote: &VoteCluster, identity: Option<&ClientIdentity>) -> reqwest::Client {
    let pem = std::fs::read(&vote.ca_file).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(lbs_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let tls = match identity {
        Some(id) => {
            let cert = std::fs::read(&id.cert_file).unwrap();
            let key = std::fs::read(&id.key_file).unwrap();
            let chain = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls_pemfile::private_key(&mut key.as_slice()).unwrap().unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(Arc::new(tls).as_ref().clone())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_vote_is_three_etcd_members_over_tls_that_decide_by_majority() {
    let dir = tempfile::tempdir().unwrap();
    let mut vote = VoteCluster::start(dir.path());

    // What one member takes, another gives back, to a client of the vote's CA.
    put(&vote, 0, "/lbs/test", "written through PBX A");
    assert_eq!(
        get(&vote, vote.identity(1), 1, "/lbs/test", false).as_deref(),
        Ok("written through PBX A")
    );
    assert_eq!(
        get(&vote, vote.identity(2), 2, "/lbs/test", false).as_deref(),
        Ok("written through PBX A")
    );

    // The same request over TLS, with and without a client certificate: only the first is served.
    let range = serde_json::json!({ "key": "L2xicy90ZXN0" }); // base64 of "/lbs/test"
    let url = format!("{}/v3/kv/range", vote.endpoint(1));
    let with = gateway_client(&vote, Some(vote.identity(0)))
        .post(&url)
        .json(&range)
        .send()
        .await
        .expect("a client with the vote's certificate is served");
    assert!(with.status().is_success(), "{}", with.status());
    let body: serde_json::Value = with.json().await.unwrap();
    assert_eq!(body["count"], "1", "{body}");
    let without = gateway_client(&vote, None).post(&url).json(&range).send().await;
    assert!(
        without.is_err(),
        "a client without a certificate must be refused, got {:?}",
        without.map(|r| r.status())
    );

    // The witness gone (SIGKILL): the two boxes still decide.
    vote.kill(2);
    put(&vote, 0, "/lbs/test", "without the witness");
    assert_eq!(
        get(&vote, vote.identity(1), 1, "/lbs/test", false).as_deref(),
        Ok("without the witness")
    );

    // PBX B gone too: PBX A alone cannot give a linearizable answer; its own copy is still there.
    vote.kill(1);
    let alone = get(&vote, vote.identity(0), 0, "/lbs/test", false);
    assert!(
        alone.is_err(),
        "one member of three answered a linearizable read: {alone:?}"
    );
    assert_eq!(
        get(&vote, vote.identity(0), 0, "/lbs/test", true).as_deref(),
        Ok("without the witness"),
        "a serializable read comes from the member's own copy"
    );

    // Both back with their data: the witness catches up with what it missed.
    vote.restart(1);
    vote.restart(2);
    let value = eventually("the witness to catch up", Duration::from_secs(30), || {
        let v = get(&vote, vote.identity(2), 2, "/lbs/test", false).ok();
        async move { v }
    })
    .await;
    assert_eq!(value, "without the witness");
}

#[tokio::test]
async fn a_frozen_member_is_outvoted_and_a_stopped_one_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut vote = VoteCluster::start(dir.path());
    put(&vote, 0, "/lbs/k", "1");

    // Frozen (SIGSTOP): it holds its sockets but answers nothing; the other two go on.
    vote.freeze(1);
    let frozen = get(&vote, vote.identity(1), 1, "/lbs/k", true);
    assert!(frozen.is_err(), "a frozen member answered: {frozen:?}");
    put(&vote, 2, "/lbs/k", "2");
    vote.thaw(1);
    let caught_up = eventually("the thawed member to catch up", Duration::from_secs(30), || {
        let v = get(&vote, vote.identity(1), 1, "/lbs/k", false)
            .ok()
            .filter(|v| v == "2");
        async move { v }
    })
    .await;
    assert_eq!(caught_up, "2");

    // Stopped (SIGTERM) and started again with its data: the cluster has a leader again.
    vote.stop(0);
    put(&vote, 1, "/lbs/k", "3");
    vote.restart(0);
    vote.wait_for_leader(Duration::from_secs(30));
    assert_eq!(get(&vote, vote.identity(0), 0, "/lbs/k", false).as_deref(), Ok("3"));

    // An agent's [witness] section for box 0 parses and names the three endpoints.
    let text = format!(
        "[server]\nname = \"PBX A\"\nstate_dir = \"/var/lib/x\"\n{}",
        vote.witness_toml(0)
    );
    let config = lbs_agent_core::config::Config::parse(&text, std::path::Path::new("/etc/lbs-agent/agent.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let witness = config.witness.expect("[witness]");
    assert_eq!(witness.cert_file, vote.identity(0).cert_file);
    let endpoints: Vec<String> = witness.members.iter().map(|m| m.endpoint.clone()).collect();
    assert_eq!(endpoints, (0..3).map(|i| vote.endpoint(i)).collect::<Vec<_>>());
}

fn out_text(out: &std::process::Output) -> String {
    text(out)
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn witness_of(agent: &lbs_tests::Agent) -> lbs_agent_core::config::WitnessConfig {
    let config = lbs_agent_core::config::Config::load(&agent.config).unwrap();
    assert!(config.failover.automatic, "automatic failover is on");
    config.witness.expect("[witness] written")
}

/// `lbs-agent witness setup` on two real paired agents (as root would, with etcd's files under
/// a folder per machine instead of /etc), the witness's real script, then the three etcd
/// members started from what they wrote. Three loopback addresses stand for the three machines
/// (Linux answers on all of 127.0.0.0/8), so every member keeps etcd's usual shape: same ports,
/// its own address.
#[tokio::test]
async fn witness_setup_on_both_boxes_makes_a_vote_each_box_reaches() {
    use crate::failover::{box_config, pair_of};
    lbs_tests::vote::require();
    let mut pair = pair_of(|d| box_config(d, "1h", ""), |d| box_config(d, "1h", ""));
    let dir = tempfile::tempdir().unwrap();
    let root = |m: &str| dir.path().join(m);
    let script = dir.path().join("lbs-witness-setup.sh");

    let a = &pair.a;
    let b_config = pair.b.config.clone();
    let (client_port, peer_port) = (lbs_tests::free_port().to_string(), lbs_tests::free_port().to_string());
    let first_cmd = |again: bool| {
        let mut args = vec![
            "witness",
            "setup",
            "--witness",
            "127.0.0.3",
            "--address",
            "127.0.0.1",
            "--partner-address",
            "127.0.0.2",
            "--client-port",
            &client_port,
            "--peer-port",
            &peer_port,
            "--script",
            script.to_str().unwrap(),
        ];
        if again {
            args.push("--again");
        }
        let mut c = std::process::Command::new(lbs_tests::agent_bin());
        c.args(&args)
            .args(["--config", a.config.to_str().unwrap()])
            .env("LBS_WITNESS_ROOT", root("a"));
        c
    };
    let first = |again: bool| first_cmd(again).output().unwrap();
    let on_b = |again: bool| {
        let mut c = std::process::Command::new(lbs_tests::agent_bin());
        c.args(["witness", "setup", "--config", b_config.to_str().unwrap()])
            .env("LBS_WITNESS_ROOT", root("b"));
        if again {
            c.arg("--again");
        }
        c.output().unwrap()
    };
    let run_script = || {
        let out = std::process::Command::new("sh")
            .arg(&script)
            .env("LBS_WITNESS_ROOT", root("witness"))
            .output()
            .unwrap();
        assert!(out.status.success(), "the witness's script: {}", out_text(&out));
    };

    // Only the paired partner may hand B a member of a vote: a stranger's certificate, or none,
    // is refused before the body is read.
    let b = &pair.b;
    let enroll = b.url("/peer/v1/witness/enroll");
    let stranger = lbs_tests::Agent::init("stranger");
    let r = stranger
        .as_partner_of(b)
        .post(&enroll)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .http()
        .post(&enroll)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let received = b.state_dir().join("witness-enrollment.json");
    assert!(!received.exists());

    // B has nothing to install until A has planned the vote.
    let out = on_b(false);
    assert!(!out.status.success());
    assert!(out_text(&out).contains("on PBX A first"), "{}", out_text(&out));

    // With B's agent stopped, A refuses to plan a vote B cannot join, says what to do, and
    // writes nothing.
    pair.b.stop();
    lbs_tests::eventually("A to see B's agent gone", Duration::from_secs(15), || async {
        (!crate::failover::failover(a).await.partner.reachable).then_some(())
    })
    .await;
    let out = first(false);
    let said = out_text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("PBX B does not answer this box's heartbeat"), "{said}");
    assert!(said.contains("systemctl start lbs-agent"), "{said}");
    assert!(!script.exists() && !root("a").exists(), "nothing written");
    let config = lbs_agent_core::config::Config::load(&a.config).unwrap();
    assert!(
        config.witness.is_none() && !config.failover.automatic,
        "no [witness] written"
    );

    // A refused heartbeat is not the verdict (the first one after pairing can be refused while
    // B records the pairing): started while B is still down, the setup waits for B's answer.
    let setup = first_cmd(false)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    pair.b.start();
    let b = &pair.b;
    let out = setup.wait_with_output().unwrap();
    let said = out_text(&out);
    assert!(out.status.success(), "{said}\n{}", crate::failover::trail(a));
    assert!(said.contains("PBX B received its part of the vote"), "{said}");
    assert!(
        said.contains(&format!("scp {} root@127.0.0.3:", script.display())),
        "{said}"
    );
    assert!(said.contains("On PBX B, run:  sudo lbs-agent witness setup"), "{said}");
    assert_eq!(mode(&script), 0o600, "the script holds the witness's key");
    assert_eq!(mode(&received), 0o600);
    let wa = witness_of(a);
    assert_eq!(wa.members[0].name, "PBX A");
    assert_eq!(wa.members[2].endpoint, format!("https://127.0.0.3:{client_port}"));
    assert_eq!(mode(&wa.key_file), 0o600);

    // Again without --again: refused, with what to type.
    let out = first(false);
    assert!(
        !out.status.success() && out_text(&out).contains("--again"),
        "{}",
        out_text(&out)
    );
    // With it: a new vote, whose part B receives again.
    let before = std::fs::read(&received).unwrap();
    let out = first(true);
    assert!(out.status.success(), "{}", out_text(&out));
    assert_ne!(std::fs::read(&received).unwrap(), before, "B received the new vote");
    run_script();

    let out = on_b(false);
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(!received.exists(), "installed, the copy holding the key is gone");
    let wb = witness_of(b);
    assert_eq!(wb.members[0].name, "PBX B", "each box lists itself first");
    assert_eq!(wb.members[2].name, "witness");
    // Nothing new: refused, and --again has nothing to install either.
    for again in [false, true] {
        let out = on_b(again);
        assert!(!out.status.success(), "{}", out_text(&out));
        assert!(out_text(&out).contains("--again` on PBX A"), "{}", out_text(&out));
    }

    // The three members from the files the setup wrote: each box reaches the vote with its own
    // certificate, and what one writes the other reads.
    let mut members: Vec<Etcd> = ["a", "b", "witness"].iter().map(|m| Etcd::start(&root(m))).collect();
    let logs = |members: &[Etcd]| members.iter().map(Etcd::log_text).collect::<Vec<_>>().join("\n---\n");
    let healthy = eventually("the vote to be healthy", Duration::from_secs(30), || {
        let out = etcdctl_for(&wa, &["endpoint", "health"]);
        let ok = out.status.success().then(|| out_text(&out));
        async move { ok }
    })
    .await;
    assert_eq!(
        healthy.matches("is healthy").count(),
        3,
        "{healthy}\n{}",
        logs(&members)
    );
    let put = etcdctl_for(&wa, &["put", "/lbs/setup", "from PBX A"]);
    assert!(put.status.success(), "{}\n{}", out_text(&put), logs(&members));
    let got = etcdctl_for(&wb, &["get", "/lbs/setup", "--print-value-only"]);
    assert_eq!(out_text(&got).trim(), "from PBX A", "{}", logs(&members));
    // The agents' own view (what `witness setup` reports on the partner).
    for w in [&wa, &wb] {
        let answers = lbs_agent_core::witness::health::members(w).await.unwrap();
        assert!(
            lbs_agent_core::witness::health::majority(&answers),
            "{:?}",
            answers.iter().map(|m| m.describe()).collect::<Vec<_>>()
        );
    }
    let member_list = etcdctl_for(&wb, &["member", "list"]);
    assert_eq!(out_text(&member_list).lines().count(), 3, "{}", out_text(&member_list));

    // The witness rebooted: stopped as systemd stops it, started again with its data. It must
    // rejoin, and both boxes' agents see it answer again. Its connections to the other members
    // leave from 127.0.0.1 here, not from the address its certificate names, as they do from a
    // box behind NAT, with a second network card or holding the office's virtual address.
    let clients = [&wa, &wb]
        .map(|w| lbs_agent_core::vote::Vote::open(w, &w.members[0].name, Duration::from_millis(1200)).unwrap());
    let witness_seen = |want: bool| {
        let clients = clients.clone();
        async move {
            let mut seen = Vec::new();
            for c in &clients {
                c.check_members().await;
                seen.push(c.members());
            }
            seen.iter().all(|m| m[2].reachable == want).then_some(seen)
        }
    };
    // B leads etcd, as it does while A is the primary (`keep_leadership_away`), so the witness
    // must be let in by B's member too.
    let status = etcdctl_for(&wb, &["endpoint", "status", "-w", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("endpoint status as JSON");
    let b_id = status
        .as_array()
        .and_then(|all| all.iter().find(|e| e["Endpoint"] == wb.members[0].endpoint.as_str()))
        .and_then(|e| e["Status"]["header"]["member_id"].as_u64())
        .expect("B's member ID");
    let moved = etcdctl_for(&wb, &["move-leader", &format!("{b_id:x}")]);
    assert!(
        moved.status.success() || out_text(&moved).contains("already leader"),
        "{}",
        out_text(&moved)
    );
    members[2].stop();
    eventually(
        "both boxes to see the witness out of reach",
        Duration::from_secs(30),
        || witness_seen(false),
    )
    .await;
    members[2] = Etcd::start(&root("witness"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = etcdctl_for(&wa, &["endpoint", "health"]);
        if out.status.success() && out_text(&out).matches("is healthy").count() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the witness did not rejoin: {}\n{}",
            out_text(&out),
            logs(&members)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = eventually(
        "both boxes to see the witness answer again",
        Duration::from_secs(30),
        || witness_seen(true),
    )
    .await;
    assert!(seen.iter().flatten().all(|m| m.reachable), "{seen:?}");
}

/// The office lab with its witness (10.77.80.5): the vote set up by the real commands on both
/// boxes and the witness's script in its own namespace, three etcd members over the office's
/// switch. Each box reaches all three with its own certificate; the witness cut off leaves the
/// two boxes deciding, and back it catches up.
#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio) with a witness running etcd"]
fn the_lab_office_sets_up_its_vote_with_the_real_commands() {
    use lbs_tests::lab::{wait_for, Lab, Strategy};
    let lab = Lab::up(80);
    let (a, b) = lab.office_with_vote(Strategy::Vip, "1h");
    let said = std::fs::read_to_string(lab.dir.path().join("witness-setup.log")).unwrap();
    assert!(said.contains("PBX B received its part of the vote"), "{said}");
    assert!(said.contains(&format!("root@{}:", lab.ip("witness"))), "{said}");

    for (agent, host) in [(&a, "a"), (&b, "b")] {
        let w = witness_of(agent);
        assert_eq!(w.cert_file, lab.vote_root(host).join("etc/lbs-vote/member.pem"));
        assert_eq!(mode(&w.key_file), 0o600);
        let endpoints: Vec<&str> = w.members.iter().map(|m| m.endpoint.as_str()).collect();
        assert!(
            endpoints.contains(&format!("https://{}:2379", lab.ip("witness")).as_str()),
            "{endpoints:?}"
        );
        assert_eq!(lab.vote_healthy(host), 3, "all three answer {host}'s certificate");
    }
    let list = lab.etcdctl("a", &["member", "list"]);
    let list = out_text(&list);
    assert_eq!(list.lines().filter(|l| l.contains("started")).count(), 3, "{list}");
    for name in ["pbx-a", "pbx-b", "witness"] {
        assert!(list.contains(name), "{list}");
    }

    // What A writes, B and the witness read, each with its own certificate. A proposal can time
    // out on a loaded machine ("request timed out"); any etcd client tries again.
    wait_for("a write through A", Duration::from_secs(30), || {
        lab.etcdctl("a", &["put", "/lbs/lab", "one"]).status.success()
    });
    for host in ["b", "witness"] {
        let got = lab.etcdctl(host, &["get", "/lbs/lab", "--print-value-only"]);
        assert_eq!(out_text(&got).trim(), "one", "read from {host}");
    }

    // The witness cut off the office: the two boxes still decide, the witness alone does not.
    lab.cut("witness");
    wait_for("a write without the witness", Duration::from_secs(20), || {
        lab.etcdctl("a", &["put", "/lbs/lab", "two"]).status.success()
    });
    assert_eq!(
        lab.vote_healthy("b"),
        2,
        "the witness's member does not answer the boxes"
    );
    let alone = lab.etcdctl("witness", &["get", "/lbs/lab", "--consistency=l"]);
    assert!(
        !alone.status.success(),
        "a member cut off answered: {}",
        out_text(&alone)
    );
    // Back on the switch: it catches up with what it missed.
    lab.heal("witness");
    let witness_only = format!("--endpoints=https://{}:2379", lab.ip("witness"));
    wait_for("the witness to catch up", Duration::from_secs(30), || {
        let got = lab.etcdctl("witness", &["get", "/lbs/lab", "--print-value-only", &witness_only]);
        got.status.success() && out_text(&got).trim() == "two"
    });

    // A's member killed (as etcd dying on the primary): B and the witness still decide; started
    // again with its data, it rejoins.
    lab.vote("kill", "a");
    wait_for("a write without A's member", Duration::from_secs(20), || {
        lab.etcdctl("b", &["put", "/lbs/lab", "three"]).status.success()
    });
    lab.vote("start", "a");
    wait_for("A's member back", Duration::from_secs(30), || {
        lab.vote_healthy("a") == 3
    });
    drop((a, b));
}

/// The agent's own vote client sees a member go and come back: stopped (SIGTERM) and started
/// again with its data, and frozen (SIGSTOP) then thawed. A witness box rebooted must read
/// "answers" again on both servers, not "out of reach" until the agent restarts.
#[tokio::test]
async fn the_agents_vote_client_sees_a_member_come_back() {
    use lbs_agent_core::vote::Vote;
    let dir = tempfile::tempdir().unwrap();
    let mut vote = VoteCluster::start(dir.path());
    let text = format!(
        "[server]\nname = \"PBX A\"\nstate_dir = \"/var/lib/x\"\n{}",
        vote.witness_toml(0)
    );
    let config = lbs_agent_core::config::Config::parse(&text, std::path::Path::new("/etc/lbs-agent/agent.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let client = Vote::open(
        &config.witness.expect("[witness]"),
        "PBX A",
        Duration::from_millis(1200),
    )
    .unwrap();
    let witness_seen = |want: bool| {
        let client = client.clone();
        async move {
            client.check_members().await;
            let members = client.members();
            (members[2].reachable == want).then_some(members)
        }
    };
    eventually("every member to answer", Duration::from_secs(30), || witness_seen(true)).await;

    vote.stop(2);
    eventually(
        "the stopped witness to read out of reach",
        Duration::from_secs(30),
        || witness_seen(false),
    )
    .await;
    vote.restart(2);
    vote.wait_for_leader(Duration::from_secs(30));
    let members = eventually("the restarted witness to answer again", Duration::from_secs(30), || {
        witness_seen(true)
    })
    .await;
    assert!(members.iter().all(|m| m.reachable), "{members:?}");
    assert!(client.leader().await.is_ok(), "a majority answers with all three back");

    vote.freeze(2);
    eventually(
        "the frozen witness to read out of reach",
        Duration::from_secs(30),
        || witness_seen(false),
    )
    .await;
    vote.thaw(2);
    eventually("the thawed witness to answer again", Duration::from_secs(30), || {
        witness_seen(true)
    })
    .await;
}
