//! `lbs-agent`: the edge around `lbs-agent-core`. The command line is parsed here and handed to
//! `cli`; `lbs-agent run` serves the HTTPS API (`http`, `serve`) under systemd (`systemd`,
//! `logging`). See `docs/ARCHITECTURE.md`.

mod cli;
mod daemon;
mod http;
mod local_time;
mod logging;
mod prometheus;
mod serve;
mod systemd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lbs_protocol::{Role, TokenRole};

#[derive(Parser)]
#[command(
    name = "lbs-agent",
    version,
    about = "LBS — Live Backup Server agent: keeps a PBX box's identity, role and history, and serves them over HTTPS."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The agent's TOML configuration file.
    #[arg(long, short, env = "LBS_AGENT_CONFIG", default_value = "/etc/lbs-agent/agent.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Set this box up after installing the package: asks its name and role (or take them from
    /// the options), creates its identity, starts the agent, pairs a backup with its primary, and
    /// prints the connection link.
    Setup {
        #[command(flatten)]
        config: ConfigArg,
        /// The name the office manager sees, e.g. "PBX A (server room)".
        #[arg(long)]
        name: Option<String>,
        /// primary (runs the phones now) or backup.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// The primary's link (its setup printed it): this box becomes its backup. `-` reads it
        /// from standard input, keeping its token off the command line.
        #[arg(long)]
        partner: Option<String>,
        /// host:port where the console and the partner reach this box (default: its first LAN
        /// address).
        #[arg(long)]
        advertise: Option<String>,
        /// Do not start the agent through systemd.
        #[arg(long)]
        no_start: bool,
    },
    /// Create this box's identity (server ID, TLS certificate) and its first admin token
    /// (`setup` does this and more).
    Init {
        #[command(flatten)]
        config: ConfigArg,
        /// The role this box starts in: the first box of a pair is the primary.
        #[arg(long, default_value = "primary", value_parser = parse_role)]
        role: Role,
    },
    /// Run the agent (what the systemd unit starts).
    Run(ConfigArg),
    /// Check the configuration file and print it with every default filled in (like `nginx -t`);
    /// also checks that the programs it names are installed. Exits non-zero on any problem.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
        /// Print only the problems, not the configuration.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show what the running agent reports.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The two machines of the pair side by side (processor, memory, disks and their health, links,
    /// telephony cards, system, phone system, categories and the space their data takes), and
    /// what differs that matters for a failover, the most severe first.
    Health {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the answer of `GET /api/v1/health` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make this box the backup of a primary: give it the primary's connection link
    /// (`lbs-agent token create` on the primary prints one). The agent must be running.
    Pair {
        #[command(flatten)]
        config: ConfigArg,
        /// The primary's link, `lbs://host:port/?fp=…&token=…`.
        link: String,
    },
    /// Forget the partner box (the role stays; no data is deleted).
    Unpair(ConfigArg),
    /// Make this backup the primary. If the primary is dead, confirm it is off or unplugged with
    /// --force and a --reason (an unplanned failover).
    Promote {
        #[command(flatten)]
        config: ConfigArg,
        /// Unplanned failover: the old primary is off or cut off (needs --reason).
        #[arg(long)]
        force: bool,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Make this primary a backup: stop the PBX, release the address, final dump.
    Demote {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Planned handover between the two live boxes with nothing lost (run on either box).
    Switchover {
        #[command(flatten)]
        config: ConfigArg,
        /// Go ahead although the hold period is not over or changes are pending (needs --reason).
        #[arg(long = "override")]
        override_guards: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// The audit log: role changes, refusals and violations, and who asked.
    Events {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The disks' health (SMART), read outside the agent's sandbox.
    #[command(subcommand)]
    Smart(SmartCommand),
    /// Files set aside when this box came back as an old primary.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Files deleted on the primary that this box keeps for a while; put one back.
    #[command(subcommand)]
    Trash(TrashCommand),
    /// The alerts this box sends itself (mail, webhooks): test the channels, see the outbox.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Automatic failover for the pair (set up with `lbs-agent witness setup`): `on`, `off`
    /// (with --reason), or nothing to see whether the pair is on autopilot and why not.
    Autopilot {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(value_enum)]
        switch: Option<cli::autopilot::Switch>,
        /// Why, for the office and the audit log (needed to switch it off).
        #[arg(long, requires = "switch")]
        reason: Option<String>,
        /// Who switches it; the login name at this box when not given.
        #[arg(long, requires = "switch")]
        by: Option<String>,
    },
    /// Maintenance mode for the pair, while a technician works on it: the alerts the work causes
    /// are held and nothing happens automatically; the copy keeps running; it ends by itself.
    /// `on` starts it (--for and --reason), `off` ends it, nothing shows it. Set on either box,
    /// it holds for both.
    Maintenance {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(value_enum)]
        switch: Option<cli::maintenance::Switch>,
        /// How long, from 1 minute to 24 hours: 30m, 2h, 1h30m.
        #[arg(
            long = "for",
            value_name = "LENGTH",
            required_if_eq("switch", "on"),
            requires = "switch"
        )]
        length: Option<String>,
        /// Why, for the office and the audit log, e.g. "replacing the disk of PBX A".
        #[arg(long, required_if_eq("switch", "on"), requires = "switch")]
        reason: Option<String>,
        /// Who does the work, or ends it (default: your login name and this box).
        #[arg(long)]
        by: Option<String>,
    },
    /// The witness: the third vote that makes automatic failover safe.
    ///
    /// The vote is an etcd member on each box and on the witness, a small always-on machine.
    /// `lbs-agent witness setup --witness <address>` on one box, then the script it writes on
    /// the witness, then `lbs-agent witness setup` on the partner.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Demo and benchmark helpers (never needed in production).
    #[command(subcommand, hide = true)]
    Demo(DemoCommand),
    /// Write the man pages and shell completions into a folder (used to build the package).
    #[command(hide = true)]
    GenerateDocs {
        /// The folder: man pages go to `man/`, completions to `completions/`.
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its connection link.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// admin (may change things) or viewer (may only look).
        #[arg(long, default_value = "admin")]
        role: TokenRole,
        /// A note to recognise the token by, e.g. "office manager laptop".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List active tokens (never their secrets).
    List(ConfigArg),
    /// Revoke a token by its id.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        id: String,
    },
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Set up the vote for automatic failover and turn it on (as root, on each box).
    ///
    /// On one box (the primary), `--witness <address>` makes the vote's certificates, sends the
    /// partner its part, sets up this box's etcd member, turns automatic failover on in its
    /// configuration and writes the witness's script (lbs-witness-setup.sh). Then run that
    /// script on the witness, and `lbs-agent witness setup` (no address) on the partner.
    Setup {
        #[command(flatten)]
        config: ConfigArg,
        /// The witness's address (a NAS, a Raspberry Pi, a VM that is always on), e.g.
        /// 192.168.1.5: this box plans the vote. Left out on the partner.
        #[arg(long, value_name = "ADDRESS")]
        witness: Option<String>,
        /// How the console and the status name the witness.
        #[arg(long, default_value = "witness", requires = "witness")]
        witness_name: String,
        /// This box's address for the vote (default: the address it advertises to its partner).
        #[arg(long, value_name = "ADDRESS", requires = "witness")]
        address: Option<String>,
        /// The partner's address for the vote (default: its address from pairing).
        #[arg(long, value_name = "ADDRESS", requires = "witness")]
        partner_address: Option<String>,
        /// etcd's client port on all three machines.
        #[arg(long, default_value_t = lbs_protocol::ETCD_CLIENT_PORT, requires = "witness")]
        client_port: u16,
        /// etcd's peer port on all three machines.
        #[arg(long, default_value_t = lbs_protocol::ETCD_PEER_PORT, requires = "witness")]
        peer_port: u16,
        /// Where to write the witness's script.
        #[arg(long, default_value = "lbs-witness-setup.sh", requires = "witness")]
        script: PathBuf,
        /// Write etcd's files under this folder instead of /etc and /var/lib, and do not start
        /// etcd or restart the agent (tests, or etcd run some other way).
        #[arg(long, value_name = "DIR", env = "LBS_WITNESS_ROOT")]
        install_root: Option<PathBuf>,
        /// Set it up again although it is: on the box with --witness, a new vote (new
        /// certificates for all three machines).
        #[arg(long)]
        again: bool,
    },
}

#[derive(Subcommand)]
enum SmartCommand {
    /// Read every disk's health now (as root) and write it where the agent reads it:
    /// <state_dir>/smart/disks.json.
    ///
    /// The agent's systemd unit keeps it from the disks; lbs-agent-smart.timer runs this hourly
    /// (lbs-agent-smart.service), with only the access SMART needs and no network.
    /// `systemctl start lbs-agent-smart.service` reads the disks at once.
    Snapshot(ConfigArg),
}

#[derive(Subcommand)]
enum AlertCommand {
    /// Send a test alert through every configured channel now (not through the outbox) and print
    /// what each server answered. Exits non-zero if any channel failed.
    Test(ConfigArg),
    /// Each channel's outbox (alerts waiting, failing or not) and the problems open now.
    Status(ConfigArg),
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// List them.
    List(ConfigArg),
    /// Put one back on the primary.
    Restore {
        #[command(flatten)]
        config: ConfigArg,
        id: i64,
        /// Replace a different file at that path (it goes to the primary's trash).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum TrashCommand {
    /// List them, newest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this category (e.g. voicemail).
        #[arg(long)]
        category: Option<String>,
    },
    /// Put one back on the primary (sent there through the partner when this box is the backup).
    Restore {
        #[command(flatten)]
        config: ConfigArg,
        /// Where it lived, as `trash list` prints it, e.g. default/1001/INBOX/msg0001.wav.
        path: String,
        /// The category, when the same path was deleted in two.
        #[arg(long)]
        category: Option<String>,
        /// Which copy, when it was deleted more than once: its deletion time as `trash list`
        /// prints it (the newest copy otherwise).
        #[arg(long)]
        deleted: Option<String>,
        /// Replace a different file now at that path (it goes to the primary's trash).
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Fill the history with plausible past samples (for demos and benchmarks).
    SeedHistory {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "primary" => Ok(Role::Primary),
        "backup" => Ok(Role::Backup),
        other => Err(format!("unknown role `{other}`: use `primary` or `backup`")),
    }
}

/// The man pages (one per subcommand, as git does) and the bash, zsh and fish completions, all
/// generated from the command line's own definition so they never disagree with it.
fn generate_docs(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man).context("cannot write the man pages")?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "lbs-agent", &completions)
            .with_context(|| format!("cannot write the {shell} completions"))?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_)) {
        // A command whose output goes to `head` or `grep -q` ends quietly when the reader has
        // read enough, as Unix tools do, instead of panicking on the closed pipe. Not the daemon:
        // there a closed socket must stay an error to handle, never a signal that kills it.
        #[cfg(unix)]
        // SAFETY: restoring the default action of a signal, before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    use cli::RoleAction;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init { config, role } => cli::init(&config.config, role).await,
            Command::Run(c) => daemon::run(&c.config).await,
            Command::Setup {
                config,
                name,
                role,
                partner,
                advertise,
                no_start,
            } => {
                let args = cli::setup::SetupArgs {
                    name,
                    role,
                    partner,
                    advertise,
                    no_start,
                };
                cli::setup::run(&config.config, args).await
            }
            Command::CheckConfig { config, quiet } => cli::check_config::run(&config.config, quiet),
            Command::GenerateDocs { out } => generate_docs(&out),
            Command::Status { config, json } => cli::status(&config.config, json).await,
            Command::Pair { config, link } => cli::pair(&config.config, &link).await,
            Command::Health { config, json } => cli::health::show(&config.config, json).await,
            Command::Unpair(c) => cli::unpair(&c.config).await,
            Command::Promote { config, force, reason } => {
                cli::change_role(&config.config, RoleAction::Promote { force, reason }).await
            }
            Command::Demote { config, reason } => cli::change_role(&config.config, RoleAction::Demote { reason }).await,
            Command::Switchover {
                config,
                override_guards,
                reason,
            } => {
                cli::change_role(
                    &config.config,
                    RoleAction::Switchover {
                        override_guards,
                        reason,
                    },
                )
                .await
            }
            Command::Events { config, limit } => cli::events(&config.config, limit).await,
            Command::Quarantine(QuarantineCommand::List(c)) => cli::quarantine(&c.config, None).await,
            Command::Quarantine(QuarantineCommand::Restore { config, id, replace }) => {
                cli::quarantine(&config.config, Some((id, replace))).await
            }
            Command::Trash(TrashCommand::List { config, category }) => {
                cli::trash::list(&config.config, category.as_deref()).await
            }
            Command::Trash(TrashCommand::Restore {
                config,
                path,
                category,
                deleted,
                replace,
            }) => {
                let wanted = cli::trash::Wanted {
                    path: &path,
                    category: category.as_deref(),
                    deleted: deleted.as_deref(),
                };
                cli::trash::restore(&config.config, wanted, replace).await
            }
            Command::Smart(SmartCommand::Snapshot(c)) => cli::smart::snapshot(&c.config).await,
            Command::Alert(AlertCommand::Test(c)) => cli::alert::test(&c.config).await,
            Command::Alert(AlertCommand::Status(c)) => cli::alert::status(&c.config).await,
            Command::Autopilot {
                config,
                switch,
                reason,
                by,
            } => cli::autopilot::run(&config.config, switch, reason, by).await,
            Command::Maintenance {
                config,
                switch,
                length,
                reason,
                by,
            } => {
                let options = cli::maintenance::Options { length, reason, by };
                cli::maintenance::run(&config.config, switch, options).await
            }
            Command::Witness(WitnessCommand::Setup {
                config,
                witness,
                witness_name,
                address,
                partner_address,
                client_port,
                peer_port,
                script,
                install_root,
                again,
            }) => {
                let args = cli::witness::SetupArgs {
                    witness,
                    witness_name,
                    address,
                    partner_address,
                    client_port,
                    peer_port,
                    script,
                    install_root,
                    again,
                };
                cli::witness::setup(&config.config, args).await
            }
            Command::Token(TokenCommand::Create { config, role, label }) => {
                cli::token_create(&config.config, role, &label).await
            }
            Command::Token(TokenCommand::List(c)) => cli::token_list(&c.config).await,
            Command::Token(TokenCommand::Revoke { config, id }) => cli::token_revoke(&config.config, &id).await,
            Command::Demo(DemoCommand::SeedHistory { config, days }) => cli::seed_history(&config.config, days).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
