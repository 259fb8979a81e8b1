//! `/peer/v1`: what one agent asks of the other, over mutual TLS. Pairing needs the primary's
//! admin token *and* a client certificate (which it then pins); every other route needs the
//! paired partner's certificate and nothing else.

use std::sync::Arc;
use std::time::Duration;

use async_compression::tokio::bufread::ZstdEncoder;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::StreamExt;
use lbs_protocol::{
    BundleRequest, ContentQuery, ForwardedSwitchover, HandoverRequest, HandoverResponse, HashesRequest, HashesResponse,
    Heartbeat, PairRequest, PairResponse, PullRequest, PullResponse, RestoreQuery, Role, SyncLinkState, TokenRole,
    WireChange, BUNDLE_MAX_ITEMS, BUNDLE_OK, BUNDLE_REFUSED, BUNDLE_SUPERSEDED, CONTENT_ENCODING_HEADER,
};
use lbs_sync::paths::RelPath;
use lbs_sync::serve::{self, ServeError};
use tokio::io::{AsyncReadExt, BufReader};
use tokio_util::io::ReaderStream;

use super::error::HttpError;
use super::AppState;
use crate::clock::now_unix;
use crate::peer::Peer;
use crate::serve::ClientCert;
use crate::sync::bundle;

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
        .route(
            "/restore",
            post(restore).layer(axum::extract::DefaultBodyLimit::max(lbs_protocol::RESTORE_MAX as usize)),
        )
        .fallback(|| async { HttpError::NotFound("no such partner route".into()) })
}

/// The caller must be the paired partner, proven by its certificate.
async fn require_partner(state: &AppState, cert: &ClientCert) -> Result<Peer, HttpError> {
    let Some(fp) = &cert.0 else {
        return Err(HttpError::Unauthorized(
            "partner routes need the partner box's certificate (mutual TLS)".into(),
        ));
    };
    match state.peer.read().await.clone() {
        Some(p) if p.fingerprint == *fp => Ok(p),
        Some(_) => {
            tracing::warn!(presented = %fp, "a box that is not our partner tried a partner route");
            Err(HttpError::Forbidden(
                "this certificate is not the paired partner's; pair the boxes again if one was reinstalled".into(),
            ))
        }
        None => Err(HttpError::Forbidden("this box is not paired with any partner".into())),
    }
}

async fn pair(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    headers: HeaderMap,
    Json(req): Json<PairRequest>,
) -> Result<Json<PairResponse>, HttpError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    match state.tokens.verify(token).await? {
        Some(p) if p.role == TokenRole::Admin => {}
        Some(_) => {
            return Err(HttpError::Forbidden(
                "pairing needs an admin token of the primary".into(),
            ))
        }
        None => {
            return Err(HttpError::Unauthorized(
                "the access token in the link is not valid: it was mistyped or has been revoked".into(),
            ))
        }
    }
    let Some(fingerprint) = cert.0 else {
        return Err(HttpError::Unauthorized(
            "pairing needs the joining box's certificate (mutual TLS)".into(),
        ));
    };
    Ok(Json(state.failover.accept_backup(req, fingerprint).await?))
}

/// The partner asks for a token for the console it is talking to (`/api/v1/partner/link`); the
/// mutual-TLS link proves the request comes from the paired box, and the role is the console's.
async fn link(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<lbs_protocol::PartnerTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<lbs_protocol::TokenCreated>, HttpError> {
    // Who asks comes first: a stranger learns nothing, not even what a valid request looks like.
    let partner = require_partner(&state, &cert).await?;
    let Json(req) = body.map_err(super::bad_json)?;
    let label: String = req.label.chars().take(200).collect();
    let created = state.tokens.create(req.role, &label).await?;
    tracing::info!(partner = %partner.name, role = %req.role, label = ?label, "issued a token asked for by the partner");
    Ok(Json(created))
}

async fn changes(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    Json(req): Json<PullRequest>,
) -> Result<Json<PullResponse>, HttpError> {
    require_partner(&state, &cert).await?;
    let sync = &state.sync;
    let now = now_unix();
    sync.tracker.link(SyncLinkState::Ok, None, now);
    sync.tracker.set_peer_takes_folders(req.folders);
    let acked_moved = sync.tracker.peer_report(
        req.held.iter().map(|t| (t.source.clone(), t.files, t.bytes)),
        Some(req.acked),
    );
    if acked_moved {
        // Kept on disk: after a failover it decides what this box wrote that the partner never got.
        if let Err(e) = sync.journal.set_peer_acked(Some(req.acked)).await {
            tracing::warn!(error = %e, "sync: cannot record the partner's acknowledgement");
        }
    }
    let internal = |e: lbs_sync::journal::JournalError| HttpError::Internal(e.to_string());
    let journal_id = sync.journal.id().await.map_err(internal)?;
    let role = sync.role();
    let mut head = sync.head();
    let same_journal = req.journal_id.as_deref() == Some(journal_id.as_str());
    let mut changes = Vec::new();
    if role.role == Role::Primary && same_journal {
        // While a first scan runs, answer every 2 s so the backup can show its progress.
        let wait = match sync.tracker.counting().is_empty() {
            true => req.wait_ms.min(30_000),
            false => req.wait_ms.min(2_000),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait);
        loop {
            head.borrow_and_update();
            changes = sync
                .journal
                .changes_after(req.after, req.limit.clamp(1, 5000), req.folders)
                .await
                .map_err(internal)?;
            if !changes.is_empty() || tokio::time::timeout_at(deadline, head.changed()).await.is_err() {
                break;
            }
        }
    }
    let totals = sync.journal.totals().await.map_err(internal)?;
    let head_seq = *head.borrow();
    Ok(Json(PullResponse {
        server_id: state.identity.server_id.clone(),
        role: role.role,
        epoch: role.epoch,
        journal_id,
        head: head_seq,
        changes: changes
            .into_iter()
            .map(|c| WireChange {
                seq: c.seq,
                source: c.category,
                path: c.path.to_string(),
                size: c.meta.size,
                mtime_ns: c.meta.mtime_ns,
                mode: c.meta.mode,
                uid: c.meta.uid,
                gid: c.meta.gid,
                hash: c.hash.map(hex::encode),
                deleted: c.deleted,
                changed_unix: c.changed_unix,
                folder: c.folder,
            })
            .collect(),
        totals: crate::sync::wire_tallies(totals),
        counting: match role.role {
            Role::Primary => sync
                .tracker
                .counting()
                .into_iter()
                .map(|(category, files_counted)| lbs_protocol::CategoryCounting {
                    category,
                    files_counted,
                })
                .collect(),
            _ => Vec::new(),
        },
    }))
}

/// Both ways: the partner says who it is and its role; this box answers the same. A primary
/// that hears of a higher epoch reintegrates (in the background, so the answer is immediate).
async fn heartbeat(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<Heartbeat>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Heartbeat>, HttpError> {
    let peer = require_partner(&state, &cert).await?;
    let Json(hb) = body.map_err(super::bad_json)?;
    if hb.server_id != peer.server_id {
        return Err(HttpError::BadRequest(
            "the heartbeat names another server than the partner".into(),
        ));
    }
    state.failover.partner_seen(hb.clone());
    let f = state.failover.clone();
    tokio::spawn(async move { f.on_heartbeat(hb, false).await });
    Ok(Json(state.failover.own_heartbeat().await))
}

/// The backup runs a switchover; this primary stops, flushes, and hands over.
async fn handover(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<HandoverRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<HandoverResponse>, HttpError> {
    require_partner(&state, &cert).await?;
    let Json(req) = body.map_err(super::bad_json)?;
    Ok(Json(state.failover.handover(req).await?))
}

/// A switchover asked of the partner (the primary), which this box (the backup) runs.
async fn switchover(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<ForwardedSwitchover>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<lbs_protocol::RoleChange>, HttpError> {
    let peer = require_partner(&state, &cert).await?;
    let Json(req) = body.map_err(super::bad_json)?;
    if state.failover.role().role == Role::Primary {
        return Err(HttpError::Conflict(
            "both boxes say they are the primary; wait a few seconds for the older one to step down".into(),
        ));
    }
    let actor = format!("{} (asked on {})", req.actor, peer.name);
    Ok(Json(state.failover.switchover(req.request, &actor).await?))
}

/// The current version of some files in this box's journal.
async fn hashes(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<HashesRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<HashesResponse>, HttpError> {
    require_partner(&state, &cert).await?;
    let Json(req) = body.map_err(super::bad_json)?;
    if req.files.len() > 10_000 {
        return Err(HttpError::BadRequest("at most 10000 files per request".into()));
    }
    let parsed: Vec<Option<RelPath>> = req.files.iter().map(|(_, p)| RelPath::parse(p).ok()).collect();
    let lookups: Vec<(&str, &RelPath)> = req
        .files
        .iter()
        .zip(&parsed)
        .filter_map(|((s, _), p)| p.as_ref().map(|p| (s.as_str(), p)))
        .collect();
    let mut found = state
        .sync
        .journal
        .current_hashes(&lookups)
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .into_iter();
    let hashes = parsed
        .iter()
        .map(|p| p.as_ref().and_then(|_| found.next().flatten()).map(hex::encode))
        .collect();
    Ok(Json(HashesResponse { hashes }))
}

/// A file sent back by the partner (from its quarantine or its trash), to be put in place on
/// this primary.
async fn restore(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    query: Result<Query<RestoreQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Result<Json<lbs_protocol::Health>, HttpError> {
    let peer = require_partner(&state, &cert).await?;
    let Query(q) = query.map_err(super::bad_query)?;
    if state.sync.role().role != Role::Primary {
        return Err(HttpError::Conflict(format!(
            "{} is not the primary; restore on the primary",
            state.config.server.name
        )));
    }
    let source = state
        .sync
        .sources
        .get(&q.source)
        .ok_or_else(|| HttpError::NotFound(format!("no category root {} on this box", q.source)))?;
    let rel = RelPath::parse(&q.path).map_err(|e| HttpError::BadRequest(format!("refused: {e}")))?;
    let hash = crate::sync::decode_hash(&q.hash)
        .ok_or_else(|| HttpError::BadRequest("`hash` must be 64 hex digits".into()))?;
    let meta = lbs_sync::journal::FileMeta {
        size: body.len() as u64,
        mtime_ns: q.mtime_ns,
        mode: q.mode & 0o7777,
        uid: q.uid,
        gid: q.gid,
    };
    let root = source.root.clone();
    let (replace, what) = (q.replace, rel.to_string());
    let placed = tokio::task::spawn_blocking(move || {
        crate::failover::quarantine::place(&root, &rel, &body, &hash, &meta, replace)
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))?;
    match placed {
        Ok(detail) => {
            tracing::info!(partner = %peer.name, path = %what, %detail, "a file sent back by the partner was put in place here");
            Ok(Json(lbs_protocol::Health { ok: true }))
        }
        Err(refusal) => Err(refusal.into()),
    }
}

/// A refused request, as the partner reads it: a newer version on the way is a 409 (404 if the
/// file is gone), a path that may not be served a 400. A file that changed on disk since it was
/// journaled is journaled again now, so its newer change follows at once.
fn served_error(
    sync: &Arc<crate::sync::SyncEngine>,
    source: &str,
    asked: Option<&RelPath>,
    e: ServeError,
) -> HttpError {
    match e {
        ServeError::ChangedOnDisk { .. } => {
            if let Some(rel) = asked {
                rejournal(sync, source, rel);
            }
            HttpError::Conflict(e.to_string())
        }
        ServeError::Gone { .. } => HttpError::NotFound(e.to_string()),
        e if e.is_superseded() => HttpError::Conflict(e.to_string()),
        e => {
            tracing::warn!(problem = %e, "sync: refused a content request");
            HttpError::BadRequest(e.to_string())
        }
    }
}

/// Journals a file again in the background (hashing a long recording takes a while).
fn rejournal(sync: &Arc<crate::sync::SyncEngine>, source: &str, rel: &RelPath) {
    let (sync, source, rel) = (sync.clone(), source.to_owned(), rel.clone());
    tokio::spawn(async move { crate::sync::primary::rejournal(&sync, &source, &rel).await });
}

async fn content(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    query: Result<Query<ContentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, HttpError> {
    require_partner(&state, &cert).await?;
    let Query(q) = query.map_err(super::bad_query)?;
    let sync = state.sync.clone();
    if sync.role().role != Role::Primary {
        return Err(HttpError::Conflict("this box is not the primary".into()));
    }
    let source = sync
        .sources
        .get(&q.source)
        .ok_or_else(|| HttpError::NotFound(format!("no category root {} on this box", q.source)))?;
    let asked = serve::check(&source.root, &q.path, &q.hash).map_err(|e| served_error(&sync, &q.source, None, e))?;
    let journaled = sync
        .journal
        .journaled(&[(source.key.as_str(), &asked.rel)])
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .pop()
        .flatten();
    let rel = asked.rel.clone();
    let offset = q.offset;
    let opened = tokio::task::spawn_blocking(move || serve::open_content(&asked, journaled.as_ref(), offset))
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    let content = opened.map_err(|e| served_error(&sync, &source.key, Some(&rel), e))?;
    let file = tokio::fs::File::from_std(content.file).take(content.len);
    let reader = BufReader::with_capacity(128 * 1024, file);
    let category = source.category.clone();
    let stream = if content.compress {
        ReaderStream::with_capacity(ZstdEncoder::new(reader), 128 * 1024).boxed()
    } else {
        ReaderStream::with_capacity(reader, 128 * 1024).boxed()
    };
    // The cap applies to what goes on the wire.
    let throttled = stream.then(move |chunk| {
        let sync = sync.clone();
        let category = category.clone();
        async move {
            if let Ok(bytes) = &chunk {
                sync.throttle.take(bytes.len()).await;
                sync.tracker.moved(&category, bytes.len() as u64);
            }
            chunk
        }
    });
    let encoding = if content.compress { "zstd" } else { "identity" };
    Ok(([(CONTENT_ENCODING_HEADER, encoding)], Body::from_stream(throttled)).into_response())
}

/// Many small files in one answer (see `lbs_protocol::BUNDLE_OK` for the framing).
async fn bundle(
    State(state): State<Arc<AppState>>,
    Extension(cert): Extension<ClientCert>,
    body: Result<Json<BundleRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, HttpError> {
    require_partner(&state, &cert).await?;
    let Json(req) = body.map_err(super::bad_json)?;
    if req.items.len() > BUNDLE_MAX_ITEMS {
        return Err(HttpError::BadRequest(format!(
            "at most {BUNDLE_MAX_ITEMS} files per bundle"
        )));
    }
    let sync = state.sync.clone();
    if sync.role().role != Role::Primary {
        return Err(HttpError::Conflict("this box is not the primary".into()));
    }
    // Each item checked (path inside its root), then the journal's versions read at once.
    let checked: Vec<Result<(String, serve::Asked), ServeError>> = req
        .items
        .iter()
        .map(|item| {
            let source = sync
                .sources
                .get(&item.source)
                .ok_or_else(|| ServeError::NoSuchRoot(item.source.clone()))?;
            Ok((source.key.clone(), serve::check(&source.root, &item.path, &item.hash)?))
        })
        .collect();
    let lookups: Vec<(&str, &RelPath)> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|(k, a)| (k.as_str(), &a.rel)))
        .collect();
    let mut journaled = sync
        .journal
        .journaled(&lookups)
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?
        .into_iter();
    let wanted: Vec<_> = checked
        .into_iter()
        .map(|c| c.map(|(key, asked)| (key, asked, journaled.next().flatten())))
        .collect();
    let (body, compress, changed) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut changed = Vec::new();
        for w in wanted {
            let content = w.and_then(|(key, asked, j)| {
                serve::read_small(&asked, j.as_ref()).map_err(|e| {
                    if matches!(e, ServeError::ChangedOnDisk { .. }) {
                        changed.push((key, asked.rel.clone()));
                    }
                    e
                })
            });
            match content {
                Ok(bytes) => bundle::push(&mut out, BUNDLE_OK, &bytes),
                Err(e) if e.is_superseded() => bundle::push(&mut out, BUNDLE_SUPERSEDED, &[]),
                Err(e) => {
                    tracing::warn!(problem = %e, "sync: refused a bundle item");
                    bundle::push(&mut out, BUNDLE_REFUSED, &[])
                }
            }
        }
        let (body, compress) = serve::maybe_compress(out);
        (body, compress, changed)
    })
    .await
    .map_err(|e| HttpError::Internal(e.to_string()))?;
    for (key, rel) in &changed {
        rejournal(&sync, key, rel);
    }
    sync.throttle.take(body.len()).await;
    let encoding = if compress { "zstd" } else { "identity" };
    Ok(([(CONTENT_ENCODING_HEADER, encoding)], body).into_response())
}
