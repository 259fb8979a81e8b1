//! `POST /partner/link`: a connection link to the partner box, with a token the partner issues
//! through the paired link, so the console adds the whole office from one link. The caller's
//! token role carries over: a viewer gets a viewer's link.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use lbs_protocol::{ConnectionLink, PartnerLink, PartnerTokenRequest, TokenCreated};

use super::{AppState, HttpError};
use crate::peer::CallError;
use crate::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/partner/link", post(link))
}

async fn link(
    State(state): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<PartnerLink>, HttpError> {
    let Some(peer) = state.peer.read().await.clone() else {
        return Err(HttpError::Conflict(format!(
            "{} has no partner box yet: pair the backup with it first (`lbs-agent setup --partner …` on the backup)",
            state.config.server.name
        )));
    };
    let client = state.sync.client_for(&peer).map_err(HttpError::Internal)?;
    let request = PartnerTokenRequest {
        role: who.role,
        // Names the token it came from, so an admin who revokes that one finds this one too.
        label: format!(
            "LBS Console (through {}, token {})",
            state.config.server.name, who.token_id
        ),
    };
    let created: TokenCreated = crate::peer::call(
        client
            .post(crate::peer::url(&peer.address, "/link"))
            .json(&request)
            .timeout(Duration::from_secs(15)),
    )
    .await
    .map_err(|e| match e {
        CallError::Silent(why) => HttpError::BadGateway(format!(
            "{} at {} does not answer: it may be switched off or cut off. Add it once it is back, or with its \
             own link. (Details: {why})",
            peer.name, peer.address
        )),
        CallError::Refused(_, why) => HttpError::BadGateway(format!("the partner {} refused: {why}", peer.name)),
        CallError::Unreadable(why) => {
            HttpError::BadGateway(format!("the partner {}'s answer could not be read: {why}", peer.name))
        }
    })?;
    tracing::info!(partner = %peer.name, role = %who.role, "issued a console link to the partner");
    let link = ConnectionLink {
        address: peer.address,
        // The certificate pinned at pairing, never one the partner announces now.
        fingerprint: peer.fingerprint,
        token: created.token,
        name: Some(peer.name),
    };
    Ok(Json(PartnerLink { link: link.to_string() }))
}
