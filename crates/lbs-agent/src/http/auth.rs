//! Bearer-token authentication and the admin guard, as middleware.

use lbs_agent_core::refusal::Refusal;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use lbs_protocol::TokenRole;

use super::error::HttpError;
use super::throttle::Throttle;
use super::AppState;
use crate::serve::ClientAddr;
use lbs_agent_core::tokens::Principal;

/// Waits out the throttle for a request that failed to authenticate (see [`Throttle`]); `Err`
/// (429, to answer at once) when a failure from the same address is already waiting.
pub async fn slow_failure(extensions: &axum::http::Extensions, what: &'static str) -> Result<(), HttpError> {
    if let Some(throttle) = extensions.get::<Arc<Throttle>>() {
        let address = extensions.get::<ClientAddr>().map(|a| a.0.ip());
        throttle
            .failed(address, what)
            .await
            .map_err(|busy| HttpError::throttled(busy.retry_after))?;
    }
    Ok(())
}

/// Every `/api/v1` route passes here: no token or an unknown one is 401.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, HttpError> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(t) if !t.trim().is_empty() => t.trim(),
        _ => {
            slow_failure(req.extensions(), "requests without an access token").await?;
            return Err(
                Refusal::unauthorized("this request needs an access token (Authorization: Bearer <token>)").into(),
            );
        }
    };
    let Some(principal) = state.tokens.verify(token).await? else {
        slow_failure(req.extensions(), "access tokens").await?;
        return Err(Refusal::unauthorized("the access token is not valid: it was mistyped or has been revoked").into());
    };
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

/// Routes that change something: viewer tokens get 403.
pub async fn require_admin(req: Request, next: Next) -> Result<Response, HttpError> {
    match req.extensions().get::<Principal>() {
        Some(p) if p.role == TokenRole::Admin => Ok(next.run(req).await),
        _ => Err(Refusal::forbidden("this needs an admin token; the token used can only view").into()),
    }
}
