//! Address takeover: whatever makes the phones reach the primary moves with the role. One
//! module per strategy (`[takeover] strategy` in the config); this one dispatches and keeps the
//! last result for the status.

pub mod dns;
pub mod hook;
pub mod vip;

use std::sync::Mutex;

use lbs_protocol::AddressStatus;

use crate::config::Takeover;
use crate::refusal::Refusal;

pub struct Address {
    config: Takeover,
    /// (held, problem) as of the last take or release.
    state: Mutex<(bool, Option<String>)>,
    /// The partner's name as last resolved for the floating address's check: (its
    /// "host:port", when, what it resolved to). The status is read every few seconds; its name
    /// is looked up at most every few minutes.
    resolved: Mutex<Option<(String, std::time::Instant, Option<std::net::IpAddr>)>>,
}

/// How long a partner's name, once resolved, is taken as it was.
const RESOLVED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

impl Address {
    pub fn new(config: Takeover) -> Address {
        Address {
            config,
            state: Mutex::new((false, None)),
            resolved: Mutex::new(None),
        }
    }

    pub fn strategy(&self) -> &'static str {
        self.config.strategy()
    }

    /// What moves, for people: "pbx.office.lan. → 10.0.0.11".
    pub fn target(&self) -> String {
        match &self.config {
            Takeover::None => "nothing moves (strategy none)".into(),
            Takeover::Dns(d) => format!("{} → {} at DNS server {}", d.name, d.address, d.server),
            Takeover::Vip(v) => format!("{}/{} on {}", v.address.0, v.address.1, v.interface),
            Takeover::Hook(h) => format!("the script `{}`", h.command.join(" ")),
        }
    }

    /// A step of moving the address, for people: `what`, and what moves, unless nothing is
    /// configured to move (the step's detail then says so).
    pub fn step_label(&self, what: &str) -> String {
        match &self.config {
            Takeover::None => what.to_owned(),
            _ => format!("{what} ({})", self.target()),
        }
    }

    fn remember(&self, held: bool, problem: Option<String>) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = (held, problem);
    }

    /// Makes the address point at this box.
    pub async fn take(&self, ctx: &hook::Context) -> Result<String, Refusal> {
        let result = match &self.config {
            Takeover::None => Ok("nothing to move (takeover strategy none)".into()),
            Takeover::Dns(d) => dns::take(d).await,
            Takeover::Vip(v) => vip::take(v).await,
            Takeover::Hook(h) => hook::run(h, "take", ctx).await,
        };
        match &result {
            Ok(_) => self.remember(!matches!(self.config, Takeover::None), None),
            Err(e) => self.remember(false, Some(e.message.clone())),
        }
        result
    }

    /// Lets go of the address. For DNS there is nothing to undo: the next primary points the
    /// name at itself, and removing the record would leave the phones with no address at all.
    pub async fn release(&self, ctx: &hook::Context) -> Result<String, Refusal> {
        let result = match &self.config {
            Takeover::None => Ok("nothing to release (takeover strategy none)".into()),
            Takeover::Dns(d) => Ok(format!(
                "{} is left as it is; the next primary points it at itself",
                d.name
            )),
            Takeover::Vip(v) => vip::release(v).await,
            Takeover::Hook(h) => hook::run(h, "release", ctx).await,
        };
        match &result {
            Ok(_) => self.remember(false, None),
            Err(e) => self.remember(true, Some(e.message.clone())),
        }
        result
    }

    pub async fn status(&self) -> AddressStatus {
        let (mut held, problem) = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Takeover::Vip(v) = &self.config {
            held = vip::held(v).await.unwrap_or(held);
        }
        AddressStatus {
            strategy: self.strategy().into(),
            target: self.target(),
            held,
            problem,
            warning: None,
        }
    }

    /// What the partner's name resolves to here, looked up at most every [`RESOLVED_FOR`] and
    /// within 300 ms (a name that does not resolve then is not checked).
    async fn resolve(&self, partner: &str) -> Option<std::net::IpAddr> {
        let cached = self.resolved.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((name, at, ip)) = cached {
            if name == partner && at.elapsed() < RESOLVED_FOR {
                return ip;
            }
        }
        let lookup = tokio::net::lookup_host(partner.to_owned());
        let ip = tokio::time::timeout(std::time::Duration::from_millis(300), lookup)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|mut found| found.next())
            .map(|a| a.ip());
        *self.resolved.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((partner.to_owned(), std::time::Instant::now(), ip));
        ip
    }

    /// A floating address moves only between boxes on its own network: said when the partner
    /// (`partner`, "host:port" as paired) is elsewhere, e.g. a backup in another building.
    pub async fn partner_warning(&self, partner_name: &str, partner: &str) -> Option<String> {
        let Takeover::Vip(v) = &self.config else { return None };
        // A single address (/32, /128) names no network: nothing to compare with.
        if v.address.1 >= if v.address.0.is_ipv4() { 32 } else { 128 } {
            return None;
        }
        let host = partner
            .rsplit_once(':')
            .map_or(partner, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let ip = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip,
            Err(_) => self.resolve(partner).await?,
        };
        vip::outside(v.address, ip).then(|| {
            format!(
                "The floating address {}/{} cannot move to {partner_name}: {partner_name} is at {ip}, on another \
                 network. After a failover the phones would still call {}, which {partner_name} cannot answer on. \
                 For a backup in another building use DNS takeover ([takeover] strategy = \"dns\"; see \
                 docs/failover.md, \"A backup in another building\").",
                v.address.0, v.address.1, v.address.0
            )
        })
    }
}
