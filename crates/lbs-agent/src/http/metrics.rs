//! `/metrics/series`, `/metrics/history` and `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use lbs_protocol::{HistoryQuery, HistoryResponse, SeriesList};

use super::extract::Params;
use super::{AppState, HttpError};

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/metrics/series", get(series))
        .route("/metrics/history", get(history))
}

async fn series(State(state): State<Arc<AppState>>) -> Result<Json<SeriesList>, HttpError> {
    Ok(Json(SeriesList {
        series: state.history.series().await?,
    }))
}

async fn history(
    State(state): State<Arc<AppState>>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<HistoryResponse>, HttpError> {
    Ok(Json(state.history.query(&q).await?))
}

async fn prometheus(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, HttpError> {
    let latest = state.history.latest().await?;
    let failover = state.failover.status().await?;
    let sync = lbs_agent_core::sync::status::status(&state.sync, &state.history).await?;
    let alerts = state.alerts.status().await?;
    let maintenance = state.maintenance();
    let health = state.health().await;
    let body = crate::prometheus::render(&crate::prometheus::Snapshot {
        server_id: &state.identity.server_id,
        name: &state.config.server.name,
        started_unix: state.started_unix,
        failover: &failover,
        sync: &sync,
        maintenance: maintenance.as_ref(),
        latest: &latest,
        alerts: &alerts,
        health: &health,
    });
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body))
}
