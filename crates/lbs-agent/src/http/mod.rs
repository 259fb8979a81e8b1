//! The agent's HTTPS API: `fn app(state) -> Router`, apart from the socket so tests and the TLS
//! server share it. One module per resource; `auth` and `error` are cross-cutting.

mod auth;
mod error;
mod failover;
mod metrics;
mod partner;
mod peer;
mod status;
mod sync;
mod tokens;
mod trash;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use lbs_protocol::Health;
use tokio::sync::RwLock;

pub use error::HttpError;

use crate::config::Config;
use crate::failover::Failover;
use crate::identity::Identity;
use crate::peer::{Peer, PeerStore};
use crate::role::RoleState;
use crate::sync::SyncEngine;
use crate::tokens::TokenStore;

/// Everything a request handler may need.
pub struct AppState {
    pub config: Config,
    pub identity: Arc<Identity>,
    pub role: Arc<RwLock<RoleState>>,
    pub peer: Arc<RwLock<Option<Peer>>>,
    pub peers: PeerStore,
    pub sync: Arc<SyncEngine>,
    pub failover: Arc<Failover>,
    pub tokens: TokenStore,
    pub history: lbs_history::HistoryStore,
    pub started: Instant,
    /// The same moment as Unix time, read once: a value derived again at each scrape would
    /// wobble by a second and look like a restart.
    pub started_unix: i64,
}

impl AppState {
    /// Makes `peer` this box's partner (`None`: no partner): the durable record first, then the
    /// running agent and the sync engine, which forgets what it knew of the previous partner.
    pub async fn set_peer(&self, peer: Option<Peer>) -> Result<(), sqlx::Error> {
        match &peer {
            Some(p) => self.peers.save(p).await?,
            None => self.peers.forget().await?,
        }
        *self.peer.write().await = peer;
        // What the old partner acknowledged says nothing about the new one.
        if let Err(e) = self.sync.journal.set_peer_acked(None).await {
            tracing::warn!(error = %e, "cannot forget the old partner's acknowledgement");
        }
        self.sync.peer_changed();
        self.failover.forget_partner();
        Ok(())
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .merge(tokens::router())
        .layer(axum::middleware::from_fn(auth::require_admin));
    let api = Router::new()
        .merge(status::router())
        .merge(metrics::router())
        .merge(sync::router())
        .merge(failover::router())
        .merge(trash::router())
        .merge(partner::router())
        .merge(admin)
        .fallback(|| async { HttpError::NotFound("no such API route".into()) })
        .layer(from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(|| async { Json(Health { ok: true }) }))
        .nest(lbs_protocol::API_PREFIX, api)
        .nest(lbs_protocol::PEER_PREFIX, peer::router())
        .fallback(|| async { HttpError::NotFound("no such route; the API lives under /api/v1".into()) })
        .with_state(state)
}

/// Turns axum's query-string rejection into our JSON error with a readable reason.
fn bad_query(e: QueryRejection) -> HttpError {
    HttpError::BadRequest(format!("the query string is not valid: {}", e.body_text()))
}

/// Turns axum's JSON body rejection into our JSON error with a readable reason.
fn bad_json(e: JsonRejection) -> HttpError {
    HttpError::BadRequest(format!("the request is not valid: {}", e.body_text()))
}
