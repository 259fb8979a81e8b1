//! The agent's HTTPS API: `fn app(state) -> Router`, apart from the socket so tests and the TLS
//! server share it. One module per resource; `auth` and `error` are cross-cutting.

mod auth;
mod error;
mod extract;
mod failover;
mod metrics;
mod partner;
mod peer;
mod status;
mod sync;
mod tokens;
mod trash;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use lbs_protocol::Health;

pub use error::HttpError;

/// Everything a request handler may need: the running agent.
pub type AppState = crate::agent::Agent;

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
