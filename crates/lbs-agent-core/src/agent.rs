//! The running agent as the edges see it: what the HTTP API and the systemd watchdog reach. The
//! edge's `daemon.rs` (`lbs-agent run`) wires it up (config → identity → databases → sampler →
//! sync → failover) and serves it.

use std::sync::Arc;
use std::time::Instant;

use lbs_protocol::{Maintenance, PairHealth, PartnerTokenRequest, PeerSummary, ServerStatus, TokenCreated, TokenRole};
use tokio::sync::{watch, RwLock};

use crate::alerts::Alerts;
use crate::config::Config;
use crate::failover::Failover;
use crate::identity::Identity;
use crate::inventory::Inventory;
use crate::peer::{Peer, PeerStore};
use crate::refusal::Refusal;
use crate::role::RoleReader;
use crate::sync::SyncEngine;
use crate::tokens::TokenStore;

pub struct Agent {
    pub config: Config,
    pub identity: Arc<Identity>,
    /// Read-only: role changes go through `failover`.
    pub role: RoleReader,
    /// Read-only for everyone but `failover` (pairing, unpairing).
    pub peer: Arc<RwLock<Option<Peer>>>,
    pub peers: PeerStore,
    pub sync: Arc<SyncEngine>,
    pub failover: Arc<Failover>,
    /// The alerts this box sends itself (mail, webhooks).
    pub alerts: Arc<Alerts>,
    /// What this box is made of, and its partner's as last received.
    pub inventory: Arc<Inventory>,
    pub tokens: TokenStore,
    pub history: lbs_history::HistoryStore,
    pub started: Instant,
    /// The same moment as Unix time, read once: a value derived again at each scrape would
    /// wobble by a second and look like a restart.
    pub started_unix: i64,
}

impl Agent {
    /// `GET /status`: who this box is, its role and epoch, and what it knows of its partner, as
    /// seen with a token of role `access`.
    pub async fn status(&self, access: TokenRole) -> ServerStatus {
        let role = self.role.get();
        let peer = match self.peer.read().await.clone() {
            None => PeerSummary::Unpaired,
            Some(p) => {
                // The heartbeat knows best: it runs both ways whatever the role.
                let seen = self.failover.partner_view();
                PeerSummary::Paired {
                    server_id: p.server_id,
                    address: p.address,
                    reachable: seen.reachable,
                    checked: seen.checked(),
                    last_contact_unix: seen.last_contact,
                }
            }
        };
        ServerStatus {
            server_id: self.identity.server_id.clone(),
            name: self.config.server.name.clone(),
            role: role.role,
            standing: self.role.standing(),
            epoch: role.epoch,
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: lbs_protocol::API_VERSION,
            api_min_version: lbs_protocol::API_MIN_VERSION,
            uptime_secs: self.started.elapsed().as_secs(),
            host_uptime_secs: crate::platform::host_uptime_secs(),
            hostname: crate::platform::hostname(),
            fingerprint: self.identity.fingerprint.clone(),
            access,
            peer,
            sample_interval_secs: self.config.metrics.interval,
            maintenance: self.maintenance(),
        }
    }

    /// `GET /api/v1/health`: this box and its partner side by side, and what differs.
    pub async fn health(&self) -> PairHealth {
        let mut this = (*self.inventory.current_or_collect().await).clone();
        this.role = self.role.get().role;
        let Some(peer) = self.peer.read().await.clone() else {
            return crate::inventory::health(
                this,
                None,
                Some(format!(
                    "{} has no partner yet: pair the backup with it (`lbs-agent pair <link>` on the backup) to \
                     compare the two machines.",
                    self.config.server.name
                )),
            );
        };
        let seen = self.failover.partner_view();
        let received = self
            .inventory
            .partner()
            .filter(|r| r.inventory.server_id == peer.server_id);
        let older_agent = seen.last.as_ref().is_some_and(|hb| hb.inventory.is_none());
        // Right after pairing or a start no heartbeat has been exchanged yet: not "silent".
        let answering = seen.reachable || !seen.checked();
        let note = crate::inventory::partner_note(&peer.name, answering, received.as_ref(), older_agent);
        let partner = received.map(|r| {
            let mut inventory = (*r.inventory).clone();
            inventory.role = self.failover.partner_role(&inventory);
            inventory
        });
        crate::inventory::health(this, partner, note)
    }

    /// The pair's maintenance on now, if any. Every automatic action must check it and hold back
    /// while it is on (docs/ARCHITECTURE.md); the sync does not.
    pub fn maintenance(&self) -> Option<Maintenance> {
        self.failover.maintenance.active_now()
    }

    /// The maintenance on, as it changes (`None` when off): for a loop that holds back while it
    /// is on, such as the alerts.
    pub fn maintenance_watch(&self) -> watch::Receiver<Option<Maintenance>> {
        self.failover.maintenance.watch()
    }

    /// A token the paired partner asks for, for the console it is talking to
    /// (`/peer/v1/link`): the mutual-TLS link proves the request comes from `partner`, and the
    /// role is the console's.
    pub async fn token_for_partner(&self, partner: &Peer, req: PartnerTokenRequest) -> Result<TokenCreated, Refusal> {
        let label: String = req.label.chars().take(crate::tokens::MAX_LABEL).collect();
        let created = self.tokens.create(req.role, &label).await?;
        tracing::info!(partner = %partner.name, role = %req.role, label = ?label, "issued a token asked for by the partner");
        Ok(created)
    }
}
