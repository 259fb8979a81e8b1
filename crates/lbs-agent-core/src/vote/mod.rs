//! The vote for automatic failover: an etcd cluster of three members (PBX A, PBX B and the
//! witness), reached over TLS with this box's client certificate (`[witness]`). The pair keeps
//! two keys in it:
//!
//! - `/lbs/leader`: the primary's claim, attached to a lease the primary keeps renewing. When the
//!   primary is gone, etcd lets the lease expire and deletes the key; only then may the backup
//!   create it (a compare-and-create, so at most one box ever holds it).
//! - `/lbs/last_automatic`: the last automatic failover, so both boxes apply the flap guard.
//!
//! This module knows etcd and nothing of roles: the autopilot (`failover::autopilot`) decides.
//! Each call tries the member that answered last, then the others, so a box whose own member is
//! down still reaches the majority through the other two.

mod etcd;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::clock::now_unix;
use crate::config::WitnessConfig;
pub use etcd::{Created, EtcdError, KeyValue};

const LEADER_KEY: &str = "/lbs/leader";
const LAST_AUTOMATIC_KEY: &str = "/lbs/last_automatic";

#[derive(Debug, Error)]
pub enum VoteError {
    #[error("cannot read the vote's {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("the vote's TLS settings are not usable: {0}")]
    Tls(String),
    /// No member gave an answer that needs a majority: this box cannot reach the vote.
    #[error("no majority of the vote answers: {0}")]
    NoQuorum(String),
    #[error("the vote holds something this agent cannot read at {key}: {reason}")]
    Unreadable { key: &'static str, reason: String },
}

/// What the leader key says: who holds the primary role by the vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub server_id: String,
    pub name: String,
    pub epoch: u64,
}

/// The leader key as read: its record and the lease that keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub record: LeaderRecord,
    pub lease: i64,
    pub mod_revision: i64,
}

/// The last automatic failover, as kept in the vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAutomatic {
    pub at_unix: i64,
    pub server_id: String,
    pub name: String,
    pub epoch: u64,
}

#[derive(Debug, Clone, Default)]
struct Health {
    reachable: bool,
    checked: bool,
    unreachable_since: Option<i64>,
    problem: Option<String>,
}

pub struct Vote {
    client: reqwest::Client,
    /// This box's own member, if `[witness]` names one after it.
    own: Option<usize>,
    members: Vec<crate::config::Member>,
    health: Mutex<Vec<Health>>,
    /// The member that answered last: tried first next time.
    preferred: AtomicUsize,
    timeout: Duration,
}

fn read(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, VoteError> {
    std::fs::read(path).map_err(|e| VoteError::File {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A rustls client that trusts only the vote's CA and shows this box's certificate.
fn tls(config: &WitnessConfig) -> Result<rustls::ClientConfig, VoteError> {
    let ca = read("certificate authority", &config.ca_file)?;
    let cert = read("certificate", &config.cert_file)?;
    let key = read("key", &config.key_file)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca.as_slice()) {
        let c = c.map_err(|e| VoteError::Tls(format!("the CA file: {e}")))?;
        roots.add(c).map_err(|e| VoteError::Tls(format!("the CA file: {e}")))?;
    }
    if roots.is_empty() {
        return Err(VoteError::Tls(format!(
            "{} holds no certificate",
            config.ca_file.display()
        )));
    }
    let chain = rustls_pemfile::certs(&mut cert.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| VoteError::Tls(format!("the certificate file: {e}")))?;
    let key = rustls_pemfile::private_key(&mut key.as_slice())
        .map_err(|e| VoteError::Tls(format!("the key file: {e}")))?
        .ok_or_else(|| VoteError::Tls(format!("{} holds no private key", config.key_file.display())))?;
    rustls::ClientConfig::builder_with_provider(lbs_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| VoteError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| VoteError::Tls(e.to_string()))
}

impl Vote {
    /// The vote as `[witness]` describes it; `own_name` is this box's name (its member carries
    /// it). `timeout` bounds each call to one member.
    pub fn open(config: &WitnessConfig, own_name: &str, timeout: Duration) -> Result<Arc<Vote>, VoteError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls(config)?)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| VoteError::Tls(e.to_string()))?;
        Ok(Arc::new(Vote {
            own: config.members.iter().position(|m| m.name == own_name),
            client,
            health: Mutex::new(vec![Health::default(); config.members.len()]),
            members: config.members.clone(),
            preferred: AtomicUsize::new(0),
            timeout,
        }))
    }

    fn note(&self, index: usize, outcome: Result<(), &EtcdError>) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let Some(h) = health.get_mut(index) else { return };
        h.checked = true;
        match outcome {
            // An error answer still proves the member is there (it may lack a majority).
            Ok(()) | Err(EtcdError::Refused(_)) => {
                h.reachable = true;
                h.unreachable_since = None;
                h.problem = outcome.err().map(|e| e.to_string());
            }
            Err(e) => {
                if h.reachable || h.unreachable_since.is_none() {
                    h.unreachable_since = Some(now_unix());
                }
                h.reachable = false;
                // Shown beside "out of reach": the cause alone ("connection refused").
                h.problem = Some(match e {
                    EtcdError::Silent(why) => why.clone(),
                    other => other.to_string(),
                });
            }
        }
    }

    /// Runs `call` on the member that answered last, then on each other one, until one answers.
    async fn any<'a, T, F, Fut>(&'a self, call: F) -> Result<T, VoteError>
    where
        F: Fn(etcd::Member<'a>) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>> + 'a,
    {
        let n = self.members.len();
        let first = self.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut why = Vec::new();
        for i in (0..n).map(|k| (first + k) % n) {
            let m = &self.members[i];
            let member = etcd::Member {
                client: &self.client,
                endpoint: &m.endpoint,
                timeout: self.timeout,
            };
            match call(member).await {
                Ok(v) => {
                    self.note(i, Ok(()));
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) => {
                    self.note(i, Err(&e));
                    why.push(format!("{} {e}", m.name));
                }
            }
        }
        Err(VoteError::NoQuorum(why.join("; ")))
    }

    /// Who holds the leader key now (`None`: nobody, e.g. the primary's lease expired).
    pub async fn leader(&self) -> Result<Option<Leader>, VoteError> {
        let kv = self.any(|m| async move { m.get(LEADER_KEY).await }).await?;
        kv.map(|kv| {
            let record = serde_json::from_slice(&kv.value).map_err(|e| VoteError::Unreadable {
                key: LEADER_KEY,
                reason: e.to_string(),
            })?;
            Ok(Leader {
                record,
                lease: kv.lease,
                mod_revision: kv.mod_revision,
            })
        })
        .transpose()
    }

    /// A new lease (etcd may make it longer than asked, never shorter).
    pub async fn grant(&self, ttl: u64) -> Result<i64, VoteError> {
        self.any(|m| async move { m.grant(ttl).await }).await.map(|(id, _)| id)
    }

    /// Renews `lease`: `false` once etcd has let it expire.
    pub async fn keep_alive(&self, lease: i64) -> Result<bool, VoteError> {
        self.any(|m| async move { m.keep_alive(lease).await })
            .await
            .map(|ttl| ttl.is_some())
    }

    pub async fn revoke(&self, lease: i64) -> Result<(), VoteError> {
        self.any(|m| async move { m.revoke(lease).await }).await
    }

    /// Takes the leader key for `record` under `lease` if nobody holds it; otherwise says who does.
    pub async fn claim(&self, record: &LeaderRecord, lease: i64) -> Result<Option<Leader>, VoteError> {
        let value = serde_json::to_vec(record).unwrap_or_default();
        let created = self
            .any(|m| {
                let value = value.clone();
                async move { m.create(LEADER_KEY, &value, lease).await }
            })
            .await?;
        match created {
            Created::Won => Ok(None),
            Created::Taken(kv) => {
                let record = serde_json::from_slice(&kv.value).map_err(|e| VoteError::Unreadable {
                    key: LEADER_KEY,
                    reason: e.to_string(),
                })?;
                Ok(Some(Leader {
                    record,
                    lease: kv.lease,
                    mod_revision: kv.mod_revision,
                }))
            }
        }
    }

    /// Moves a leader key this box already holds (under an old lease, or an older epoch) to
    /// `record` and `lease`, if it did not change since it was read. `false`: it changed.
    pub async fn reclaim(&self, held: &Leader, record: &LeaderRecord, lease: i64) -> Result<bool, VoteError> {
        let value = serde_json::to_vec(record).unwrap_or_default();
        let revision = held.mod_revision;
        self.any(|m| {
            let value = value.clone();
            async move { m.replace(LEADER_KEY, &value, lease, revision).await }
        })
        .await
    }

    pub async fn last_automatic(&self) -> Result<Option<LastAutomatic>, VoteError> {
        let kv = self.any(|m| async move { m.get(LAST_AUTOMATIC_KEY).await }).await?;
        kv.map(|kv| {
            serde_json::from_slice(&kv.value).map_err(|e| VoteError::Unreadable {
                key: LAST_AUTOMATIC_KEY,
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    pub async fn record_automatic(&self, last: &LastAutomatic) -> Result<(), VoteError> {
        let value = serde_json::to_vec(last).unwrap_or_default();
        self.any(|m| {
            let value = value.clone();
            async move { m.put(LAST_AUTOMATIC_KEY, &value).await }
        })
        .await
    }

    /// Keeps etcd's own leader off this box's member, on the partner's (else the witness's): when etcd's leader dies a new one is elected and every lease is
    /// extended by the election and a whole TTL, so a primary box that also led etcd would make
    /// its own takeover wait that much longer. Returns whether leadership was moved.
    pub async fn keep_leadership_away(&self) -> Result<bool, VoteError> {
        let member = |i: usize| etcd::Member {
            client: &self.client,
            endpoint: &self.members[i].endpoint,
            timeout: self.timeout,
        };
        let Some(own) = self.own else { return Ok(false) };
        let (own_id, leader) = member(own)
            .ids()
            .await
            .map_err(|e| VoteError::NoQuorum(format!("{} {e}", self.members[own].name)))?;
        if own_id == 0 || leader != own_id {
            return Ok(false);
        }
        let witness = self.witness_index();
        let others = (0..self.members.len()).filter(|i| *i != own && *i != witness);
        for i in others.chain([witness]).filter(|i| *i != own) {
            let Ok((target, _)) = member(i).ids().await else {
                continue;
            };
            if target != 0 && member(own).transfer_leadership(target).await.is_ok() {
                tracing::info!(to = %self.members[i].name, "etcd's leadership moved off this box");
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Asks each member whether it answers at all (no majority needed), for the status.
    pub async fn check_members(&self) {
        for (i, m) in self.members.iter().enumerate() {
            let member = etcd::Member {
                client: &self.client,
                endpoint: &m.endpoint,
                timeout: self.timeout,
            };
            let outcome = member.alive().await;
            self.note(i, outcome.as_ref().map(|_| ()));
        }
    }

    /// Each member as last seen, for the status.
    pub fn members(&self) -> Vec<lbs_protocol::VoteMember> {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        self.members
            .iter()
            .zip(health.iter())
            .map(|(m, h)| lbs_protocol::VoteMember {
                name: m.name.clone(),
                endpoint: m.endpoint.clone(),
                reachable: h.reachable,
                unreachable_since_unix: (!h.reachable && h.checked).then_some(h.unreachable_since).flatten(),
                problem: if h.checked {
                    h.problem.clone()
                } else {
                    Some("not asked yet".into())
                },
            })
            .collect()
    }

    /// The member named "witness" (by `lbs-agent witness setup`), or else the last one.
    pub fn witness_index(&self) -> usize {
        self.members
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case("witness"))
            .unwrap_or(self.members.len().saturating_sub(1))
    }
}
