//! The one way a handler reads a request body or a query string: [`Body`] and [`Params`]. Any
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

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(Refusal::bad_request("the request body must be JSON (Content-Type: application/json)").into());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Refusal::bad_request(format!("the request body could not be read: {}", e.body_text())))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| Refusal::bad_request(format!("the request is not valid: {e}")).into())
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
