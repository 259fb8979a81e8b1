//! Setting up the vote (between the agents, not exported to TypeScript): the three etcd members
//! `lbs-agent witness setup` plans on one box, and the part of it that box sends its partner over
//! `POST /peer/v1/witness/enroll` (the partner's member: its certificate and key, signed by the
//! vote's new CA).

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The partner route that takes an enrollment.
pub const WITNESS_ENROLL_ROUTE: &str = "/witness/enroll";

/// etcd's ports (its defaults).
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;

/// The vote as planned: three members (the box that ran the setup, its partner, the witness,
/// in that order) and the cluster's token, which names this vote among others on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VotePlan {
    /// etcd's `--initial-cluster-token`, e.g. `lbs-3f9c0a51d2e4`.
    pub token: String,
    pub members: Vec<PlannedMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMember {
    /// How the agents name it: the box's name, or "witness".
    pub name: String,
    /// etcd's own name for it (`ETCD_NAME`): letters, digits and dashes.
    pub etcd_name: String,
    /// The address the other members and the agents reach it at.
    pub address: IpAddr,
    /// Host names it may also be reached by (in its certificate).
    #[serde(default)]
    pub dns_names: Vec<String>,
    pub client_port: u16,
    pub peer_port: u16,
}

impl PlannedMember {
    /// `https://192.168.1.5:2379` (brackets around an IPv6 address).
    pub fn client_url(&self) -> String {
        format!("https://{}", SocketAddr::new(self.address, self.client_port))
    }

    pub fn peer_url(&self) -> String {
        format!("https://{}", SocketAddr::new(self.address, self.peer_port))
    }
}

impl VotePlan {
    /// etcd's `--initial-cluster`: `name=peer-url,…`.
    pub fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.etcd_name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `POST /peer/v1/witness/enroll`: the partner's member of a new vote. The key travels only over
/// the pair's mutual TLS and is never shown (`Debug` leaves it out).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEnrollment {
    pub plan: VotePlan,
    /// Which member of the plan is the receiving box.
    pub you: usize,
    /// The vote's CA certificate (PEM).
    pub ca_pem: String,
    /// The receiving box's member certificate (PEM): server and client.
    pub cert_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
    /// The box that planned it, by name.
    pub from: String,
    /// When (Unix seconds, the planning box's clock).
    pub created_unix: i64,
}

impl std::fmt::Debug for WitnessEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessEnrollment")
            .field("plan", &self.plan)
            .field("you", &self.you)
            .field("from", &self.from)
            .field("created_unix", &self.created_unix)
            .finish_non_exhaustive()
    }
}

/// The partner's answer: it keeps the enrollment until `lbs-agent witness setup` runs there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessEnrolled {
    /// The partner's name, for the message.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, address: &str) -> PlannedMember {
        PlannedMember {
            name: name.into(),
            etcd_name: name.to_lowercase(),
            address: address.parse().unwrap(),
            dns_names: vec![],
            client_port: ETCD_CLIENT_PORT,
            peer_port: ETCD_PEER_PORT,
        }
    }

    #[test]
    fn urls_and_the_initial_cluster() {
        let plan = VotePlan {
            token: "lbs-1".into(),
            members: vec![member("a", "10.0.0.11"), member("w", "fd00::5")],
        };
        assert_eq!(plan.members[0].client_url(), "https://10.0.0.11:2379");
        assert_eq!(plan.members[1].peer_url(), "https://[fd00::5]:2380");
        assert_eq!(
            plan.initial_cluster(),
            "a=https://10.0.0.11:2380,w=https://[fd00::5]:2380"
        );
    }

    #[test]
    fn the_key_is_never_in_debug_output() {
        let e = WitnessEnrollment {
            plan: VotePlan {
                token: "t".into(),
                members: vec![],
            },
            you: 1,
            ca_pem: "CA".into(),
            cert_pem: "CERT".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----secret".into(),
            from: "PBX A".into(),
            created_unix: 1,
        };
        let shown = format!("{e:?}");
        assert!(!shown.contains("secret") && !shown.contains("PRIVATE"), "{shown}");
    }
}
