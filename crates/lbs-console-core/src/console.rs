//! The console's use cases, one method each: add a server (by link, or by address + token after
//! confirming its fingerprint), list, remove, and read a server's status and history. The Tauri
//! commands are one-line calls into these.

use std::collections::HashMap;
use std::path::Path;

use lbs_protocol::{ConnectionLink, HistoryQuery, HistoryResponse, PeerSummary, Role, ServerStatus};

use crate::client::{self, AgentClient};
use crate::credentials::Credentials;
use crate::error::Error;
use crate::history_copy::HistoryCopy;
use crate::overview::{MachineView, Overview};
use crate::store::Store;
use crate::view::{AddedServer, MachineSeries, PairEntry, ProbeResult, ServerEntry};

pub struct Console {
    store: Store,
    credentials: Credentials,
    history: HistoryCopy,
    /// When each server last answered and its role then, for "Primary PBX A unreachable for
    /// 3 min"; loaded from the store and written back when the role changes or every 30 s.
    seen: std::sync::Mutex<HashMap<String, Seen>>,
    /// Servers whose last look failed (by the console's id).
    silent: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The maintenance each office's servers last reported, by office id, for while none answers
    /// (see `maintenance::Reported`).
    maintenance_seen: std::sync::Mutex<HashMap<String, crate::maintenance::Reported>>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    at: i64,
    role: Role,
    stored_at: i64,
}

/// How often a server's "last seen" reaches the disk while it keeps answering.
const SEEN_WRITE_SECS: i64 = 30;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Refuses a third server for an office.
fn room_in(p: &PairEntry) -> Result<(), Error> {
    if p.servers.len() >= 2 {
        return Err(Error::InvalidInput(format!(
            "\"{}\" already has two servers; remove one first.",
            p.name
        )));
    }
    Ok(())
}

/// Refuses an agent that presents the pinned certificate but another server ID: cannot happen
/// short of a copied state directory.
fn same_server(entry: &ServerEntry, status: &ServerStatus) -> Result<(), Error> {
    if status.server_id != entry.server_id {
        return Err(Error::CertificateMismatch {
            address: entry.address.clone(),
            presented: None,
        });
    }
    Ok(())
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
    /// Opens the console's database at `db_path`; the history copies go beside it, in `history/`.
    pub async fn open(db_path: &Path, credentials: Credentials) -> Result<Console, Error> {
        let store = Store::open(db_path).await?;
        let history = HistoryCopy::new(&db_path.with_file_name("history"));
        let seen = store
            .seen()
            .await?
            .into_iter()
            .filter_map(|(id, at, role)| {
                let role = match role.as_str() {
                    "primary" => Role::Primary,
                    "backup" => Role::Backup,
                    _ => return None,
                };
                Some((
                    id,
                    Seen {
                        at,
                        role,
                        stored_at: at,
                    },
                ))
            })
            .collect();
        Ok(Console {
            store,
            credentials,
            history,
            seen: std::sync::Mutex::new(seen),
            silent: Default::default(),
            maintenance_seen: Default::default(),
        })
    }

    pub async fn list(&self) -> Result<Vec<ServerEntry>, Error> {
        self.store.list().await
    }

    /// Adds the server a pasted connection link points to. The link carries the pin, so nothing
    /// needs confirming by eye.
    pub async fn add_by_link(&self, link: &str, office: Option<&str>) -> Result<ServerEntry, Error> {
        Ok(self.add_link(link, office).await?.0)
    }

    /// [`Console::add_by_link`], with what the agent said of its partner.
    async fn add_link(&self, link: &str, office: Option<&str>) -> Result<(ServerEntry, PeerSummary), Error> {
        let link = ConnectionLink::parse(link)?;
        let address = client::check_address(&link.address)?;
        let name = link.name.clone().unwrap_or_else(|| address.clone());
        self.add(&address, &link.fingerprint, &link.token, &name, office).await
    }

    /// Adds the server a link points to and, when it is paired, its partner too: the server
    /// hands out a link to its partner (the certificate it pinned at pairing, a token the
    /// partner issues with this link's role), so one link brings in the whole office. A partner
    /// that cannot be added now is reported, not an error: the first server stays added.
    pub async fn add_office_by_link(&self, link: &str, office: Option<&str>) -> Result<AddedServer, Error> {
        let (server, peer) = self.add_link(link, office).await?;
        let mut added = AddedServer {
            server,
            partner: None,
            partner_problem: None,
        };
        let PeerSummary::Paired { server_id, .. } = &peer else {
            return Ok(added);
        };
        if self.store.find_by_server_id(server_id).await?.is_some() {
            return Ok(added);
        }
        let partner = async {
            let link = self.client(&added.server.id).await?.1.partner_link().await?;
            // It lands in the first server's office, as the partner of a server alone there.
            self.add_by_link(&link.link, None).await
        };
        match partner.await {
            Ok(entry) => added.partner = Some(entry),
            Err(e) => {
                tracing::warn!(error = %e, "the partner could not be added through the link's server");
                // The first server's words about its partner, without "… refused:" before them.
                added.partner_problem = Some(match e {
                    Error::Refused { message, .. } => message,
                    other => other.to_string(),
                });
            }
        }
        Ok(added)
    }

    /// Step one of adding by address: what certificate does it present?
    pub async fn probe(&self, address: &str) -> Result<ProbeResult, Error> {
        let address = client::check_address(address)?;
        let fingerprint = client::probe_fingerprint(&address).await?;
        Ok(ProbeResult { address, fingerprint })
    }

    /// Step two: the person confirmed `fingerprint`; it is pinned from now on.
    pub async fn add_manual(
        &self,
        address: &str,
        token: &str,
        fingerprint: &str,
        office: Option<&str>,
    ) -> Result<ServerEntry, Error> {
        let address = client::check_address(address)?;
        let fingerprint = lbs_protocol::link::normalize_fingerprint(fingerprint)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::InvalidInput(
                "Enter the access token printed by the server.".into(),
            ));
        }
        Ok(self.add(&address, &fingerprint, token, &address, office).await?.0)
    }

    /// Adds a server to `office`, or else to the office of its partner, or else to a new office;
    /// returns it with what its agent said of its partner.
    async fn add(
        &self,
        address: &str,
        fingerprint: &str,
        token: &str,
        name: &str,
        office: Option<&str>,
    ) -> Result<(ServerEntry, PeerSummary), Error> {
        if let Some(office) = office {
            room_in(&self.store.pair(office).await?)?;
        }
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
        // A box added again is no longer a former machine; its history copy carries on.
        self.store.forget_former(&entry.server_id).await?;
        self.place(&entry, &status.peer, office).await?;
        Ok((entry, status.peer))
    }

    /// Puts a newly added server into an office: the one asked for; else its partner's, when the
    /// agent says it is paired with a server that is alone in its office; else a new office.
    async fn place(&self, entry: &ServerEntry, peer: &PeerSummary, office: Option<&str>) -> Result<(), Error> {
        if let Some(office) = office {
            self.add_to_pair(office, &entry.id).await?;
            return Ok(());
        }
        if let PeerSummary::Paired { server_id, .. } = peer {
            if let Some(partner) = self.store.find_by_server_id(server_id).await? {
                let pairs = self.store.pairs().await?;
                if let Some(p) = pairs.iter().find(|p| p.servers == [partner.id.clone()]) {
                    self.store.join_pair(&p.id, &entry.id).await?;
                    return Ok(());
                }
            }
        }
        let taken: Vec<String> = self.store.pairs().await?.into_iter().map(|p| p.name).collect();
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    "Office".to_owned()
                } else {
                    format!("Office {n}")
                }
            })
            .find(|n| !taken.contains(n))
            .unwrap_or_else(|| "Office".into());
        self.create_pair(&name, std::slice::from_ref(&entry.id)).await?;
        Ok(())
    }

    pub async fn pairs(&self) -> Result<Vec<PairEntry>, Error> {
        self.store.pairs().await
    }

    /// Creates an office from one or two servers already in the list.
    pub async fn create_pair(&self, name: &str, servers: &[String]) -> Result<PairEntry, Error> {
        let name = pair_name(name)?;
        if servers.is_empty() || servers.len() > 2 || (servers.len() == 2 && servers[0] == servers[1]) {
            return Err(Error::InvalidInput(
                "A pair is one server, or two different servers: the primary and its backup.".into(),
            ));
        }
        for s in servers {
            self.store.get(s).await?;
        }
        let pair = PairEntry {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            servers: Vec::new(),
            created_unix: now_unix(),
        };
        self.store.insert_pair(&pair).await?;
        for s in servers {
            self.store.join_pair(&pair.id, s).await?;
        }
        self.store.drop_empty_pairs().await?;
        self.store.pair(&pair.id).await
    }

    /// Adds the partner to a pair that has one server.
    pub async fn add_to_pair(&self, pair: &str, server: &str) -> Result<PairEntry, Error> {
        let p = self.store.pair(pair).await?;
        self.store.get(server).await?;
        if p.servers.iter().any(|s| s == server) {
            return Ok(p);
        }
        room_in(&p)?;
        self.store.join_pair(pair, server).await?;
        self.store.drop_empty_pairs().await?;
        self.store.pair(pair).await
    }

    pub async fn rename_pair(&self, pair: &str, name: &str) -> Result<PairEntry, Error> {
        self.store.rename_pair(pair, &pair_name(name)?).await?;
        self.store.pair(pair).await
    }

    /// Removes the pair and its servers, with their tokens in the keyring and the history copies
    /// of its machines, current and former.
    pub async fn remove_pair(&self, pair: &str) -> Result<(), Error> {
        let p = self.store.pair(pair).await?;
        for s in &p.servers {
            self.credentials.delete(s).await?;
        }
        for m in self.store.remove_pair(pair).await? {
            if let Err(e) = self.history.forget(&m).await {
                tracing::warn!(error = %e, "could not delete a removed machine's history copy");
            }
        }
        Ok(())
    }

    /// Takes one server out of its office (a box being replaced), deleting its keyring entry.
    /// Its history stays on this computer, shown in the office as a former machine.
    pub async fn remove_server(&self, id: &str) -> Result<(), Error> {
        let entry = self.store.get(id).await?;
        let pair = self
            .store
            .pairs()
            .await?
            .into_iter()
            .find(|p| p.servers.iter().any(|s| s == id))
            .ok_or(Error::NotFound)?;
        if pair.servers.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "{} is the only server of \"{}\": remove the office instead.",
                entry.name, pair.name
            )));
        }
        self.credentials.delete(id).await?;
        self.store.retire(&entry, &pair.id, now_unix()).await?;
        tracing::info!(id, server_id = %entry.server_id, "server taken out of its office");
        Ok(())
    }

    /// Points a server's entry at a new address (the box moved), after checking that the same
    /// machine answers there with the pinned certificate and the stored token.
    pub async fn change_address(&self, id: &str, address: &str) -> Result<ServerEntry, Error> {
        let mut entry = self.store.get(id).await?;
        let address = client::check_address(address)?;
        let token = self.credentials.load(id).await?;
        let status = AgentClient::new(&address, &entry.fingerprint, &token, &entry.name)?
            .status()
            .await?;
        same_server(&entry, &status)?;
        self.store.set_address(id, &address).await?;
        tracing::info!(id, %address, "server address changed");
        entry.address = address;
        Ok(entry)
    }

    /// Replaces a server's access token (revoked, or a view-only one traded for an
    /// administrator's) after checking that the same machine accepts it.
    pub async fn change_token(&self, id: &str, token: &str) -> Result<(), Error> {
        let entry = self.store.get(id).await?;
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::InvalidInput(
                "Enter the access token printed by `lbs-agent token create` on the server.".into(),
            ));
        }
        let status = AgentClient::new(&entry.address, &entry.fingerprint, token, &entry.name)?
            .status()
            .await?;
        same_server(&entry, &status)?;
        self.credentials.store(id, token).await?;
        tracing::info!(id, access = ?status.access, "server access token replaced");
        Ok(())
    }

    /// Deletes a former machine's history copy and forgets it.
    pub async fn forget_former(&self, server_id: &str) -> Result<(), Error> {
        self.history.forget(server_id).await?;
        self.store.forget_former(server_id).await
    }

    async fn client(&self, id: &str) -> Result<(ServerEntry, AgentClient), Error> {
        let entry = self.store.get(id).await?;
        let client = self.client_for(&entry).await?;
        Ok((entry, client))
    }

    /// A client for an entry already read: its address, pinned certificate and stored token.
    async fn client_for(&self, entry: &ServerEntry) -> Result<AgentClient, Error> {
        let token = self.credentials.load(&entry.id).await?;
        AgentClient::new(&entry.address, &entry.fingerprint, &token, &entry.name)
    }

    pub async fn status(&self, id: &str) -> Result<ServerStatus, Error> {
        let (entry, client) = self.client(id).await?;
        let status = client.status().await?;
        same_server(&entry, &status)?;
        if status.name != entry.name {
            self.store.rename(id, &status.name).await?;
        }
        Ok(status)
    }

    /// The machine to ask first for a graph's data: its current entry, unless it is no longer in
    /// an office, or its last look failed and a copy can answer (an unplugged box would cost a
    /// connection time-out per question).
    async fn machine_to_ask(&self, server_id: &str) -> Result<Option<ServerEntry>, Error> {
        let entry = self.store.find_by_server_id(server_id).await?;
        Ok(entry.filter(|e| !self.silent(&e.id) || !self.history.exists(server_id)))
    }

    /// A machine's series: from the machine; from this computer's copy when it does not answer
    /// or is no longer in an office. A machine in an office is always asked (unlike for each
    /// graph's data): its answer, or why it did not answer, tells the window what to say and
    /// when to go live again.
    pub async fn machine_series(&self, server_id: &str) -> Result<MachineSeries, Error> {
        let live_error = match self.store.find_by_server_id(server_id).await? {
            Some(entry) => match self.client_for(&entry).await?.series().await {
                Ok(list) => {
                    return Ok(MachineSeries {
                        series: list.series,
                        from_copy: false,
                        copy_until_unix: None,
                        live_error: None,
                    })
                }
                Err(e) => Some(e),
            },
            None => None,
        };
        match self.history.series(server_id).await? {
            Some(series) => Ok(MachineSeries {
                copy_until_unix: series.iter().filter_map(|s| s.last_unix).max(),
                series,
                from_copy: true,
                live_error: live_error.map(|e| e.to_view()),
            }),
            None => Err(live_error.unwrap_or(Error::NotFound)),
        }
    }

    /// Whether the server's last look failed (see [`Self::machine_to_ask`]).
    fn silent(&self, id: &str) -> bool {
        self.silent.lock().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    fn set_silent(&self, id: &str, silent: bool) {
        let mut set = self.silent.lock().unwrap_or_else(|p| p.into_inner());
        if silent {
            set.insert(id.to_owned());
        } else {
            set.remove(id);
        }
    }

    /// A range of one series, from the machine or else from the copy (see [`Self::machine_series`]).
    pub async fn machine_history(&self, server_id: &str, query: &HistoryQuery) -> Result<HistoryResponse, Error> {
        if let Some(entry) = self.machine_to_ask(server_id).await? {
            match self.client_for(&entry).await?.history(query).await {
                Ok(answer) => return Ok(answer),
                Err(e) if !self.history.exists(server_id) => return Err(e),
                Err(_) => {}
            }
        }
        self.history.query(server_id, query).await
    }

    /// Copies what each machine recorded since the last time into this computer's copy. A machine
    /// that does not answer is skipped: its copy keeps what it had. One whose last look failed is
    /// not even asked, so an unplugged box does not hold up the others for a time-out.
    pub async fn copy_histories(&self) -> Result<(), Error> {
        let now = now_unix();
        for entry in self.store.list().await? {
            if self.silent(&entry.id) {
                continue;
            }
            let copied = async {
                let client = self.client_for(&entry).await?;
                self.history.refresh(&entry.server_id, &client, now).await
            }
            .await;
            match copied {
                Ok(rows) => tracing::debug!(server = %entry.name, rows, "history copied"),
                // This computer's own disk failing matters; a server that does not answer is
                // shown on the dashboard already.
                Err(e) if e.kind() == crate::view::ErrorKind::Storage => {
                    tracing::warn!(server = %entry.name, error = %e, "history not copied")
                }
                Err(e) => tracing::debug!(server = %entry.name, error = %e, "history not copied this time"),
            }
        }
        Ok(())
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

    /// The audit logs of an office's servers, merged; a server that cannot be read is named.
    pub async fn office_events(&self, office: &str, limit: u32) -> Result<crate::events::OfficeEvents, Error> {
        let pair = self.store.pair(office).await?;
        // Both at once: a server that does not answer costs its time-out once.
        let reads = pair.servers.iter().map(|id| async move {
            let entry = self.store.get(id).await?;
            Ok::<_, Error>((entry.name, self.events(id, limit).await))
        });
        let mut logs = Vec::new();
        let mut unreadable = Vec::new();
        for read in futures_util::future::join_all(reads).await {
            match read? {
                (name, Ok(list)) => logs.push((name, list.events)),
                (name, Err(e)) => unreadable.push(format!("{name}: {e}")),
            }
        }
        Ok(crate::events::OfficeEvents {
            events: crate::events::merge_events(logs, limit as usize),
            unreadable,
        })
    }

    /// The office's two machines side by side, from whichever server answers best.
    pub async fn office_health(&self, office: &str) -> Result<crate::health::OfficeHealth, Error> {
        let pair = self.store.pair(office).await?;
        let reads = pair.servers.iter().map(|id| async move {
            let entry = self.store.get(id).await?;
            let answer = match self.client(id).await {
                Ok((_, client)) => client.health().await,
                Err(e) => Err(e),
            };
            Ok::<_, Error>((entry.name, answer))
        });
        let mut answers = Vec::new();
        let mut unreadable = Vec::new();
        for read in futures_util::future::join_all(reads).await {
            match read? {
                (name, Ok(health)) => answers.push((name, health)),
                (name, Err(e)) => unreadable.push(format!("{name}: {e}")),
            }
        }
        Ok(crate::health::choose(answers, unreadable))
    }

    /// Puts a quarantined file back on the primary (through `id`, the box that holds it).
    pub async fn restore_quarantined(
        &self,
        id: &str,
        request: &lbs_protocol::RestoreRequest,
    ) -> Result<lbs_protocol::QuarantineList, Error> {
        self.client(id).await?.1.restore_quarantined(request).await
    }

    /// The files deleted on the primary that server `id` (normally the backup) keeps in its trash.
    pub async fn trash_list(&self, id: &str) -> Result<lbs_protocol::TrashList, Error> {
        self.client(id).await?.1.trash().await
    }

    /// Puts `entry`, kept in the trash of server `id`, back on the primary (through `id`, which
    /// sends it to its partner when it is the backup). `replace`: over a different file there.
    pub async fn restore_trash(
        &self,
        id: &str,
        entry: &lbs_protocol::TrashEntry,
        replace: bool,
    ) -> Result<lbs_protocol::TrashRestored, Error> {
        let request = lbs_protocol::TrashRestoreRequest {
            source: entry.source.clone(),
            deleted_unix: entry.deleted_unix,
            stored: entry.stored.clone(),
            replace,
        };
        self.client(id).await?.1.restore_trash(&request).await
    }

    /// What the console sees of one server now: its status, failover and sync, or why it does
    /// not answer (with when it last did). Never fails: a server that cannot be read is shown so.
    pub async fn look(&self, entry: ServerEntry) -> MachineView {
        let now = now_unix();
        let answer = async {
            let client = self.client_for(&entry).await?;
            let (status, failover, sync) = tokio::join!(client.status(), client.failover(), client.sync());
            let status = status?;
            same_server(&entry, &status)?;
            Ok::<_, Error>((status, failover?, sync.ok()))
        }
        .await;
        let mut entry = entry;
        match answer {
            Ok((status, failover, sync)) => {
                if status.name != entry.name {
                    if let Err(e) = self.store.rename(&entry.id, &status.name).await {
                        tracing::warn!(error = %e, "could not store a server's new name");
                    }
                    entry.name = status.name.clone();
                }
                self.saw(&entry.id, now, failover.role).await;
                self.set_silent(&entry.id, false);
                let restore_blocked = crate::overview::restore_blocked(&entry.name, true, Some(&status));
                let standing_note = crate::overview::standing_note(true, Some(&failover));
                MachineView {
                    entry,
                    reachable: true,
                    last_answer_unix: Some(now),
                    last_role: Some(failover.role),
                    status: Some(status),
                    failover: Some(failover),
                    sync,
                    error: None,
                    restore_blocked,
                    standing_note,
                    silent_note: None,
                }
            }
            Err(e) => {
                self.set_silent(&entry.id, true);
                let seen = self
                    .seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&entry.id)
                    .copied();
                let restore_blocked = crate::overview::restore_blocked(&entry.name, false, None);
                let silent_note = crate::overview::silent_note(false, seen.map(|s| s.role), seen.map(|s| s.at), now);
                MachineView {
                    entry,
                    reachable: false,
                    last_answer_unix: seen.map(|s| s.at),
                    last_role: seen.map(|s| s.role),
                    status: None,
                    failover: None,
                    sync: None,
                    error: Some(e.to_view()),
                    restore_blocked,
                    standing_note: None,
                    silent_note,
                }
            }
        }
    }

    /// Records that a server answered, writing it to the store when it says something new.
    async fn saw(&self, id: &str, at: i64, role: Role) {
        let write = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let old = seen.get(id).copied();
            let write = old.is_none_or(|o| o.role != role || at - o.stored_at >= SEEN_WRITE_SECS);
            let stored_at = if write { at } else { old.map_or(at, |o| o.stored_at) };
            seen.insert(id.to_owned(), Seen { at, role, stored_at });
            write
        };
        if write {
            if let Err(e) = self.store.set_seen(id, at, &role.to_string()).await {
                tracing::warn!(error = %e, "could not store when a server was last seen");
            }
        }
    }

    /// What the console sees of one machine now, for the pair's sentence and the wizard.
    pub async fn machine(&self, id: &str) -> Result<crate::pair::Machine, Error> {
        let entry = self.store.get(id).await?;
        Ok(self.look(entry).await.machine())
    }

    /// Every office with its servers as they are now, and each office's sentence. Servers are
    /// read concurrently, so one that does not answer costs its time-out once, not per server.
    pub async fn overview(&self) -> Result<Overview, Error> {
        let pairs = self.store.pairs().await?;
        let entries = self.store.list().await?;
        let mut formers = self.store.formers().await?;
        let looks = entries.into_iter().map(|e| self.look(e));
        let mut machines: HashMap<String, MachineView> = futures_util::future::join_all(looks)
            .await
            .into_iter()
            .map(|m| (m.entry.id.clone(), m))
            .collect();
        let now = now_unix();
        let mut seen = self.maintenance_seen.lock().unwrap_or_else(|p| p.into_inner());
        let offices = pairs
            .into_iter()
            .map(|p| {
                let members: Vec<MachineView> = p.servers.iter().filter_map(|id| machines.remove(id)).collect();
                let former = formers.remove(&p.id).unwrap_or_default();
                let last = crate::maintenance::remember(&members, seen.remove(&p.id), now);
                if let Some(last) = &last {
                    seen.insert(p.id.clone(), last.clone());
                }
                crate::overview::office(p, members, former, last.as_ref(), now)
            })
            .collect();
        Ok(Overview { at_unix: now, offices })
    }

    /// The office's servers as they are now, and the server maintenance goes through.
    async fn maintenance_server(&self, office: &str) -> Result<(ServerEntry, AgentClient), Error> {
        let pair = self.store.pair(office).await?;
        let mut entries = Vec::new();
        for id in &pair.servers {
            entries.push(self.store.get(id).await?);
        }
        // Both at once: a server that does not answer costs its time-out once.
        let machines = futures_util::future::join_all(entries.into_iter().map(|e| self.look(e))).await;
        let offer = crate::maintenance::offer(&machines, Vec::new(), None);
        match (offer.through, offer.blocked) {
            (Some(id), _) => self.client(&id).await,
            (None, why) => {
                Err(Error::InvalidInput(why.unwrap_or_else(|| {
                    "No server of this office can start maintenance now.".into()
                })))
            }
        }
    }

    /// Maintenance for the office from now, for `for_secs`, asked of one of its servers (which
    /// tells its partner). `by`: who does the work (else the token's label).
    pub async fn start_maintenance(
        &self,
        office: &str,
        length: crate::maintenance::MaintenanceLength,
        reason: &str,
        by: Option<&str>,
    ) -> Result<crate::maintenance::MaintenanceDone, Error> {
        if reason.trim().is_empty() {
            return Err(Error::InvalidInput(
                "Say why, in a few words (for example \"replacing the disk of PBX A\"): the reason is shown to everyone who looks at this office and kept in both servers' audit logs.".into(),
            ));
        }
        // Counted now, as the form is sent.
        let sent = now_unix();
        let for_secs = crate::maintenance::length_secs(length, sent, crate::maintenance::local::next_midnight(sent))?;
        let (entry, client) = self.maintenance_server(office).await?;
        let request = lbs_protocol::MaintenanceRequest {
            for_secs,
            reason: reason.to_owned(),
            by: by.map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned),
        };
        let answer = client.start_maintenance(&request).await?;
        let now = now_unix();
        Ok(crate::maintenance::done(&entry.name, true, answer, |t| {
            crate::maintenance::local::clock(t, now)
        }))
    }

    /// Ends the office's maintenance now.
    pub async fn end_maintenance(
        &self,
        office: &str,
        by: Option<&str>,
    ) -> Result<crate::maintenance::MaintenanceDone, Error> {
        let (entry, client) = self.maintenance_server(office).await?;
        let request = lbs_protocol::MaintenanceEndRequest {
            by: by.map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned),
        };
        let answer = client.end_maintenance(&request).await?;
        let now = now_unix();
        Ok(crate::maintenance::done(&entry.name, false, answer, |t| {
            crate::maintenance::local::clock(t, now)
        }))
    }

    /// Switches automatic failover on or off for the office, through one of its servers (which
    /// tells its partner). `reason`: required to switch it off; `by`: who (else the token's label).
    pub async fn set_autopilot(
        &self,
        office: &str,
        on: bool,
        reason: Option<&str>,
        by: Option<&str>,
    ) -> Result<crate::autopilot::AutopilotDone, Error> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if !on && reason.is_none() {
            return Err(Error::InvalidInput(
                "Say why you switch automatic failover off, in a few words (for example \"moving the witness\"): the \
                 reason is shown to everyone who looks at this office and kept in both servers' audit logs."
                    .into(),
            ));
        }
        let pair = self.store.pair(office).await?;
        let mut entries = Vec::new();
        for id in &pair.servers {
            entries.push(self.store.get(id).await?);
        }
        // Both at once: a server that does not answer costs its time-out once.
        let machines = futures_util::future::join_all(entries.into_iter().map(|e| self.look(e))).await;
        let through = crate::autopilot::through(&machines)?;
        let (entry, client) = self.client(&through).await?;
        let request = lbs_protocol::AutopilotRequest {
            on,
            reason: reason.map(str::to_owned),
            by: by.map(str::trim).filter(|b| !b.is_empty()).map(str::to_owned),
        };
        match client.set_autopilot(&request).await {
            Ok(answer) => Ok(crate::autopilot::done(&entry.name, on, answer)),
            // The token was traded for a view-only one since the last look: said plainly.
            Err(Error::Forbidden(_)) => Err(Error::Forbidden(crate::autopilot::VIEW_ONLY.into())),
            Err(e) => Err(e),
        }
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
