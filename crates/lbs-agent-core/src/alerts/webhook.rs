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
            client.post(ch.url.expose().clone()).json(&body)
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
            client.post(ch.url.expose().clone()).body(text)
        }
        WebhookFormat::Gotify => {
            if let Some(t) = &token {
                headers.insert(HeaderName::from_static("x-gotify-key"), header(t)?);
            }
            client.post(ch.url.expose().clone()).json(&GotifyBody {
                title: &alert.title,
                message: text,
                priority: if firing { 8 } else { 4 },
            })
        }
    };
    // reqwest's error names the whole address: its secret part must not reach a message.
    let response = request
        .headers(headers)
        .send()
        .await
        .map_err(|e| SendError(explain(ch, &e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("HTTP {status}"));
    }
    if status.is_redirection() {
        return Err(SendError(redirected(ch, status, response.headers())));
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
        ch.url.origin(),
        if said.is_empty() {
            String::new()
        } else {
            format!(" ({said})")
        }
    )))
}

fn client(ch: &WebhookChannel) -> Result<reqwest::Client, SendError> {
    // No redirect is followed: reqwest drops only `Authorization` on the way to another host, so
    // a Gotify key or a custom header would go with it.
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .use_rustls_tls();
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
    format!("{}: {what} ({detail})", ch.url.origin())
}

/// A 3xx answer: not followed (the token would go with it), named by where it points.
fn redirected(ch: &WebhookChannel, status: reqwest::StatusCode, headers: &HeaderMap) -> String {
    let to = headers
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| ch.url.expose().join(l).ok())
        .map(|u| u.origin().ascii_serialization());
    match to {
        Some(to) => format!(
            "{} answered HTTP {status}, a redirect to {to}, which is not followed (a token or header would go \
             there too); put that address in the config",
            ch.url.origin()
        ),
        None => format!(
            "{} answered HTTP {status}, a redirect that is not followed; put the receiver's own address in the config",
            ch.url.origin()
        ),
    }
}

/// A real HTTP receiver on 127.0.0.1 for the tests: answers every request with the status line
/// and headers it is given, and counts the requests.
#[cfg(test)]
pub(crate) mod receiver {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Receiver {
        /// `http://127.0.0.1:<port>`.
        pub base: String,
        count: Arc<AtomicUsize>,
        answer: Arc<Mutex<String>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Receiver {
        /// Answers `answer`, e.g. `"200 OK"` or `"302 Found\r\nLocation: http://…"`.
        pub async fn start(answer: &str) -> Receiver {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let count = Arc::new(AtomicUsize::new(0));
            let answer = Arc::new(Mutex::new(answer.to_owned()));
            let (c, a) = (count.clone(), answer.clone());
            let task = tokio::spawn(async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    let (c, a) = (c.clone(), a.clone());
                    tokio::spawn(async move {
                        if read_request(&mut conn).await.is_some() {
                            c.fetch_add(1, Ordering::SeqCst);
                            let answer = a.lock().unwrap().clone();
                            let reply = format!("HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                            let _ = conn.write_all(reply.as_bytes()).await;
                            let _ = conn.shutdown().await;
                        }
                    });
                }
            });
            Receiver {
                base,
                count,
                answer,
                task,
            }
        }

        pub fn requests(&self) -> usize {
            self.count.load(Ordering::SeqCst)
        }

        pub fn answer(&self, answer: &str) {
            *self.answer.lock().unwrap() = answer.to_owned();
        }
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// Reads one request, head and body (`Content-Length`); `None` if the client went away.
    async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = conn.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    }
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

    fn channel(url: &str, extra: &str) -> WebhookChannel {
        let text = format!(
            "[server]\nname = \"a\"\nstate_dir = \"/var/lib/lbs\"\n[[alerts.webhook]]\nurl = \"{url}\"\n{extra}"
        );
        let config = crate::config::Config::parse(&text, std::path::Path::new("/etc/lbs-agent/agent.toml")).unwrap();
        config.alerts.webhook[0].clone()
    }

    fn alert() -> Alert {
        Alert {
            id: "id".into(),
            server: "PBX A".into(),
            server_id: "srv-a".into(),
            role: lbs_protocol::Role::Primary,
            condition: "memory".into(),
            state: "firing".into(),
            title: "PBX A is using 97% of its memory".into(),
            message: "m".into(),
            what_to_do: "t".into(),
            since_unix: 0,
            time_unix: 0,
        }
    }

    const SECRETS: [&str; 4] = ["topic-s3cret", "tok-s3cret", "user-s3cret", "pass-s3cret"];

    #[tokio::test]
    async fn a_failure_names_the_receiver_by_its_host_never_by_its_secret_address() {
        // Nothing listens on the port of a receiver that was stopped.
        let dead = receiver::Receiver::start("200 OK").await;
        let base = dead.base.clone();
        drop(dead);
        let secret =
            |base: &str| base.replace("http://", "http://user-s3cret:pass-s3cret@") + "/topic-s3cret?token=tok-s3cret";
        let ch = channel(&secret(&base), "");
        let err = send(&ch, &alert(), "<id@srv-a.lbs-agent>").await.unwrap_err().0;
        assert!(err.starts_with(&format!("{base}: nothing answers there")), "{err}");
        assert!(!SECRETS.iter().any(|s| err.contains(s)), "{err}");

        let refusing = receiver::Receiver::start("404 Not Found").await;
        let ch = channel(&secret(&refusing.base), "");
        let err = send(&ch, &alert(), "<id@srv-a.lbs-agent>").await.unwrap_err().0;
        assert!(err.contains("answered HTTP 404 Not Found: check the url"), "{err}");
        assert!(!SECRETS.iter().any(|s| err.contains(s)), "{err}");
        assert_eq!(format!("{:?}", ch.url), format!("WebhookUrl({}/…)", refusing.base));
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_names_where_it_points() {
        let elsewhere = receiver::Receiver::start("200 OK").await;
        let port = elsewhere.base.rsplit(':').next().unwrap().to_owned();
        let redirecting = receiver::Receiver::start(&format!(
            "307 Temporary Redirect\r\nLocation: http://localhost:{port}/message?token=tok-s3cret"
        ))
        .await;
        let ch = channel(
            &format!("{}/message", redirecting.base),
            "format = \"gotify\"\nheaders = { \"X-Custom-Key\" = \"key-s3cret\" }\n",
        );
        let err = send(&ch, &alert(), "<id@srv-a.lbs-agent>").await.unwrap_err().0;
        assert_eq!(redirecting.requests(), 1);
        assert_eq!(elsewhere.requests(), 0, "the key went nowhere else");
        assert!(
            err.contains(&format!("a redirect to http://localhost:{port}, which is not followed")),
            "{err}"
        );
        assert!(err.ends_with("put that address in the config"), "{err}");
        assert!(!err.contains("tok-s3cret"), "{err}");
        // The receiver fixed: delivered.
        redirecting.answer("200 OK");
        assert_eq!(
            send(&ch, &alert(), "<id@srv-a.lbs-agent>").await.unwrap(),
            "HTTP 200 OK"
        );
    }
}
