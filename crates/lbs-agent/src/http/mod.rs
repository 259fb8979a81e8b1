//! The agent's HTTPS API: `fn app(state) -> Router`, apart from the socket so tests and the TLS
//! server share it. One module per resource; `auth` and `error` are cross-cutting.

mod alerts;
mod auth;
mod autopilot;
mod error;
mod extract;
mod failover;
mod health;
mod maintenance;
mod metrics;
mod partner;
mod peer;
mod status;
mod sync;
mod throttle;
mod tokens;
mod trash;

use lbs_agent_core::refusal::Refusal;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use lbs_protocol::Health;

pub use error::HttpError;

/// Everything a request handler may need: the running agent.
pub type AppState = lbs_agent_core::agent::Agent;

/// A route asked with a method it does not have: our JSON error like every other (axum's own
/// answer is an empty body).
async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Json(lbs_protocol::ApiError {
            code: "method_not_allowed".into(),
            message: format!(
                "{} does not take {method} requests; see docs/agent.md for its methods",
                uri.path()
            ),
        }),
    )
        .into_response()
}

pub fn app(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .merge(tokens::router())
        .layer(axum::middleware::from_fn(auth::require_admin));
    let api = Router::new()
        .merge(status::router())
        .merge(health::router())
        .merge(alerts::router())
        .merge(metrics::router())
        .merge(sync::router())
        .merge(failover::router())
        .merge(trash::router())
        .merge(maintenance::router())
        .merge(autopilot::router())
        .merge(partner::router())
        .merge(admin)
        .method_not_allowed_fallback(wrong_method)
        .fallback(|| async { HttpError::from(Refusal::not_found("no such API route")) })
        .layer(from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(|| async { Json(Health { ok: true }) }))
        .nest(lbs_protocol::API_PREFIX, api)
        .nest(
            lbs_protocol::PEER_PREFIX,
            peer::router().method_not_allowed_fallback(wrong_method),
        )
        .method_not_allowed_fallback(wrong_method)
        .fallback(|| async { HttpError::from(Refusal::not_found("no such route; the API lives under /api/v1")) })
        .layer(axum::Extension(Arc::new(throttle::Throttle::default())))
        .with_state(state)
}
