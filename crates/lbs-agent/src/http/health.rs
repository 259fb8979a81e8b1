//! `GET /health` (any token): this box and its partner side by side — what each is made of —
//! and what differs between them that matters for a failover, the most severe first.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use lbs_protocol::PairHealth;

use super::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<Arc<AppState>>) -> Json<PairHealth> {
    Json(state.health().await)
}
