//! The one error answer of the API: a domain [`Refusal`] as JSON `ApiError`, its kind mapped to
//! one status. Client mistakes show their message; internal failures are logged and answered
//! generically (their text may name paths and databases, never shown to a client).

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lbs_agent_core::refusal::{Refusal, RefusalKind};
use lbs_protocol::ApiError;

#[derive(Debug)]
pub struct HttpError(Answer);

#[derive(Debug)]
enum Answer {
    Refusal(Refusal),
    /// Failed authentication from an address whose previous failure is still being slowed:
    /// 429 at once, and the connection closed, rather than a connection held in a queue.
    Throttled {
        retry_after: Duration,
    },
}

impl HttpError {
    pub fn throttled(retry_after: Duration) -> Self {
        HttpError(Answer::Throttled { retry_after })
    }
}

/// Any domain error that converts into a refusal converts into an answer, so handlers use `?`.
/// (`HttpError` itself is not a `std::error::Error`, which keeps this apart from `From<T> for T`.)
impl<E: Into<Refusal> + std::error::Error> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(Answer::Refusal(e.into()))
    }
}

/// The status and the wire code of each kind of refusal.
fn status_of(kind: RefusalKind) -> (StatusCode, &'static str) {
    match kind {
        RefusalKind::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
        RefusalKind::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        RefusalKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        RefusalKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        RefusalKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        RefusalKind::DifferentFile => (StatusCode::PRECONDITION_FAILED, "different_file"),
        RefusalKind::PartnerUnavailable => (StatusCode::BAD_GATEWAY, "partner_unavailable"),
        RefusalKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let Refusal { kind, message } = match self.0 {
            Answer::Refusal(r) => r,
            Answer::Throttled { retry_after } => return throttled(retry_after),
        };
        let (status, code) = status_of(kind);
        let message = if kind == RefusalKind::Internal {
            tracing::error!(detail = %message, "request failed");
            "the agent hit an internal error; its log has the details".to_owned()
        } else {
            message
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

fn throttled(retry_after: Duration) -> Response {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(ApiError {
            code: "too_many_requests".into(),
            message: format!(
                "too many failed authentications from this address; check the access token (or the \
                 pairing) and try again in {seconds} s"
            ),
        }),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
}
