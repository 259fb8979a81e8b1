//! The vote automatic failover stands on: three real etcd members over TLS with client
//! certificates (`lbs_tests::vote::VoteCluster`). Proves what the autopilot relies on: what one
//! member takes another gives back, only a client with a certificate of the vote's CA is
//! served, two members of three still decide, and one alone refuses a linearizable read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_tests::eventually;
use lbs_tests::vote::{ClientIdentity, VoteCluster};

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
