//! `lbs-agent run`: the daemon. Wires the domain (config → identity → databases → sampler → sync
//! engine → failover) into an [`Agent`], serves it over HTTPS (`http`, `serve`), and tells
//! systemd how it is doing, until SIGTERM.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lbs_agent_core::agent::Agent;
use lbs_agent_core::identity::Identity;
use lbs_agent_core::tokens::TokenStore;
use tokio::sync::{watch, RwLock};

use crate::cli::{load_config, open_db, open_history};

pub async fn run(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    crate::logging::init(&config.log.level);
    let dir = config.server.state_dir.clone();
    let identity = Identity::load(&dir)?;
    let _lock = lbs_agent_core::platform::lock_exclusive(&dir.join("agent.lock"))
        .with_context(|| format!("cannot lock the state directory {}", dir.display()))?
        .with_context(|| format!("another lbs-agent is already running on {}", dir.display()))?;
    let (role_writer, role) = lbs_agent_core::failover::RoleWriter::load(&dir)?;
    let pool = open_db(&config).await?;
    let tokens = TokenStore::new(pool.clone());
    let events = lbs_agent_core::failover::events::EventLog::new(pool.clone(), identity.server_id.clone());
    let peers = lbs_agent_core::peer::PeerStore::new(pool.clone());
    let peer = Arc::new(RwLock::new(
        peers.load().await.context("cannot read the partner record")?,
    ));
    let history = open_history(&config).await?;
    if config.sync.low_priority {
        lbs_agent_core::platform::lower_priority();
    }
    let identity = Arc::new(identity);
    let sync =
        lbs_agent_core::sync::SyncEngine::open(&dir, config.sync.clone(), identity.clone(), role.clone(), peer.clone())
            .await
            .context("cannot open the sync database")?;
    let tls = identity.server_tls_config()?;
    let listen = config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another program using that port?)"))?;
    tracing::info!(
        server_id = %identity.server_id,
        fingerprint = %identity.fingerprint,
        role = %role.get().role,
        epoch = role.get().epoch,
        takeover = config.takeover.strategy(),
        %listen,
        "lbs-agent started"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let (resources_tx, resources) = watch::channel(None);
    let sampler = tokio::spawn(lbs_agent_core::sampler::run(
        config.clone(),
        history.clone(),
        sync.clone(),
        resources_tx,
        stop_rx,
    ));
    let mut tasks = sync.spawn();
    let failover = lbs_agent_core::failover::Failover::new(
        config.clone(),
        identity.clone(),
        role_writer,
        peer.clone(),
        peers.clone(),
        sync.clone(),
        events,
    );
    tasks.extend(failover.spawn());
    let alerts = lbs_agent_core::alerts::Alerts::new(&config, identity.server_id.clone(), pool);
    tasks.extend(alerts.spawn(lbs_agent_core::alerts::Inputs {
        failover: failover.clone(),
        sync: sync.clone(),
        resources,
        // The pair's maintenance (None when off) holds the alerts the work causes.
        maintenance: failover.maintenance.watch(),
    }));
    let state = Arc::new(Agent {
        inventory: failover.inventory.clone(),
        failover,
        alerts,
        config,
        identity,
        role,
        peer,
        peers,
        sync,
        tokens,
        history,
        started: Instant::now(),
        started_unix: lbs_agent_core::clock::now_unix(),
    });
    tasks.push(tokio::spawn(crate::systemd::watchdog(state.clone())));
    tasks.push(tokio::spawn(lbs_agent_core::platform::give_back_memory(
        Duration::from_secs(10),
    )));
    crate::systemd::ready();
    let guard = crate::serve::Guard {
        partner: state.peer.clone(),
        limits: crate::serve::Limits::default(),
        pace: crate::serve::Pace::default(),
    };
    crate::serve::serve(listener, tls, crate::http::app(state), guard, shutdown_signal()).await;
    crate::systemd::stopping();
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    // Every sync step is durable when it completes; stopping in between loses nothing.
    for t in tasks {
        t.abort();
    }
    let _ = sampler.await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
