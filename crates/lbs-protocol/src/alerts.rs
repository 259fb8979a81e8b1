//! The agent's own alerts: what `GET /api/v1/alerts` shows (each channel's outbox and whether it
//! is failing, the problems open now) and what `POST /api/v1/alerts/test` answers (each channel's
//! server's answer to a test alert sent at once).

use serde::{Deserialize, Serialize};

/// `GET /api/v1/alerts` (any token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsStatus {
    pub channels: Vec<AlertChannelStatus>,
    /// The problems open now, each sent once (or held during maintenance).
    pub open: Vec<OpenAlert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChannelStatus {
    /// The channel's name (`email:<server>`, `webhook:<host>`, or the `name` it was given).
    pub channel: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// Alerts waiting in the outbox for this channel.
    pub queued: u64,
    /// The last attempt failed (it is retried).
    pub failing: bool,
    /// What went wrong the last time, in plain words.
    pub last_error: Option<String>,
    pub last_success_unix: Option<i64>,
    pub next_attempt_unix: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// The condition, e.g. `partner_silent`, `not_protected`, `pbx_stopped`.
    pub condition: String,
    pub title: String,
    pub since_unix: i64,
    /// Sent (false: held during maintenance, sent when it ends if still open).
    pub sent: bool,
}

/// `POST /api/v1/alerts/test` (admin): one test alert through every channel, now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTestReport {
    pub results: Vec<AlertTestResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTestResult {
    pub channel: String,
    pub kind: String,
    pub ok: bool,
    /// The server's answer ("250 2.0.0 Ok: queued", "HTTP 200 OK") or what went wrong.
    pub answer: String,
}
