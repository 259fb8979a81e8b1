//! The one way a handler reads a request body or a query string: [`Body`] (JSON), [`Raw`] (a
//! file) and [`Params`]. Any
//! mistake becomes our JSON `bad_request` with a reason a person can act on, never axum's plain
//! text rejection.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use lbs_agent_core::refusal::Refusal;
use serde::de::DeserializeOwned;

use super::HttpError;

/// A JSON request body. An empty body reads as `{}`, so a request whose fields all have defaults
/// (e.g. `POST /promote`) may be sent without one.
pub struct Body<T>(pub T);

/// `application/json`, or any `application/…+json`, as axum's own extractor accepts.
fn is_json(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Refusal::bad_request(format!("the request body could not be read: {}", e.body_text())))?;
        // Nothing sent (whatever the Content-Type `curl -d ''` claims) reads as `{}`.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return serde_json::from_slice(b"{}")
                .map(Body)
                .map_err(|e| Refusal::bad_request(format!("the request needs a JSON body: {e}")).into());
        }
        if content_type.as_deref().is_some_and(|t| !is_json(t)) {
            return Err(Refusal::bad_request("the request body must be JSON (Content-Type: application/json)").into());
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| Refusal::bad_request(format!("the request is not valid: {e}")).into())
    }
}

/// A raw request body (a file sent back by the partner), with the route's size limit answered
/// in our JSON like every other refusal.
pub struct Raw(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Raw {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(Raw).map_err(|e| {
            Refusal::bad_request(format!(
                "the request body could not be read ({}); a file larger than {} cannot be put back this way",
                e.body_text(),
                lbs_agent_core::units::human_bytes(lbs_protocol::RESTORE_MAX)
            ))
            .into()
        })
    }
}

/// A query string.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| Refusal::bad_request(format!("the query string is not valid: {}", e.body_text())).into())
    }
}
