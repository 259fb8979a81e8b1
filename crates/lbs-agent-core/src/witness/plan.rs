//! The plan of a new vote: the three members with their addresses and ports, etcd's names for
//! them, and a fresh cluster token (so that a vote made again never mixes with the old one).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use lbs_protocol::{PlannedMember, VotePlan};
use rand::Rng;

use super::WitnessError;

/// One member as the setup knows it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// How the agents name it: the box's name, or "witness".
    pub name: String,
    pub address: IpAddr,
    /// Host names it may also be reached by.
    pub dns_names: Vec<String>,
    pub client_port: u16,
    pub peer_port: u16,
}

impl Planned {
    /// A member at `address` on etcd's usual ports (client 2379, peer 2380), no other names.
    pub fn at(name: &str, address: IpAddr) -> Planned {
        Planned {
            name: name.to_owned(),
            address,
            dns_names: Vec::new(),
            client_port: 2379,
            peer_port: 2380,
        }
    }
}

/// The plan for `members` (this box, its partner, the witness), checked: three members with
/// names, at three different places, each reachable (no wildcard address).
pub fn plan(members: [Planned; 3]) -> Result<VotePlan, WitnessError> {
    let mut places = HashSet::new();
    for m in &members {
        if m.name.trim().is_empty() {
            return Err(WitnessError::Invalid("every member of the vote needs a name".into()));
        }
        if m.address.is_unspecified() || m.address.is_multicast() {
            return Err(WitnessError::Invalid(format!(
                "{} cannot be reached at {}: give the address the other machines reach it at",
                m.name, m.address
            )));
        }
        if m.client_port == 0 || m.peer_port == 0 || m.client_port == m.peer_port {
            return Err(WitnessError::Invalid(format!(
                "{}: etcd needs two different ports (client {}, peer {})",
                m.name, m.client_port, m.peer_port
            )));
        }
        for port in [m.client_port, m.peer_port] {
            if !places.insert(SocketAddr::new(m.address, port)) {
                return Err(WitnessError::Invalid(format!(
                    "two members of the vote would be at {}: the witness must be another machine than PBX A and PBX B \
                     (give its own address with --witness)",
                    SocketAddr::new(m.address, port)
                )));
            }
        }
    }
    let mut taken = HashSet::new();
    let planned = members
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let mut etcd_name = slug(&m.name).unwrap_or_else(|| format!("member-{}", i + 1));
            if !taken.insert(etcd_name.clone()) {
                etcd_name = format!("{etcd_name}-{}", i + 1);
                taken.insert(etcd_name.clone());
            }
            PlannedMember {
                name: m.name.trim().to_owned(),
                etcd_name,
                address: m.address,
                dns_names: m.dns_names,
                client_port: m.client_port,
                peer_port: m.peer_port,
            }
        })
        .collect();
    let token: [u8; 6] = rand::thread_rng().gen();
    Ok(VotePlan {
        token: format!("lbs-{}", hex::encode(token)),
        members: planned,
    })
}

/// etcd's name for a member: lowercase letters, digits and single dashes, at most 40 long;
/// `None` when nothing of the name is left.
fn slug(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.chars().take(40).collect();
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, address: &str) -> Planned {
        Planned::at(name, address.parse().unwrap())
    }

    #[test]
    fn names_become_etcd_names_and_the_token_is_new_each_time() {
        let three = || {
            [
                member("PBX A (server room)", "10.0.0.11"),
                member("Ünïcode", "10.0.0.12"),
                member("witness", "10.0.0.5"),
            ]
        };
        let p = plan(three()).unwrap();
        let names: Vec<&str> = p.members.iter().map(|m| m.etcd_name.as_str()).collect();
        assert_eq!(names, ["pbx-a-server-room", "n-code", "witness"]);
        assert_eq!(p.members[0].name, "PBX A (server room)");
        assert!(p.token.starts_with("lbs-") && p.token.len() == 16, "{}", p.token);
        assert_ne!(plan(three()).unwrap().token, p.token);
    }

    #[test]
    fn the_same_name_twice_still_gives_two_etcd_names() {
        let p = plan([
            member("PBX", "10.0.0.11"),
            member("pbx", "10.0.0.12"),
            member("???", "10.0.0.5"),
        ])
        .unwrap();
        let names: Vec<&str> = p.members.iter().map(|m| m.etcd_name.as_str()).collect();
        assert_eq!(names, ["pbx", "pbx-2", "member-3"]);
    }

    #[test]
    fn a_witness_on_a_box_or_nowhere_is_refused() {
        let err = plan([
            member("A", "10.0.0.11"),
            member("B", "10.0.0.12"),
            member("witness", "10.0.0.11"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("another machine"), "{err}");
        let err = plan([
            member("A", "10.0.0.11"),
            member("B", "10.0.0.12"),
            member("witness", "0.0.0.0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot be reached"), "{err}");
        // The same address with other ports is a place of its own (the tests' loopback votes).
        let mut w = member("witness", "10.0.0.11");
        w.client_port = 3379;
        w.peer_port = 3380;
        assert!(plan([member("A", "10.0.0.11"), member("B", "10.0.0.12"), w]).is_ok());
    }
}
