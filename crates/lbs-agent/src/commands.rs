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

async fn open_db(config: &Config) -> Result<sqlx::SqlitePool> {
    let path = config.server.state_dir.join("agent.db");
    crate::db::open(&path)
        .await
        .with_context(|| format!("cannot open the agent database {}", path.display()))
}

async fn open_tokens(config: &Config) -> Result<TokenStore> {
    Ok(TokenStore::new(open_db(config).await?))
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
    let role = Arc::new(RwLock::new(RoleState::load(&dir)?));
    let pool = open_db(&config).await?;
    let tokens = TokenStore::new(pool.clone());
    let peers = crate::peer::PeerStore::new(pool);
    let peer = Arc::new(RwLock::new(
        peers.load().await.context("cannot read the partner record")?,
    ));
    let history = open_history(&config).await?;
    if config.sync.low_priority {
        crate::platform::lower_priority();
    }
    let identity = Arc::new(identity);
    let sync = crate::sync::SyncEngine::open(&dir, config.sync.clone(), identity.clone(), role.clone(), peer.clone())
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
        role = %role.read().await.role,
        epoch = role.read().await.epoch,
        %listen,
        "lbs-agent started"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(crate::sampler::run(
        config.clone(),
        history.clone(),
        sync.clone(),
        stop_rx,
    ));
    let sync_tasks = sync.spawn();
    let state = Arc::new(crate::http::AppState {
        config,
        identity,
        role,
        peer,
        peers,
        sync,
        tokens,
        history,
        started: Instant::now(),
    });
    crate::serve::serve(listener, tls, crate::http::app(state), shutdown_signal()).await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    // Every sync step is durable when it completes; stopping in between loses nothing.
    for t in sync_tasks {
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

/// The running agent's API on this box, reached with the local CLI token.
struct LocalApi {
    client: reqwest::Client,
    base: String,
    token: String,
    address: std::net::SocketAddr,
}

impl LocalApi {
    fn open(config: &Config, identity: &Identity) -> Result<LocalApi> {
        let token_path: PathBuf = config.server.state_dir.join(CLI_TOKEN);
        let token = std::fs::read_to_string(&token_path).with_context(|| {
            format!(
                "cannot read the local CLI token {} (run as the agent's user or root)",
                token_path.display()
            )
        })?;
        let tls = lbs_tls::pinned_client_config(Some(identity.fingerprint.clone()), Default::default())?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTPS client")?;
        let address = config.local_api_address();
        Ok(LocalApi {
            client,
            base: format!("https://{address}{}", lbs_protocol::API_PREFIX),
            token: token.trim().to_owned(),
            address,
        })
    }

    /// Sends a request and decodes the answer, turning refusals into their plain message.
    async fn call<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        let response = request.bearer_auth(&self.token).send().await.with_context(|| {
            format!(
                "the agent is not answering at {}; start it with `systemctl start lbs-agent` and see `journalctl -u lbs-agent`",
                self.address
            )
        })?;
        if !response.status().is_success() {
            let code = response.status();
            let body: lbs_protocol::ApiError = response.json().await.unwrap_or(lbs_protocol::ApiError {
                code: code.to_string(),
                message: "no details".into(),
            });
            bail!("{}", body.message);
        }
        response.json().await.context("the agent's answer could not be read")
    }

    fn get(&self, route: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{route}", self.base))
    }
}

pub async fn status(config_path: &Path, json: bool) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let status: ServerStatus = match api.call(api.get("/status")).await {
        Ok(s) => s,
        Err(e) => {
            println!("Server ID:    {}", identity.server_id);
            println!("Fingerprint:  {}", lbs_tls::display_fingerprint(&identity.fingerprint));
            return Err(e);
        }
    };
    let sync: lbs_protocol::SyncStatus = api.call(api.get("/sync")).await?;
    if json {
        // The server status as `GET /status` has it, with the sync status under `sync`.
        let mut both = serde_json::to_value(&status)?;
        both["sync"] = serde_json::to_value(&sync)?;
        println!("{}", serde_json::to_string_pretty(&both)?);
    } else {
        print_status(&status);
        print_sync(&sync);
    }
    Ok(())
}

pub async fn pair(config_path: &Path, link: &str) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let body = lbs_protocol::PairWith { link: link.to_owned() };
    let sync: lbs_protocol::SyncStatus = api
        .call(api.client.post(format!("{}/pair", api.base)).json(&body))
        .await
        .context("pairing failed")?;
    let partner = sync.peer.name.clone().unwrap_or_default();
    println!(
        "Paired with {partner}. This box is now its backup (epoch {}).",
        sync.epoch
    );
    println!("The copy starts now; follow it with `lbs-agent status`.");
    Ok(())
}

pub async fn unpair(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let _: lbs_protocol::SyncStatus = api
        .call(api.client.delete(format!("{}/pair", api.base)))
        .await
        .context("unpairing failed")?;
    println!("This box has no partner now. Its role is unchanged; nothing was deleted.");
    Ok(())
}

fn print_sync(s: &lbs_protocol::SyncStatus) {
    use lbs_protocol::SyncLinkState as L;
    let when = |t: Option<i64>| match t {
        Some(t) => {
            let ago = (crate::clock::now_unix() - t).max(0) as u64;
            format!(
                "{} ago",
                humantime::format_duration(std::time::Duration::from_secs(ago))
            )
        }
        None => "never".into(),
    };
    let link = match s.peer.state {
        L::Unpaired => "not paired".to_string(),
        L::Ok => format!("in contact (last {})", when(s.peer.last_contact_unix)),
        L::Connecting => "connecting".to_string(),
        L::Unreachable => "NOT reachable".to_string(),
        L::Refused => "REFUSED".to_string(),
    };
    println!("Sync:         {link}");
    if let Some(m) = &s.peer.message {
        println!("              {m}");
    }
    if s.categories.is_empty() {
        println!("              no categories configured ([[sync.category]] in the config)");
        return;
    }
    println!(
        "\n{:<16} {:>9} {:>10} {:>9} {:>10} {:>8}  last success",
        "category", "files", "size", "pending", "pending", "lag"
    );
    for c in &s.categories {
        let lag = c.lag_secs.map_or("-".into(), |l| format!("{l} s"));
        println!(
            "{:<16} {:>9} {:>10} {:>9} {:>10} {:>8}  {}",
            c.label,
            c.local_files,
            human_bytes(c.local_bytes),
            c.pending_files,
            human_bytes(c.pending_bytes),
            lag,
            when(c.last_success_unix)
        );
        if let Some(e) = &c.last_error {
            println!("    problem: {}", e.message);
        }
        for skipped in &c.skipped {
            println!("    not copied: {} ({})", skipped.path, skipped.reason);
        }
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
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
