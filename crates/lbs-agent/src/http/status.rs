//! `GET /status`: who this box is, its role and epoch, and what it knows of its partner.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use lbs_protocol::ServerStatus;

use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/status", get(status))
}

async fn status(State(state): State<Arc<AppState>>, Extension(who): Extension<Principal>) -> Json<ServerStatus> {
    Json(state.status(who.role).await)
}
