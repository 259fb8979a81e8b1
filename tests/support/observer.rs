//! The independent observer of the office lab: it trusts nobody. Every 50 ms, from the phones'
//! network (the lab's phone namespace), it
//! - sends SIP OPTIONS to the phones' address — the floating address (vip), or the PBX name
//!   looked up at the office DNS server as a phone would (dns) — and notes which box answered
//!   (`X-LBS-Box`, which the lab's kamailio adds);
//! - sends SIP OPTIONS to each box's own address: a PBX that answers there can be reached by a
//!   phone (any phone that still has that address from an earlier lookup, with dns);
//! - asks each box's agent which role it claims (`GET /api/v1/failover`, pinned TLS, a token);
//!   an agent that does not answer within the sample counts as unknown.
//!
//! Each round's answers are one `Sample`; `Observer::stop` turns the timeline into a `Report`:
//!
//! - **dual answer**: a sample in which the PBXs of both boxes answered SIP from the phones'
//!   network (at the phones' address or at their own address). With a floating address only the
//!   primary runs its PBX, so two answering means two PBXs serving phones; with DNS it is the
//!   split the name cannot prevent (phones that looked the name up before the change keep
//!   calling the other box). Either way the office is split: the count must be 0. Samples in
//!   which both agents claim the primary role are counted too (`both_claim_primary`), and those
//!   that are also dual answers say so: two agents claiming it while only one PBX can be reached
//!   (a primary cut off from everything) splits no phone.
//! - **changes**: the moments the box answering at the phones' address changed (the first
//!   sample answered by the new box), unanswered samples in between skipped.
//! - **longest gap**: the longest time without an answer at the phones' address, between two
//!   answered samples (or from the start, or until the end), in send times.
//!
//! A fault-matrix test starts it, runs a fault, stops it and asserts on the report; the benchmark
//! prints it (`Display`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lbs_agent_core::failover::address::dns;
use lbs_agent_core::failover::sip;
use lbs_protocol::{FailoverStatus, Role};

use crate::lab::{now_ms, Lab, Strategy};
use crate::Agent;

/// How often the observer samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long one sample waits for its answers (OPTIONS is resent once at 200 ms).
const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// The role an agent claims, as the observer heard it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Primary,
    Backup,
    /// The agent did not answer (down, cut off, or too slow for the sample).
    Unknown,
}

/// One round of questions, sent at `t_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub t_ms: u64,
    /// The box that answered OPTIONS at the phones' address, if any.
    pub at_address: Option<String>,
    /// The address the phones' address stood for (after the lookup, with dns).
    pub asked: Option<IpAddr>,
    /// Per box: whether its PBX answered at the box's own address.
    pub own: BTreeMap<String, bool>,
    /// Per box: the role its agent claims.
    pub claims: BTreeMap<String, Claim>,
}

impl Sample {
    /// The boxes whose PBX answered from the phones' network in this sample.
    pub fn answering(&self) -> Vec<String> {
        let mut boxes: Vec<String> = self
            .own
            .iter()
            .filter(|(_, answered)| **answered)
            .map(|(b, _)| b.clone())
            .collect();
        if let Some(b) = &self.at_address {
            if !boxes.contains(b) {
                boxes.push(b.clone());
            }
        }
        boxes.sort();
        boxes
    }

    fn both_claim_primary(&self) -> bool {
        self.claims.values().filter(|c| **c == Claim::Primary).count() >= 2
    }
}

/// A sample where two PBXs answered the phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DualAnswer {
    pub t_ms: u64,
    pub boxes: Vec<String>,
    /// Whether both agents also claimed the primary role then.
    pub both_claimed_primary: bool,
}

/// The answering box changed at `t_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub t_ms: u64,
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub strategy: Strategy,
    pub started_ms: u64,
    pub stopped_ms: u64,
    pub samples: Vec<Sample>,
    pub dual_answers: Vec<DualAnswer>,
    /// Samples in which both agents claimed the primary role.
    pub both_claim_primary: usize,
    pub changes: Vec<Change>,
    /// The longest time without an answer at the phones' address: (from, to) in unix ms.
    pub longest_gap: (u64, u64),
}

impl Report {
    /// The timeline read as described in the module's documentation.
    pub fn new(strategy: Strategy, started_ms: u64, stopped_ms: u64, mut samples: Vec<Sample>) -> Report {
        samples.sort_by_key(|s| s.t_ms);
        let dual_answers = samples
            .iter()
            .filter(|s| s.answering().len() >= 2)
            .map(|s| DualAnswer {
                t_ms: s.t_ms,
                boxes: s.answering(),
                both_claimed_primary: s.both_claim_primary(),
            })
            .collect();
        let both_claim_primary = samples.iter().filter(|s| s.both_claim_primary()).count();
        let mut changes = Vec::new();
        let mut current: Option<&String> = None;
        for s in &samples {
            if let Some(b) = &s.at_address {
                if current != Some(b) {
                    changes.push(Change {
                        t_ms: s.t_ms,
                        from: current.cloned(),
                        to: b.clone(),
                    });
                    current = Some(b);
                }
            }
        }
        let mut longest_gap = (started_ms, started_ms);
        let mut last = started_ms;
        let answered = samples.iter().filter(|s| s.at_address.is_some()).map(|s| s.t_ms);
        for t in answered.chain(std::iter::once(stopped_ms)) {
            if t.saturating_sub(last) > longest_gap.1 - longest_gap.0 {
                longest_gap = (last, t);
            }
            last = last.max(t);
        }
        Report {
            strategy,
            started_ms,
            stopped_ms,
            samples,
            dual_answers,
            both_claim_primary,
            changes,
            longest_gap,
        }
    }

    /// The longest time without an answer at the phones' address, in ms.
    pub fn longest_gap_ms(&self) -> u64 {
        self.longest_gap.1 - self.longest_gap.0
    }

    /// When `who` first answered at the phones' address in a sample sent at or after `since_ms`.
    pub fn first_answer_by(&self, who: &str, since_ms: u64) -> Option<u64> {
        self.samples
            .iter()
            .find(|s| s.t_ms >= since_ms && s.at_address.as_deref() == Some(who))
            .map(|s| s.t_ms)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = |t: u64| format!("{:+.2} s", (t as f64 - self.started_ms as f64) / 1000.0);
        let answered = self.samples.iter().filter(|s| s.at_address.is_some()).count();
        writeln!(
            f,
            "observer ({:?}): {} samples in {:.1} s, {answered} answered at the phones' address",
            self.strategy,
            self.samples.len(),
            (self.stopped_ms - self.started_ms) as f64 / 1000.0
        )?;
        writeln!(
            f,
            "  dual answers: {} (both agents claiming primary in {} samples)",
            self.dual_answers.len(),
            self.both_claim_primary
        )?;
        for d in self.dual_answers.iter().take(5) {
            writeln!(
                f,
                "    at {}: {} answered{}",
                rel(d.t_ms),
                d.boxes.join(" and "),
                if d.both_claimed_primary {
                    ", both agents claiming primary"
                } else {
                    ""
                }
            )?;
        }
        for c in &self.changes {
            writeln!(
                f,
                "  at {}: answered by {} (before: {})",
                rel(c.t_ms),
                c.to,
                c.from.as_deref().unwrap_or("nobody yet")
            )?;
        }
        write!(
            f,
            "  longest time without an answer: {} ms (from {} to {})",
            self.longest_gap_ms(),
            rel(self.longest_gap.0),
            rel(self.longest_gap.1)
        )
    }
}

/// Where the observer looks: what the lab and the agents told it, nothing more.
#[derive(Clone)]
struct Targets {
    strategy: Strategy,
    vip: SocketAddr,
    dns_server: SocketAddr,
    name: String,
    /// (box, its own SIP address, its agent's API address, fingerprint, token)
    boxes: Vec<(String, SocketAddr, SocketAddr, String, String)>,
}

/// A running observer; `stop` ends it and returns the report.
pub struct Observer {
    stop: Arc<AtomicBool>,
    started_ms: u64,
    strategy: Strategy,
    thread: Option<JoinHandle<Vec<Sample>>>,
}

impl Observer {
    /// Starts sampling the office of `lab`, whose phones find their PBX by `strategy`, with the
    /// agents `agents` (`("a", &a), ("b", &b)`), asked with the token of their connection link.
    pub fn start(lab: &Lab, strategy: Strategy, agents: &[(&str, &Agent)]) -> Observer {
        let addr = |ip: String, port: u16| SocketAddr::new(ip.parse().expect("lab address"), port);
        let targets = Targets {
            strategy,
            vip: addr(lab.var("LAB_VIP"), 5060),
            dns_server: addr(lab.ip("dns"), 53),
            name: lab.var("LAB_NAME"),
            boxes: agents
                .iter()
                .map(|(b, agent)| {
                    (
                        b.to_string(),
                        addr(lab.ip(b), 5060),
                        addr(lab.ip(b), agent.port),
                        agent.link.fingerprint.clone(),
                        agent.link.token.clone(),
                    )
                })
                .collect(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let started_ms = now_ms();
        let thread = crate::netns::spawn_in(&lab.ns("phone"), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("observer runtime");
            rt.block_on(observe(targets, flag))
        });
        Observer {
            stop,
            started_ms,
            strategy,
            thread: Some(thread),
        }
    }

    /// Stops sampling (the samples in flight finish) and reads the timeline.
    pub fn stop(mut self) -> Report {
        self.finish()
    }

    fn finish(&mut self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let stopped_ms = now_ms();
        let samples = match self.thread.take() {
            Some(t) => t.join().expect("the observer panicked"),
            None => Vec::new(),
        };
        Report::new(self.strategy, self.started_ms, stopped_ms, samples)
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

async fn observe(targets: Targets, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let clients: Vec<Option<reqwest::Client>> = targets
        .boxes
        .iter()
        .map(|(_, _, _, fingerprint, _)| {
            let tls = lbs_tls::pinned_client_config(Some(fingerprint.clone()), Default::default()).ok()?;
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(ANSWER_WITHIN)
                .build()
                .ok()
        })
        .collect();
    let targets = Arc::new(targets);
    let clients = Arc::new(clients);
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut rounds = tokio::task::JoinSet::new();
    let mut samples = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        rounds.spawn(sample(targets.clone(), clients.clone()));
        while let Some(done) = rounds.try_join_next() {
            samples.extend(done.ok());
        }
    }
    while let Some(done) = rounds.join_next().await {
        samples.extend(done.ok());
    }
    samples
}

/// One round: every question at once, each answer waited for at most `ANSWER_WITHIN`.
async fn sample(t: Arc<Targets>, clients: Arc<Vec<Option<reqwest::Client>>>) -> Sample {
    let t_ms = now_ms();
    let at_address = async {
        let addr = match t.strategy {
            Strategy::Vip => Some(t.vip),
            Strategy::Dns => tokio::time::timeout(ANSWER_WITHIN, dns::lookup(t.dns_server, &t.name))
                .await
                .ok()
                .and_then(Result::ok)
                .and_then(|ips| ips.first().map(|ip| SocketAddr::new(*ip, 5060))),
        };
        let who = match addr {
            Some(a) => answered_by(a).await,
            None => None,
        };
        (who, addr.map(|a| a.ip()))
    };
    // Every question at once: one task each.
    let own: Vec<_> = t
        .boxes
        .iter()
        .map(|(b, sip, _, _, _)| {
            let (b, sip) = (b.clone(), *sip);
            tokio::spawn(async move {
                let ok = answered_by(sip).await.as_deref() == Some(b.as_str());
                (b, ok)
            })
        })
        .collect();
    let claims: Vec<_> = t
        .boxes
        .iter()
        .zip(clients.iter())
        .map(|((b, _, api, _, token), client)| {
            let (b, api, token, client) = (b.clone(), *api, token.clone(), client.clone());
            tokio::spawn(async move {
                let claim = match client {
                    Some(c) => claim_of(&c, api, &token).await,
                    None => Claim::Unknown,
                };
                (b, claim)
            })
        })
        .collect();
    let (at_address, asked) = at_address.await;
    let mut sample = Sample {
        t_ms,
        at_address,
        asked,
        own: BTreeMap::new(),
        claims: BTreeMap::new(),
    };
    for (b, ok) in join_all(own).await {
        sample.own.insert(b, ok);
    }
    for (b, claim) in join_all(claims).await {
        sample.claims.insert(b, claim);
    }
    sample
}

/// The results of tasks already running, in order (a task that panicked is left out).
async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.extend(task.await.ok());
    }
    out
}

/// The box (`X-LBS-Box`) whose PBX answered OPTIONS at `addr`, if one did in time.
async fn answered_by(addr: SocketAddr) -> Option<String> {
    sip::options_ping(addr, ANSWER_WITHIN)
        .await
        .ok()
        .and_then(|answer| answer.header("X-LBS-Box").map(str::to_owned))
}

async fn claim_of(client: &reqwest::Client, api: SocketAddr, token: &str) -> Claim {
    let url = format!("https://{api}{}/failover", lbs_protocol::API_PREFIX);
    let Ok(resp) = client.get(url).bearer_auth(token).send().await else {
        return Claim::Unknown;
    };
    match resp.json::<FailoverStatus>().await {
        Ok(s) if s.role == Role::Primary => Claim::Primary,
        Ok(_) => Claim::Backup,
        Err(_) => Claim::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t_ms: u64, at: Option<&str>, own: &[(&str, bool)], claims: &[(&str, Claim)]) -> Sample {
        Sample {
            t_ms,
            at_address: at.map(str::to_owned),
            asked: None,
            own: own.iter().map(|(b, a)| (b.to_string(), *a)).collect(),
            claims: claims.iter().map(|(b, c)| (b.to_string(), *c)).collect(),
        }
    }

    use Claim::*;

    #[test]
    fn a_failover_with_a_gap_is_one_change_and_no_dual_answer() {
        let p = [("a", Primary), ("b", Backup)];
        let samples = vec![
            s(1000, Some("a"), &[("a", true), ("b", false)], &p),
            s(1050, Some("a"), &[("a", true), ("b", false)], &p),
            // A cut off: nobody answers; A still claims primary but nobody reaches it.
            s(
                1100,
                None,
                &[("a", false), ("b", false)],
                &[("a", Unknown), ("b", Backup)],
            ),
            s(
                1150,
                None,
                &[("a", false), ("b", false)],
                &[("a", Unknown), ("b", Primary)],
            ),
            s(
                1400,
                Some("b"),
                &[("a", false), ("b", true)],
                &[("a", Unknown), ("b", Primary)],
            ),
        ];
        let r = Report::new(Strategy::Vip, 990, 1500, samples);
        assert!(r.dual_answers.is_empty(), "{r}");
        assert_eq!(
            r.changes,
            vec![
                Change {
                    t_ms: 1000,
                    from: None,
                    to: "a".into()
                },
                Change {
                    t_ms: 1400,
                    from: Some("a".into()),
                    to: "b".into()
                }
            ]
        );
        assert_eq!(r.longest_gap, (1050, 1400));
        assert_eq!(r.longest_gap_ms(), 350);
        assert_eq!(r.first_answer_by("b", 1000), Some(1400));
        assert!(r.to_string().contains("dual answers: 0"), "{r}");
    }

    #[test]
    fn two_pbxs_reachable_from_the_phones_is_a_dual_answer_whatever_the_agents_say() {
        let samples = vec![
            // dns: the name points at B, but A's PBX still answers at its own address.
            s(
                1000,
                Some("b"),
                &[("a", true), ("b", true)],
                &[("a", Primary), ("b", Primary)],
            ),
            // Both agents claim primary, but only B's PBX can be reached: not a dual answer.
            s(
                1050,
                Some("b"),
                &[("a", false), ("b", true)],
                &[("a", Primary), ("b", Primary)],
            ),
            // A's PBX answers at its own address while B answers the floating one (an agent
            // that says backup does not make it harmless).
            s(
                1100,
                Some("b"),
                &[("a", true), ("b", false)],
                &[("a", Backup), ("b", Primary)],
            ),
        ];
        let r = Report::new(Strategy::Dns, 1000, 1150, samples);
        assert_eq!(
            r.dual_answers,
            vec![
                DualAnswer {
                    t_ms: 1000,
                    boxes: vec!["a".into(), "b".into()],
                    both_claimed_primary: true
                },
                DualAnswer {
                    t_ms: 1100,
                    boxes: vec!["a".into(), "b".into()],
                    both_claimed_primary: false
                }
            ]
        );
        assert_eq!(r.both_claim_primary, 2);
        assert!(r.to_string().contains("dual answers: 2"), "{r}");
    }

    #[test]
    fn no_answer_at_all_is_one_gap_over_the_whole_run() {
        let r = Report::new(
            Strategy::Vip,
            100,
            900,
            vec![s(100, None, &[], &[]), s(150, None, &[], &[])],
        );
        assert_eq!(r.longest_gap, (100, 900));
        assert!(r.changes.is_empty());
    }
}
