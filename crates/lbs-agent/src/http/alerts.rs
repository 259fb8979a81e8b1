//! `GET /alerts` (any token): each alert channel's outbox and whether it is failing, and the
//! problems open now. `POST /alerts/test` (admin): a test alert through every channel at once,
//! with each server's answer (`lbs-agent alert test`).

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use lbs_protocol::{AlertTestReport, AlertsStatus};

use super::auth::require_admin;
use super::error::HttpError;
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    let admin = Router::new()
        .route("/alerts/test", post(test))
        .layer(from_fn(require_admin));
    Router::new().route("/alerts", get(status)).merge(admin)
}

async fn status(State(state): State<Arc<AppState>>) -> Result<Json<AlertsStatus>, HttpError> {
    Ok(Json(state.alerts.status().await?))
}

async fn test(State(state): State<Arc<AppState>>, Extension(who): Extension<Principal>) -> Json<AlertTestReport> {
    Json(state.alerts.test(&state.failover, &who.actor()).await)
}
