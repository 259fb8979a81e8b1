//! `GET /autopilot` (any token); `PUT /autopilot` (admin): automatic failover for the pair, on or
//! off. Thin: the rules, the switch and the telling of the partner live in `failover::autopilot`.

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::put;
use axum::{Extension, Json, Router};
use lbs_protocol::{AutopilotAnswer, AutopilotRequest, AutopilotStatus};

use super::auth::require_admin;
use super::error::HttpError;
use super::extract::Body;
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    let change = put(switch).route_layer(from_fn(require_admin));
    Router::new().route("/autopilot", change.get(now))
}

async fn now(State(state): State<Arc<AppState>>) -> Json<AutopilotStatus> {
    Json(state.failover.autopilot_status().await)
}

async fn switch(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<AutopilotRequest>,
) -> Result<Json<AutopilotAnswer>, HttpError> {
    Ok(Json(
        state.failover.set_autopilot(req, &who.actor(), &who.name()).await?,
    ))
}
