//! `GET /maintenance` (any token); `POST /maintenance` and `DELETE /maintenance` (admin): the
//! pair's maintenance mode. Thin: the rules and the telling of the partner live in `failover`.

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::post;
use axum::{Extension, Json, Router};
use lbs_protocol::{MaintenanceAnswer, MaintenanceEndRequest, MaintenanceRequest};

use super::auth::require_admin;
use super::error::HttpError;
use super::extract::Body;
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    // One path, two guards: the admin check wraps only the methods that change something.
    let change = post(start).delete(end).route_layer(from_fn(require_admin));
    Router::new().route("/maintenance", change.get(now))
}

async fn now(State(state): State<Arc<AppState>>) -> Json<MaintenanceAnswer> {
    Json(state.failover.maintenance_now())
}

async fn start(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<MaintenanceRequest>,
) -> Result<Json<MaintenanceAnswer>, HttpError> {
    Ok(Json(
        state.failover.start_maintenance(req, &who.actor(), &who.name()).await?,
    ))
}

async fn end(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<MaintenanceEndRequest>,
) -> Result<Json<MaintenanceAnswer>, HttpError> {
    Ok(Json(
        state.failover.end_maintenance(req, &who.actor(), &who.name()).await?,
    ))
}
