//! `POST /partner/link`: a connection link to the partner box, with a token the partner issues
//! through the paired link, so the console adds the whole office from one link. The caller's
//! token role carries over: a viewer gets a viewer's link.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use lbs_protocol::PartnerLink;

use super::{AppState, HttpError};
use lbs_agent_core::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/partner/link", post(link))
}

async fn link(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<PartnerLink>, HttpError> {
    let link = state.failover.partner_link(who.role, &who.token_id).await?;
    Ok(Json(PartnerLink { link: link.to_string() }))
}
