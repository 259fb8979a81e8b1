//! The partner's inventory: fetched over the pair's mutual TLS (`GET /peer/v1/inventory`)
//! whenever the digest its heartbeat carries differs from the inventory held. Why a digest in the
//! heartbeat and not the inventory itself: the heartbeat runs every second and must stay small,
//! while an inventory (a few kilobytes) changes a few times an hour at most; why not a fetch on a
//! timer: a card fitted or a disk failing shows on the other box within a heartbeat of its next
//! reading, and nothing is fetched while nothing changed.

use std::sync::Arc;
use std::time::Duration;

use lbs_protocol::{Difference, MachineInventory, Role};

use super::Failover;
use crate::inventory::Unreadable;
use crate::peer::{CallError, Peer};

const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// An inventory is a few kilobytes; a box with hundreds of disks and cards stays far below this.
const FETCH_MAX_BYTES: usize = 1024 * 1024;

impl Failover {
    /// A heartbeat from the partner carried `digest`: fetch its inventory if it changed.
    pub(super) fn partner_inventory_heard(self: &Arc<Self>, digest: Option<&str>) {
        if !self.inventory.should_fetch(digest) {
            return;
        }
        let f = self.clone();
        tokio::spawn(async move {
            let result = match f.peer().await {
                Some(peer) => f.fetch_inventory(&peer).await,
                None => Err(Unreadable::from("no partner")),
            };
            f.inventory.fetched(result);
        });
    }

    async fn fetch_inventory(&self, peer: &Peer) -> Result<MachineInventory, Unreadable> {
        let client = self.sync.client_for(peer).map_err(|e| Unreadable(e.message))?;
        let request = client
            .get(crate::peer::url(&peer.address, lbs_protocol::INVENTORY_ROUTE))
            .timeout(FETCH_TIMEOUT);
        let mut inventory: MachineInventory =
            crate::peer::call_capped(request, FETCH_MAX_BYTES).await.map_err(|e| {
                Unreadable(match e {
                    CallError::Silent(why) => format!("{} does not answer ({why})", peer.name),
                    CallError::Refused(_, why) => format!("{} refused: {why}", peer.name),
                    CallError::Unreadable(why) => format!("{}'s inventory could not be read: {why}", peer.name),
                })
            })?;
        if inventory.server_id != peer.server_id {
            return Err(Unreadable(format!(
                "the inventory answered at {} is not {}'s",
                peer.address, peer.name
            )));
        }
        // The name this box paired with, not the one the partner gives itself.
        inventory.name = peer.name.clone();
        tracing::debug!(partner = %peer.name, "received the partner's inventory");
        Ok(inventory)
    }

    /// The differences between `primary` and `backup` as a sentence for the audit log and the
    /// log, the most severe first; `None` when they are twins.
    pub(super) fn parity_summary(primary: &MachineInventory, backup: &MachineInventory) -> Option<String> {
        let found = crate::inventory::parity::differences(primary, backup);
        for d in &found {
            match d.severity {
                lbs_protocol::Severity::Critical => tracing::warn!(code = %d.code, "{} {}", d.message, d.fix),
                _ => tracing::info!(code = %d.code, "{} {}", d.message, d.fix),
            }
        }
        summary(&found)
    }

    /// The role the partner holds now, as the heartbeat last said, else its inventory's.
    pub fn partner_role(&self, inventory: &MachineInventory) -> Role {
        self.partner_view().last.map_or(inventory.role, |hb| hb.role)
    }
}

/// "differences between the boxes: [critical] …; [warning] …".
fn summary(found: &[Difference]) -> Option<String> {
    if found.is_empty() {
        return None;
    }
    let parts: Vec<String> = found
        .iter()
        .map(|d| format!("[{}] {}", d.severity, d.message))
        .collect();
    Some(format!("differences between the boxes: {}", parts.join(" ")))
}
