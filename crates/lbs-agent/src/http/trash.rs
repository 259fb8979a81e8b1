//! `GET /trash[?path=…]` (any token): the files deleted on the primary that this box keeps (only
//! the copies of one path with `path`, so an old one is found beyond the newest listed).
//! `POST /trash/restore` (admin): put one back on the primary. Thin: `failover::trash` decides.

use std::sync::Arc;

use axum::extract::State;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use lbs_protocol::{TrashList, TrashRestoreRequest, TrashRestored};

use super::auth::require_admin;
use super::error::HttpError;
use super::extract::{Body, Params};
use super::AppState;
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    let admin = Router::new()
        .route("/trash/restore", post(restore))
        .layer(from_fn(require_admin));
    Router::new().route("/trash", get(list)).merge(admin)
}

#[derive(Debug, serde::Deserialize)]
struct TrashQuery {
    /// Only the copies of the file that lived here (relative to its category's folder).
    path: Option<String>,
}

async fn list(State(state): State<Arc<AppState>>, Params(q): Params<TrashQuery>) -> Result<Json<TrashList>, HttpError> {
    Ok(Json(
        lbs_agent_core::failover::trash::list(&state.sync, q.path.as_deref()).await,
    ))
}

async fn restore(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Body(req): Body<TrashRestoreRequest>,
) -> Result<Json<TrashRestored>, HttpError> {
    let (path, detail) = lbs_agent_core::failover::trash::restore(&state.failover, &req, &who.actor()).await?;
    Ok(Json(TrashRestored {
        path: path.to_string(),
        message: detail,
    }))
}
