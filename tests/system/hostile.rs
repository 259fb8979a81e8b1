//! Hostile clients against a running pair: each attack runs from a loopback address of its own
//! (see `lbs_tests::hostile`) while the partner (and the console) use 127.0.0.1, and each test
//! asserts the agent stays up with bounded memory, the partner's heartbeat and sync and the
//! console's requests are still served, and the attacker gets nowhere.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::ApiError;
use lbs_tests::hostile::{self, loopback, Attack, Tally, Target};
use lbs_tests::{eventually, proc_usage, Agent};
use tokio::io::AsyncWriteExt;

use crate::failover::{box_config, failover, pair_of, voicemail, Pair};

fn paired() -> Pair {
    // The attacks open thousands of sockets; the agents this starts inherit the limit (the
    // packaged unit sets LimitNOFILE=65536).
    hostile::raise_open_files();
    pair_of(|d| box_config(d, "0s", ""), |d| box_config(d, "0s", ""))
}

/// Starts `attack` on `agent` from `127.0.0.from`; stopped when the handle is dropped.
struct Running {
    tally: Arc<Tally>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(attack: Attack, agent: &Agent, from: u8) -> Running {
        let target = Arc::new(Target {
            from: loopback(from),
            to: agent.address().parse().unwrap(),
            pin: agent.link.fingerprint.clone(),
            token: agent.link.token.clone(),
        });
        let tally = Arc::new(Tally::default());
        let (stop, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(hostile::run(attack, target, tally.clone(), rx));
        Running { tally, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The agent's resident memory in MiB.
fn rss_mib(agent: &Agent) -> f64 {
    proc_usage(agent.pid().expect("running")).map_or(0.0, |(_, kib)| kib as f64 / 1024.0)
}

/// The partner and the console are still served, on new connections, while an attack runs:
/// five requests of each in a row, each answered within 10 s (no retry: a console or a partner let
/// in only now and then, when the attacker's connections happen to be reclaimed, is shut out);
/// then A's heartbeat with B after `since`, and a voicemail written on A arrives on B.
async fn still_served(p: &Pair, since_unix: i64, tag: &str) {
    for i in 0..5 {
        let r =
            p.a.http()
                .get(p.a.url("/api/v1/status"))
                .bearer_auth(&p.a.link.token)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
        assert!(
            r.as_ref().is_ok_and(|r| r.status() == 200),
            "the console's status on a new connection ({i}): {r:?}"
        );
        let r =
            p.b.as_partner_of(&p.a)
                .get(p.a.url("/peer/v1/inventory"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
        assert!(
            r.as_ref().is_ok_and(|r| r.status() == 200),
            "the partner's request on a new connection ({i}): {r:?}"
        );
    }
    eventually("A's heartbeat with B", Duration::from_secs(60), || async {
        let f = failover(&p.a).await;
        (f.partner.reachable && f.partner.last_contact_unix.is_some_and(|t| t > since_unix)).then_some(())
    })
    .await;
    let name = format!("msg-{tag}.txt");
    std::fs::write(voicemail(&p.a).join(&name), format!("voicemail during {tag}")).unwrap();
    eventually("the voicemail on B", Duration::from_secs(60), || async {
        std::fs::read(voicemail(&p.b).join(&name))
            .ok()
            .filter(|c| !c.is_empty())
    })
    .await;
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The partner's requests on new connections, each tried once (10 s at most), all served.
async fn partner_served(p: &Pair, requests: usize, during: &str) {
    for i in 0..requests {
        let r =
            p.b.as_partner_of(&p.a)
                .get(p.a.url("/peer/v1/inventory"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
        assert!(
            r.as_ref().is_ok_and(|r| r.status() == 200),
            "the partner's request on a new connection ({i}) during {during}: {r:?}"
        );
    }
}

/// Whether an attack has taken effect: it holds its share (32 connections) or was refused.
fn in_effect(tally: &Tally) -> bool {
    tally.held.load(Ordering::Relaxed) >= 32 || tally.refused.load(Ordering::Relaxed) > 0
}

/// The heartbeat must have answered before an attack: "still served" then means "not shut
/// out" (and the agent has seen the partner's address).
async fn reachable_before(p: &Pair) {
    eventually(
        "the pair reachable before the attack",
        Duration::from_secs(30),
        || async { failover(&p.a).await.partner.reachable.then_some(()) },
    )
    .await;
}

/// Runs `attack` against A until it has taken effect, checks the pair is still served
/// meanwhile, and returns the attack's tally and A's memory during it.
async fn under(p: &Pair, attack: Attack) -> (Arc<Tally>, f64) {
    reachable_before(p).await;
    let running = Running::start(attack, &p.a, 2);
    let tally = running.tally.clone();
    eventually(
        &format!("{} in effect", attack.name()),
        Duration::from_secs(60),
        || async { in_effect(&tally).then_some(()) },
    )
    .await;
    let since = now_unix();
    still_served(p, since, &format!("{attack:?}").replace(['(', ')'], "")).await;
    let rss = rss_mib(&p.a);
    running.stop().await;
    assert!(
        p.a.pid().is_some_and(|pid| proc_usage(pid).is_some()),
        "the agent died: {}",
        p.a.log()
    );
    eprintln!(
        "{}: {} attempts, {} refused or cut, agent RSS {rss:.1} MiB",
        attack.name(),
        tally.attempts.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed)
    );
    (tally, rss)
}

const RSS_BOUND_MIB: f64 = 200.0;

/// Under `attack` from one address the pair carries on (see `under`), the agent refuses some of
/// its connections, and its memory stays bounded.
async fn floods_are_refused_and_memory_stays_bounded(attack: Attack) {
    let p = paired();
    let (tally, rss) = under(&p, attack).await;
    assert!(
        tally.refused.load(Ordering::Relaxed) > 0,
        "the agent refused none of them"
    );
    assert!(rss < RSS_BOUND_MIB, "RSS {rss} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_idle_tls_connections_from_one_address_shut_out_neither_the_partner_nor_the_console() {
    floods_are_refused_and_memory_stays_bounded(Attack::IdleTls(1000)).await;
}

/// A device sharing the partner's address (127.0.0.1) holds a thousand half-open connections and
/// reconnects in a tight loop: the partner, known by the address it was seen at, still gets each
/// new connection at the first try; so does a console on another address.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_from_the_partners_own_address_does_not_shut_the_partner_out() {
    let p = paired();
    reachable_before(&p).await;
    let held = Running::start(Attack::HalfOpen(1000), &p.a, 1);
    let tight = Running::start(Attack::HalfOpenTight(32), &p.a, 1);
    let (a, b) = (held.tally.clone(), tight.tally.clone());
    // In effect once connections of the flood are closed: its handshakes fill the places of the
    // partner's address and the oldest silent ones are dropped (or time out).
    eventually(
        "the flood from 127.0.0.1 in effect",
        Duration::from_secs(60),
        || async {
            let closed = a.refused.load(Ordering::Relaxed) + b.refused.load(Ordering::Relaxed);
            (closed > 0).then_some(())
        },
    )
    .await;
    partner_served(&p, 5, "a flood from its own address").await;
    let target = Target {
        from: loopback(3),
        to: p.a.address().parse().unwrap(),
        pin: p.a.link.fingerprint.clone(),
        token: p.a.link.token.clone(),
    };
    let r = hostile::client_from(&target)
        .get(p.a.url("/api/v1/status"))
        .bearer_auth(&p.a.link.token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a console on another address");
    assert_eq!(r.status(), 200);
    eprintln!(
        "from 127.0.0.1: {} half-open held, {} tight reconnections",
        a.held.load(Ordering::Relaxed),
        b.attempts.load(Ordering::Relaxed)
    );
    held.stop().await;
    tight.stop().await;
}

/// One device with many addresses (127.0.0.10 to .30), each holding half-open connections and
/// reconnecting at once, fills the shared pools of handshakes: the partner has places of its own
/// and gets each new connection at the first try.
#[tokio::test(flavor = "multi_thread")]
async fn an_attack_spread_over_many_addresses_does_not_shut_the_partner_out() {
    let p = paired();
    reachable_before(&p).await;
    let attacks: Vec<Running> = (10..=30)
        .map(|from| Running::start(Attack::HalfOpenTight(24), &p.a, from))
        .collect();
    eventually("the shared pools refusing", Duration::from_secs(60), || async {
        let refused: u64 = attacks.iter().map(|r| r.tally.refused.load(Ordering::Relaxed)).sum();
        (refused > 0).then_some(())
    })
    .await;
    partner_served(&p, 5, "an attack from 21 addresses").await;
    for a in attacks {
        a.stop().await;
    }
    assert!(
        p.a.pid().is_some_and(|pid| proc_usage(pid).is_some()),
        "the agent died: {}",
        p.a.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let mut agent = Agent::init("idle");
    agent.start();
    let to = agent.address().parse().unwrap();
    let mut tls = hostile::tls_from(loopback(4), to, &agent.link.fingerprint)
        .await
        .unwrap();
    let started = Instant::now();
    assert!(
        hostile::closed_within(&mut tls, Duration::from_secs(60)).await,
        "an idle connection is kept"
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(10), "closed after only {took:?}");
    // A kept-alive connection after an answer is reclaimed the same way.
    let mut tls = hostile::tls_from(loopback(4), to, &agent.link.fingerprint)
        .await
        .unwrap();
    let req = hostile::head("GET", "/healthz", None) + "\r\n";
    tls.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(hostile::status_of(&mut tls, Duration::from_secs(10)).await, Some(200));
    assert!(
        hostile::closed_within(&mut tls, Duration::from_secs(60)).await,
        "an idle keep-alive connection is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_half_open_connections_shut_out_no_one() {
    floods_are_refused_and_memory_stays_bounded(Attack::HalfOpen(1000)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_garbage_is_dropped_and_the_pair_carries_on() {
    let p = paired();
    let (tally, rss) = under(&p, Attack::Garbage).await;
    assert!(
        tally.refused.load(Ordering::Relaxed) >= 200,
        "garbage connections were kept open"
    );
    assert!(rss < RSS_BOUND_MIB, "RSS {rss} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_without_end_are_cut_short() {
    let p = paired();
    let to = p.a.address().parse().unwrap();
    // 100 KB of headers (over the agent's 64 KiB, under hyper's default of ~400 KB), and 120
    // headers (over hyper's 100): refused with 431.
    let long = hostile::head("GET", "/api/v1/status", Some(&p.a.link.token))
        + &format!("X-Long: {}\r\n\r\n", "a".repeat(100_000));
    let many = hostile::head("GET", "/api/v1/status", Some(&p.a.link.token))
        + &(0..120).map(|i| format!("X-Many-{i}: {i}\r\n")).collect::<String>()
        + "\r\n";
    for (what, request) in [("100 KB of headers", long), ("120 headers", many)] {
        let mut tls = hostile::tls_from(loopback(2), to, &p.a.link.fingerprint).await.unwrap();
        let _ = tls.write_all(request.as_bytes()).await;
        assert_eq!(
            hostile::status_of(&mut tls, Duration::from_secs(10)).await,
            Some(431),
            "{what}"
        );
    }
    // And headers that never end, on 20 connections at once, again and again.
    let (tally, rss) = under(&p, Attack::EndlessHeaders(20)).await;
    assert!(tally.refused.load(Ordering::Relaxed) > 0);
    assert!(rss < RSS_BOUND_MIB, "RSS {rss} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_headers_are_cut_by_the_header_timeout() {
    let mut agent = Agent::init("slow-headers");
    agent.start();
    let to = agent.address().parse().unwrap();
    let mut tls = hostile::tls_from(loopback(5), to, &agent.link.fingerprint)
        .await
        .unwrap();
    let request = hostile::head("GET", "/api/v1/status", Some(&agent.link.token)) + "X-Slow: ";
    let started = Instant::now();
    let mut cut = false;
    for b in request.bytes().chain(std::iter::repeat(b'a')).take(120) {
        if tls.write_all(&[b]).await.is_err() || hostile::closed_within(&mut tls, Duration::from_millis(500)).await {
            cut = true;
            break;
        }
    }
    assert!(cut, "a byte-every-half-second header was read for 60 s");
    assert!(started.elapsed() < Duration::from_secs(45), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_sent_a_byte_a_second_is_cut_and_answered_in_json() {
    let mut agent = Agent::init("slow-body");
    agent.start();
    let to = agent.address().parse().unwrap();
    let mut tls = hostile::tls_from(loopback(6), to, &agent.link.fingerprint)
        .await
        .unwrap();
    let request = hostile::head("POST", "/api/v1/tokens", Some(&agent.link.token))
        + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"role\":\"viewer\",\"label\":\"";
    tls.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut status = None;
    // 1 byte a second for up to 60 s: without a body timeout the agent would wait for all 1000.
    for _ in 0..60 {
        if tls.write_all(b"a").await.is_err() {
            break;
        }
        if let Some(s) = hostile::status_of(&mut tls, Duration::from_secs(1)).await {
            status = Some(s);
            break;
        }
    }
    assert_eq!(
        status,
        Some(400),
        "no answer to a body a byte a second after {:?}",
        started.elapsed()
    );
    assert!(agent.get("/api/v1/status", &agent.link.token).await.status() == 200);
}

/// Every route of the agent: (path, methods, what its body is). The test checks this list against
/// the routes in crates/lbs-agent/src/http (so a new route cannot be forgotten) and against the
/// running agent (so the methods are right).
#[derive(Clone, Copy)]
enum Takes {
    /// No body: only wrong methods (and, for a GET, a garbage query) are sent.
    Nothing,
    /// A JSON body with these methods: garbage, truncated and wrongly-typed JSON, and 3 MB of
    /// it, are sent (never to a method without a body: it would act).
    Json(&'static [&'static str]),
    /// A raw file with a query string (`/peer/v1/restore`): a garbage query is sent.
    Raw,
}

const ROUTES: &[(&str, &[&str], Takes)] = &[
    ("/healthz", &["GET"], Takes::Nothing),
    ("/api/v1/status", &["GET"], Takes::Nothing),
    ("/api/v1/health", &["GET"], Takes::Nothing),
    ("/api/v1/alerts", &["GET"], Takes::Nothing),
    ("/api/v1/alerts/test", &["POST"], Takes::Nothing),
    ("/api/v1/metrics", &["GET"], Takes::Nothing),
    ("/api/v1/metrics/series", &["GET"], Takes::Nothing),
    ("/api/v1/metrics/history", &["GET"], Takes::Nothing),
    ("/api/v1/sync", &["GET"], Takes::Nothing),
    ("/api/v1/pair", &["POST", "DELETE"], Takes::Json(&["POST"])),
    ("/api/v1/promote", &["POST"], Takes::Json(&["POST"])),
    ("/api/v1/demote", &["POST"], Takes::Json(&["POST"])),
    ("/api/v1/switchover", &["POST"], Takes::Json(&["POST"])),
    ("/api/v1/quarantine/restore", &["POST"], Takes::Json(&["POST"])),
    ("/api/v1/failover", &["GET"], Takes::Nothing),
    ("/api/v1/events", &["GET"], Takes::Nothing),
    ("/api/v1/quarantine", &["GET"], Takes::Nothing),
    ("/api/v1/trash", &["GET"], Takes::Nothing),
    ("/api/v1/trash/restore", &["POST"], Takes::Json(&["POST"])),
    (
        "/api/v1/maintenance",
        &["GET", "POST", "DELETE"],
        Takes::Json(&["POST", "DELETE"]),
    ),
    ("/api/v1/autopilot", &["GET", "PUT"], Takes::Json(&["PUT"])),
    ("/api/v1/partner/link", &["POST"], Takes::Nothing),
    ("/api/v1/tokens", &["GET", "POST"], Takes::Json(&["POST"])),
    ("/api/v1/tokens/{id}", &["DELETE"], Takes::Nothing),
    ("/peer/v1/pair", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/changes", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/content", &["GET"], Takes::Nothing),
    ("/peer/v1/bundle", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/heartbeat", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/handover", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/switchover", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/hashes", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/link", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/maintenance", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/inventory", &["GET"], Takes::Nothing),
    ("/peer/v1/witness/enroll", &["POST"], Takes::Json(&["POST"])),
    ("/peer/v1/restore", &["POST"], Takes::Raw),
];

/// The route paths declared in the agent's source (`.route("…"` in crates/lbs-agent/src/http).
fn routes_in_source() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/lbs-agent/src/http");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let prefix = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs") => "",
            Some("peer.rs") => lbs_protocol::PEER_PREFIX,
            _ => lbs_protocol::API_PREFIX,
        };
        for (i, _) in text.match_indices(".route(") {
            let rest = text[i + ".route(".len()..].trim_start();
            let route = if let Some(lit) = rest.strip_prefix('"') {
                lit[..lit.find('"').unwrap()].to_owned()
            } else if rest.starts_with("lbs_protocol::INVENTORY_ROUTE") {
                lbs_protocol::INVENTORY_ROUTE.to_owned()
            } else if rest.starts_with("lbs_protocol::WITNESS_ENROLL_ROUTE") {
                lbs_protocol::WITNESS_ENROLL_ROUTE.to_owned()
            } else {
                panic!(
                    "{}: a route whose path this test cannot read: {}",
                    path.display(),
                    &rest[..40.min(rest.len())]
                );
            };
            found.insert(format!("{prefix}{route}"));
        }
    }
    found
}

#[test]
fn the_route_list_of_the_hostile_tests_is_every_route_of_the_agent() {
    let listed: BTreeSet<String> = ROUTES.iter().map(|(p, _, _)| p.to_string()).collect();
    assert_eq!(
        listed,
        routes_in_source(),
        "tests/system/hostile.rs ROUTES differs from the agent's routes: add the new route there"
    );
}

/// The answer must be a 4xx with our JSON error.
fn json_4xx(what: &str, status: reqwest::StatusCode, body: &str) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    let e: ApiError = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: {status}, not our JSON: {body:?}"));
    assert!(!e.message.is_empty(), "{what}: an empty message");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_garbage_wrong_methods_and_oversized_bodies_with_a_json_4xx() {
    let p = paired();
    let console = p.a.http();
    let partner = p.b.as_partner_of(&p.a);
    let token = p.a.link.token.clone();
    let garbage: &[(&str, &[u8])] = &[
        ("garbage", b"\x00\xff not json at all {{{"),
        ("truncated", b"{\"for_secs\": 7200, \"reason\": \"upgr"),
        ("an array", b"[1, 2, 3]"),
        ("a string", b"\"promote\""),
        ("a number", b"42"),
        ("null", b"null"),
        ("deep", &[b'['; 100_000]),
    ];
    let big = vec![b' '; 3 << 20];
    let all_methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    for &(path, methods, takes) in ROUTES {
        let concrete = path.replace("{id}", "abc");
        let url = p.a.url(&concrete);
        let client = if path.starts_with("/peer/") { &partner } else { &console };
        let send = |method: &str, body: Option<Vec<u8>>, query: &str| {
            // An oversized body is answered before it is all read and the connection closed:
            // sent on a connection of its own, so the next request does not race that close.
            let own;
            let client = if body.as_ref().is_some_and(|b| b.len() > 1 << 20) {
                own = if path.starts_with("/peer/") {
                    p.b.as_partner_of(&p.a)
                } else {
                    p.a.http()
                };
                &own
            } else {
                client
            };
            let mut r = client
                .request(method.parse().unwrap(), format!("{url}{query}"))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(60));
            if let Some(b) = body {
                r = r.header("content-type", "application/json").body(b);
            }
            async move {
                let r = r.send().await.expect("an answer");
                let status = r.status();
                (status, r.text().await.unwrap_or_default())
            }
        };
        for method in all_methods.iter().filter(|m| !methods.contains(m)) {
            let (status, body) = send(method, None, "").await;
            assert_eq!(status, 405, "{method} {path}: {body}");
            json_4xx(&format!("{method} {path}"), status, &body);
        }
        match takes {
            Takes::Json(with_body) => {
                for method in with_body {
                    for (what, bytes) in garbage {
                        let (status, body) = send(method, Some(bytes.to_vec()), "").await;
                        json_4xx(&format!("{method} {path} with {what}"), status, &body);
                    }
                    let (status, body) = send(method, Some(big.clone()), "").await;
                    json_4xx(&format!("{method} {path} with 3 MB"), status, &body);
                }
            }
            Takes::Raw => {
                let (status, body) =
                    send("POST", Some(b"content".to_vec()), "?category=%00&path=../../etc/passwd").await;
                json_4xx(&format!("POST {path} with a garbage query"), status, &body);
            }
            Takes::Nothing => {
                if methods.contains(&"GET") {
                    let (status, body) = send("GET", None, "?limit=-1&since=yesterday&path=..%2F..&from=%zz").await;
                    if status.is_client_error() {
                        json_4xx(&format!("GET {path} with a garbage query"), status, &body);
                    } else {
                        assert!(status.is_success(), "GET {path} with a garbage query: {status} {body}");
                    }
                }
            }
        }
    }
    // Without credentials, every route but the health probe says so in JSON (each from an
    // address of its own: failures from one address are slowed, which is another test's).
    for (i, &(path, methods, _)) in ROUTES.iter().filter(|r| r.0 != "/healthz").enumerate() {
        let stranger = hostile::client_from(&Target {
            from: loopback(20 + i as u8),
            to: p.a.address().parse().unwrap(),
            pin: p.a.link.fingerprint.clone(),
            token: String::new(),
        });
        let url = p.a.url(&path.replace("{id}", "abc"));
        let r = stranger.request(methods[0].parse().unwrap(), url).send().await.unwrap();
        let status = r.status();
        json_4xx(
            &format!("{} {path} without credentials", methods[0]),
            status,
            &r.text().await.unwrap(),
        );
    }
    still_served(&p, now_unix(), "garbage").await;
    let rss = rss_mib(&p.a);
    assert!(rss < RSS_BOUND_MIB, "RSS {rss} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn guessed_tokens_are_slowed_and_logged_and_the_real_console_is_served_meanwhile() {
    let mut agent = Agent::init("guessing");
    agent.start();
    let target = Target {
        from: loopback(7),
        to: agent.address().parse().unwrap(),
        pin: agent.link.fingerprint.clone(),
        token: agent.link.token.clone(),
    };
    let guesser = hostile::client_from(&target);
    let wrong = |n: u32| format!("lbs_wrong{n:08}guess");
    let mut took = Vec::new();
    for n in 0..11 {
        let started = Instant::now();
        let r = guesser
            .get(agent.url("/api/v1/status"))
            .bearer_auth(wrong(n))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        took.push(started.elapsed());
    }
    // The 6th to the 11th wait 0.1, 0.2, 0.4, 0.8, 1.6 and 2 s.
    assert!(
        took[10] >= Duration::from_millis(1500),
        "the 11th guess took {:?}",
        took[10]
    );
    let total: Duration = took.iter().sum();
    assert!(total >= Duration::from_secs(4), "11 guesses took {total:?}");

    // Guessing on 8 connections at once: one failure waits its 2 s, the others are answered 429
    // at once, while the real token is served at once from another address and from the
    // guesser's own.
    let running = Running::start(Attack::Guessing(8), &agent, 7);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for from in [1, 7] {
        let t = Target {
            from: loopback(from),
            ..Target {
                from: target.from,
                to: target.to,
                pin: target.pin.clone(),
                token: target.token.clone(),
            }
        };
        let started = Instant::now();
        let r = hostile::client_from(&t)
            .get(agent.url("/api/v1/status"))
            .bearer_auth(&agent.link.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The guesses queued before it take 8 × 2 s: this must not wait for them.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "from 127.0.0.{from}: {:?}",
            started.elapsed()
        );
    }
    // Only one guess at a time waits: the others are answered 429 at once, holding nothing.
    let throttled = running.tally.throttled.load(Ordering::Relaxed);
    running.stop().await;
    assert!(throttled > 0, "no guess was answered 429 while another waited");
    // Two at once (once the attack's last waiting failure is done): one waits its 2 s and gets
    // 401, the other is answered 429 at once, in JSON, closing its connection.
    let send = |n| {
        let c = hostile::client_from(&target);
        let url = agent.url("/api/v1/status");
        async move {
            let started = Instant::now();
            let r = c.get(url).bearer_auth(wrong(n)).send().await.unwrap();
            (r, started.elapsed())
        }
    };
    eventually("no failure of the guesser waiting", Duration::from_secs(30), || async {
        (send(100).await.0.status() == 401).then_some(())
    })
    .await;
    let ((a, took_a), (b, took_b)) = tokio::join!(send(101), send(102));
    let ((r, took), other) = if a.status() == 429 {
        ((a, took_a), b)
    } else {
        ((b, took_b), a)
    };
    assert_eq!(
        (r.status(), other.status()),
        (
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            reqwest::StatusCode::UNAUTHORIZED
        )
    );
    assert!(took < Duration::from_secs(2), "the 429 took {took:?}");
    assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
    assert_eq!(r.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    let body: ApiError = serde_json::from_str(&r.text().await.unwrap()).expect("a JSON error");
    assert_eq!(body.code, "too_many_requests");

    let log = agent.log();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("failed access tokens"))
        .collect();
    assert!(!warned.is_empty(), "no warning of the guessing in the log");
    assert!(
        warned[0].contains("127.0.0.7") && warned[0].contains("failures=6"),
        "{}",
        warned[0]
    );
    assert!(!log.contains("lbs_wrong"), "a guessed token is in the log");
    // Rate-limited: one line for the whole run (within a minute).
    assert_eq!(warned.len(), 1, "{warned:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_that_is_not_the_partners_is_slowed_and_logged_while_the_partner_is_served() {
    let p = paired();
    let stranger = Agent::init("stranger");
    // The stranger's own certificate, from 127.0.0.8.
    let read = |f: &str| std::fs::read(stranger.state_dir().join(f)).unwrap();
    let cert = rustls_pemfile::certs(&mut read("tls/cert.pem").as_slice())
        .next()
        .unwrap()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut read("tls/key.pem").as_slice())
        .unwrap()
        .unwrap();
    let tls = lbs_tls::mutual_client_config(p.a.link.fingerprint.clone(), Default::default(), cert, key).unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .local_address(loopback(8))
        .build()
        .unwrap();
    let since = now_unix();
    let mut last = Duration::ZERO;
    for _ in 0..11 {
        let started = Instant::now();
        let r = client
            .post(p.a.url("/peer/v1/heartbeat"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        json_4xx("a stranger's heartbeat", status, &r.text().await.unwrap());
        assert_eq!(status, 403);
        last = started.elapsed();
    }
    assert!(last >= Duration::from_millis(1500), "the 11th try took {last:?}");
    still_served(&p, since, "stranger").await;
    let log = p.a.log();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("127.0.0.8")
            && l.contains("certificate that is not the partner's")),
        "no warning of the stranger in the log"
    );
}
