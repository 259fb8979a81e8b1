//! Pairing is a role change on both boxes, so it runs here, under the role-change lock, and lands
//! in the audit log like any other.
//!
//! - [`Failover::join`] (the box that joins): presents its certificate to the primary the link
//!   points to, with the link's admin token; the primary pins this box's certificate, this box
//!   pins the primary's (from the link), and this box becomes the backup at the epoch both now
//!   share, its PBX stopped.
//! - [`Failover::accept_backup`] (the primary): pins the joining box and raises its own epoch to
//!   at least the joining box's, so both leave pairing at the same epoch, never lower than either
//!   had.
//! - Both send their inventory (`PairRequest::inventory`, `PairResponse::inventory`): the primary
//!   refuses a box whose sync categories differ in names, count, order, roots or databases
//!   (`inventory::categories`), saying what differs and which file to change; otherwise each box
//!   keeps the other's inventory, and the hardware differences (`inventory::parity`) go into the
//!   audit entry of the pairing and the log, so no pair is made without them being said.
//!
//! Why the whole exchange holds the lock: a promotion that slipped in between "ask the primary"
//! and "record the backup role" would be overwritten by a role computed before it, and the boxes
//! would disagree about the epoch (two backups, or two primaries).

use std::time::Duration;

use lbs_protocol::{
    ConnectionLink, MachineInventory, PairRequest, PairResponse, PartnerTokenRequest, Role, ServerStatus, TokenCreated,
    TokenRole,
};

use lbs_protocol::EventKind;

use super::{lock, Failover, Refusal};
use crate::clock::now_unix;
use crate::inventory::categories::{self, Comparison};
use crate::peer::{CallError, Peer};
use crate::role::RoleState;

const PAIR_TIMEOUT: Duration = Duration::from_secs(15);

impl Failover {
    /// This box joins the primary `link_text` points to as its backup (see the module's comment).
    pub async fn join(&self, link_text: &str, actor: &str) -> Result<Peer, Refusal> {
        let link = ConnectionLink::parse(link_text.trim()).map_err(|e| Refusal::bad_request(e.to_string()))?;
        if link.fingerprint == self.identity.fingerprint {
            return Err(Refusal::bad_request(
                "this link points to this very box; use the link of the primary",
            ));
        }
        let _g = self.changing.lock().await;
        if let Some(p) = self.peer().await {
            if p.fingerprint != link.fingerprint {
                return Err(Refusal::conflict(format!(
                    "this box is already paired with {}; unpair it first with `lbs-agent unpair`",
                    p.name
                )));
            }
        }
        let own = self.role();
        let answer = self.ask_to_pair(&link, &own).await?;
        let peer = Peer {
            server_id: answer.server_id,
            name: link.name.clone().unwrap_or(answer.name),
            address: link.address.clone(),
            fingerprint: link.fingerprint.clone(),
            paired_unix: now_unix(),
        };
        // The role (fsynced) first: a crash after it leaves a backup that pairs again idempotently.
        let mut next = own.clone();
        // The primary's epoch, owner included, so both boxes rank the same.
        next.epoch = next.epoch.max(answer.epoch);
        next.epoch_owner = answer.epoch_owner;
        if next.role != Role::Backup {
            next.role = Role::Backup;
            next.since_unix = now_unix();
            next.promoted = Some(false);
        }
        self.set_role(next).await.map_err(Refusal::internal)?;
        self.set_peer(Some(peer.clone())).await?;
        let differences = match answer.inventory {
            Some(primary) => {
                let mut primary = *primary;
                primary.role = Role::Primary;
                // As sent with the request a moment ago.
                let mut own = (*self.inventory.current_or_collect().await).clone();
                own.role = Role::Backup;
                let summary = Self::parity_summary(&primary, &own);
                self.inventory.set_partner(primary);
                summary
            }
            None => None,
        };
        // Its PBX must not run beside the primary's, and the address is not its to hold.
        let now = self.role();
        let mut steps = self.steps("Joining as the backup");
        self.stop_steps(&mut steps, &now).await;
        *lock(&self.busy) = None;
        let failed: Vec<String> = steps.list.iter().filter(|s| !s.ok).map(|s| s.detail.clone()).collect();
        let mut message = format!(
            "paired with {}: this box is now its backup (epoch {})",
            peer.name, now.epoch
        );
        if !failed.is_empty() {
            message.push_str(&format!("; but {}", failed.join("; ")));
        }
        if let Some(differences) = differences {
            message.push_str(&format!("; {differences}"));
        }
        self.record(EventKind::Paired, actor, None, message).await;
        tracing::info!(partner = %peer.name, server_id = %peer.server_id, "paired: this box is now the backup");
        Ok(peer)
    }

    /// The exchange with the primary: the versions first (a primary that records the pairing
    /// and is then refused by this box would stay paired with a box that is not paired back),
    /// then `POST /peer/v1/pair`.
    async fn ask_to_pair(&self, link: &ConnectionLink, own: &RoleState) -> Result<PairResponse, Refusal> {
        let client = crate::peer::client(&self.identity, &link.fingerprint).map_err(Refusal::internal)?;
        let status = client
            .get(format!("https://{}{}/status", link.address, lbs_protocol::API_PREFIX))
            .bearer_auth(&link.token)
            .timeout(PAIR_TIMEOUT);
        if let Ok(primary) = crate::peer::call::<ServerStatus>(status).await {
            let name = link.name.clone().unwrap_or(primary.name.clone());
            if let Some(problem) = crate::compat::problem(self.name(), &name, &primary.version, primary.api_range()) {
                return Err(Refusal::conflict(problem));
            }
        }
        let request = PairRequest {
            server_id: self.identity.server_id.clone(),
            name: self.name().to_owned(),
            address: self.config.advertised_address(),
            epoch: own.epoch,
            versions: crate::compat::ours(),
            inventory: Some(Box::new((*self.inventory.collect(false).await).clone())),
        };
        let response = client
            .post(crate::peer::url(&link.address, "/pair"))
            .bearer_auth(&link.token)
            .json(&request)
            .timeout(PAIR_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                if format!("{e:?}").contains("certificate") {
                    Refusal::conflict(format!(
                        "the box at {} presented a different certificate than the link says; \
                         make a new link on the primary (`lbs-agent token create`) and try again",
                        link.address
                    ))
                } else {
                    Refusal::unavailable(format!(
                        "the primary at {} does not answer ({e}); check the address and that its agent runs",
                        link.address
                    ))
                }
            })?;
        if !response.status().is_success() {
            let message = crate::peer::refusal_message(response).await;
            return Err(Refusal::conflict(format!("the primary refused the pairing: {message}")));
        }
        let answer: PairResponse = response
            .json()
            .await
            .map_err(|e| Refusal::unavailable(format!("the primary's answer could not be read: {e}")))?;
        // An older primary does not check the versions itself.
        let primary = link.name.clone().unwrap_or(answer.name.clone());
        if let Some(problem) = crate::compat::partner_problem(self.name(), &primary, &answer.versions) {
            return Err(Refusal::conflict(problem));
        }
        Ok(answer)
    }

    /// The primary's side of pairing: `req` comes from the box whose certificate has
    /// `fingerprint`, with an admin token the caller has checked.
    pub async fn accept_backup(&self, req: PairRequest, fingerprint: String) -> Result<PairResponse, Refusal> {
        if let Some(problem) = crate::compat::partner_problem(self.name(), &req.name, &req.versions) {
            return Err(Refusal::conflict(problem));
        }
        if req.server_id == self.identity.server_id || fingerprint == self.identity.fingerprint {
            return Err(Refusal::bad_request("a box cannot be paired with itself"));
        }
        let joining = format!("{} (pairing)", req.name);
        if let Some(theirs) = &req.inventory {
            let ours = self.inventory.categories();
            if let Comparison::Shape(why) = categories::compare(self.name(), &ours, &req.name, &theirs.categories) {
                let why = format!(
                    "the sync categories of {} and {} differ: {why}. {}",
                    self.name(),
                    req.name,
                    categories::shape_fix(&req.name, self.name())
                );
                return self.refuse("pairing", &joining, None, why).await;
            }
        }
        let _g = self.changing.lock().await;
        if let Some(p) = self.peer().await {
            if p.server_id != req.server_id {
                return Err(Refusal::conflict(format!(
                    "this box is already paired with {} ({}); unpair it first with `lbs-agent unpair`",
                    p.name, p.server_id
                )));
            }
        }
        let own = self.role();
        if own.role != Role::Primary {
            return Err(Refusal::conflict(format!(
                "{} is a backup; pair the new box with the primary instead",
                self.name()
            )));
        }
        let mut raised = None;
        if req.epoch > own.epoch {
            let next = RoleState {
                epoch: req.epoch,
                epoch_owner: self.identity.server_id.clone(),
                ..own.clone()
            };
            self.set_role(next).await.map_err(Refusal::internal)?;
            raised = Some(req.epoch);
        }
        let peer = Peer {
            server_id: req.server_id,
            name: req.name,
            address: req.address,
            fingerprint,
            paired_unix: now_unix(),
        };
        let (name, id) = (peer.name.clone(), peer.server_id.clone());
        self.set_peer(Some(peer)).await?;
        let now = self.role();
        // The last reading (a new one only if there is none yet): pairing holds the role-change
        // lock and must not wait for a round of SMART.
        let own = self.inventory.current_or_collect().await;
        let differences = match req.inventory {
            Some(backup) => {
                let mut backup = *backup;
                backup.role = Role::Backup;
                backup.name = name.clone();
                let mut primary = (*own).clone();
                primary.role = Role::Primary;
                let summary = Self::parity_summary(&primary, &backup);
                self.inventory.set_partner(backup);
                summary
            }
            None => None,
        };
        let mut message = format!("{name} joined as this box's backup");
        if let Some(epoch) = raised {
            message.push_str(&format!(
                "; this box took its epoch, {epoch}, so that both rank the same"
            ));
        }
        if let Some(differences) = differences {
            message.push_str(&format!("; {differences}"));
        }
        self.record(EventKind::Paired, &joining, None, message).await;
        tracing::info!(partner = %name, server_id = %id, "paired: the partner is now this box's backup");
        Ok(PairResponse {
            server_id: self.identity.server_id.clone(),
            name: self.name().to_owned(),
            role: now.role,
            epoch: now.epoch,
            epoch_owner: now.epoch_owner,
            versions: crate::compat::ours(),
            inventory: Some(Box::new(MachineInventory {
                role: now.role,
                ..(*own).clone()
            })),
        })
    }

    /// Forgets the partner (`DELETE /api/v1/pair`): this box keeps its role.
    pub async fn unpair(&self, actor: &str) -> Result<(), Refusal> {
        let _g = self.changing.lock().await;
        let Some(old) = self.peer().await else {
            return Ok(());
        };
        self.set_peer(None).await?;
        self.record(
            EventKind::Unpaired,
            actor,
            None,
            format!("unpaired from {}: this box has no partner now", old.name),
        )
        .await;
        tracing::info!("unpaired: this box has no partner now");
        Ok(())
    }

    /// Makes `peer` this box's partner (`None`: no partner): the durable record first, then the
    /// running agent and the sync engine, which forgets what it knew of the previous partner.
    async fn set_peer(&self, peer: Option<Peer>) -> Result<(), Refusal> {
        match &peer {
            Some(p) => self.peers.save(p).await?,
            None => self.peers.forget().await?,
        }
        *self.peer.write().await = peer;
        self.inventory.forget_partner();
        // What the old partner acknowledged says nothing about the new one.
        if let Err(e) = self.sync.journal.set_peer_acked(None).await {
            tracing::warn!(error = %e, "cannot forget the old partner's acknowledgement");
        }
        self.sync.peer_changed();
        self.forget_partner();
        Ok(())
    }
}

impl Failover {
    /// A connection link to the partner box, with a token the partner issues through the
    /// paired link (`/peer/v1/link`), so a console adds the whole office from one link. The
    /// token's role is `role` (a viewer gets a viewer's link); `asked_with` names the token
    /// the request came with, so an admin who revokes that one finds this one too.
    pub async fn partner_link(&self, role: TokenRole, asked_with: &str) -> Result<ConnectionLink, Refusal> {
        let Some(peer) = self.peer().await else {
            return Err(Refusal::conflict(format!(
                "{} has no partner box yet: pair the backup with it first (`lbs-agent setup --partner …` on the backup)",
                self.name()
            )));
        };
        let client = self.sync.client_for(&peer)?;
        let request = PartnerTokenRequest {
            role,
            label: format!("LBS Console (through {}, token {asked_with})", self.name()),
        };
        let created: TokenCreated = crate::peer::call(
            client
                .post(crate::peer::url(&peer.address, "/link"))
                .json(&request)
                .timeout(PAIR_TIMEOUT),
        )
        .await
        .map_err(|e| match e {
            CallError::Silent(why) => Refusal::unavailable(format!(
                "{} at {} does not answer: it may be switched off or cut off. Add it once it is back, or with its \
                 own link. (Details: {why})",
                peer.name, peer.address
            )),
            CallError::Refused(_, why) => Refusal::unavailable(format!("the partner {} refused: {why}", peer.name)),
            CallError::Unreadable(why) => {
                Refusal::unavailable(format!("the partner {}'s answer could not be read: {why}", peer.name))
            }
        })?;
        tracing::info!(partner = %peer.name, %role, "issued a console link to the partner");
        Ok(ConnectionLink {
            address: peer.address,
            // The certificate pinned at pairing, never one the partner announces now.
            fingerprint: peer.fingerprint,
            token: created.token,
            name: Some(peer.name),
        })
    }
}
