//! `GET /sync` (any token): the sync status. `POST /pair` and `DELETE /pair` (admin): join a
//! primary as its backup, or forget the partner.

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::get;
use axum::{Extension, Json, Router};
use lbs_protocol::{PairWith, SyncStatus};

use super::auth::require_admin;
use super::error::HttpError;
use super::extract::Body;
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    let admin = Router::new()
        .route("/pair", axum::routing::post(pair).delete(unpair))
        .layer(from_fn(require_admin));
    Router::new().route("/sync", get(status)).merge(admin)
}

async fn status(State(state): State<Arc<AppState>>) -> Result<Json<SyncStatus>, HttpError> {
    Ok(Json(
        lbs_agent_core::sync::status::status(&state.sync, &state.history).await?,
    ))
}

async fn pair(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<PairWith>,
) -> Result<Json<SyncStatus>, HttpError> {
    state.failover.join(&req.link, &who.actor()).await?;
    status(State(state)).await
}

async fn unpair(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<SyncStatus>, HttpError> {
    state.failover.unpair(&who.actor()).await?;
    status(State(state)).await
}
