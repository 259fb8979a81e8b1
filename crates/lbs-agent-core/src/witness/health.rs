//! Whether the vote's members answer this box (its client certificate, the vote's CA) and agree
//! on a leader: what `lbs-agent witness setup` reports once it has started this box's member.
//! The autopilot's own client is `vote`; this one only asks each member for its status.

use std::sync::Arc;
use std::time::Duration;

use crate::config::WitnessConfig;

use super::WitnessError;

/// One member's answer.
#[derive(Debug)]
pub struct MemberHealth {
    pub name: String,
    pub endpoint: String,
    /// The leader's member ID as this member knows it (`Some(0)`: it knows none); `Err`: why
    /// it did not answer.
    pub leader: Result<u64, WitnessError>,
}

impl MemberHealth {
    /// "answers", "answers, no leader", "does not answer (…)".
    pub fn describe(&self) -> String {
        match &self.leader {
            Ok(0) => format!("{} answers but knows no leader", self.name),
            Ok(_) => format!("{} answers", self.name),
            Err(e) => format!("{} does not answer ({e})", self.name),
        }
    }
}

/// Two members or more answer and name the same leader: the vote decides.
pub fn majority(members: &[MemberHealth]) -> bool {
    let leaders: Vec<u64> = members
        .iter()
        .filter_map(|m| m.leader.as_ref().ok().copied())
        .filter(|&l| l != 0)
        .collect();
    leaders
        .iter()
        .any(|l| leaders.iter().filter(|x| *x == l).count() * 2 > members.len())
}

fn read(what: &str, path: &std::path::Path) -> Result<Vec<u8>, WitnessError> {
    std::fs::read(path).map_err(|e| {
        WitnessError::Invalid(format!(
            "cannot read the vote's {what} {}: {e}; run `lbs-agent witness setup` again",
            path.display()
        ))
    })
}

/// An HTTPS client that trusts only the vote's CA and presents this box's certificate.
fn client(w: &WitnessConfig) -> Result<reqwest::Client, WitnessError> {
    let bad = |what: &str, path: &std::path::Path| {
        WitnessError::Invalid(format!(
            "the vote's {what} {} cannot be used; run `lbs-agent witness setup` again",
            path.display()
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut read("CA", &w.ca_file)?.as_slice()) {
        let cert = cert.map_err(|_| bad("CA", &w.ca_file))?;
        roots.add(cert).map_err(|_| bad("CA", &w.ca_file))?;
    }
    let chain = rustls_pemfile::certs(&mut read("certificate", &w.cert_file)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("certificate", &w.cert_file))?;
    let key = rustls_pemfile::private_key(&mut read("key", &w.key_file)?.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| bad("key", &w.key_file))?;
    let tls = rustls::ClientConfig::builder_with_provider(lbs_tls::provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_root_certificates(Arc::new(roots))
                .with_client_auth_cert(chain, key)
        })
        .map_err(|e| WitnessError::Certificate(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| WitnessError::Certificate(e.to_string()))
}

#[derive(serde::Deserialize)]
struct Status {
    /// etcd's JSON gateway writes 64-bit numbers as strings.
    #[serde(default)]
    leader: Option<String>,
}

/// Asks each member of `w` for its status (etcd's `Maintenance.Status`, which a member answers
/// alone, with or without a majority).
pub async fn members(w: &WitnessConfig) -> Result<Vec<MemberHealth>, WitnessError> {
    let client = client(w)?;
    let mut out = Vec::new();
    for m in &w.members {
        let url = format!("{}/v3/maintenance/status", m.endpoint.trim_end_matches('/'));
        let leader = async {
            let response = client
                .post(&url)
                .json(&serde_json::json!({}))
                .send()
                .await
                .map_err(|e| WitnessError::Unreachable(crate::peer::error_chain(&e)))?;
            if !response.status().is_success() {
                return Err(WitnessError::Unreachable(format!("it answered {}", response.status())));
            }
            let status: Status = response
                .json()
                .await
                .map_err(|e| WitnessError::Unreachable(format!("its answer could not be read: {e}")))?;
            Ok(status.leader.and_then(|l| l.parse().ok()).unwrap_or(0))
        }
        .await;
        out.push(MemberHealth {
            name: m.name.clone(),
            endpoint: m.endpoint.clone(),
            leader,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(leader: Result<u64, ()>) -> MemberHealth {
        MemberHealth {
            name: "m".into(),
            endpoint: "https://x:1".into(),
            leader: leader.map_err(|_| WitnessError::Unreachable("no".into())),
        }
    }

    #[test]
    fn a_majority_is_two_of_three_naming_the_same_leader() {
        assert!(majority(&[h(Ok(7)), h(Ok(7)), h(Err(()))]));
        assert!(majority(&[h(Ok(7)), h(Ok(7)), h(Ok(7))]));
        assert!(!majority(&[h(Ok(7)), h(Err(())), h(Err(()))]));
        assert!(!majority(&[h(Ok(7)), h(Ok(9)), h(Err(()))]));
        assert!(!majority(&[h(Ok(0)), h(Ok(0)), h(Ok(0))]));
    }
}
