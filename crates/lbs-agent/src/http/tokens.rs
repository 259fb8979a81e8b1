//! `/tokens` (admin only): list, create and revoke access tokens from the console.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use lbs_protocol::{TokenCreated, TokenInfo, TokenRole};
use serde::Deserialize;

use super::extract::Body;
use super::{AppState, HttpError};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    role: TokenRole,
    #[serde(default)]
    label: String,
}

async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Vec<TokenInfo>>, HttpError> {
    Ok(Json(state.tokens.list().await?))
}

async fn create(
    State(state): State<Arc<AppState>>,
    Body(new): Body<NewToken>,
) -> Result<(StatusCode, Json<TokenCreated>), HttpError> {
    let created = state.tokens.create(new.role, &new.label).await?;
    tracing::info!(id = %created.info.id, role = %created.info.role, "token created through the API");
    Ok((StatusCode::CREATED, Json(created)))
}

async fn revoke(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, HttpError> {
    state.tokens.revoke(&id).await?;
    tracing::info!(%id, "token revoked through the API");
    Ok(StatusCode::NO_CONTENT)
}
