//! The box's identity: a server ID and a self-signed TLS certificate whose SHA-256 fingerprint
//! is what consoles and the partner box pin. Created once by `lbs-agent init`, never overwritten.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fsutil;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("this box already has an identity in {0}; refusing to overwrite it (the consoles and the partner box pin it). To start over, move that directory away first")]
    Exists(PathBuf),
    #[error("this box has no identity yet in {0}: run `lbs-agent init --config <file>` first")]
    Missing(PathBuf),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the identity file {path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("could not create the TLS certificate: {0}")]
    Certificate(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdentityFile {
    server_id: String,
    created_unix: i64,
}

/// The loaded identity.
pub struct Identity {
    pub server_id: String,
    pub cert_der: CertificateDer<'static>,
    pub(crate) key_der: PrivateKeyDer<'static>,
    pub fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("server_id", &self.server_id)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

fn paths(state_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        state_dir.join("identity.json"),
        state_dir.join("tls").join("cert.pem"),
        state_dir.join("tls").join("key.pem"),
    )
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IdentityError + 'a {
    move |source| IdentityError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

impl Identity {
    /// Creates a new identity. `names` go into the certificate's subject alternative names (not
    /// relied upon — peers pin the fingerprint — but they make the certificate readable).
    pub fn create(state_dir: &Path, names: Vec<String>) -> Result<Identity, IdentityError> {
        let (id_path, cert_path, key_path) = paths(state_dir);
        if id_path.exists() || cert_path.exists() || key_path.exists() {
            return Err(IdentityError::Exists(state_dir.to_owned()));
        }
        let tls_dir = state_dir.join("tls");
        fsutil::create_private_dir(&tls_dir).map_err(io("create", &tls_dir))?;
        let certified =
            rcgen::generate_simple_self_signed(names).map_err(|e| IdentityError::Certificate(e.to_string()))?;
        fsutil::write_atomic(&key_path, certified.key_pair.serialize_pem().as_bytes(), true)
            .map_err(io("write", &key_path))?;
        fsutil::write_atomic(&cert_path, certified.cert.pem().as_bytes(), false).map_err(io("write", &cert_path))?;
        let file = IdentityFile {
            server_id: uuid::Uuid::new_v4().to_string(),
            created_unix: crate::clock::now_unix(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| IdentityError::Certificate(e.to_string()))?;
        // Written last: its presence marks a complete identity.
        fsutil::write_atomic(&id_path, &json, false).map_err(io("write", &id_path))?;
        Identity::load(state_dir)
    }

    pub fn load(state_dir: &Path) -> Result<Identity, IdentityError> {
        let (id_path, cert_path, key_path) = paths(state_dir);
        if !id_path.exists() {
            return Err(IdentityError::Missing(state_dir.to_owned()));
        }
        let file: IdentityFile = serde_json::from_slice(&std::fs::read(&id_path).map_err(io("read", &id_path))?)
            .map_err(|e| IdentityError::Damaged {
                path: id_path.clone(),
                reason: e.to_string(),
            })?;
        let cert_pem = std::fs::read(&cert_path).map_err(io("read", &cert_path))?;
        let cert_der = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .next()
            .and_then(|c| c.ok())
            .ok_or_else(|| IdentityError::Damaged {
                path: cert_path.clone(),
                reason: "no certificate in it".into(),
            })?;
        let key_pem = std::fs::read(&key_path).map_err(io("read", &key_path))?;
        let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .ok()
            .flatten()
            .ok_or_else(|| IdentityError::Damaged {
                path: key_path.clone(),
                reason: "no private key in it".into(),
            })?;
        let fingerprint = lbs_tls::fingerprint(cert_der.as_ref());
        Ok(Identity {
            server_id: file.server_id,
            cert_der,
            key_der,
            fingerprint,
        })
    }

    /// TLS server config presenting this identity.
    pub fn server_tls_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        let mut config = rustls::ServerConfig::builder_with_provider(lbs_tls::provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_client_cert_verifier(Arc::new(lbs_tls::OptionalClientCert::new()))
                    .with_single_cert(vec![self.cert_der.clone()], self.key_der.clone_key())
            })
            .map_err(|e| IdentityError::Certificate(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_gives_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let created = Identity::create(dir.path(), vec!["localhost".into()]).unwrap();
        let loaded = Identity::load(dir.path()).unwrap();
        assert_eq!(created.server_id, loaded.server_id);
        assert_eq!(created.fingerprint, loaded.fingerprint);
        assert_eq!(created.fingerprint.len(), 64);
        assert!(loaded.server_tls_config().is_ok());
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::create(dir.path(), vec!["localhost".into()]).unwrap();
        let err = Identity::create(dir.path(), vec!["localhost".into()]).unwrap_err();
        assert!(matches!(err, IdentityError::Exists(_)));
        assert_eq!(Identity::load(dir.path()).unwrap().fingerprint, first.fingerprint);
    }

    #[test]
    fn missing_identity_says_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("lbs-agent init"), "{err}");
    }
}
