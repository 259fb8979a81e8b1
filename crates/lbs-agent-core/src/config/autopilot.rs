//! Automatic failover's settings: the policy keys of `[failover]` (`automatic`, `prefer`,
//! `caught_up_within`, `flap_guard`, `lease`, `partner_sip`) and `[witness]`, the vote: three
//! etcd members (this box, the partner, the witness) reached over TLS with this box's own client
//! certificate. `lbs-agent witness setup` writes `[witness]`; a person rarely edits it.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::{duration, DAY};

/// What the pair puts first when the backup was behind at the moment the primary went silent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    /// Fail over by itself only when the backup was caught up: nothing the primary recorded is
    /// left behind unnoticed (a person decides otherwise).
    #[default]
    Data,
    /// Fail over even when the backup was behind: the phones first.
    Service,
}

pub(super) fn default_caught_up() -> u64 {
    60
}
pub(super) fn default_flap_guard() -> u64 {
    3600
}
pub(super) fn default_lease() -> u64 {
    10
}

pub(super) fn caught_up<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 1, DAY, "caught_up_within")
}
pub(super) fn flap_guard<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 60, 7 * DAY, "the flap guard")
}
/// etcd will not keep a lease shorter than its election allows (2 s with its default timing),
/// and the primary needs half the lease to stop its PBX when cut off.
pub(super) fn lease<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 2, 60, "the lease")
}

/// `[witness]`: how this box reaches the vote.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The vote's certificate authority (PEM), made by `lbs-agent witness setup`.
    pub ca_file: PathBuf,
    /// This box's client certificate and key for the vote (PEM).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The three members: this box, the partner and the witness (`[[witness.member]]`).
    #[serde(rename = "member")]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// How the status names it: the box's name, or "witness".
    pub name: String,
    /// Its client address, `https://host:2379`.
    pub endpoint: String,
}

impl WitnessConfig {
    /// What is wrong with it, if anything, in the contractor's words.
    pub(super) fn problem(&self) -> Option<String> {
        for (key, p) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if !p.is_absolute() {
                return Some(format!(
                    "[witness] {key} must be an absolute path, found \"{}\"",
                    p.display()
                ));
            }
        }
        if self.members.len() != 3 {
            return Some(format!(
                "[witness] needs exactly three [[witness.member]] entries (this box, the partner and the witness), found {}; \
                 run `lbs-agent witness setup` again to write them",
                self.members.len()
            ));
        }
        for m in &self.members {
            if m.name.trim().is_empty() {
                return Some("[[witness.member]] needs a name".into());
            }
            let ok = m.endpoint.strip_prefix("https://").is_some_and(|rest| {
                rest.rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && !rest.contains('/') && p.parse::<u16>().is_ok())
            });
            if !ok {
                return Some(format!(
                    "[[witness.member]] \"{}\": endpoint must be https://host:port (the vote is always over TLS), found \"{}\"",
                    m.name, m.endpoint
                ));
            }
        }
        let mut seen: Vec<&str> = self.members.iter().map(|m| m.endpoint.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        (seen.len() != 3).then(|| "[[witness.member]] endpoints must be three different addresses".into())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "[server]\nname = \"A\"\nstate_dir = \"/var/lib/x\"\n";

    const PBX: &str = "[pbx]\nstart = [\"true\"]\nstop = [\"true\"]\n";

    fn witness(members: &str) -> String {
        format!(
            "{BASE}[witness]\nca_file = \"/v/ca.pem\"\ncert_file = \"/v/a.pem\"\nkey_file = \"/v/a.key\"\n{members}"
        )
    }

    fn member(name: &str, endpoint: &str) -> String {
        format!("[[witness.member]]\nname = \"{name}\"\nendpoint = \"{endpoint}\"\n")
    }

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, std::path::Path::new("/etc/lbs-agent/agent.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_leave_it_off_and_safe() {
        let c = parse(BASE).unwrap();
        assert!(!c.failover.automatic);
        assert_eq!(c.failover.prefer, super::Prefer::Data);
        assert_eq!(
            (c.failover.lease, c.failover.caught_up_within, c.failover.flap_guard),
            (10, 60, 3600)
        );
        assert!(c.witness.is_none());
    }

    #[test]
    fn a_whole_witness_section_is_taken() {
        let three = [
            member("PBX A", "https://10.0.0.11:2379"),
            member("PBX B", "https://10.0.0.12:2379"),
            member("witness", "https://10.0.0.5:2379"),
        ]
        .concat();
        let c = parse(&format!(
            "{}[failover]\nautomatic = true\nprefer = \"service\"\nlease = \"3s\"\n{PBX}",
            witness(&three)
        ))
        .unwrap();
        assert!(c.failover.automatic);
        assert_eq!(c.failover.prefer, super::Prefer::Service);
        assert_eq!(c.failover.lease, 3);
        assert_eq!(c.witness.unwrap().members.len(), 3);
    }

    #[test]
    fn bad_witness_settings_are_refused_with_the_reason() {
        let two = [
            member("A", "https://10.0.0.11:2379"),
            member("B", "https://10.0.0.12:2379"),
        ]
        .concat();
        assert!(parse(&witness(&two)).unwrap_err().contains("exactly three"));
        let plain = [
            member("A", "https://10.0.0.11:2379"),
            member("B", "http://10.0.0.12:2379"),
            member("w", "https://10.0.0.5:2379"),
        ]
        .concat();
        assert!(parse(&witness(&plain)).unwrap_err().contains("always over TLS"));
        let same = [
            member("A", "https://10.0.0.11:2379"),
            member("B", "https://10.0.0.11:2379"),
            member("w", "https://10.0.0.5:2379"),
        ]
        .concat();
        assert!(parse(&witness(&same)).unwrap_err().contains("three different"));
        let err = parse(&format!("{BASE}[failover]\nlease = \"1s\"\n")).unwrap_err();
        assert!(err.contains("the lease must be between 2s and 1m"), "{err}");
        let err = parse(&format!("{BASE}[failover]\nautomatic = true\n{PBX}")).unwrap_err();
        assert!(err.contains("[witness]"), "{err}");
        let three = [
            member("A", "https://10.0.0.11:2379"),
            member("B", "https://10.0.0.12:2379"),
            member("w", "https://10.0.0.5:2379"),
        ]
        .concat();
        let err = parse(&format!("{}[failover]\nautomatic = true\n", witness(&three))).unwrap_err();
        assert!(err.contains("[pbx] start and stop"), "{err}");
    }
}
