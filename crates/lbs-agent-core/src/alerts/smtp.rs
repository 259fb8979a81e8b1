//! Mail over SMTP (lettre, rustls with ring): STARTTLS required or TLS from the first byte,
//! plain only to a relay on this box; AUTH PLAIN or LOGIN; the system's trusted roots plus an
//! optional `ca_file`. The password file and the CA file are read at each send, so fixing one
//! needs no restart.

use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Alert, SendError};
use crate::config::{EmailChannel, Security};

/// How long one delivery may take, connection to the server's answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `alert` as one mail with the Message-ID `message_id`; answers the server's reply.
pub async fn send(ch: &EmailChannel, alert: &Alert, message_id: &str) -> Result<String, SendError> {
    let mail = message(ch, alert, message_id)?;
    let transport = transport(ch)?;
    let target = format!("{}:{}", ch.server, ch.port());
    match transport.send(mail).await {
        Ok(response) => {
            let text: Vec<&str> = response.message().collect();
            Ok(format!("{} {}", response.code(), text.join(" ")))
        }
        Err(e) => Err(SendError(explain(&target, ch, &e))),
    }
}

fn message(ch: &EmailChannel, alert: &Alert, message_id: &str) -> Result<Message, SendError> {
    let mailbox =
        |s: &str| crate::config::parse_mailbox(s).map_err(|e| SendError(format!("\"{s}\" is not a mail address: {e}")));
    let mut builder = Message::builder()
        .from(mailbox(&ch.from)?)
        .subject(alert.title.clone())
        .message_id(Some(message_id.to_owned()))
        .date(SystemTime::UNIX_EPOCH + Duration::from_secs(alert.time_unix.max(0) as u64))
        .header(ContentType::TEXT_PLAIN);
    for to in &ch.to {
        builder = builder.to(mailbox(to)?);
    }
    let body = super::wording::mail_body(&alert.text(), &alert.server, alert.role, alert.time_unix);
    builder
        .body(body)
        .map_err(|e| SendError(format!("the mail could not be put together: {e}")))
}

fn transport(ch: &EmailChannel) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls = match ch.security {
        Security::None => Tls::None,
        Security::Starttls => Tls::Required(tls_parameters(ch)?),
        Security::Tls => Tls::Wrapper(tls_parameters(ch)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&ch.server)
        .port(ch.port())
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let Some(user) = &ch.username {
        builder = builder
            .credentials(Credentials::new(user.clone(), password(ch)?))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(builder.build())
}

fn tls_parameters(ch: &EmailChannel) -> Result<TlsParameters, SendError> {
    let mut params = TlsParameters::builder(ch.server.clone());
    if let Some(path) = &ch.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| SendError(format!("cannot read the ca_file {}: {e}", path.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| SendError(format!("the ca_file {} is not a PEM certificate: {e}", path.display())))?;
        params = params.add_root_certificate(cert);
    }
    params
        .build_rustls()
        .map_err(|e| SendError(format!("cannot set up TLS for {}: {e}", ch.server)))
}

fn password(ch: &EmailChannel) -> Result<String, SendError> {
    match (&ch.password_file, &ch.password) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| SendError(format!("cannot read the password_file {}: {e}", path.display()))),
        (None, Some(secret)) => Ok(secret.expose().to_owned()),
        (None, None) => Err(SendError("a username is set but no password".into())),
    }
}

/// A failed delivery in words a contractor can act on, with the technical detail after.
fn explain(target: &str, ch: &EmailChannel, e: &lettre::transport::smtp::Error) -> String {
    let detail = super::error_chain(e);
    let lower = detail.to_ascii_lowercase();
    let what = if e.is_tls() || lower.contains("certificate") || lower.contains("tls") {
        match ch.ca_file {
            Some(_) => format!(
                "the TLS connection to {target} was refused: its certificate is not signed by the ca_file, or names \
                 another server"
            ),
            None => format!(
                "the TLS connection to {target} was refused: its certificate is not trusted by this box (an \
                 office's own mail server needs its CA in `ca_file`) or names another server"
            ),
        }
    } else if e.is_timeout() {
        format!("{target} did not answer in time")
    } else if lower.contains("connection refused") {
        format!("nothing answers at {target} (connection refused): is the mail server running, and the port right?")
    } else if lower.contains("no compatible authentication mechanism") {
        format!(
            "{target} offers no login the agent can use (AUTH PLAIN or LOGIN): check `security` and `port` (many \
             servers offer a login only after STARTTLS)"
        )
    } else if e.status().is_some_and(|c| c.to_string().starts_with("535")) || lower.contains("authentication") {
        format!("{target} refused the login: check `username` and the password")
    } else if e.is_permanent() {
        format!("{target} refused the mail")
    } else if e.is_transient() {
        format!("{target} refused the mail for now")
    } else {
        format!("cannot deliver to {target}")
    };
    format!("{what} ({detail})")
}
