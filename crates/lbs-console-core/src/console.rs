//! The console's use cases, one method each: add a server (by link, or by address + token after
//! confirming its fingerprint), list, remove, and read a server's status and history. The Tauri
//! commands are one-line calls into these.

use std::path::Path;

use lbs_protocol::{ConnectionLink, HistoryQuery, HistoryResponse, SeriesList, ServerStatus};

use crate::client::{self, AgentClient};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::store::Store;
use crate::view::{ProbeResult, ServerEntry};

pub struct Console {
    store: Store,
    credentials: Credentials,
    /// When each server last answered (unix seconds) and its role then, for "Primary PBX A
    /// unreachable for 3 min".
    seen: std::sync::Mutex<std::collections::HashMap<String, (i64, lbs_protocol::Role)>>,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A pair's name as typed, trimmed, or why it cannot be used.
fn pair_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(Error::InvalidInput(
            "Give the pair a name of 1 to 80 characters, for example \"Main office\".".into(),
        ));
    }
    Ok(name.to_owned())
}

impl Console {
    pub async fn open(db_path: &Path, credentials: Credentials) -> Result<Console, Error> {
        Ok(Console {
            store: Store::open(db_path).await?,
            credentials,
            seen: Default::default(),
        })
    }

    pub async fn list(&self) -> Result<Vec<ServerEntry>, Error> {
        self.store.list().await
    }

    /// Adds the server a pasted connection link points to. The link carries the pin, so nothing
    /// needs confirming by eye.
    pub async fn add_by_link(&self, link: &str) -> Result<ServerEntry, Error> {
        let link = ConnectionLink::parse(link)?;
        let address = client::check_address(&link.address)?;
        let name = link.name.clone().unwrap_or_else(|| address.clone());
        self.add(&address, &link.fingerprint, &link.token, &name).await
    }

    /// Step one of adding by address: what certificate does it present?
    pub async fn probe(&self, address: &str) -> Result<ProbeResult, Error> {
        let address = client::check_address(address)?;
        let fingerprint = client::probe_fingerprint(&address).await?;
        Ok(ProbeResult { address, fingerprint })
    }

    /// Step two: the person confirmed `fingerprint`; it is pinned from now on.
    pub async fn add_manual(&self, address: &str, token: &str, fingerprint: &str) -> Result<ServerEntry, Error> {
        let address = client::check_address(address)?;
        let fingerprint = lbs_protocol::link::normalize_fingerprint(fingerprint)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::InvalidInput(
                "Enter the access token printed by the server.".into(),
            ));
        }
        self.add(&address, &fingerprint, token, &address).await
    }

    async fn add(&self, address: &str, fingerprint: &str, token: &str, name: &str) -> Result<ServerEntry, Error> {
        // Prove the token and the pin before storing anything.
        let status = AgentClient::new(address, fingerprint, token, name)?.status().await?;
        if let Some(existing) = self.store.find_by_server_id(&status.server_id).await? {
            return Err(Error::AlreadyAdded { name: existing.name });
        }
        let entry = ServerEntry {
            id: uuid::Uuid::new_v4().to_string(),
            name: status.name,
            address: address.to_owned(),
            fingerprint: fingerprint.to_owned(),
            server_id: status.server_id,
            added_unix: now_unix(),
        };
        self.credentials.store(&entry.id, token).await?;
        if let Err(e) = self.store.insert(&entry).await {
            // Leave no orphan secret behind.
            let _ = self.credentials.delete(&entry.id).await;
            return Err(e);
        }
        tracing::info!(id = %entry.id, address = %entry.address, "server added");
        Ok(entry)
    }

    pub async fn pairs(&self) -> Result<Vec<crate::view::PairEntry>, Error> {
        self.store.pairs().await
    }

    /// Creates an office from one or two servers already in the list.
    pub async fn create_pair(&self, name: &str, servers: &[String]) -> Result<crate::view::PairEntry, Error> {
        let name = pair_name(name)?;
        if servers.is_empty() || servers.len() > 2 || (servers.len() == 2 && servers[0] == servers[1]) {
            return Err(Error::InvalidInput(
                "A pair is one server, or two different servers: the primary and its backup.".into(),
            ));
        }
        for s in servers {
            self.store.get(s).await?;
        }
        let pair = crate::view::PairEntry {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            servers: Vec::new(),
            created_unix: now_unix(),
        };
        self.store.insert_pair(&pair).await?;
        for s in servers {
            self.store.join_pair(&pair.id, s).await?;
        }
        self.store.pair(&pair.id).await
    }

    /// Adds the partner to a pair that has one server.
    pub async fn add_to_pair(&self, pair: &str, server: &str) -> Result<crate::view::PairEntry, Error> {
        let p = self.store.pair(pair).await?;
        self.store.get(server).await?;
        if p.servers.iter().any(|s| s == server) {
            return Ok(p);
        }
        if p.servers.len() >= 2 {
            return Err(Error::InvalidInput(format!(
                "\"{}\" already has two servers; remove one first.",
                p.name
            )));
        }
        self.store.join_pair(pair, server).await?;
        self.store.pair(pair).await
    }

    pub async fn rename_pair(&self, pair: &str, name: &str) -> Result<crate::view::PairEntry, Error> {
        self.store.rename_pair(pair, &pair_name(name)?).await?;
        self.store.pair(pair).await
    }

    /// Removes the pair and its servers, with their tokens in the keyring.
    pub async fn remove_pair(&self, pair: &str) -> Result<(), Error> {
        let p = self.store.pair(pair).await?;
        for s in &p.servers {
            self.remove(s).await?;
        }
        self.store.remove_pair(pair).await
    }

    /// Removes the server and its keyring entry.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        self.store.get(id).await?;
        self.credentials.delete(id).await?;
        self.store.remove(id).await
    }

    async fn client(&self, id: &str) -> Result<(ServerEntry, AgentClient), Error> {
        let entry = self.store.get(id).await?;
        let token = self.credentials.load(id).await?;
        let client = AgentClient::new(&entry.address, &entry.fingerprint, &token, &entry.name)?;
        Ok((entry, client))
    }

    pub async fn status(&self, id: &str) -> Result<ServerStatus, Error> {
        let (entry, client) = self.client(id).await?;
        let status = client.status().await?;
        if status.server_id != entry.server_id {
            // Same certificate, different identity: cannot happen short of a copied state dir.
            return Err(Error::CertificateMismatch {
                address: entry.address,
                presented: None,
            });
        }
        if status.name != entry.name {
            self.store.rename(id, &status.name).await?;
        }
        Ok(status)
    }

    pub async fn series(&self, id: &str) -> Result<SeriesList, Error> {
        self.client(id).await?.1.series().await
    }

    pub async fn history(&self, id: &str, query: &HistoryQuery) -> Result<HistoryResponse, Error> {
        self.client(id).await?.1.history(query).await
    }

    pub async fn sync(&self, id: &str) -> Result<lbs_protocol::SyncStatus, Error> {
        self.client(id).await?.1.sync().await
    }

    pub async fn failover(&self, id: &str) -> Result<lbs_protocol::FailoverStatus, Error> {
        self.client(id).await?.1.failover().await
    }

    pub async fn events(&self, id: &str, limit: u32) -> Result<lbs_protocol::EventList, Error> {
        self.client(id).await?.1.events(limit).await
    }

    pub async fn quarantine(&self, id: &str) -> Result<lbs_protocol::QuarantineList, Error> {
        self.client(id).await?.1.quarantine().await
    }

    /// What the console sees of one machine now (its failover and sync status, or that it does
    /// not answer), for the pair's sentence and the wizard.
    pub async fn machine(&self, id: &str) -> Result<crate::pair::Machine, Error> {
        let (entry, client) = self.client(id).await?;
        let now = now_unix();
        let answer = async { Ok::<_, Error>((client.failover().await?, client.sync().await?)) }.await;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let machine = match answer {
            Ok((failover, sync)) => {
                seen.insert(id.to_owned(), (now, failover.role));
                crate::pair::Machine {
                    name: entry.name,
                    last_answer_unix: Some(now),
                    reachable: true,
                    last_role: Some(failover.role),
                    failover: Some(failover),
                    sync: Some(sync),
                }
            }
            Err(Error::Unreachable { .. }) => crate::pair::Machine {
                name: entry.name,
                last_answer_unix: seen.get(id).map(|s| s.0),
                reachable: false,
                last_role: seen.get(id).map(|s| s.1),
                failover: None,
                sync: None,
            },
            Err(other) => return Err(other),
        };
        Ok(machine)
    }

    /// The dashboard's sentence for two servers of one office.
    pub async fn pair_state(&self, a: &str, b: &str) -> Result<crate::pair::PairState, Error> {
        let (ma, mb) = (self.machine(a).await?, self.machine(b).await?);
        Ok(crate::pair::pair_state(&ma, &mb, now_unix()))
    }

    /// The wizard's first step: make `backup` the primary instead of `primary`.
    pub async fn assess(&self, primary: &str, backup: &str) -> Result<crate::pair::Assessment, Error> {
        let (p, b) = (self.machine(primary).await?, self.machine(backup).await?);
        Ok(crate::pair::assess(&p, &b, now_unix()))
    }

    /// The wizard's last step: assesses again (the situation may have changed while the manager
    /// read), checks the confirmation, and asks the backup for exactly one role change.
    pub async fn fail_over(
        &self,
        primary: &str,
        backup: &str,
        confirmation: &crate::pair::Confirmation,
    ) -> Result<lbs_protocol::RoleChange, Error> {
        let assessment = self.assess(primary, backup).await?;
        let action = crate::pair::check(&assessment, confirmation)?;
        let (_, client) = self.client(backup).await?;
        match action {
            crate::pair::Action::Promote(req) => client.promote(&req).await,
            crate::pair::Action::Switchover(req) => client.switchover(&req).await,
        }
    }
}
