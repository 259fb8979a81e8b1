//! The partner box: its record (from pairing, in `agent.db`) and the mutual-TLS client that talks
//! to it. Agent-to-agent calls present this box's certificate and accept only the partner's.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use crate::identity::Identity;
use crate::refusal::Refusal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub server_id: String,
    pub name: String,
    /// `host:port` of its API.
    pub address: String,
    /// SHA-256 of its certificate, lowercase hex.
    pub fingerprint: String,
    pub paired_unix: i64,
}

#[derive(Clone)]
pub struct PeerStore {
    pool: SqlitePool,
}

impl PeerStore {
    pub fn new(pool: SqlitePool) -> Self {
        PeerStore { pool }
    }

    pub async fn load(&self) -> Result<Option<Peer>, sqlx::Error> {
        let row: Option<(String, String, String, String, i64)> =
            sqlx::query_as("SELECT server_id, name, address, fingerprint, paired_unix FROM peer WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(server_id, name, address, fingerprint, paired_unix)| Peer {
            server_id,
            name,
            address,
            fingerprint,
            paired_unix,
        }))
    }

    pub async fn save(&self, peer: &Peer) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT OR REPLACE INTO peer (id, server_id, name, address, fingerprint, paired_unix) VALUES (1, ?, ?, ?, ?, ?)",
        )
        .bind(&peer.server_id)
        .bind(&peer.name)
        .bind(&peer.address)
        .bind(&peer.fingerprint)
        .bind(peer.paired_unix)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn forget(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM peer").execute(&self.pool).await?;
        Ok(())
    }
}

/// An HTTPS client that presents our certificate and trusts only `pin`. No overall timeout (a
/// large recording may take long under a bandwidth cap), but a stalled read fails.
pub fn client(identity: &Identity, pin: &str) -> Result<reqwest::Client, Refusal> {
    let tls = lbs_tls::mutual_client_config(
        pin.to_owned(),
        Arc::default(),
        identity.cert_der.clone(),
        identity.key_der.clone_key(),
    )
    .map_err(Refusal::internal)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(30))
        // The partner closes a connection idle for 15 s (its header timeout): drop ours sooner,
        // so a request is never sent on a connection the other side is closing.
        .pool_idle_timeout(Duration::from_secs(10))
        .build()
        .map_err(Refusal::internal)
}

/// A request error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(err: &reqwest::Error) -> String {
    let mut s = err.to_string();
    let mut src = std::error::Error::source(err);
    while let Some(e) = src {
        s.push_str(": ");
        s.push_str(&e.to_string());
        src = e.source();
    }
    s
}

/// The URL of a partner route.
pub fn url(address: &str, route: &str) -> String {
    format!("https://{address}{}{route}", lbs_protocol::PEER_PREFIX)
}

/// How a request to the partner failed; each caller puts it into its own words.
pub enum CallError {
    /// No answer (no connection, a timeout, a transfer that broke off): the chain of causes.
    Silent(String),
    /// It answered with an error status and this reason.
    Refused(reqwest::StatusCode, String),
    /// It answered, but the body could not be read.
    Unreadable(String),
}

/// Sends a request to the partner and decodes its JSON answer.
pub async fn call<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, CallError> {
    let response = request.send().await.map_err(|e| CallError::Silent(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(CallError::Refused(status, refusal_message(response).await));
    }
    response.json().await.map_err(|e| CallError::Unreadable(e.to_string()))
}

/// As [`call`], for an answer that has no reason to be large: one over `max` bytes is refused
/// unread (a partner gone wrong cannot make this box hold it in memory).
pub async fn call_capped<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    max: usize,
) -> Result<T, CallError> {
    let mut response = request.send().await.map_err(|e| CallError::Silent(error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(CallError::Refused(status, refusal_message(response).await));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| CallError::Silent(error_chain(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(CallError::Unreadable(format!("the answer is larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| CallError::Unreadable(e.to_string()))
}

/// The plain-language reason in a refusal from the partner (its `ApiError`), or the status.
pub async fn refusal_message(response: reqwest::Response) -> String {
    let status = response.status();
    response
        .json::<lbs_protocol::ApiError>()
        .await
        .map(|e| e.message)
        .unwrap_or_else(|_| status.to_string())
}
