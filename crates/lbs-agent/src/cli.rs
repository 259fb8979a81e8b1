//! What each CLI subcommand does. This is the binary's edge: errors are `anyhow` with context a
//! technician can act on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lbs_protocol::{ConnectionLink, ServerStatus, TokenRole};

use lbs_agent_core::config::Config;
use lbs_agent_core::identity::Identity;
use lbs_agent_core::role::RoleState;
use lbs_agent_core::tokens::TokenStore;
use lbs_agent_core::units::{human_bytes, human_secs};

pub mod alert;
pub mod autopilot;
pub mod check_config;
pub mod health;
pub mod link;
pub mod maintenance;
pub mod setup;
pub mod smart;
pub mod trash;
pub mod witness;

/// File in the state directory holding the token the local CLI uses (owner-only).
const CLI_TOKEN: &str = "cli-token";

pub(crate) fn load_config(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

pub(crate) async fn open_db(config: &Config) -> Result<sqlx::SqlitePool> {
    let path = config.server.state_dir.join("agent.db");
    lbs_agent_core::db::open(&path)
        .await
        .with_context(|| format!("cannot open the agent database {}", path.display()))
}

pub(crate) async fn open_tokens(config: &Config) -> Result<TokenStore> {
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
    let (identity, first) = create_identity(&config, role, "first admin (from init)").await?;
    println!("LBS agent initialised in {}.", config.server.state_dir.display());
    print_identity(&config, &identity, role);
    println!(
        "{}",
        crate::cli::link::render(&link_for(&config, &identity, first), TokenRole::Admin)
    );
    println!("Next: start the agent (`systemctl enable --now lbs-agent`) and add it in the LBS Console.");
    Ok(())
}

/// Creates the box's identity, its role record, the local CLI's token and a first admin token
/// labelled `label` (returned, for the connection link). Refuses if an identity exists.
async fn create_identity(config: &Config, role: lbs_protocol::Role, label: &str) -> Result<(Identity, String)> {
    let dir = &config.server.state_dir;
    lbs_agent_core::fsutil::create_private_dir(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let mut names = vec![lbs_agent_core::platform::hostname(), "localhost".to_owned()];
    if let Some(host) = config
        .advertised_address()
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']).to_owned())
    {
        names.push(host);
    }
    names.dedup();
    let identity = Identity::create(dir, names)?;
    RoleState::initial(role).create(dir)?;
    let tokens = open_tokens(config).await?;
    let cli = tokens.create(TokenRole::Admin, "local CLI").await?;
    lbs_agent_core::fsutil::write_atomic(&dir.join(CLI_TOKEN), cli.token.as_bytes(), true)?;
    let first = tokens.create(TokenRole::Admin, label).await?;
    Ok((identity, first.token))
}

fn print_identity(config: &Config, identity: &Identity, role: lbs_protocol::Role) {
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
}

/// The agent's refusal of a request, in its words; `code` lets a command add what to type next.
#[derive(Debug)]
struct Refused {
    code: String,
    message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// A restore refused because a different file is at that path now: say how to replace it.
fn with_replace_hint(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<Refused>() {
        Some(r) if r.code == "different_file" => {
            anyhow::anyhow!("{}\nTo do so, run the same command with --replace.", r.message)
        }
        _ => e,
    }
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
            return Err(Refused {
                code: body.code,
                message: body.message,
            }
            .into());
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
    let failover: lbs_protocol::FailoverStatus = api.call(api.get("/failover")).await?;
    if json {
        // The server status as `GET /status` has it, with the sync and failover status added.
        let mut all = serde_json::to_value(&status)?;
        all["sync"] = serde_json::to_value(&sync)?;
        all["failover"] = serde_json::to_value(&failover)?;
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        print_status(&status);
        print_failover(&failover);
        print_sync(&sync);
    }
    Ok(())
}

/// What a role change asks for, from the command line.
pub enum RoleAction {
    Promote {
        force: bool,
        reason: Option<String>,
    },
    Demote {
        reason: Option<String>,
    },
    Switchover {
        override_guards: bool,
        reason: Option<String>,
    },
}

/// `lbs-agent promote|demote|switchover`: the same guards as the console's, through the local API.
pub async fn change_role(config_path: &Path, action: RoleAction) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let (route, body) = match action {
        RoleAction::Promote { force, reason } => (
            "/promote",
            serde_json::to_value(lbs_protocol::PromoteRequest { force, reason })?,
        ),
        RoleAction::Demote { reason } => ("/demote", serde_json::to_value(lbs_protocol::DemoteRequest { reason })?),
        RoleAction::Switchover {
            override_guards,
            reason,
        } => (
            "/switchover",
            serde_json::to_value(lbs_protocol::SwitchoverRequest {
                override_guards,
                reason,
            })?,
        ),
    };
    let request = api
        .client
        .post(format!("{}{route}", api.base))
        .json(&body)
        .timeout(std::time::Duration::from_secs(30 * 60));
    let change: lbs_protocol::RoleChange = api.call(request).await.context("refused")?;
    for step in &change.steps {
        let mark = if step.ok { "ok  " } else { "FAIL" };
        println!("  [{mark}] {} ({} ms)", step.label, step.took_ms);
        if !step.detail.is_empty() {
            println!("         {}", step.detail);
        }
    }
    println!("\n{}", change.message);
    println!(
        "Role: {} (epoch {}), in {} ms.",
        change.role, change.epoch, change.took_ms
    );
    if !change.ok {
        bail!("some steps failed; fix the cause and run the command again (it only redoes what is needed)");
    }
    Ok(())
}

pub async fn events(config_path: &Path, limit: u32) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let list: lbs_protocol::EventList = api.call(api.get(&format!("/events?limit={limit}"))).await?;
    if list.events.is_empty() {
        println!("No events yet: no role has changed on this box.");
    }
    for e in list.events.iter().rev() {
        println!(
            "{}  {:<22} {} epoch {:<3} by {}",
            rfc3339(e.at_unix),
            e.kind,
            e.role,
            e.epoch,
            e.actor
        );
        println!("    {}", e.message);
        if let Some(r) = &e.reason {
            println!("    reason: {r}");
        }
    }
    Ok(())
}

pub async fn quarantine(config_path: &Path, restore: Option<(i64, bool)>) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let list: lbs_protocol::QuarantineList = match restore {
        Some((id, replace)) => {
            let body = lbs_protocol::RestoreRequest { id, replace };
            let list = api
                .call(api.client.post(format!("{}/quarantine/restore", api.base)).json(&body))
                .await
                .map_err(with_replace_hint)
                .context("the restore failed")?;
            println!("Quarantined file {id} restored on the primary.\n");
            list
        }
        None => api.call(api.get("/quarantine")).await?,
    };
    if list.entries.is_empty() {
        println!("The quarantine is empty: nothing diverged on this box.");
        return Ok(());
    }
    println!(
        "{:>5}  {:<20} {:<12} {:>9}  {:<10} path",
        "id", "set aside", "category", "size", "restored"
    );
    for q in &list.entries {
        let restored = q.restored_unix.map_or("-".to_string(), |_| "yes".into());
        println!(
            "{:>5}  {:<20} {:<12} {:>9}  {:<10} {}",
            q.id,
            rfc3339(q.quarantined_unix),
            q.category,
            human_bytes(q.size),
            restored,
            q.path
        );
        println!("       kept at {}", q.stored_at);
    }
    println!("\nRestore one on the primary with `lbs-agent quarantine restore <id>`.");
    Ok(())
}

fn rfc3339(t: i64) -> String {
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(t.max(0) as u64))
        .map(|st| humantime::format_rfc3339_seconds(st).to_string())
        .unwrap_or_default()
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
    health::after_pairing(&api).await;
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

fn print_failover(f: &lbs_protocol::FailoverStatus) {
    if let Some(b) = &f.busy {
        println!("Now:          {b}");
    }
    let p = &f.partner;
    if p.paired {
        let name = p.name.clone().unwrap_or_default();
        match (p.reachable, p.role, p.epoch) {
            (true, Some(role), Some(epoch)) => {
                println!("Heartbeat:    {name} answers: {role}, epoch {epoch}");
                if let Some(m) = &p.message {
                    println!("              PROBLEM: {m}");
                }
            }
            _ if !p.checked => println!("Heartbeat:    {name} not asked yet (the first heartbeat is on its way)"),
            _ => println!(
                "Heartbeat:    {name} does NOT answer{}",
                p.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        }
        if let Some(line) = clock_line(p) {
            println!("{line}");
        }
    }
    let h = &f.hold;
    if let (Some(held), Some(left)) = (h.primary_for_secs, h.remaining_secs) {
        let hold = if !h.took_over {
            "no hold: it has been the primary since the pair was set up".to_string()
        } else if left == 0 {
            "the hold period is over".to_string()
        } else {
            format!("{} of the {} hold left", human_secs(left), human_secs(h.hold_secs))
        };
        println!("Primary for:  {} ({hold})", human_secs(held));
    }
    println!(
        "Caught up:    {}",
        if h.caught_up {
            "yes, the backup has every change".to_string()
        } else {
            format!(
                "no, {} changes ({}) pending",
                h.pending_files,
                human_bytes(h.pending_bytes)
            )
        }
    );
    let pbx = match (f.pbx.managed, f.pbx.running) {
        (false, _) => "not managed by the agent ([pbx] start/stop not configured)".to_string(),
        (true, Some(true)) => "running".into(),
        (true, Some(false)) => "stopped".into(),
        (true, None) => "managed (no `running` check configured)".into(),
    };
    println!("PBX:          {pbx}");
    if let Some(problem) = &f.pbx.problem {
        println!("              PROBLEM: {problem}");
    }
    println!(
        "Address:      {} ({}){}",
        f.address.target,
        f.address.strategy,
        if f.address.held { ", held here" } else { "" }
    );
    if let Some(problem) = &f.address.problem {
        println!("              PROBLEM: {problem}");
    }
    if let Some(warning) = &f.address.warning {
        println!("              WARNING: {warning}");
    }
    if f.quarantined_files > 0 {
        println!(
            "Quarantine:   {} files set aside; see `lbs-agent quarantine`",
            f.quarantined_files
        );
    }
    if let Some(a) = &f.autopilot {
        println!("Autopilot:    {}", a.summary);
    }
}

fn print_sync(s: &lbs_protocol::SyncStatus) {
    use lbs_protocol::SyncLinkState as L;
    let when = |t: Option<i64>| match t {
        Some(t) => {
            let ago = (lbs_agent_core::clock::now_unix() - t).max(0) as u64;
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
        if let Some(w) = &c.watch_problem {
            println!("    not watched: {w}");
        }
        for skipped in &c.skipped {
            println!("    not copied: {} ({})", skipped.path, skipped.reason);
        }
    }
}

/// The partner's clock, when it differs from this box's by more than the heartbeat can explain.
fn clock_line(p: &lbs_protocol::PartnerStatus) -> Option<String> {
    p.clock_problem
        .as_ref()
        .map(|problem| format!("Clock:        PROBLEM: {problem}"))
}

fn print_status(s: &ServerStatus) {
    let since = |secs: u64| humantime::format_duration(std::time::Duration::from_secs(secs)).to_string();
    println!("Name:         {}", s.name);
    println!("Server ID:    {}", s.server_id);
    let standing = match s.standing {
        lbs_protocol::RoleStanding::Settled => "",
        lbs_protocol::RoleStanding::Unconfirmed => ", not confirmed yet: asking the partner before starting the PBX",
        lbs_protocol::RoleStanding::SteppingDown => ", stepping down: the partner is the primary; stopping the PBX",
    };
    println!("Role:         {} (epoch {}){standing}", s.role, s.epoch);
    println!("Agent:        version {}, up {}", s.version, since(s.uptime_secs));
    println!("Machine:      {}, up {}", s.hostname, since(s.host_uptime_secs));
    println!("Fingerprint:  {}", lbs_tls::display_fingerprint(&s.fingerprint));
    match &s.peer {
        lbs_protocol::PeerSummary::Unpaired => println!("Partner:      not paired yet"),
        lbs_protocol::PeerSummary::Paired {
            server_id,
            address,
            reachable,
            checked,
            ..
        } => {
            let state = match (reachable, checked) {
                (true, _) => "reachable",
                (false, false) => "not asked yet",
                (false, true) => "NOT reachable",
            };
            println!("Partner:      {server_id} at {address}, {state}")
        }
    }
    if let Some(m) = &s.maintenance {
        let now = lbs_agent_core::clock::now_unix();
        println!(
            "Maintenance:  until {} (set by {}: {}); alerts about the work are held, nothing happens automatically",
            crate::local_time::clock(m.until_unix, now),
            m.set_by,
            m.reason
        );
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
        crate::cli::link::render(&link_for(&config, &identity, created.token), role)
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
    let primary = RoleState::load(&config.server.state_dir)?.role == lbs_protocol::Role::Primary;
    let rows = lbs_agent_core::sampler::demo::seed(&config, &history, days, primary).await?;
    println!("Seeded {rows} samples over {days} days.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_clock_that_differs_gets_a_line_of_the_status() {
        let mut p: lbs_protocol::PartnerStatus = serde_json::from_value(serde_json::json!({
            "paired": true, "name": "PBX B", "server_id": "b", "address": "10.0.0.2:7443", "reachable": true,
            "role": "backup", "epoch": 1, "role_since_unix": 1, "last_contact_unix": 1, "message": null
        }))
        .unwrap();
        assert_eq!(clock_line(&p), None, "an older agent, or clocks that agree");
        p.clock_offset_secs = Some(125);
        p.clock_problem = Some("PBX B's clock is 2m 5s ahead of this box's: …".into());
        assert_eq!(
            clock_line(&p).as_deref(),
            Some("Clock:        PROBLEM: PBX B's clock is 2m 5s ahead of this box's: …")
        );
    }
}
