//! Certificate pinning, the trust model of every LBS connection.
//!
//! LBS boxes use self-signed certificates: there is no CA in an office. Instead each side pins
//! the SHA-256 fingerprint of the other's certificate (DER), learned from a connection link or
//! confirmed by a person on first use. This crate owns the fingerprint function and the rustls
//! verifiers that enforce a pin; it knows nothing about HTTP.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

/// SHA-256 of a DER certificate as 64 lowercase hex digits.
pub fn fingerprint(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}

/// `AB:CD:...` form for people to read.
pub fn display_fingerprint(hex_fp: &str) -> String {
    hex_fp
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// The crypto provider every LBS TLS config uses (ring: pure and portable to Windows/macOS).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the peer presented, recorded by the verifier so callers can tell a pin mismatch apart
/// from other TLS failures and show the presented fingerprint.
#[derive(Debug, Default)]
pub struct Presented(Mutex<Option<String>>);

impl Presented {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
    fn set(&self, fp: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(fp);
        }
    }
}

/// Accepts exactly one certificate, by fingerprint; or, with no pin, accepts any certificate and
/// only records it (used solely to show a person what an address presents before they trust it).
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pin: Option<String>,
    presented: Arc<Presented>,
    provider: Arc<CryptoProvider>,
}

impl PinnedServerVerifier {
    pub fn new(pin: Option<String>, presented: Arc<Presented>) -> Self {
        PinnedServerVerifier {
            pin: pin.map(|p| p.to_ascii_lowercase()),
            presented,
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity.as_ref());
        self.presented.set(fp.clone());
        match &self.pin {
            Some(pin) if *pin != fp => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    // Signatures are still checked: a pinned certificate is worthless if the peer need not hold
    // its private key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The server side of mutual TLS between paired agents: a client *may* present a certificate
/// (the partner box does; a console does not). Any certificate is accepted at the TLS layer, with
/// its signature checked, and the HTTP layer compares its fingerprint with the pinned partner's —
/// the pin can change at run time (pairing) while the TLS config cannot.
#[derive(Debug)]
pub struct OptionalClientCert {
    provider: Arc<CryptoProvider>,
}

impl OptionalClientCert {
    pub fn new() -> Self {
        OptionalClientCert { provider: provider() }
    }
}

impl Default for OptionalClientCert {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCertVerifier for OptionalClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not set up TLS: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// A client config that trusts only the certificate with fingerprint `pin` (or, with `None`,
/// records whatever is presented — never use that to send a secret).
pub fn pinned_client_config(pin: Option<String>, presented: Arc<Presented>) -> Result<ClientConfig, TlsSetupError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(pin, presented)))
        .with_no_client_auth();
    Ok(config)
}

/// As [`pinned_client_config`] with a pin, presenting our own certificate: how one agent talks
/// to its paired partner.
pub fn mutual_client_config(
    pin: String,
    presented: Arc<Presented>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, TlsSetupError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(Some(pin), presented)))
        .with_client_auth_cert(vec![cert], key)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn display_groups_pairs() {
        assert_eq!(display_fingerprint("ab01ff"), "AB:01:FF");
    }

    #[test]
    fn verifier_refuses_a_different_certificate_and_records_it() {
        let presented = Arc::new(Presented::default());
        let v = PinnedServerVerifier::new(Some(fingerprint(b"cert-a")), presented.clone());
        let name = ServerName::try_from("x").unwrap();
        let b = CertificateDer::from(b"cert-b".to_vec());
        assert!(v.verify_server_cert(&b, &[], &name, &[], UnixTime::now()).is_err());
        assert_eq!(presented.get(), Some(fingerprint(b"cert-b")));
        let a = CertificateDer::from(b"cert-a".to_vec());
        assert!(v.verify_server_cert(&a, &[], &name, &[], UnixTime::now()).is_ok());
    }
}
