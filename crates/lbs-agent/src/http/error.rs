//! Error answers of the API: every one is JSON `ApiError` with a plain-language message.
//! Client mistakes show their message; internal failures are logged and answered generically.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lbs_protocol::ApiError;

use crate::refusal::{Refusal, RefusalKind};

#[derive(Debug)]
pub enum HttpError {
    Unauthorized(String),
    Forbidden(String),
    BadRequest(String),
    NotFound(String),
    /// The request is understood but the box's state does not allow it now.
    Conflict(String),
    /// A file to put back would replace a different one; asking again with `replace` does that.
    DifferentFile(String),
    /// A box this one had to talk to did not answer or refused.
    BadGateway(String),
    Internal(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            HttpError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m),
            HttpError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            HttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            HttpError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            HttpError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            HttpError::DifferentFile(m) => (StatusCode::PRECONDITION_FAILED, "different_file", m),
            HttpError::BadGateway(m) => (StatusCode::BAD_GATEWAY, "partner_unavailable", m),
            HttpError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the agent hit an internal error; its log has the details".to_owned(),
                )
            }
        };
        let mut response = (
            status,
            Json(ApiError {
                code: code.into(),
                message,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Refusal> for HttpError {
    fn from(r: Refusal) -> Self {
        match r.kind {
            RefusalKind::BadRequest => HttpError::BadRequest(r.message),
            RefusalKind::Unauthorized => HttpError::Unauthorized(r.message),
            RefusalKind::Forbidden => HttpError::Forbidden(r.message),
            RefusalKind::NotFound => HttpError::NotFound(r.message),
            RefusalKind::Conflict => HttpError::Conflict(r.message),
            RefusalKind::DifferentFile => HttpError::DifferentFile(r.message),
            RefusalKind::PartnerUnavailable => HttpError::BadGateway(r.message),
            RefusalKind::Internal => HttpError::Internal(r.message),
        }
    }
}

impl From<crate::tokens::TokenError> for HttpError {
    fn from(e: crate::tokens::TokenError) -> Self {
        Refusal::from(e).into()
    }
}

impl From<lbs_history::HistoryError> for HttpError {
    fn from(e: lbs_history::HistoryError) -> Self {
        Refusal::from(e).into()
    }
}
