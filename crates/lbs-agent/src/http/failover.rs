//! `GET /failover`, `GET /events`, `GET /quarantine` (any token); `POST /promote`, `/demote`,
//! `/switchover` and `/quarantine/restore` (admin). Thin: the decisions live in `failover`.

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use lbs_protocol::{
    DemoteRequest, EventList, FailoverStatus, PromoteRequest, QuarantineList, RestoreRequest, RoleChange,
    SwitchoverRequest,
};
use serde::Deserialize;

use super::auth::require_admin;
use super::error::HttpError;
use super::extract::{Body, Params};
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    let admin = Router::new()
        .route("/promote", post(promote))
        .route("/demote", post(demote))
        .route("/switchover", post(switchover))
        .route("/quarantine/restore", post(restore))
        .layer(from_fn(require_admin));
    Router::new()
        .route("/failover", get(status))
        .route("/events", get(events))
        .route("/quarantine", get(quarantine))
        .merge(admin)
}

async fn status(State(state): State<Arc<AppState>>) -> Result<Json<FailoverStatus>, HttpError> {
    Ok(Json(state.failover.status().await?))
}

async fn promote(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<PromoteRequest>,
) -> Result<Json<RoleChange>, HttpError> {
    Ok(Json(state.failover.promote(req, &who.actor()).await?))
}

async fn demote(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<DemoteRequest>,
) -> Result<Json<RoleChange>, HttpError> {
    Ok(Json(state.failover.demote(req, &who.actor()).await?))
}

async fn switchover(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<SwitchoverRequest>,
) -> Result<Json<RoleChange>, HttpError> {
    Ok(Json(state.failover.switchover(req, &who.actor()).await?))
}

#[derive(Deserialize)]
struct EventQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

async fn events(
    State(state): State<Arc<AppState>>,
    Params(q): Params<EventQuery>,
) -> Result<Json<EventList>, HttpError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events = state.failover.events.list(limit, q.before).await?;
    Ok(Json(EventList { events }))
}

async fn quarantine(State(state): State<Arc<AppState>>) -> Result<Json<QuarantineList>, HttpError> {
    Ok(Json(lbs_agent_core::failover::quarantine::list(&state.failover).await?))
}

async fn restore(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<RestoreRequest>,
) -> Result<Json<QuarantineList>, HttpError> {
    lbs_agent_core::failover::quarantine::restore(&state.failover, req.id, req.replace, &who.actor()).await?;
    quarantine(State(state)).await
}
