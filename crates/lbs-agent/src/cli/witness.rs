//! `lbs-agent witness setup`: the vote for automatic failover in one command on each box.
//!
//! On the first box (`--witness <address>`, usually the primary): checks the pair is paired and
//! both agents answer, plans the three members, makes the vote's CA and certificates, sends the
//! partner its part over the pair's mutual TLS, installs this box's etcd member, writes the
//! witness's self-contained script, and turns automatic failover on in this box's
//! configuration. On the partner (no address): installs the part its agent received, and turns
//! it on there too. Each step says what to do when it cannot be done.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lbs_agent_core::config::Config;
use lbs_agent_core::identity::Identity;
use lbs_agent_core::peer::{Peer, PeerStore};
use lbs_agent_core::witness::{self, enrollment, health, Layout, Planned};
use lbs_protocol::{VotePlan, WitnessEnrollment};

use super::{load_config, open_db, LocalApi};

/// What the command line said.
pub struct SetupArgs {
    /// The witness's address (or host name): this box plans the vote.
    pub witness: Option<String>,
    pub witness_name: String,
    /// This box's address for the vote (default: the address it advertises).
    pub address: Option<String>,
    /// The partner's (default: its address from pairing).
    pub partner_address: Option<String>,
    pub client_port: u16,
    pub peer_port: u16,
    /// Where to write the witness's script.
    pub script: PathBuf,
    /// etcd's files under this folder instead of the system's; etcd is then not started here.
    pub install_root: Option<PathBuf>,
    pub again: bool,
}

pub async fn setup(config_path: &Path, args: SetupArgs) -> Result<()> {
    let config = load_config(config_path)?;
    let layout = match &args.install_root {
        Some(root) => Layout::under(root)?,
        None => Layout::system(),
    };
    if layout.is_system() && !lbs_agent_core::platform::is_root() {
        bail!(
            "run it as root (sudo lbs-agent witness setup …): it writes etcd's settings in /etc, gives etcd its key \
             and restarts etcd and the agent"
        );
    }
    if !on_path("etcd") {
        bail!("etcd is not installed on this box: install it (`apt install etcd-server`), then run this again");
    }
    let peer = PeerStore::new(open_db(&config).await?)
        .load()
        .await
        .context("cannot read the partner's record")?;
    match args.witness.clone() {
        Some(w) => first_box(config_path, &config, layout, peer, &w, &args).await,
        None => partner_box(config_path, &config, layout, peer, args.again).await,
    }
}

/// The box that plans the vote.
async fn first_box(
    config_path: &Path,
    config: &Config,
    layout: Layout,
    peer: Option<Peer>,
    witness_address: &str,
    args: &SetupArgs,
) -> Result<()> {
    if let Some(w) = &config.witness {
        if !args.again {
            bail!(
                "automatic failover is already set up on this box (its vote: {}). To make a new vote — new \
                 certificates for all three machines — run `lbs-agent witness setup --witness {witness_address} \
                 --again`, then the new witness script on the witness and `lbs-agent witness setup` on the partner",
                w.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if config.pbx.start.is_empty() {
        bail!(
            "automatic failover needs [pbx] start and stop in {}: the agent must be able to stop the PBX of a \
             primary cut off from the office and start it on the backup that takes over. Set them (see \
             docs/failover.md), then run this again",
            config_path.display()
        );
    }
    let identity = Identity::load(&config.server.state_dir)?;
    let Some(peer) = peer else {
        bail!(
            "this box has no partner yet: pair the two boxes first (`lbs-agent setup --partner '<link>'` on the \
             backup), then run this again"
        );
    };
    partner_answers(config, &identity, &peer).await?;

    let here = resolve(
        args.address.as_deref().unwrap_or(host_of(&config.advertised_address())),
        "this box",
        "--address",
    )
    .await?;
    let there = resolve(
        args.partner_address.as_deref().unwrap_or(host_of(&peer.address)),
        &peer.name,
        "--partner-address",
    )
    .await?;
    let witness_at = resolve(witness_address, "the witness", "--witness").await?;
    let loopback: Vec<bool> = [&here, &there, &witness_at]
        .iter()
        .map(|(ip, _)| ip.is_loopback())
        .collect();
    if loopback.contains(&true) && loopback.contains(&false) {
        bail!(
            "the vote's members would be at {}, {} and {}: a loopback address cannot be reached from the other \
             machines; give each one's LAN address (--address, --partner-address, --witness)",
            here.0,
            there.0,
            witness_at.0
        );
    }
    let member = |name: &str, (address, dns_names): (IpAddr, Vec<String>)| Planned {
        name: name.to_owned(),
        address,
        dns_names,
        client_port: args.client_port,
        peer_port: args.peer_port,
    };
    let plan = witness::plan([
        member(&config.server.name, here),
        member(&peer.name, there),
        member(&args.witness_name, witness_at),
    ])?;
    // Checked before anything is sent or written: the configuration this box will run with.
    let new_config = with_witness(config_path, &layout, &plan, 0)?;

    let issued = witness::issue(&plan)?;
    let part = |you: usize| WitnessEnrollment {
        plan: plan.clone(),
        you,
        ca_pem: issued.ca_pem.clone(),
        cert_pem: issued.members[you].cert_pem.clone(),
        key_pem: issued.members[you].key_pem.clone(),
        from: config.server.name.clone(),
        created_unix: lbs_agent_core::clock::now_unix(),
    };
    enrollment::send(&identity, &peer, &part(1)).await?;
    println!("{} received its part of the vote.", peer.name);

    let installed = witness::install_member(&layout, &part(0))?;
    report_install(&installed);
    let script = write_script(&args.script, &part(2))?;
    write_config(config_path, &new_config)?;
    let started = start_etcd(&layout)?;
    let restarted = restart_agent(&layout)?;

    let w = &plan.members[2];
    println!(
        "\nThe vote is planned: {} ({}), {} ({}) and {} ({}).",
        plan.members[0].name, plan.members[0].address, plan.members[1].name, plan.members[1].address, w.name, w.address
    );
    match started {
        true => println!("This box's etcd member is starting; it waits for the others to form the vote."),
        false => println!(
            "Start etcd on this box with the settings in {} (systemd is not used here).",
            installed.env_file.display()
        ),
    }
    println!(
        "[witness] and `automatic = true` are written to {}; {}",
        config_path.display(),
        agent_restart_words(restarted, config_path)
    );
    println!("\nNext:");
    println!(
        "  1. Copy the witness's script to the witness (it holds the witness's private key):\n       scp {} root@{}:",
        script.display(),
        w.address
    );
    println!(
        "  2. Run it there as root:  sudo sh {}\n     It installs etcd if it is missing, starts it and checks it. Then delete it.",
        script.file_name().map_or("lbs-witness-setup.sh".into(), |n| n.to_string_lossy())
    );
    println!("  3. On {}, run:  sudo lbs-agent witness setup", peer.name);
    println!("Then `lbs-agent autopilot` on either box shows the vote and whether the pair is on autopilot.");
    Ok(())
}

/// The partner: installs what the first box sent.
async fn partner_box(
    config_path: &Path,
    config: &Config,
    layout: Layout,
    peer: Option<Peer>,
    again: bool,
) -> Result<()> {
    let state_dir = &config.server.state_dir;
    let other = peer.as_ref().map_or("the other box".to_owned(), |p| p.name.clone());
    let received = enrollment::load(state_dir)?;
    let Some(part) = received else {
        if config.witness.is_some() && again {
            bail!(
                "{other} sent this box nothing new to install. To make a new vote, run `lbs-agent witness setup \
                 --witness <the witness's address> --again` on {other} first, then this here"
            );
        }
        if config.witness.is_some() {
            bail!(
                "automatic failover is already set up on this box, and {other} sent nothing new. To make a new vote, \
                 run `lbs-agent witness setup --witness <the witness's address> --again` on {other}, then this here"
            );
        }
        bail!(
            "this box has no part of a vote to install: run `lbs-agent witness setup --witness <the witness's \
             address>` on {other} first (it sends this box its part), then run this again here"
        );
    };
    let new_config = with_witness(config_path, &layout, &part.plan, part.you)?;
    let installed = witness::install_member(&layout, &part)?;
    report_install(&installed);
    write_config(config_path, &new_config)?;
    // Installed: the copy in the state directory (it holds the key) is no longer needed.
    let kept = enrollment::path(state_dir);
    std::fs::remove_file(&kept).with_context(|| format!("cannot remove {}", kept.display()))?;
    let started = start_etcd(&layout)?;
    if started {
        if let Some(w) = Config::parse(&new_config, config_path)?.witness {
            wait_for_majority(&w).await;
        }
    }
    let restarted = restart_agent(&layout)?;
    println!(
        "\nThis box's member of the vote planned by {} ({}) is installed.",
        part.from,
        part.plan
            .members
            .iter()
            .map(|m| format!("{} {}", m.name, m.address))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !started {
        println!(
            "Start etcd on this box with the settings in {} (systemd is not used here).",
            installed.env_file.display()
        );
    }
    println!(
        "[witness] and `automatic = true` are written to {}; {}",
        config_path.display(),
        agent_restart_words(restarted, config_path)
    );
    println!("`lbs-agent autopilot` shows the vote and whether the pair is on autopilot.");
    Ok(())
}

/// The partner's agent must answer its heartbeat (asked through this box's agent). One refused
/// heartbeat is not the verdict: the first one after pairing can reach the partner before it
/// has recorded the pairing, so this waits for an answer until the deadline.
async fn partner_answers(config: &Config, identity: &Identity, peer: &Peer) -> Result<()> {
    let api = LocalApi::open(config, identity)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: lbs_protocol::FailoverStatus = api.call(api.get("/failover")).await?;
        let p = &status.partner;
        if p.reachable {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} does not answer this box's heartbeat{}: start its agent (`systemctl start lbs-agent` there) and \
                 check the network between the boxes, then run this again",
                peer.name,
                p.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An address as given (an IP address, or a host name looked up now), with the name kept for
/// the certificate.
async fn resolve(given: &str, whose: &str, flag: &str) -> Result<(IpAddr, Vec<String>)> {
    let given = given.trim().trim_matches(['[', ']']);
    if let Ok(ip) = given.parse::<IpAddr>() {
        return Ok((ip, Vec::new()));
    }
    let found: Vec<IpAddr> = tokio::net::lookup_host((given, 0))
        .await
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default();
    let ip = found
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(found.first())
        .copied()
        .with_context(|| {
            format!("cannot find the address of {whose} (\"{given}\"): give its IP address with {flag}")
        })?;
    Ok((ip, vec![given.to_owned()]))
}

/// The host of `host:port` (or `[v6]:port`).
fn host_of(address: &str) -> &str {
    address
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty())
        .map_or(address, |(h, _)| h)
        .trim_matches(['[', ']'])
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(program);
            std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

fn report_install(installed: &witness::Installed) {
    println!("This box's etcd settings are in {}.", installed.env_file.display());
    if let Some(aside) = &installed.kept_aside {
        println!("The settings that were there are kept as {}.", aside.display());
    }
    for old in &installed.removed {
        println!("Removed the data of an earlier vote: {}", old.display());
    }
}

/// Writes the witness's script, owner-only (it holds the witness's key).
fn write_script(path: &Path, part: &WitnessEnrollment) -> Result<PathBuf> {
    let text = witness::witness_script(part)?;
    let path = std::path::absolute(path).with_context(|| format!("cannot place {}", path.display()))?;
    lbs_agent_core::fsutil::write_atomic(&path, text.as_bytes(), true).with_context(|| {
        format!(
            "cannot write the witness's script {}; choose another place with --script",
            path.display()
        )
    })?;
    Ok(path)
}

/// The configuration with `[witness]` (this box's certificate, the three members — this box
/// first, the witness last) and `[failover] automatic = true`, comments and other keys kept;
/// checked as the agent will read it.
fn with_witness(config_path: &Path, layout: &Layout, plan: &VotePlan, you: usize) -> Result<String> {
    let text =
        std::fs::read_to_string(config_path).with_context(|| format!("cannot read {}", config_path.display()))?;
    let new =
        witness_section(&text, layout, plan, you).with_context(|| format!("cannot edit {}", config_path.display()))?;
    Config::parse(&new, config_path).context("automatic failover cannot be turned on in this configuration")?;
    Ok(new)
}

fn witness_section(text: &str, layout: &Layout, plan: &VotePlan, you: usize) -> Result<String> {
    use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};
    let mut doc: DocumentMut = text.parse()?;
    let path = |p: PathBuf| value(p.display().to_string());
    let mut w = Table::new();
    w.decor_mut().set_prefix(
        "\n# The vote for automatic failover (etcd: this box, the partner, the witness), written by\n\
         # `lbs-agent witness setup`; `lbs-agent witness setup --witness <address> --again` makes a new one.\n",
    );
    w["ca_file"] = path(layout.ca_file());
    w["cert_file"] = path(layout.cert_file());
    w["key_file"] = path(layout.key_file());
    let mut members = ArrayOfTables::new();
    let other = 1 - you.min(1);
    for i in [you, other, 2] {
        let m = &plan.members[i];
        let mut t = Table::new();
        t["name"] = value(m.name.as_str());
        t["endpoint"] = value(m.client_url());
        members.push(t);
    }
    w.insert("member", Item::ArrayOfTables(members));
    doc.insert("witness", Item::Table(w));
    let failover = doc
        .entry("failover")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .context("[failover] is not a table")?;
    failover["automatic"] = value(true);
    Ok(doc.to_string())
}

/// Writes the edited configuration with the old file's mode and owner: it may hold secrets (an
/// SMTP password) that an admin made unreadable to others.
fn write_config(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let before = std::fs::metadata(path).ok();
    lbs_agent_core::fsutil::write_atomic(path, text.as_bytes(), true)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(m) = before {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .with_context(|| format!("cannot restore the mode of {}", path.display()))?;
        // Root keeps the owner the file had; anyone else owns what they write anyway.
        let _ = std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()));
    }
    Ok(())
}

fn under_systemd(layout: &Layout) -> bool {
    layout.is_system() && Path::new("/run/systemd/system").is_dir()
}

fn systemctl(args: &[&str]) -> Result<()> {
    let status = std::process::Command::new("systemctl")
        .args(args)
        .status()
        .context("cannot run systemctl")?;
    if !status.success() {
        bail!(
            "`systemctl {}` failed; see `journalctl -u {}`",
            args.join(" "),
            args.last().copied().unwrap_or("etcd")
        );
    }
    Ok(())
}

/// Enables and (re)starts etcd under systemd; `false` when systemd is not used here. Not waiting
/// for systemctl: etcd reports ready only once a majority of the vote answers.
fn start_etcd(layout: &Layout) -> Result<bool> {
    if !under_systemd(layout) {
        return Ok(false);
    }
    systemctl(&["enable", "--quiet", "etcd"])?;
    systemctl(&["restart", "--no-block", "etcd"])?;
    Ok(true)
}

/// Waits until a majority of the vote answers; says what each member answered either way.
async fn wait_for_majority(w: &lbs_agent_core::config::WitnessConfig) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answers = match health::members(w).await {
            Ok(a) => a,
            Err(e) => {
                println!("The vote cannot be asked: {e}");
                return;
            }
        };
        if health::majority(&answers) {
            println!(
                "The vote has a majority: {}.",
                answers
                    .iter()
                    .map(health::MemberHealth::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return;
        }
        if Instant::now() > deadline {
            println!(
                "The vote has no majority yet: {}. Run the witness's script on the witness if it is not done, and check \
                 that ports 2379 and 2380 are open between the three machines; `lbs-agent autopilot` shows the vote.",
                answers.iter().map(health::MemberHealth::describe).collect::<Vec<_>>().join(", "),
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Restarts the agent (if it runs) so that it reads its new configuration; `false` when
/// systemd is not used here.
fn restart_agent(layout: &Layout) -> Result<bool> {
    if !under_systemd(layout) {
        return Ok(false);
    }
    systemctl(&["try-restart", "lbs-agent"])?;
    Ok(true)
}

fn agent_restart_words(restarted: bool, config_path: &Path) -> String {
    if restarted {
        "the agent was restarted to read them.".into()
    } else {
        format!(
            "restart the agent to read them (`systemctl restart lbs-agent`, or stop `lbs-agent run --config {}` and \
             start it again).",
            config_path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> VotePlan {
        let m = |name: &str, address: &str| Planned::at(name, address.parse().unwrap());
        witness::plan([
            m("PBX A (server room)", "192.168.1.11"),
            m("PBX B", "192.168.1.12"),
            m("witness", "192.168.1.5"),
        ])
        .unwrap()
    }

    #[test]
    fn the_witness_section_is_added_and_the_comments_stay() {
        let text = include_str!("../../../../docs/agent.example.toml")
            .replace("start = []\n", "start = [\"systemctl\", \"start\", \"asterisk\"]\n")
            .replace("stop = []\n", "stop = [\"systemctl\", \"stop\", \"asterisk\"]\n");
        let new = witness_section(&text, &Layout::system(), &plan(), 1).unwrap();
        let c = Config::parse(&new, Path::new("/etc/lbs-agent/agent.toml")).unwrap_or_else(|e| panic!("{e}\n{new}"));
        assert!(c.failover.automatic);
        let w = c.witness.unwrap();
        assert_eq!(w.key_file, Path::new("/etc/lbs-vote/member.key"));
        let members: Vec<(&str, &str)> = w
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.endpoint.as_str()))
            .collect();
        assert_eq!(
            members,
            [
                ("PBX B", "https://192.168.1.12:2379"),
                ("PBX A (server room)", "https://192.168.1.11:2379"),
                ("witness", "https://192.168.1.5:2379"),
            ],
            "this box first, the witness last"
        );
        assert!(new.contains("# required: the name the office manager sees in the console."));
        // Made again: replaced, not added twice.
        let again = witness_section(&new, &Layout::system(), &plan(), 1).unwrap();
        assert_eq!(again.matches("[witness]").count(), 1, "{again}");
        assert_eq!(again.matches("[[witness.member]]").count(), 3);
    }

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("10.0.0.11:7443"), "10.0.0.11");
        assert_eq!(host_of("[fd00::1]:7443"), "fd00::1");
        assert_eq!(host_of("pbx-a.office.lan:7443"), "pbx-a.office.lan");
    }
}
