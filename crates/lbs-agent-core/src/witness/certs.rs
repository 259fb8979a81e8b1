//! The vote's own certificate authority and its members' certificates. The CA exists only for
//! the vote: its key signs the three member certificates and is then thrown away (a new vote is
//! a new CA), so no file anywhere can sign a fourth. Each member's certificate names its
//! address (and host names) and serves both ways: etcd presents it as a server on the client
//! and peer ports and as a client to the other members, and the box's agent presents it to etcd.

use lbs_protocol::{PlannedMember, VotePlan};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use super::WitnessError;

/// A member's certificate and key (PEM). `Debug` leaves the key out.
#[derive(Clone)]
pub struct MemberCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for MemberCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberCert").finish_non_exhaustive()
    }
}

/// The CA certificate and one certificate per member of the plan, in its order.
#[derive(Debug, Clone)]
pub struct Issued {
    pub ca_pem: String,
    pub members: Vec<MemberCert>,
}

fn cert_error(e: rcgen::Error) -> WitnessError {
    WitnessError::Certificate(e.to_string())
}

/// Makes a new CA for `plan` and signs each member's certificate with it.
pub fn issue(plan: &VotePlan) -> Result<Issued, WitnessError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    // It signs member certificates only, never another CA.
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("LBS vote {}", plan.token));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(cert_error)?;
    let ca = ca_params.self_signed(&ca_key).map_err(cert_error)?;
    let members = plan
        .members
        .iter()
        .map(|m| member(m, &ca, &ca_key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Issued {
        ca_pem: ca.pem(),
        members,
    })
}

fn member(m: &PlannedMember, ca: &rcgen::Certificate, ca_key: &KeyPair) -> Result<MemberCert, WitnessError> {
    let mut params = CertificateParams::new(m.dns_names.clone()).map_err(cert_error)?;
    params.subject_alt_names.push(SanType::IpAddress(m.address));
    params.distinguished_name.push(DnType::CommonName, m.etcd_name.clone());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().map_err(cert_error)?;
    let cert = params.signed_by(&key, ca, ca_key).map_err(cert_error)?;
    Ok(MemberCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lbs_protocol::PlannedMember;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn plan() -> VotePlan {
        let m = |name: &str, address: &str, dns: &[&str]| PlannedMember {
            name: name.into(),
            etcd_name: name.to_lowercase(),
            address: address.parse().unwrap(),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            client_port: 2379,
            peer_port: 2380,
        };
        VotePlan {
            token: "lbs-0123456789ab".into(),
            members: vec![
                m("a", "192.168.1.11", &["pbx-a.office.lan"]),
                m("b", "192.168.1.12", &[]),
                m("witness", "fd00::5", &["nas.office.lan"]),
            ],
        }
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        rustls_pemfile::certs(&mut pem.as_bytes()).next().unwrap().unwrap()
    }

    fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(ca_pem)).unwrap();
        Arc::new(roots)
    }

    fn server_verifier(ca_pem: &str) -> Arc<rustls::client::WebPkiServerVerifier> {
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots(ca_pem), lbs_tls::provider())
            .build()
            .unwrap()
    }

    fn verify_server(ca_pem: &str, cert_pem: &str, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        server_verifier(ca_pem)
            .verify_server_cert(&der(cert_pem), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn each_member_is_a_server_for_its_addresses_and_names_under_the_vote_ca() {
        let p = plan();
        let issued = issue(&p).unwrap();
        assert_eq!(issued.members.len(), 3);
        let (a, w) = (&issued.members[0].cert_pem, &issued.members[2].cert_pem);
        verify_server(&issued.ca_pem, a, "192.168.1.11").unwrap();
        verify_server(&issued.ca_pem, a, "pbx-a.office.lan").unwrap();
        verify_server(&issued.ca_pem, w, "fd00::5").unwrap();
        verify_server(&issued.ca_pem, w, "nas.office.lan").unwrap();
        // Only its own address: A's certificate is not B's, nor the witness's.
        assert!(verify_server(&issued.ca_pem, a, "192.168.1.12").is_err());
        assert!(verify_server(&issued.ca_pem, w, "192.168.1.11").is_err());
        // Another vote's CA does not vouch for it.
        let other = issue(&p).unwrap();
        assert!(matches!(
            verify_server(&other.ca_pem, a, "192.168.1.11"),
            Err(rustls::Error::InvalidCertificate(_))
        ));
    }

    #[test]
    fn each_member_is_also_a_client_of_the_vote() {
        let issued = issue(&plan()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots(&issued.ca_pem), lbs_tls::provider())
                .build()
                .unwrap();
        for m in &issued.members {
            verifier
                .verify_client_cert(&der(&m.cert_pem), &[], UnixTime::now())
                .unwrap();
        }
        // The CA itself is no client (it only signs).
        assert!(verifier
            .verify_client_cert(&der(&issued.ca_pem), &[], UnixTime::now())
            .is_err());
    }

    #[test]
    fn each_key_belongs_to_its_certificate_and_stays_out_of_debug() {
        let issued = issue(&plan()).unwrap();
        for m in &issued.members {
            let key = rustls_pemfile::private_key(&mut m.key_pem.as_bytes()).unwrap().unwrap();
            let signing = lbs_tls::provider().key_provider.load_private_key(key).unwrap();
            let certified = rustls::sign::CertifiedKey::new(vec![der(&m.cert_pem)], signing);
            certified.keys_match().unwrap();
        }
        let shown = format!("{issued:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
