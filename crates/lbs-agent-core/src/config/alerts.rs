//! `[alerts]`: where the agent sends its own alerts (mail over SMTP, webhooks) and the thresholds
//! that raise them. The alert engine itself is the `alerts` module; these are only the settings,
//! kept here so the configuration is one record that every part reads (and the engine depends on
//! `config`, not the other way round).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::show;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The partner has not answered a heartbeat for this long: "PBX A does not answer".
    #[serde(
        default = "default_partner_silent",
        deserialize_with = "partner_silent",
        serialize_with = "show::secs"
    )]
    pub partner_silent_after: u64,
    /// While a problem lasts, a reminder this often.
    #[serde(
        default = "default_repeat",
        deserialize_with = "repeat",
        serialize_with = "show::secs"
    )]
    pub repeat: u64,
    /// The backup's copy is older than this: the office is not protected.
    #[serde(
        default = "default_sync_behind",
        deserialize_with = "sync_threshold",
        serialize_with = "show::secs"
    )]
    pub sync_behind: u64,
    /// Copying has failed with the same error for this long: the office is not protected.
    #[serde(
        default = "default_sync_failing",
        deserialize_with = "sync_threshold",
        serialize_with = "show::secs"
    )]
    pub sync_failing_for: u64,
    /// A data mount (`[metrics] mounts`) fuller than this, in percent.
    #[serde(default = "default_disk", deserialize_with = "percent")]
    pub disk_used_above: u8,
    /// Memory in use above this, in percent of what is installed.
    #[serde(default = "default_memory", deserialize_with = "percent")]
    pub memory_used_above: u8,
    /// The two boxes' clocks differ by more than this: said in the status and alerted.
    #[serde(
        default = "default_clock_skew",
        deserialize_with = "clock_skew",
        serialize_with = "show::secs"
    )]
    pub clock_skew_above: u64,
    /// Mail channels (`[[alerts.email]]`).
    #[serde(default)]
    pub email: Vec<EmailChannel>,
    /// Webhook channels (`[[alerts.webhook]]`): JSON, ntfy or Gotify.
    #[serde(default)]
    pub webhook: Vec<WebhookChannel>,
}

/// A secret written inline in the file: never printed, never in a log. `Debug` hides it and
/// `check-config` writes it as `(hidden)`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(HIDDEN)
    }
}

/// What `check-config` prints in place of a secret.
pub const HIDDEN: &str = "(hidden)";

/// A webhook's address. It is often the secret itself (an ntfy topic, a Slack or Discord
/// webhook's path, a `?token=`, a `user:pass@`), so wherever it is shown — the status, the audit
/// log, the journal, `check-config` — only its scheme, host and port are: `Debug` and the
/// printed configuration write `https://ntfy.sh/…`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    /// The whole address, to send to; never to show.
    pub fn expose(&self) -> &reqwest::Url {
        &self.0
    }

    /// Scheme, host and port (when not the scheme's default): how a receiver is named in every
    /// message, e.g. `https://ntfy.sh`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    /// The origin, then `/…` when anything follows it (a path, a query, a login).
    pub fn shown(&self) -> String {
        let u = &self.0;
        let more = u.path() != "/"
            || u.query().is_some()
            || u.fragment().is_some()
            || !u.username().is_empty()
            || u.password().is_some();
        format!("{}{}", self.origin(), if more { "/…" } else { "" })
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// Whether what is sent there can be read on the way: `http://` to another box.
    pub fn unencrypted_to_another_box(&self) -> bool {
        self.0.scheme() == "http" && !is_loopback(self.host())
    }

    /// Whether the address itself carries a login (`user:pass@`).
    pub fn has_login(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookUrl({})", self.shown())
    }
}

impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match reqwest::Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(WebhookUrl(u)),
            _ => Err(serde::de::Error::custom(format!(
                "the webhook url {} is not an http:// or https:// address, e.g. \"https://ntfy.sh/office-pbx\"",
                unparsed_shown(&s)
            ))),
        }
    }
}

/// A webhook address that does not parse, shown without what may be its secret part: up to the
/// host's end when there is one.
fn unparsed_shown(s: &str) -> String {
    let (scheme, rest) = s.split_once("://").unwrap_or(("", s));
    if scheme.is_empty() {
        return "(hidden: it has no scheme such as https://)".into();
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    format!("\"{scheme}://{host}/…\"")
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS before anything is sent (port 587). Required:
    /// a server that does not offer it is refused.
    Starttls,
    /// TLS from the first byte (port 465, "SMTPS").
    Tls,
    /// No encryption: only to a mail relay on this box (127.0.0.1, ::1, localhost).
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// How the channel is named in the status, the metrics and the audit log. Default:
    /// `email:<server>`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "channel_name")]
    pub name: Option<String>,
    /// The mail server, e.g. `smtp.office365.com`.
    #[serde(deserialize_with = "super::non_empty")]
    pub server: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "default_security")]
    pub security: Security,
    /// Log in with this user (AUTH PLAIN or LOGIN, whichever the server offers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, alone in a file readable by the agent only (preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The password written here instead (never printed; prefer `password_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The sender, e.g. `"LBS PBX A <pbx-alerts@example.com>"`.
    #[serde(deserialize_with = "mailbox")]
    pub from: String,
    /// The recipients.
    #[serde(deserialize_with = "mailboxes")]
    pub to: Vec<String>,
    /// An extra trusted root certificate (PEM), for an office's own mail server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A JSON object (see docs/agent.md for its fields).
    Json,
    /// ntfy: the message as plain text, the title and priority in headers.
    Ntfy,
    /// Gotify: `{"title", "message", "priority"}`, the token in `X-Gotify-Key`.
    Gotify,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// Default: `webhook:<host>`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "channel_name")]
    pub name: Option<String>,
    /// Where the POST goes, e.g. `https://ntfy.sh/office-pbx` or `https://gotify.lan/message`.
    /// Often itself the secret: only its scheme, host and port are ever shown.
    pub url: WebhookUrl,
    #[serde(default = "default_format")]
    pub format: WebhookFormat,
    /// A token, alone in a file: sent as `Authorization: Bearer <token>` (Gotify:
    /// `X-Gotify-Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// More headers to send; their values are treated as secrets (never printed).
    #[serde(default, deserialize_with = "headers")]
    pub headers: BTreeMap<String, Secret>,
    /// An extra trusted root certificate (PEM), for a receiver with its own certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl EmailChannel {
    /// The channel's name in the status, the metrics and the outbox.
    pub fn id(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("email:{}", self.server))
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        })
    }
}

impl WebhookChannel {
    pub fn id(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("webhook:{}", self.url.host()))
    }
}

impl AlertsConfig {
    /// Every channel's name, mail first.
    pub fn channel_ids(&self) -> Vec<String> {
        self.email
            .iter()
            .map(EmailChannel::id)
            .chain(self.webhook.iter().map(WebhookChannel::id))
            .collect()
    }

    /// The files the channels name (for `check-config`), with the key that names each.
    pub fn files(&self) -> Vec<(String, &PathBuf)> {
        let mut out = Vec::new();
        for e in &self.email {
            let id = e.id();
            if let Some(p) = &e.password_file {
                out.push((format!("[alerts.email] {id}: password_file"), p));
            }
            if let Some(p) = &e.ca_file {
                out.push((format!("[alerts.email] {id}: ca_file"), p));
            }
        }
        for w in &self.webhook {
            let id = w.id();
            if let Some(p) = &w.token_file {
                out.push((format!("[alerts.webhook] {id}: token_file"), p));
            }
            if let Some(p) = &w.ca_file {
                out.push((format!("[alerts.webhook] {id}: ca_file"), p));
            }
        }
        out
    }

    /// What is wrong with the channels taken together or with their files' paths, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        let ids = self.channel_ids();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Some(format!(
                    "[alerts] two channels are both named \"{id}\": give each a distinct `name`"
                ));
            }
        }
        if let Some((key, p)) = self.files().into_iter().find(|(_, p)| !p.is_absolute()) {
            return Some(format!("{key} must be an absolute path, found \"{}\"", p.display()));
        }
        for e in &self.email {
            let id = e.id();
            if e.security == Security::None && !is_loopback(&e.server) {
                return Some(format!(
                    "[alerts.email] {id}: security = \"none\" sends the password and the alerts unencrypted, \
                     so it is allowed only to a mail relay on this box (127.0.0.1, ::1 or localhost); \
                     use \"starttls\" (port 587) or \"tls\" (port 465) for {}",
                    e.server
                ));
            }
            match (&e.username, &e.password_file, &e.password) {
                (Some(_), None, None) => {
                    return Some(format!(
                        "[alerts.email] {id}: `username` needs a `password_file` (or an inline `password`)"
                    ))
                }
                (_, Some(_), Some(_)) => {
                    return Some(format!(
                        "[alerts.email] {id}: give either `password_file` or `password`, not both"
                    ))
                }
                (None, Some(_), _) | (None, _, Some(_)) => {
                    return Some(format!("[alerts.email] {id}: a password needs a `username`"))
                }
                _ => {}
            }
        }
        for w in &self.webhook {
            let secrets = w.token_file.is_some() || !w.headers.is_empty() || w.url.has_login();
            if secrets && w.url.unencrypted_to_another_box() {
                return Some(format!(
                    "[alerts.webhook] {}: a token, headers or a login would go unencrypted over http:// to {}; \
                     use https:// (with `ca_file` for a receiver with its own certificate), or http:// only to a \
                     receiver on this box (127.0.0.1, ::1 or localhost)",
                    w.id(),
                    w.url.origin()
                ));
            }
        }
        None
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn default_partner_silent() -> u64 {
    60
}
fn default_repeat() -> u64 {
    4 * 3600
}
fn default_sync_behind() -> u64 {
    15 * 60
}
fn default_sync_failing() -> u64 {
    10 * 60
}
fn default_disk() -> u8 {
    90
}
fn default_memory() -> u8 {
    95
}
/// NTP keeps two clocks within a second; a box that has just booted may take a little while to
/// set its clock.
fn default_clock_skew() -> u64 {
    10
}
fn default_security() -> Security {
    Security::Starttls
}
fn default_format() -> WebhookFormat {
    WebhookFormat::Json
}

fn partner_silent<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::duration(d, 1, super::DAY, "partner_silent_after")
}
fn repeat<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::duration(d, 60, 30 * super::DAY, "the reminder interval (repeat)")
}
fn clock_skew<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::duration(d, 1, super::DAY, "clock_skew_above")
}
fn sync_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::duration(d, 1, 7 * super::DAY, "the sync threshold")
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let p = u8::deserialize(d)?;
    if !(1..=100).contains(&p) {
        return Err(serde::de::Error::custom(format!(
            "a percentage must be between 1 and 100, found {p}"
        )));
    }
    Ok(p)
}

fn channel_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let ok = !s.is_empty()
        && s.len() <= 60
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'));
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "channel name \"{s}\" must be 1-60 letters, digits, '-', '_', '.', ':' or '@'"
        )));
    }
    Ok(Some(s))
}

fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_mailbox(&s)?;
    Ok(s)
}

fn mailboxes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom("`to` needs at least one address"));
    }
    for s in &list {
        check_mailbox(s)?;
    }
    Ok(list)
}

/// A mail address, with or without a name: `it@example.com`, `PBX alerts <it@example.com>`. A name
/// with characters mail reserves, as people write them ("PBX A (server room) <…>"), is taken as
/// written (it is quoted when the mail is sent) rather than refused.
pub fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, lettre::address::AddressError> {
    s.parse::<lettre::message::Mailbox>().or_else(|e| {
        let named = s.trim().strip_suffix('>').and_then(|rest| rest.rsplit_once('<'));
        match named {
            Some((name, address)) if !name.trim().is_empty() && !name.contains(['"', '<', '>']) => Ok(
                lettre::message::Mailbox::new(Some(name.trim().to_owned()), address.trim().parse()?),
            ),
            _ => Err(e),
        }
    })
}

fn check_mailbox<E: serde::de::Error>(s: &str) -> Result<(), E> {
    parse_mailbox(s).map(|_| ()).map_err(|e| {
        E::custom(format!(
            "\"{s}\" is not a mail address ({e}); write e.g. \"it@example.com\" or \"PBX alerts <it@example.com>\""
        ))
    })
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Secret>, D::Error> {
    let map = BTreeMap::<String, Secret>::deserialize(d)?;
    for (name, value) in &map {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(serde::de::Error::custom(format!(
                "\"{name}\" is not a valid header name"
            )));
        }
        if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
            return Err(serde::de::Error::custom(format!(
                "the value of the header \"{name}\" has characters a header cannot carry"
            )));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod mailbox_tests {
    use super::parse_mailbox;

    #[test]
    fn a_name_is_taken_as_people_write_it_and_quoted_when_sent() {
        let m = parse_mailbox("PBX A (server room) <pbx@office.example>").unwrap();
        assert_eq!(m.name.as_deref(), Some("PBX A (server room)"));
        assert_eq!(m.email.to_string(), "pbx@office.example");
        assert_eq!(m.to_string(), "\"PBX A (server room)\" <pbx@office.example>");
        assert!(parse_mailbox("it@example.com").is_ok());
        assert!(parse_mailbox("PBX alerts <it@example.com>").is_ok());
        for bad in [
            "PBX A (server room) <not an address>",
            "<>",
            "name <a@b> <c@d>",
            "just words",
        ] {
            assert!(parse_mailbox(bad).is_err(), "{bad}");
        }
    }
}
