//! `/peer/v1`: what one agent asks of the other, over mutual TLS. Pairing needs the primary's
//! admin token *and* a client certificate (which it then pins); every other route needs the
//! paired partner's certificate ([`Partner`]) and nothing else. Each handler extracts, calls the
//! domain (`sync::serving`, `failover`) and answers.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use lbs_agent_core::failover::quarantine;
use lbs_agent_core::peer::Peer;
use lbs_agent_core::refusal::Refusal;
use lbs_agent_core::sync::serving;
use lbs_agent_core::witness;
use lbs_protocol::{
    BundleRequest, ContentQuery, ForwardedSwitchover, HandoverRequest, HandoverResponse, HashesRequest, HashesResponse,
    Heartbeat, PairRequest, PairResponse, PullRequest, PullResponse, RestoreQuery, RoleChange, TokenRole,
    CONTENT_ENCODING_HEADER,
};

use super::auth::slow_failure;
use super::error::HttpError;
use super::extract::{Body, Params, Raw};
use super::AppState;
use crate::serve::ClientCert;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/pair", post(pair))
        .route("/changes", post(changes))
        .route("/content", get(content))
        .route("/bundle", post(bundle))
        .route("/heartbeat", post(heartbeat))
        .route("/handover", post(handover))
        .route("/switchover", post(switchover))
        .route("/hashes", post(hashes))
        .route("/link", post(link))
        .route("/maintenance", post(maintenance))
        .route(lbs_protocol::INVENTORY_ROUTE, get(inventory))
        .route(lbs_protocol::WITNESS_ENROLL_ROUTE, post(witness_enroll))
        .route(
            "/restore",
            post(restore).layer(axum::extract::DefaultBodyLimit::max(lbs_protocol::RESTORE_MAX as usize)),
        )
        .fallback(|| async { HttpError::from(Refusal::not_found("no such partner route")) })
}

/// The caller, proven to be the paired partner by its certificate. Extracted before the body,
/// so a stranger learns nothing, not even what a valid request looks like.
struct Partner(Peer);

impl FromRequestParts<Arc<AppState>> for Partner {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let presented = parts.extensions.get::<ClientCert>().and_then(|c| c.0.clone());
        let Some(fp) = presented else {
            slow_failure(&parts.extensions, "partner requests without a certificate").await?;
            return Err(Refusal::unauthorized("partner routes need the partner box's certificate (mutual TLS)").into());
        };
        let refusal = match state.peer.read().await.clone() {
            Some(p) if p.fingerprint == fp => return Ok(Partner(p)),
            Some(_) => {
                tracing::debug!(presented = %fp, "a box that is not our partner tried a partner route");
                Refusal::forbidden(
                    "this certificate is not the paired partner's; pair the boxes again if one was reinstalled",
                )
            }
            None => Refusal::forbidden("this box is not paired with any partner"),
        };
        // Logged (rate-limited, with the address) by the throttle.
        slow_failure(
            &parts.extensions,
            "partner requests with a certificate that is not the partner's",
        )
        .await?;
        Err(refusal.into())
    }
}

/// The primary's admin token from the link, checked (like [`Partner`]) before the body is read.
struct PairingToken;

impl FromRequestParts<Arc<AppState>> for PairingToken {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        match state.tokens.verify(token).await? {
            Some(p) if p.role == TokenRole::Admin => Ok(PairingToken),
            Some(_) => Err(Refusal::forbidden("pairing needs an admin token of the primary").into()),
            None => {
                slow_failure(&parts.extensions, "pairing tokens").await?;
                Err(Refusal::unauthorized(
                    "the access token in the link is not valid: it was mistyped or has been revoked",
                )
                .into())
            }
        }
    }
}

async fn pair(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    _: PairingToken,
    Body(req): Body<PairRequest>,
) -> Result<Json<PairResponse>, HttpError> {
    let Some(fingerprint) = cert.0 else {
        return Err(Refusal::unauthorized("pairing needs the joining box's certificate (mutual TLS)").into());
    };
    Ok(Json(state.failover.accept_backup(req, fingerprint).await?))
}

/// The partner asks for a token for the console it is talking to (`/api/v1/partner/link`); the
/// mutual-TLS link proves the request comes from the paired box, and the role is the console's.
async fn link(
    State(state): State<Arc<AppState>>,
    Partner(partner): Partner,
    Body(req): Body<lbs_protocol::PartnerTokenRequest>,
) -> Result<Json<lbs_protocol::TokenCreated>, HttpError> {
    Ok(Json(state.token_for_partner(&partner, req).await?))
}

async fn changes(
    State(state): State<Arc<AppState>>,
    _: Partner,
    Body(req): Body<PullRequest>,
) -> Result<Json<PullResponse>, HttpError> {
    Ok(Json(serving::changes(&state.sync, req).await?))
}

fn encoding(compressed: bool) -> [(&'static str, &'static str); 1] {
    [(CONTENT_ENCODING_HEADER, if compressed { "zstd" } else { "identity" })]
}

async fn content(
    State(state): State<Arc<AppState>>,
    _: Partner,
    Params(q): Params<ContentQuery>,
) -> Result<Response, HttpError> {
    let content = serving::content(&state.sync, q).await?;
    Ok((
        encoding(content.compressed),
        axum::body::Body::from_stream(content.stream),
    )
        .into_response())
}

/// Many small files in one answer (see `lbs_protocol::BUNDLE_OK` for the framing).
async fn bundle(
    State(state): State<Arc<AppState>>,
    _: Partner,
    Body(req): Body<BundleRequest>,
) -> Result<Response, HttpError> {
    let (body, compressed) = serving::bundle(&state.sync, req).await?;
    Ok((encoding(compressed), body).into_response())
}

/// Both ways: the partner says who it is and its role; this box answers the same.
async fn heartbeat(
    State(state): State<Arc<AppState>>,
    Partner(peer): Partner,
    Body(hb): Body<Heartbeat>,
) -> Result<Json<Heartbeat>, HttpError> {
    Ok(Json(state.failover.heard(&peer, hb).await?))
}

/// What this box is made of, for the partner's side-by-side comparison (fetched when the digest
/// in this box's heartbeat changes).
async fn inventory(State(state): State<Arc<AppState>>, _: Partner) -> Json<lbs_protocol::MachineInventory> {
    let mut inventory = (*state.inventory.current_or_collect().await).clone();
    inventory.role = state.role.get().role;
    Json(inventory)
}

/// The partner's maintenance record (set or ended there): taken if newer; answers this box's.
async fn maintenance(
    State(state): State<Arc<AppState>>,
    Partner(peer): Partner,
    Body(record): Body<lbs_protocol::MaintenanceRecord>,
) -> Result<Json<Option<lbs_protocol::MaintenanceRecord>>, HttpError> {
    Ok(Json(state.failover.maintenance_from_partner(&peer, record).await?))
}

/// The partner made a new vote for automatic failover (`lbs-agent witness setup --witness …`
/// there): this box keeps its member until `lbs-agent witness setup` here installs it.
async fn witness_enroll(
    State(state): State<Arc<AppState>>,
    Partner(peer): Partner,
    Body(enrollment): Body<lbs_protocol::WitnessEnrollment>,
) -> Result<Json<lbs_protocol::WitnessEnrolled>, HttpError> {
    witness::enrollment::receive(&state.config.server.state_dir, &peer.name, &enrollment).map_err(Refusal::from)?;
    Ok(Json(lbs_protocol::WitnessEnrolled {
        name: state.config.server.name.clone(),
    }))
}

/// The backup runs a switchover; this primary stops, flushes, and hands over.
async fn handover(
    State(state): State<Arc<AppState>>,
    _: Partner,
    Body(req): Body<HandoverRequest>,
) -> Result<Json<HandoverResponse>, HttpError> {
    Ok(Json(state.failover.handover(req).await?))
}

/// A switchover asked of the partner (the primary), which this box (the backup) runs.
async fn switchover(
    State(state): State<Arc<AppState>>,
    Partner(peer): Partner,
    Body(req): Body<ForwardedSwitchover>,
) -> Result<Json<RoleChange>, HttpError> {
    Ok(Json(state.failover.switchover_for_partner(&peer, req).await?))
}

/// The current version of some files in this box's journal.
async fn hashes(
    State(state): State<Arc<AppState>>,
    _: Partner,
    Body(req): Body<HashesRequest>,
) -> Result<Json<HashesResponse>, HttpError> {
    Ok(Json(serving::hashes(&state.sync, req).await?))
}

/// A file sent back by the partner (from its quarantine or its trash), to be put in place on
/// this primary.
async fn restore(
    State(state): State<Arc<AppState>>,
    Partner(peer): Partner,
    Params(q): Params<RestoreQuery>,
    Raw(body): Raw,
) -> Result<Json<lbs_protocol::Health>, HttpError> {
    quarantine::receive(&state.failover, &peer, q, body).await?;
    Ok(Json(lbs_protocol::Health { ok: true }))
}
