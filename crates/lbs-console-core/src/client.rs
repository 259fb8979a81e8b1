//! HTTPS client for one agent: pinned certificate, bearer token, and errors translated into
//! what they mean for the person at the console.

use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{
    ApiError, DemoteRequest, EventList, FailoverStatus, HistoryQuery, HistoryResponse, MaintenanceAnswer,
    PromoteRequest, QuarantineList, RestoreRequest, RoleChange, SeriesList, ServerStatus, SwitchoverRequest,
    SyncStatus, TrashList, TrashRestoreRequest, TrashRestored, API_PREFIX,
};
use lbs_tls::Presented;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::Error;

const TIMEOUT: Duration = Duration::from_secs(5);
/// A role change runs commands on the box (restore, PBX start, address) and a switchover waits
/// for the last changes: it may take minutes, and must not be cut off by the read timeout.
const ROLE_CHANGE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Connection details of one agent. The token is only ever sent to the pinned certificate.
pub struct AgentClient {
    http: reqwest::Client,
    presented: Arc<Presented>,
    base: String,
    address: String,
    pin: String,
    token: String,
    /// Used in messages: the server's name, or its address before it is known.
    name: String,
}

fn build(pin: Option<String>, presented: Arc<Presented>) -> Result<reqwest::Client, Error> {
    let tls = lbs_tls::pinned_client_config(pin, presented).map_err(|e| Error::Storage(e.to_string()))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Storage(format!("cannot build the HTTPS client: {e}")))
}

/// Checks that an address looks like `host:port` before anything is sent to it. The host is a
/// name, an IPv4 address or a bracketed IPv6 address; anything else (two addresses run together,
/// a path, a user name) is refused here, in words, rather than by the HTTP stack later.
pub fn check_address(address: &str) -> Result<String, Error> {
    let address = address.trim().trim_start_matches("https://").trim_end_matches('/');
    let host_ok = |host: &str| match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        }
    };
    let valid = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| host_ok(host) && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid {
        return Err(Error::InvalidInput(format!(
            "\"{address}\" is not a server address. Write it as host:port, for example 192.168.1.10:7443."
        )));
    }
    Ok(address.to_owned())
}

/// Fetches the fingerprint an address presents, sending nothing secret (trust on first use).
pub async fn probe_fingerprint(address: &str) -> Result<String, Error> {
    let address = check_address(address)?;
    let presented = Arc::new(Presented::default());
    let http = build(None, presented.clone())?;
    let result = http.get(format!("https://{address}/healthz")).send().await;
    match (presented.get(), result) {
        (Some(fp), _) => Ok(fp),
        (None, _) => Err(Error::Unreachable {
            name: "The server".into(),
            address,
        }),
    }
}

impl AgentClient {
    pub fn new(address: &str, pin: &str, token: &str, name: &str) -> Result<Self, Error> {
        let presented = Arc::new(Presented::default());
        let http = build(Some(pin.to_owned()), presented.clone())?;
        Ok(AgentClient {
            http,
            presented,
            base: format!("https://{address}{API_PREFIX}"),
            address: address.to_owned(),
            pin: pin.to_owned(),
            token: token.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The agent's status, once its API and this console's are known to work together.
    pub async fn status(&self) -> Result<ServerStatus, Error> {
        let status: ServerStatus = self.get("/status", &[]).await?;
        compatible(&status)?;
        Ok(status)
    }

    /// A link to this agent's partner, with a token the partner issues for this console.
    pub async fn partner_link(&self) -> Result<lbs_protocol::PartnerLink, Error> {
        // The partner is asked in turn, over the pair's own link.
        self.post("/partner/link", &serde_json::json!({}), TIMEOUT * 4).await
    }

    pub async fn series(&self) -> Result<SeriesList, Error> {
        self.get("/metrics/series", &[]).await
    }

    pub async fn history(&self, q: &HistoryQuery) -> Result<HistoryResponse, Error> {
        let params = [
            ("series", q.series.clone()),
            ("from", q.from.to_string()),
            ("to", q.to.to_string()),
            ("points", q.points.to_string()),
        ];
        self.get("/metrics/history", &params).await
    }

    pub async fn sync(&self) -> Result<SyncStatus, Error> {
        self.get("/sync", &[]).await
    }

    pub async fn failover(&self) -> Result<FailoverStatus, Error> {
        self.get("/failover", &[]).await
    }

    pub async fn events(&self, limit: u32) -> Result<EventList, Error> {
        self.get("/events", &[("limit", limit.to_string())]).await
    }

    /// Both machines of the pair and what differs between them.
    pub async fn health(&self) -> Result<lbs_protocol::PairHealth, Error> {
        self.get("/health", &[]).await
    }

    pub async fn quarantine(&self) -> Result<QuarantineList, Error> {
        self.get("/quarantine", &[]).await
    }

    pub async fn restore_quarantined(&self, req: &RestoreRequest) -> Result<QuarantineList, Error> {
        self.post("/quarantine/restore", req, TIMEOUT * 12).await
    }

    pub async fn trash(&self) -> Result<TrashList, Error> {
        self.get("/trash", &[]).await
    }

    /// The file travels to the primary (up to 1 GiB): allowed ten minutes.
    pub async fn restore_trash(&self, req: &TrashRestoreRequest) -> Result<TrashRestored, Error> {
        self.post("/trash/restore", req, TIMEOUT * 120).await
    }

    pub async fn promote(&self, req: &PromoteRequest) -> Result<RoleChange, Error> {
        self.post("/promote", req, ROLE_CHANGE_TIMEOUT).await
    }

    pub async fn demote(&self, req: &DemoteRequest) -> Result<RoleChange, Error> {
        self.post("/demote", req, ROLE_CHANGE_TIMEOUT).await
    }

    pub async fn switchover(&self, req: &SwitchoverRequest) -> Result<RoleChange, Error> {
        self.post("/switchover", req, ROLE_CHANGE_TIMEOUT).await
    }

    /// Maintenance for the pair; the agent tells its partner, which may take a few seconds.
    pub async fn start_maintenance(&self, req: &lbs_protocol::MaintenanceRequest) -> Result<MaintenanceAnswer, Error> {
        self.post("/maintenance", req, TIMEOUT * 2).await
    }

    pub async fn end_maintenance(&self, req: &lbs_protocol::MaintenanceEndRequest) -> Result<MaintenanceAnswer, Error> {
        let request = self
            .http
            .delete(format!("{}/maintenance", self.base))
            .json(req)
            .timeout(TIMEOUT * 2);
        self.send(request).await
    }

    /// Switches automatic failover on or off for the pair; the agent tells its partner, which may
    /// take a few seconds.
    pub async fn set_autopilot(
        &self,
        req: &lbs_protocol::AutopilotRequest,
    ) -> Result<lbs_protocol::AutopilotAnswer, Error> {
        let request = self
            .http
            .put(format!("{}/autopilot", self.base))
            .json(req)
            .timeout(TIMEOUT * 2);
        self.send(request).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, Error> {
        let request = self.http.get(format!("{}{path}", self.base)).query(query);
        self.send(request).await
    }

    async fn post<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, Error> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .timeout(timeout);
        self.send(request).await
    }

    /// Sends with the token and turns the answer into the value or an error a person can act on.
    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Error> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| Error::Agent {
                name: self.name.clone(),
                message: format!("its answer could not be read ({e}); the agent may be a different version"),
            });
        }
        let body: Option<ApiError> = response.json().await.ok();
        let message = body.map(|b| b.message).unwrap_or_else(|| status.to_string());
        Err(match status {
            // 429 is the agent's answer to a failed authentication while another from this
            // address is being slowed: the token is what is wrong either way.
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => Error::Unauthorized {
                name: self.name.clone(),
            },
            StatusCode::FORBIDDEN => Error::Forbidden(format!(
                "{} allows this access token to look, not to change anything ({message}).",
                self.name
            )),
            // The agent's guards: the reason says why and what to do.
            StatusCode::CONFLICT | StatusCode::BAD_REQUEST | StatusCode::BAD_GATEWAY => Error::Refused {
                name: self.name.clone(),
                message,
            },
            StatusCode::PRECONDITION_FAILED => Error::DifferentFile {
                name: self.name.clone(),
                message,
            },
            _ => Error::Agent {
                name: self.name.clone(),
                message,
            },
        })
    }

    fn transport_error(&self, e: reqwest::Error) -> Error {
        // The verifier records what was presented: a different fingerprint is a mismatch, never
        // "unreachable", so a person is warned instead of told to check cables.
        match self.presented.get() {
            Some(fp) if fp != self.pin => Error::CertificateMismatch {
                address: self.address.clone(),
                presented: Some(fp),
            },
            _ => {
                tracing::debug!(address = %self.address, error = %e, "agent unreachable");
                Error::Unreachable {
                    name: self.name.clone(),
                    address: self.address.clone(),
                }
            }
        }
    }
}

/// Whether this console can work with the agent that sent `status`; if not, which to upgrade.
pub fn compatible(status: &ServerStatus) -> Result<(), Error> {
    let console = env!("CARGO_PKG_VERSION");
    match lbs_protocol::ApiRange::current().upgrade_needed(status.api_range()) {
        None => Ok(()),
        Some(lbs_protocol::Upgrade::Ours) => Err(Error::Incompatible(format!(
            "{} runs a newer agent ({}) than this LBS Console ({console}) understands. Upgrade the LBS Console on \
             this computer.",
            status.name, status.version
        ))),
        Some(lbs_protocol::Upgrade::Theirs) => Err(Error::Incompatible(format!(
            "{} runs an agent ({}) too old for this LBS Console ({console}). Ask your IT contractor to upgrade the \
             agent on {} (the backup first, as docs/agent.md describes).",
            status.name, status.version, status.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::{check_address, compatible};

    #[test]
    fn an_agent_this_console_cannot_work_with_names_the_side_to_upgrade() {
        let status = |version: u32, min: u32| lbs_protocol::ServerStatus {
            server_id: "a".into(),
            name: "PBX A".into(),
            role: lbs_protocol::Role::Primary,
            standing: Default::default(),
            epoch: 1,
            version: "9.0.0".into(),
            api_version: version,
            api_min_version: min,
            uptime_secs: 0,
            host_uptime_secs: 0,
            hostname: "a".into(),
            fingerprint: "f".into(),
            access: lbs_protocol::TokenRole::Admin,
            peer: lbs_protocol::PeerSummary::Unpaired,
            sample_interval_secs: 5,
            maintenance: None,
        };
        let now = lbs_protocol::API_VERSION;
        assert!(compatible(&status(now, now)).is_ok());
        assert!(
            compatible(&status(now + 1, now)).is_ok(),
            "a newer agent that still speaks ours"
        );
        let newer = compatible(&status(now + 2, now + 1)).unwrap_err().to_string();
        assert!(newer.contains("Upgrade the LBS Console on this computer"), "{newer}");
        let older = compatible(&status(0, 0)).unwrap_err().to_string();
        assert!(older.contains("upgrade the agent on PBX A"), "{older}");
    }

    #[test]
    fn addresses_are_host_and_port() {
        for ok in [
            "192.168.1.10:7443",
            "pbx-a.office.lan:7443",
            "localhost:1",
            "[::1]:7443",
            " https://10.0.0.2:7443/ ",
        ] {
            assert!(check_address(ok).is_ok(), "{ok} should be accepted");
        }
        assert_eq!(
            check_address(" https://10.0.0.2:7443/ ").ok().as_deref(),
            Some("10.0.0.2:7443")
        );
    }

    #[test]
    fn anything_else_is_refused_in_words() {
        for bad in [
            "",
            "10.0.0.2",
            "10.0.0.2:",
            "10.0.0.2:0",
            "10.0.0.2:70000",
            ":7443",
            // Two addresses run together, as a field that was not cleared leaves them.
            "127.0.0.1:7443localhost:7444",
            "::1:7443",
            "[not-v6]:7443",
            "user@host:7443",
            "host/path:7443",
            "host name:7443",
            "host:7443/api",
        ] {
            let err = check_address(bad).expect_err(bad).to_string();
            assert!(err.contains("is not a server address"), "{bad}: {err}");
        }
    }
}
