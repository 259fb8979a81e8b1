//! Webhooks: one POST per alert, as JSON (the documented shape below), as ntfy takes it (the
//! message as plain text, the title, priority and tags in headers) or as Gotify takes it. Every
//! request carries `X-LBS-Alert-Id`, the same on a retry, so a receiver can drop a repeat.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

use super::{Alert, SendError};
use crate::config::{WebhookChannel, WebhookFormat};

const TIMEOUT: Duration = Duration::from_secs(15);

/// The JSON body (`format = "json"`), documented in docs/agent.md.
#[derive(Debug, Serialize)]
pub struct JsonBody<'a> {
    /// The same for every retry of this delivery.
    pub id: &'a str,
    pub server: &'a str,
    pub server_id: &'a str,
    pub role: lbs_protocol::Role,
    /// `partner_silent`, `not_protected`, `pbx_stopped`, `pbx_on_backup`, `hold_over`,
    /// `disk:<mount>`, `memory`, `role_change`, `stepped_down`, `test`.
    pub condition: &'a str,
    /// `firing`, `reminder`, `recovered`, `event` (a role change) or `test`.
    pub state: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub what_to_do: &'a str,
    /// When the problem began (Unix seconds).
    pub since_unix: i64,
    pub time_unix: i64,
    /// The same moment in RFC 3339 (UTC).
    pub time: String,
}

#[derive(Serialize)]
struct GotifyBody<'a> {
    title: &'a str,
    message: String,
    priority: u8,
}

pub async fn send(ch: &WebhookChannel, alert: &Alert, delivery_id: &str) -> Result<String, SendError> {
    let client = client(ch)?;
    let id = delivery_id.trim_start_matches('<').trim_end_matches('>');
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-lbs-alert-id"), header(id)?);
    for (name, value) in &ch.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SendError(format!("\"{name}\" is not a valid header name")))?;
        headers.insert(name, header(value.expose())?);
    }
    let token = token(ch)?;
    let text = format!("{}\n\nWhat to do: {}", alert.message, alert.what_to_do);
    let firing = matches!(alert.state.as_str(), "firing" | "reminder" | "event");
    let request = match ch.format {
        WebhookFormat::Json => {
            let body = JsonBody {
                id,
                server: &alert.server,
                server_id: &alert.server_id,
                role: alert.role,
                condition: &alert.condition,
                state: &alert.state,
                title: &alert.title,
                message: &alert.message,
                what_to_do: &alert.what_to_do,
                since_unix: alert.since_unix,
                time_unix: alert.time_unix,
                time: rfc3339(alert.time_unix),
            };
            if let Some(t) = &token {
                headers.insert(AUTHORIZATION, header(&format!("Bearer {t}"))?);
            }
            client.post(&ch.url).json(&body)
        }
        WebhookFormat::Ntfy => {
            headers.insert(HeaderName::from_static("title"), header(&encoded_word(&alert.title))?);
            let (priority, tags) = match (alert.state.as_str(), firing) {
                ("recovered", _) => ("default", "white_check_mark"),
                ("test", _) => ("default", "information_source"),
                _ => ("high", "warning"),
            };
            headers.insert(HeaderName::from_static("priority"), HeaderValue::from_static(priority));
            headers.insert(HeaderName::from_static("tags"), HeaderValue::from_static(tags));
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            if let Some(t) = &token {
                headers.insert(AUTHORIZATION, header(&format!("Bearer {t}"))?);
            }
            client.post(&ch.url).body(text)
        }
        WebhookFormat::Gotify => {
            if let Some(t) = &token {
                headers.insert(HeaderName::from_static("x-gotify-key"), header(t)?);
            }
            client.post(&ch.url).json(&GotifyBody {
                title: &alert.title,
                message: text,
                priority: if firing { 8 } else { 4 },
            })
        }
    };
    let response = request
        .headers(headers)
        .send()
        .await
        .map_err(|e| SendError(explain(ch, &e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("HTTP {status}"));
    }
    let body = response.text().await.unwrap_or_default();
    let said: String = body.trim().chars().take(200).collect();
    let hint = match status.as_u16() {
        401 | 403 => ": check the token (token_file) or the headers",
        404 => ": check the url",
        _ => "",
    };
    Err(SendError(format!(
        "{} answered HTTP {status}{hint}{}",
        ch.url,
        if said.is_empty() {
            String::new()
        } else {
            format!(" ({said})")
        }
    )))
}

fn client(ch: &WebhookChannel) -> Result<reqwest::Client, SendError> {
    let mut builder = reqwest::Client::builder().timeout(TIMEOUT).use_rustls_tls();
    if let Some(path) = &ch.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| SendError(format!("cannot read the ca_file {}: {e}", path.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| SendError(format!("the ca_file {} is not a PEM certificate: {e}", path.display())))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| SendError(format!("cannot set up the HTTPS client: {e}")))
}

fn token(ch: &WebhookChannel) -> Result<Option<String>, SendError> {
    ch.token_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| SendError(format!("cannot read the token_file {}: {e}", path.display())))
        })
        .transpose()
}

fn header(value: &str) -> Result<HeaderValue, SendError> {
    HeaderValue::from_str(value).map_err(|_| SendError("a header value has characters a header cannot carry".into()))
}

/// A header value as ASCII: an RFC 2047 encoded word when it is not (ntfy decodes it).
fn encoded_word(s: &str) -> String {
    if s.is_ascii() {
        return s.to_owned();
    }
    use base64::Engine;
    format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(s))
}

fn rfc3339(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn explain(ch: &WebhookChannel, e: &reqwest::Error) -> String {
    let detail = super::error_chain(e);
    let what = if detail.to_ascii_lowercase().contains("certificate") {
        "the TLS connection was refused: the receiver's certificate is not trusted by this box (add its CA as \
         `ca_file`) or names another server"
    } else if e.is_timeout() {
        "the receiver did not answer in time"
    } else if e.is_connect() {
        "nothing answers there: is the receiver running, and the address right?"
    } else {
        "the request failed"
    };
    format!("{}: {what} ({detail})", ch.url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_that_are_not_ascii_travel_as_encoded_words() {
        assert_eq!(encoded_word("PBX A is down"), "PBX A is down");
        let w = encoded_word("PBX A — down");
        assert!(w.starts_with("=?UTF-8?B?") && w.ends_with("?=") && w.is_ascii(), "{w}");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
