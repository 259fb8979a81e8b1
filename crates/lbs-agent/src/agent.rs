//! The running agent as the edges see it: what the HTTP API and the systemd watchdog reach. The
//! CLI's `run` wires it up (config → identity → databases → sampler → sync → failover) and
//! serves it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::RwLock;

use crate::config::Config;
use crate::failover::Failover;
use crate::identity::Identity;
use crate::peer::{Peer, PeerStore};
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
    pub tokens: TokenStore,
    pub history: lbs_history::HistoryStore,
    pub started: Instant,
    /// The same moment as Unix time, read once: a value derived again at each scrape would
    /// wobble by a second and look like a restart.
    pub started_unix: i64,
}
