//! Joining a primary: this box presents its certificate to the primary the link points to, with
//! the link's admin token; the primary pins this box's certificate, this box pins the primary's
//! (from the link), and this box becomes the backup at the epoch both now share.

use lbs_protocol::{ConnectionLink, PairRequest, PairResponse, Role};
use thiserror::Error;

use crate::clock::now_unix;
use crate::http::AppState;
use crate::peer::Peer;

#[derive(Debug, Error)]
pub enum PairError {
    #[error("{0}")]
    BadLink(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Internal(String),
}

pub async fn join(state: &AppState, link_text: &str) -> Result<Peer, PairError> {
    let link = ConnectionLink::parse(link_text.trim()).map_err(|e| PairError::BadLink(e.to_string()))?;
    if link.fingerprint == state.identity.fingerprint {
        return Err(PairError::BadLink(
            "this link points to this very box; use the link of the primary".into(),
        ));
    }
    if let Some(p) = state.peer.read().await.as_ref() {
        if p.fingerprint != link.fingerprint {
            return Err(PairError::Refused(format!(
                "this box is already paired with {}; unpair it first with `lbs-agent unpair`",
                p.name
            )));
        }
    }
    let client = crate::peer::client(&state.identity, &link.fingerprint).map_err(PairError::Internal)?;
    // The versions first: a primary that records the pairing and is then refused by this box
    // would stay paired with a box that is not paired back.
    let status = client
        .get(format!("https://{}{}/status", link.address, lbs_protocol::API_PREFIX))
        .bearer_auth(&link.token)
        .timeout(std::time::Duration::from_secs(15));
    if let Ok(primary) = crate::peer::call::<lbs_protocol::ServerStatus>(status).await {
        let name = link.name.clone().unwrap_or(primary.name.clone());
        let theirs = primary.api_range();
        if let Some(problem) = crate::compat::problem(&state.config.server.name, &name, &primary.version, theirs) {
            return Err(PairError::Refused(problem));
        }
    }
    let own = state.role.read().await.clone();
    let request = PairRequest {
        server_id: state.identity.server_id.clone(),
        name: state.config.server.name.clone(),
        address: state.config.advertised_address(),
        epoch: own.epoch,
        versions: crate::compat::ours(),
    };
    let response = client
        .post(crate::peer::url(&link.address, "/pair"))
        .bearer_auth(&link.token)
        .json(&request)
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| {
            let text = format!("{e:?}");
            if text.contains("certificate") {
                PairError::Refused(format!(
                    "the box at {} presented a different certificate than the link says; \
                     make a new link on the primary (`lbs-agent token create`) and try again",
                    link.address
                ))
            } else {
                PairError::Unreachable(format!(
                    "the primary at {} does not answer ({e}); check the address and that its agent runs",
                    link.address
                ))
            }
        })?;
    if !response.status().is_success() {
        let message = crate::peer::refusal_message(response).await;
        return Err(PairError::Refused(format!(
            "the primary refused the pairing: {message}"
        )));
    }
    let answer: PairResponse = response
        .json()
        .await
        .map_err(|e| PairError::Unreachable(format!("the primary's answer could not be read: {e}")))?;
    // An older primary does not check the versions itself.
    let primary = link.name.clone().unwrap_or(answer.name.clone());
    if let Some(problem) = crate::compat::partner_problem(&state.config.server.name, &primary, &answer.versions) {
        return Err(PairError::Refused(problem));
    }
    let peer = Peer {
        server_id: answer.server_id,
        name: link.name.clone().unwrap_or(answer.name),
        address: link.address.clone(),
        fingerprint: link.fingerprint.clone(),
        paired_unix: now_unix(),
    };
    // The role (fsynced) first: a crash after it leaves a backup that pairs again idempotently.
    {
        let mut role = state.role.write().await;
        let mut next = role.clone();
        // The primary's epoch, owner included, so both boxes rank the same.
        next.epoch = next.epoch.max(answer.epoch);
        next.epoch_owner = answer.epoch_owner.clone();
        if next.role != Role::Backup {
            next.role = Role::Backup;
            next.since_unix = now_unix();
        }
        next.save(&state.config.server.state_dir)
            .map_err(|e| PairError::Internal(e.to_string()))?;
        *role = next;
    }
    state
        .set_peer(Some(peer.clone()))
        .await
        .map_err(|e| PairError::Internal(e.to_string()))?;
    tracing::info!(partner = %peer.name, server_id = %peer.server_id, "paired: this box is now the backup");
    Ok(peer)
}
