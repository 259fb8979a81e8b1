//! `lbs-agent setup`: from an installed package to a running, paired box in one command. Asks
//! what it was not told (the box's name, whether it runs the phones now, the primary's link),
//! writes the name into the configuration (keeping its comments), creates the identity, starts
//! the agent under systemd, pairs a backup with its primary, and prints the connection link.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lbs_protocol::{Role, TokenRole};

use super::{create_identity, link_for, print_identity, LocalApi};
use lbs_agent_core::config::Config;
use lbs_agent_core::identity::Identity;

/// What the command line said; what is missing is asked for on a terminal.
pub struct SetupArgs {
    pub name: Option<String>,
    pub role: Option<Role>,
    /// The primary's connection link: this box becomes its backup.
    pub partner: Option<String>,
    /// `host:port` the console and the partner reach this box at.
    pub advertise: Option<String>,
    /// Do not start the agent through systemd (it is started some other way).
    pub no_start: bool,
}

pub async fn run(config_path: &Path, mut args: SetupArgs) -> Result<()> {
    let config = Config::load(config_path)?;
    if config.server.state_dir.join("identity.json").is_file() {
        let id = Identity::load(&config.server.state_dir)?;
        bail!(
            "this box is already set up (server ID {}, in {}). `lbs-agent status` shows it; \
             `lbs-agent token create` prints a new connection link.",
            id.server_id,
            config.server.state_dir.display()
        );
    }
    let asking = std::io::stdin().is_terminal();
    if args.name.is_none() && asking {
        args.name = Some(ask(
            "The name the office manager sees for this box, e.g. \"PBX A (server room)\"",
        )?);
    }
    let Some(name) = args.name.filter(|n| !n.trim().is_empty()) else {
        bail!("give this box a name: lbs-agent setup --name \"PBX A (server room)\"");
    };
    if args.partner.as_deref() == Some("-") {
        // Read from standard input, so the link's admin token is not on the command line.
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the link from standard input")?;
        args.partner = Some(line.trim().to_owned());
    }
    match (args.role, &args.partner) {
        (Some(Role::Primary), Some(_)) => bail!(
            "a box paired with a primary is its backup: leave out --role primary, or leave out --partner to set up \
             the primary"
        ),
        (_, Some(_)) => args.role = Some(Role::Backup),
        _ => {}
    }
    let role = match args.role {
        Some(r) => r,
        // Never a guess: a backup set up as a primary would start its PBX beside the real one.
        None if !asking => bail!(
            "say which box this is: --role primary (it runs the phones now) or --partner '<the primary's link>' \
             (it becomes the backup)"
        ),
        None => {
            let answer = ask("Does this box run the phones now (is it the primary)? [Y/n]")?;
            if answer.trim().to_lowercase().starts_with('n') {
                Role::Backup
            } else {
                Role::Primary
            }
        }
    };
    if role == Role::Backup && args.partner.is_none() && asking {
        let link = ask("Paste the primary's link (its `lbs-agent setup` printed it), or leave empty to pair later")?;
        args.partner = Some(link).filter(|l| !l.trim().is_empty());
    }

    let config = write_config(config_path, name.trim(), args.advertise.as_deref())?;
    let (identity, first) = create_identity(&config, role, "first admin (from setup)").await?;
    println!("\nThis box is set up:");
    print_identity(&config, &identity, role);

    let under_systemd = Path::new("/run/systemd/system").is_dir();
    if args.no_start || !under_systemd {
        println!(
            "Start the agent now (`lbs-agent run --config {}`).",
            config_path.display()
        );
        if args.partner.is_some() {
            println!("Then pair it with its primary: lbs-agent pair '<the primary's link>'");
        }
    } else {
        start_service()?;
        let api = LocalApi::open(&config, &identity)?;
        wait_until_answering(&api, Duration::from_secs(60)).await?;
        if let Some(link) = &args.partner {
            let body = lbs_protocol::PairWith {
                link: link.trim().to_owned(),
            };
            let sync: lbs_protocol::SyncStatus = api
                .call(api.client.post(format!("{}/pair", api.base)).json(&body))
                .await
                .context("the agent runs, but pairing with the primary failed; fix the cause and run `lbs-agent pair <link>`")?;
            let primary = sync.peer.name.unwrap_or_else(|| "the primary".into());
            println!("Paired with {primary}: this box is its backup and copies it now.");
            super::health::after_pairing(&api).await;
        }
    }
    let link = link_for(&config, &identity, first);
    match role {
        Role::Primary => println!(
            "\nThe office's link: pair the other box with it (`lbs-agent setup --partner '<link>'` there), \
             and add it in the LBS Console's \"Add a server\"."
        ),
        Role::Backup => println!("\nThis box's own link, for the LBS Console's \"Add a server\":"),
    }
    println!("{}", crate::cli::link::render(&link, TokenRole::Admin));
    Ok(())
}

/// Asks one question on the terminal; the answer without its line end.
fn ask(question: &str) -> Result<String> {
    print!("{question}: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Writes the name (and the advertised address) into the configuration file, keeping its
/// comments and layout; the new text is checked before it replaces the old.
fn write_config(path: &Path, name: &str, advertise: Option<&str>) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let new = with_server_keys(&text, name, advertise).with_context(|| format!("cannot edit {}", path.display()))?;
    let config = Config::parse(&new, path)?;
    if new != text {
        lbs_agent_core::fsutil::write_atomic(path, new.as_bytes(), false)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(config)
}

fn with_server_keys(text: &str, name: &str, advertise: Option<&str>) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    let server = doc
        .entry("server")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .context("[server] is not a table")?;
    server["name"] = toml_edit::value(name);
    if let Some(a) = advertise {
        server["advertise"] = toml_edit::value(a);
    }
    Ok(doc.to_string())
}

fn start_service() -> Result<()> {
    let status = std::process::Command::new("systemctl")
        .args(["enable", "--now", "lbs-agent"])
        .status()
        .context("cannot run systemctl")?;
    if !status.success() {
        bail!("systemctl could not start lbs-agent; see `journalctl -u lbs-agent`");
    }
    Ok(())
}

async fn wait_until_answering(api: &LocalApi, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let tried: Result<lbs_protocol::ServerStatus> = api.call(api.get("/status")).await;
        match tried {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("the agent did not answer within a minute; see `journalctl -u lbs-agent`")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_written_and_the_comments_stay() {
        let text = include_str!("../../../../docs/agent.example.toml");
        let new = with_server_keys(text, "PBX \"B\" (comms room)", Some("10.0.0.12:7443")).unwrap();
        let c = Config::parse(&new, Path::new("/etc/lbs-agent/agent.toml")).unwrap();
        assert_eq!(c.server.name, "PBX \"B\" (comms room)");
        assert_eq!(c.server.advertise.as_deref(), Some("10.0.0.12:7443"));
        assert!(new.contains("# required: the name the office manager sees in the console."));
        assert_eq!(
            new.lines().count(),
            text.lines().count() + 1,
            "one line added: advertise"
        );
    }
}
