//! `GET /status`: who this box is, its role and epoch, and what it knows of its partner.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use lbs_protocol::{PeerSummary, ServerStatus};

use super::AppState;
use crate::tokens::Principal;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/status", get(status))
}

async fn status(State(state): State<Arc<AppState>>, Extension(who): Extension<Principal>) -> Json<ServerStatus> {
    let role = state.role.get();
    let peer = match state.peer.read().await.clone() {
        None => PeerSummary::Unpaired,
        Some(p) => {
            // The heartbeat knows best: it runs both ways whatever the role.
            let seen = state.failover.partner_view();
            PeerSummary::Paired {
                server_id: p.server_id,
                address: p.address,
                reachable: seen.reachable,
                checked: seen.checked(),
                last_contact_unix: seen.last_contact,
            }
        }
    };
    Json(ServerStatus {
        server_id: state.identity.server_id.clone(),
        name: state.config.server.name.clone(),
        role: role.role,
        standing: state.role.standing(),
        epoch: role.epoch,
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: lbs_protocol::API_VERSION,
        api_min_version: lbs_protocol::API_MIN_VERSION,
        uptime_secs: state.started.elapsed().as_secs(),
        host_uptime_secs: crate::platform::host_uptime_secs(),
        hostname: crate::platform::hostname(),
        fingerprint: state.identity.fingerprint.clone(),
        access: who.role,
        peer,
        sample_interval_secs: state.config.metrics.interval,
    })
}
