//! What each CLI subcommand does. This is the binary's edge: errors are `anyhow` with context a
//! technician can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lbs_protocol::{ConnectionLink, ServerStatus, TokenRole};
use tokio::sync::{watch, RwLock};

use crate::config::Config;
use crate::identity::Identity;
use crate::role::RoleState;
use crate::tokens::TokenStore;

/// File in the state directory holding the token the local CLI uses (owner-only).
const CLI_TOKEN: &str = "cli-token";

fn load_config(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

async fn open_tokens(config: &Config) -> Result<TokenStore> {
    let path = config.server.state_dir.join("agent.db");
    let pool = crate::db::open(&path)
        .await
        .with_context(|| format!("cannot open the agent database {}", path.display()))?;
    Ok(TokenStore::new(pool))
}

pub async fn open_history(config: &Config) -> Result<lbs_history::HistoryStore> {
    let m = &config.metrics;
    let retention = lbs_history::Retention {
        raw_secs: m.retention_raw as i64,
        minute_secs: m.retention_minute as i64,
        hour_secs: m.retention_hour as i64,
    };
    let path = config.server.state_dir.join("history.db");
    Ok(lbs_history::HistoryStore::open(&path, retention).await?)
}

fn link_for(config: &Config, identity: &Identity, token: String) -> ConnectionLink {
    ConnectionLink {
        address: config.advertised_address(),
        fingerprint: identity.fingerprint.clone(),
        token,
        name: Some(config.server.name.clone()),
    }
}

pub async fn init(config_path: &Path, role: lbs_protocol::Role) -> Result<()> {
    let config = load_config(config_path)?;
    let dir = &config.server.state_dir;
    crate::fsutil::create_private_dir(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let mut names = vec![crate::platform::hostname(), "localhost".to_owned()];
    if let Some(host) = config
        .advertised_address()
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']).to_owned())
    {
        names.push(host);
    }
    names.dedup();
    let identity = Identity::create(dir, names)?;
    RoleState::initial(role).save(dir)?;
    let tokens = open_tokens(&config).await?;
    let cli = tokens.create(TokenRole::Admin, "local CLI").await?;
    crate::fsutil::write_atomic(&dir.join(CLI_TOKEN), cli.token.as_bytes(), true)?;
    let first = tokens.create(TokenRole::Admin, "first admin (from init)").await?;
    println!("LBS agent initialised in {}.", dir.display());
    println!("  Server ID:    {}", identity.server_id);
    println!("  Name:         {}", config.server.name);
    println!(
        "  Fingerprint:  {}",
        lbs_tls::display_fingerprint(&identity.fingerprint)
    );
    match role {
        lbs_protocol::Role::Primary => println!("  Role:         primary (epoch 1): this box runs the phones\n"),
        lbs_protocol::Role::Backup => println!("  Role:         backup (epoch 1): this box keeps a live copy\n"),
    }
    println!(
        "{}",
        crate::link::render(&link_for(&config, &identity, first.token), TokenRole::Admin)
    );
    println!("Next: start the agent (`systemctl enable --now lbs-agent`) and add it in the LBS Console.");
    Ok(())
}

pub async fn run(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    init_logging(&config.log.level);
    let dir = config.server.state_dir.clone();
    let identity = Identity::load(&dir)?;
    let _lock = crate::platform::lock_exclusive(&dir.join("agent.lock"))
        .with_context(|| format!("cannot lock the state directory {}", dir.display()))?
        .with_context(|| format!("another lbs-agent is already running on {}", dir.display()))?;
    let role = RoleState::load(&dir)?;
    let tokens = open_tokens(&config).await?;
    let history = open_history(&config).await?;
    let tls = identity.server_tls_config()?;
    let listen = config.server.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another program using that port?)"))?;
    tracing::info!(
        server_id = %identity.server_id,
        fingerprint = %identity.fingerprint,
        role = %role.role,
        epoch = role.epoch,
        %listen,
        "lbs-agent started"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(crate::sampler::run(config.clone(), history.clone(), stop_rx));
    let state = Arc::new(crate::http::AppState {
        config,
        identity,
        role: RwLock::new(role),
        tokens,
        history,
        started: Instant::now(),
    });
    crate::serve::serve(listener, tls, crate::http::app(state), shutdown_signal()).await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
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

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},sqlx=warn,hyper=warn")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn status(config_path: &Path, json: bool) -> Result<()> {
    let config = load_config(config_path)?;
    let dir = &config.server.state_dir;
    let identity = Identity::load(dir)?;
    let token_path: PathBuf = dir.join(CLI_TOKEN);
    let token = std::fs::read_to_string(&token_path).with_context(|| {
        format!(
            "cannot read the local CLI token {} (run as the agent's user or root)",
            token_path.display()
        )
    })?;
    let tls = lbs_tls::pinned_client_config(Some(identity.fingerprint.clone()), Default::default())?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .context("cannot build the HTTPS client")?;
    let address = config.local_api_address();
    let url = format!("https://{address}{}/status", lbs_protocol::API_PREFIX);
    let response = match client.get(&url).bearer_auth(token.trim()).send().await {
        Ok(r) => r,
        Err(e) => {
            println!("Server ID:    {}", identity.server_id);
            println!("Fingerprint:  {}", lbs_tls::display_fingerprint(&identity.fingerprint));
            bail!("the agent is not answering at {address} ({e}); start it with `systemctl start lbs-agent` and see `journalctl -u lbs-agent`");
        }
    };
    if !response.status().is_success() {
        let code = response.status();
        let body: lbs_protocol::ApiError = response.json().await.unwrap_or(lbs_protocol::ApiError {
            code: code.to_string(),
            message: "no details".into(),
        });
        bail!("the agent refused the status request ({code}): {}", body.message);
    }
    let status: ServerStatus = response.json().await.context("the agent's answer was not a status")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status);
    }
    Ok(())
}

fn print_status(s: &ServerStatus) {
    let since = |secs: u64| humantime::format_duration(std::time::Duration::from_secs(secs)).to_string();
    println!("Name:         {}", s.name);
    println!("Server ID:    {}", s.server_id);
    println!("Role:         {} (epoch {})", s.role, s.epoch);
    println!("Agent:        version {}, up {}", s.version, since(s.uptime_secs));
    println!("Machine:      {}, up {}", s.hostname, since(s.host_uptime_secs));
    println!("Fingerprint:  {}", lbs_tls::display_fingerprint(&s.fingerprint));
    match &s.peer {
        lbs_protocol::PeerSummary::Unpaired => println!("Partner:      not paired yet"),
        lbs_protocol::PeerSummary::Paired {
            server_id,
            address,
            reachable,
            ..
        } => {
            println!(
                "Partner:      {server_id} at {address}, {}",
                if *reachable { "reachable" } else { "NOT reachable" }
            )
        }
    }
    println!("Sampling:     every {} s", s.sample_interval_secs);
}

pub async fn token_create(config_path: &Path, role: TokenRole, label: &str) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let created = open_tokens(&config).await?.create(role, label).await?;
    println!("Token {} created ({role}).\n", created.info.id);
    println!(
        "{}",
        crate::link::render(&link_for(&config, &identity, created.token), role)
    );
    Ok(())
}

pub async fn token_list(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    Identity::load(&config.server.state_dir)?;
    let list = open_tokens(&config).await?.list().await?;
    println!("{:<10} {:<7} {:<20} {:<20} label", "id", "role", "created", "last used");
    let when = |t: i64| {
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(t.max(0) as u64))
            .map(|st| humantime::format_rfc3339_seconds(st).to_string())
            .unwrap_or_default()
    };
    for t in list {
        let used = t.last_used_unix.map(when).unwrap_or_else(|| "never".into());
        println!(
            "{:<10} {:<7} {:<20} {:<20} {}",
            t.id,
            t.role,
            when(t.created_unix),
            used,
            t.label
        );
    }
    Ok(())
}

pub async fn token_revoke(config_path: &Path, id: &str) -> Result<()> {
    let config = load_config(config_path)?;
    Identity::load(&config.server.state_dir)?;
    open_tokens(&config).await?.revoke(id).await?;
    println!("Token {id} revoked. Consoles using it will be refused from now on.");
    Ok(())
}

pub async fn seed_history(config_path: &Path, days: u32) -> Result<()> {
    let config = load_config(config_path)?;
    let history = open_history(&config).await?;
    let rows = crate::sampler::demo::seed(&config, &history, days).await?;
    println!("Seeded {rows} samples over {days} days.");
    Ok(())
}
