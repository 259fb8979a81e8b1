//! The agent's TOML configuration: parsing, defaults and validation.
//!
//! Every check happens while deserialising, so a bad value is reported with the file, line and
//! column by `toml` itself (the line itself too, unless it may hold a secret). Defaults are
//! documented in `docs/agent.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

mod alerts;
mod autopilot;
mod show;
pub use alerts::{parse_mailbox, AlertsConfig, EmailChannel, Secret, Security, WebhookChannel, WebhookFormat};
pub use autopilot::{Member, Prefer, WitnessConfig};
pub use show::effective;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub pbx: PbxConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub failover: FailoverConfig,
    #[serde(default)]
    pub takeover: Takeover,
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// The vote for automatic failover (written by `lbs-agent witness setup`).
    #[serde(default)]
    pub witness: Option<WitnessConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Shown in the console, e.g. "PBX A (server room)".
    #[serde(deserialize_with = "non_empty")]
    pub name: String,
    /// Address the HTTPS API listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `host:port` put into connection links; by default the first non-loopback address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// Identity, tokens and history live here.
    pub state_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Seconds between samples (1 s to 1 h).
    #[serde(
        default = "default_interval",
        deserialize_with = "interval",
        serialize_with = "show::secs"
    )]
    pub interval: u64,
    /// How long raw samples are kept (at least 1 day, so any range under 16 h has full detail).
    #[serde(
        default = "default_raw",
        deserialize_with = "retention_raw",
        serialize_with = "show::secs"
    )]
    pub retention_raw: u64,
    /// How long per-minute and ten-minute roll-ups are kept (at least 42 days).
    #[serde(
        default = "default_minute",
        deserialize_with = "retention_minute",
        serialize_with = "show::secs"
    )]
    pub retention_minute: u64,
    /// How long per-hour roll-ups are kept (at least 30 days).
    #[serde(
        default = "default_hour",
        deserialize_with = "retention_hour",
        serialize_with = "show::secs"
    )]
    pub retention_hour: u64,
    /// Data mounts whose space and I/O are recorded.
    #[serde(default = "default_mounts")]
    pub mounts: Vec<PathBuf>,
    /// Network interfaces to record; empty means every interface but loopback.
    #[serde(default)]
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PbxConfig {
    /// Command (program and arguments) that prints `{"calls": N, "phones": M}`.
    #[serde(default)]
    pub probe: Vec<String>,
    /// How long the probe may take.
    #[serde(
        default = "default_probe_timeout",
        deserialize_with = "probe_timeout",
        serialize_with = "show::secs"
    )]
    pub probe_timeout: u64,
    /// Starts the PBX service, e.g. `["systemctl", "start", "asterisk"]`. With `stop`, the agent
    /// runs the PBX on the primary only.
    #[serde(default)]
    pub start: Vec<String>,
    #[serde(default)]
    pub stop: Vec<String>,
    /// Exits 0 while the PBX runs, e.g. `["systemctl", "is-active", "--quiet", "asterisk"]`.
    #[serde(default)]
    pub running: Vec<String>,
    /// After a start, the PBX counts as answering when this SIP address (`host:port`) answers
    /// an OPTIONS request...
    #[serde(default)]
    pub sip_check: Option<String>,
    /// ...or when this command exits 0 (e.g. `["asterisk", "-rx", "core show uptime"]`).
    #[serde(default)]
    pub health: Vec<String>,
    /// Prints the PBX's version on its first line, for the comparison of the two boxes
    /// (`lbs-agent health`); empty: not asked.
    #[serde(default = "default_pbx_version")]
    pub version: Vec<String>,
    /// How long start, stop and the other PBX commands may take.
    #[serde(
        default = "default_command_timeout",
        deserialize_with = "command_timeout",
        serialize_with = "show::secs"
    )]
    pub command_timeout: u64,
    /// How long the PBX may take to answer after it was started.
    #[serde(
        default = "default_ready_timeout",
        deserialize_with = "command_timeout",
        serialize_with = "show::secs"
    )]
    pub ready_timeout: u64,
    /// How often the agent checks that the PBX runs where it should (and not on the backup).
    #[serde(
        default = "default_check_interval",
        deserialize_with = "check_interval",
        serialize_with = "show::secs"
    )]
    pub check_interval: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverConfig {
    /// After a box becomes the primary, how long before switching back is advised (the original
    /// product asked for an hour, so recordings, voicemail, prompts and music finish syncing).
    #[serde(default = "default_hold", deserialize_with = "hold", serialize_with = "show::secs")]
    pub hold: u64,
    /// How often the agents check on each other (`heartbeat_interval = "1s"`), in milliseconds.
    #[serde(
        rename = "heartbeat_interval",
        default = "default_heartbeat",
        deserialize_with = "heartbeat",
        serialize_with = "show::millis"
    )]
    pub heartbeat_interval_ms: u64,
    /// How long a switchover waits, the old primary's PBX stopped, for the backup to have
    /// everything before it gives up and starts the old primary's PBX again.
    #[serde(
        default = "default_drain",
        deserialize_with = "command_timeout",
        serialize_with = "show::secs"
    )]
    pub drain_timeout: u64,
    /// Automatic failover for the pair (opt-in): the backup takes over by itself when the
    /// primary is gone, by the vote of `[witness]`. See docs/failover.md.
    #[serde(default)]
    pub automatic: bool,
    /// `"data"` (default): fail over by itself only when the backup was caught up; `"service"`:
    /// even when it was behind (the phones before the last minutes of voicemail).
    #[serde(default)]
    pub prefer: autopilot::Prefer,
    /// The backup counts as caught up when what it lacked at the primary's last heartbeat was
    /// younger than this.
    #[serde(
        default = "autopilot::default_caught_up",
        deserialize_with = "autopilot::caught_up",
        serialize_with = "show::secs"
    )]
    pub caught_up_within: u64,
    /// After an automatic failover, none again for this long (a flapping link moves the phones
    /// once, not back and forth).
    #[serde(
        default = "autopilot::default_flap_guard",
        deserialize_with = "autopilot::flap_guard",
        serialize_with = "show::secs"
    )]
    pub flap_guard: u64,
    /// How long the primary's leader key outlives its last renewal: the primary fences itself
    /// within half of it when cut off, and the backup takes over after it (plus the heartbeat's
    /// silence). Shorter fails over sooner; see docs/failover.md for the timeline.
    #[serde(
        default = "autopilot::default_lease",
        deserialize_with = "autopilot::lease",
        serialize_with = "show::secs"
    )]
    pub lease: u64,
    /// Where the backup asks the primary's PBX for SIP OPTIONS before taking over (a PBX that
    /// still answers means only its agent is gone: nothing moves). By default the partner's
    /// address, port 5060.
    #[serde(default)]
    pub partner_sip: Option<SocketAddr>,
}

/// How the phones find the primary: the address that moves to the box that becomes primary.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(tag = "strategy", rename_all = "lowercase")]
pub enum Takeover {
    /// Nothing moves (phones are pointed by hand, or by something else).
    #[default]
    None,
    /// An RFC 2136 update, signed with TSIG, to the office DNS server.
    Dns(DnsTakeover),
    /// A floating IP address on an interface, announced with gratuitous ARP.
    Vip(VipTakeover),
    /// The admin's own script, run as `<command...> take` or `<command...> release`.
    Hook(HookTakeover),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsTakeover {
    /// The DNS server that accepts updates for the zone, `ip:port`.
    pub server: SocketAddr,
    /// e.g. `office.lan.`
    #[serde(deserialize_with = "dns_name")]
    pub zone: String,
    /// The name the phones use, e.g. `pbx.office.lan.`
    #[serde(deserialize_with = "dns_name")]
    pub name: String,
    /// This box's address, which the name points to while it is the primary.
    pub address: std::net::IpAddr,
    /// TTL of the record: how long phones may keep the old answer.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// TSIG key name, e.g. `lbs-update.`
    #[serde(deserialize_with = "dns_name")]
    pub key_name: String,
    /// `hmac-sha256` (default), `hmac-sha512`.
    #[serde(default = "default_tsig_algorithm", deserialize_with = "tsig_algorithm")]
    pub key_algorithm: String,
    /// File holding the key's secret in base64 (as `tsig-keygen` or `keymgr` print it), readable
    /// by the agent only. Kept out of this file so the config can be shown without the secret.
    pub key_secret_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VipTakeover {
    /// The floating address with its prefix length, e.g. `192.168.1.10/24`.
    #[serde(deserialize_with = "cidr", serialize_with = "show::cidr")]
    pub address: (std::net::IpAddr, u8),
    /// The interface it goes on, e.g. `eth0`.
    #[serde(deserialize_with = "non_empty")]
    pub interface: String,
    /// Gratuitous ARP announcements sent after taking the address (one a second).
    #[serde(default = "default_arp_count")]
    pub arp_count: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HookTakeover {
    /// Program and arguments; the agent appends `take` or `release`.
    pub command: Vec<String>,
    #[serde(
        default = "default_command_timeout",
        deserialize_with = "command_timeout",
        serialize_with = "show::secs"
    )]
    pub timeout: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    #[serde(default = "default_level", deserialize_with = "level")]
    pub level: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// How often every file is re-read and re-hashed (the watcher catches changes in between).
    #[serde(
        default = "default_full_scan",
        deserialize_with = "full_scan",
        serialize_with = "show::secs"
    )]
    pub full_scan_interval: u64,
    /// How often the dump commands of database categories run (also at every full scan); a
    /// category may set its own (`[[sync.category]] dump_interval`).
    #[serde(
        default = "default_dump_interval",
        deserialize_with = "dump_interval",
        serialize_with = "show::secs"
    )]
    pub dump_interval: u64,
    /// How long files deleted on the primary stay in the backup's trash.
    #[serde(
        default = "default_trash",
        deserialize_with = "trash_retention",
        serialize_with = "show::secs"
    )]
    pub trash_retention: u64,
    /// Cap on sync traffic in bytes per second, each way; 0 means no cap.
    #[serde(default, deserialize_with = "bandwidth", serialize_with = "show::bandwidth")]
    pub bandwidth_limit: u64,
    /// Run hashing and transfers at low CPU and I/O priority, so sync never slows the PBX.
    #[serde(default = "yes")]
    pub low_priority: bool,
    /// The data categories, each a set of roots.
    #[serde(default, rename = "category", deserialize_with = "categories")]
    pub categories: Vec<CategoryConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Key, e.g. `voicemail`: lowercase letters, digits, `-` and `_`.
    #[serde(deserialize_with = "category_name")]
    pub name: String,
    /// What the console shows, e.g. "Voicemail". Default: the name.
    #[serde(default)]
    pub label: Option<String>,
    /// 1 (synced first) to 9.
    #[serde(default = "default_priority", deserialize_with = "priority")]
    pub priority: u32,
    /// Folders whose files belong to the category (absolute; both boxes list the same ones).
    pub roots: Vec<PathBuf>,
    /// Globs on the path inside a root; empty means every file.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `include` and `exclude` compiled, once, while the config is parsed.
    #[serde(skip, default = "lbs_sync::select::Selector::all")]
    pub select: lbs_sync::select::Selector,
    /// For a live database: a command whose standard output is a consistent dump. The agent
    /// writes it to `dump_file` in the first root, only when it changed.
    #[serde(default)]
    pub dump: Vec<String>,
    #[serde(default)]
    pub dump_file: Option<String>,
    /// Run on promotion to load the dump back (its path is in `LBS_DUMP_FILE`).
    #[serde(default)]
    pub restore: Vec<String>,
    /// How often this category's dump command runs: `[sync] dump_interval` unless set (filled
    /// in by `Config::parse`). It may be as short as 1 s, for a database whose every change
    /// matters at once (the phones' registrations: a phone that registered since the last dump
    /// would be unreachable after a failover); a dump that did not change is not written, so an
    /// idle database costs one run of the command and nothing else.
    #[serde(
        default,
        deserialize_with = "category_dump_interval",
        serialize_with = "show::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub dump_interval: Option<u64>,
    /// The database's own files (or folders) whose writes start a dump within about a second,
    /// the interval staying as the safety net: e.g. `astdb.sqlite3` (its `-journal` and `-wal`
    /// count too), MariaDB's redo log `ib_logfile0` and the database's folder. Reads, the dump's
    /// own among them, never count (`lbs_sync::write_watch`). A path that does not exist yet is
    /// reported and watched once it appears.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<PathBuf>,
    /// After a dump, the least time before the next one a write starts (it also waits nine
    /// times as long as that dump took). Filled in (1 s) when `watch` is set.
    #[serde(
        default,
        deserialize_with = "watch_min_gap",
        serialize_with = "show::opt_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub watch_min_gap: Option<u64>,
    /// How long a dump or restore may take.
    #[serde(
        default = "default_command_timeout",
        deserialize_with = "command_timeout",
        serialize_with = "show::secs"
    )]
    pub command_timeout: u64,
}

impl CategoryConfig {
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.name.clone())
    }

    /// Whether the category's `index`-th root is where the agent writes its dump: the agent's
    /// own folder, which it creates, unlike a PBX folder whose absence means something is wrong
    /// (a disk not mounted, the PBX not installed).
    pub fn is_dump_root(&self, index: usize) -> bool {
        index == 0 && !self.dump.is_empty()
    }

    /// Seconds between two runs of the dump command, given the `[sync]` default.
    pub fn dump_every(&self, default: u64) -> u64 {
        self.dump_interval.unwrap_or(default)
    }

    /// Seconds a write waits after a dump, at least (see `watch_min_gap`).
    pub fn watch_gap(&self) -> u64 {
        self.watch_min_gap.unwrap_or_else(default_watch_min_gap)
    }
}

impl Takeover {
    /// `dns`, `vip`, `hook` or `none`.
    pub fn strategy(&self) -> &'static str {
        match self {
            Takeover::None => "none",
            Takeover::Dns(_) => "dns",
            Takeover::Vip(_) => "vip",
            Takeover::Hook(_) => "hook",
        }
    }
}

/// An optional section's `Default`, and so what a file that leaves the section out gets: every
/// key at its documented default. The defaults live once, in the `#[serde(default = …)]` of each
/// key, never in a derived `Default` (whose zeros once gave a `[pbx]`-less file a zero check
/// interval).
fn absent<T: serde::de::DeserializeOwned>() -> T {
    toml::from_str("").expect("every key of an optional section has a default")
}

macro_rules! default_from_keys {
    ($($section:ty),*) => {$(
        impl Default for $section {
            fn default() -> Self {
                absent()
            }
        }
    )*};
}
default_from_keys!(
    MetricsConfig,
    PbxConfig,
    LogConfig,
    SyncConfig,
    FailoverConfig,
    AlertsConfig
);

const DAY: u64 = 86_400;

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7443))
}
fn default_interval() -> u64 {
    5
}
fn default_raw() -> u64 {
    2 * DAY
}
fn default_minute() -> u64 {
    45 * DAY
}
fn default_hour() -> u64 {
    2 * 365 * DAY
}
fn default_mounts() -> Vec<PathBuf> {
    vec![PathBuf::from("/")]
}
fn default_pbx_version() -> Vec<String> {
    vec!["asterisk".into(), "-V".into()]
}
fn default_probe_timeout() -> u64 {
    3
}
fn default_level() -> String {
    "info".into()
}
fn default_full_scan() -> u64 {
    30 * 60
}
fn default_dump_interval() -> u64 {
    60
}
fn default_watch_min_gap() -> u64 {
    1
}
fn default_trash() -> u64 {
    30 * DAY
}
fn yes() -> bool {
    true
}
fn default_priority() -> u32 {
    5
}
fn default_command_timeout() -> u64 {
    60
}
fn default_ready_timeout() -> u64 {
    30
}
fn default_check_interval() -> u64 {
    10
}
fn default_hold() -> u64 {
    3600
}
fn default_heartbeat() -> u64 {
    1000
}
fn default_drain() -> u64 {
    600
}
fn default_ttl() -> u32 {
    10
}
fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}
fn default_arp_count() -> u32 {
    3
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: parse_error(&e, text),
        })?;
        // Each database category's own interval, the `[sync]` one where it sets none, so the
        // effective configuration shows what runs.
        let every = config.sync.dump_interval;
        for c in config.sync.categories.iter_mut().filter(|c| !c.dump.is_empty()) {
            c.dump_interval.get_or_insert(every);
            if !c.watch.is_empty() {
                c.watch_min_gap.get_or_insert_with(default_watch_min_gap);
            }
        }
        config.check_paths(path)?;
        if let Some(message) = config
            .password_problem()
            .or_else(|| config.failover_problem())
            .or_else(|| config.autopilot_problem())
            .or_else(|| config.alerts.problem())
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message,
            });
        }
        Ok(config)
    }

    /// Relative paths would depend on the directory the service was started from.
    fn check_paths(&self, path: &Path) -> Result<(), ConfigError> {
        let relative = |p: &Path, key: &str| ConfigError::Invalid {
            path: path.to_owned(),
            message: format!("`{key}` must be an absolute path, found \"{}\"", p.display()),
        };
        if !self.server.state_dir.is_absolute() {
            return Err(relative(&self.server.state_dir, "server.state_dir"));
        }
        if let Some(m) = self.metrics.mounts.iter().find(|m| !m.is_absolute()) {
            return Err(relative(m, "metrics.mounts"));
        }
        for c in &self.sync.categories {
            if let Some(r) = c.roots.iter().find(|r| !r.is_absolute()) {
                return Err(relative(r, &format!("sync.category \"{}\" roots", c.name)));
            }
            if let Some(w) = c.watch.iter().find(|w| !w.is_absolute()) {
                return Err(relative(w, &format!("sync.category \"{}\" watch", c.name)));
            }
        }
        Ok(())
    }

    /// A password written into a dump or restore command would be in `ps`, in the agent's log
    /// (a failing command is logged with its output, some tools echo their arguments) and in
    /// `check-config`'s output: refused, with the way to give it instead. The message never
    /// repeats the value.
    fn password_problem(&self) -> Option<String> {
        for c in &self.sync.categories {
            for (key, command) in [("dump", &c.dump), ("restore", &c.restore)] {
                if let Some(how) = password_in(command) {
                    return Some(format!(
                        "category \"{}\": its {key} command gives a password on the command line ({how}); it would \
                         show in `ps`, in the agent's log and in check-config. Put the login in an option file readable \
                         by root only ([client] user=… password=…, mode 0600) and pass --defaults-extra-file=<file> as \
                         the first option; or let root log in over MariaDB's local socket, Debian's default \
                         (docs/agent.md, FreePBX)",
                        c.name
                    ));
                }
            }
        }
        None
    }

    /// Automatic failover needs the vote, and the PBX commands to fence and to take over.
    fn autopilot_problem(&self) -> Option<String> {
        if let Some(w) = &self.witness {
            if let Some(p) = w.problem() {
                return Some(p);
            }
        }
        if !self.failover.automatic {
            return None;
        }
        if self.witness.is_none() {
            return Some(
                "[failover] automatic = true needs the vote in [witness]: run `lbs-agent witness setup` \
                 (see docs/failover.md), or set automatic = false"
                    .into(),
            );
        }
        if self.pbx.start.is_empty() {
            return Some(
                "[failover] automatic = true needs [pbx] start and stop: the agent must be able to stop the PBX \
                 of a primary cut off from the office, and to start it on the backup that takes over"
                    .into(),
            );
        }
        None
    }

    /// What is wrong with the PBX commands and the takeover together, if anything.
    fn failover_problem(&self) -> Option<String> {
        let pbx = &self.pbx;
        if pbx.start.is_empty() != pbx.stop.is_empty() {
            return Some(
                "[pbx] needs both `start` and `stop` (or neither): the agent must be able to stop the PBX \
                        on the backup as well as start it on the primary"
                    .into(),
            );
        }
        if let Some(a) = &pbx.sip_check {
            if a.rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Some(format!(
                    "[pbx] sip_check must be host:port, e.g. \"127.0.0.1:5060\", found \"{a}\""
                ));
            }
        }
        match &self.takeover {
            Takeover::Hook(h) if h.command.is_empty() => Some("[takeover] strategy \"hook\" needs a `command`".into()),
            Takeover::Dns(d) if !d.key_secret_file.is_absolute() => Some(format!(
                "[takeover] key_secret_file must be an absolute path, found \"{}\"",
                d.key_secret_file.display()
            )),
            Takeover::Dns(d) if !(d.name == d.zone || d.name.ends_with(&format!(".{}", d.zone))) => Some(format!(
                "[takeover] the name {} is not inside the zone {}",
                d.name, d.zone
            )),
            _ => None,
        }
    }

    /// The `host:port` that goes into connection links.
    pub fn advertised_address(&self) -> String {
        if let Some(a) = &self.server.advertise {
            return a.clone();
        }
        let port = self.server.listen.port();
        let ip = self.server.listen.ip();
        if !ip.is_unspecified() {
            return SocketAddr::new(ip, port).to_string();
        }
        crate::platform::first_lan_address()
            .map(|ip| SocketAddr::new(ip, port).to_string())
            .unwrap_or_else(|| format!("{}:{port}", crate::platform::hostname()))
    }

    /// Where local tools (the CLI) reach the API.
    pub fn local_api_address(&self) -> SocketAddr {
        let listen = self.server.listen;
        if listen.ip().is_unspecified() {
            let loopback: std::net::IpAddr = if listen.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            SocketAddr::new(loopback, listen.port())
        } else {
            listen
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D, min: u64, max: u64, what: &str) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    let secs = humantime::parse_duration(&text)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration \"{text}\" ({e}); write e.g. \"5s\", \"10m\", \"2d\""
            ))
        })?
        .as_secs();
    if secs < min || secs > max {
        let fmt = |s: u64| humantime::format_duration(std::time::Duration::from_secs(s)).to_string();
        return Err(serde::de::Error::custom(format!(
            "{what} must be between {} and {}, found \"{text}\"",
            fmt(min),
            fmt(max)
        )));
    }
    Ok(secs)
}

fn interval<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 1, 3600, "the sample interval")
}
fn retention_raw<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, DAY, 365 * DAY, "raw retention")
}
fn retention_minute<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 42 * DAY, 10 * 365 * DAY, "per-minute retention")
}
fn retention_hour<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 30 * DAY, 20 * 365 * DAY, "per-hour retention")
}
fn probe_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 1, 60, "the probe timeout")
}

fn full_scan<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 60, DAY, "the full scan interval")
}
fn dump_interval<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 10, DAY, "the dump interval")
}
/// A category's own dump interval may go down to 1 s (the global one stays at 10 s or more, so
/// a slow dump of a large database is never run every second by accident).
fn category_dump_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    duration(d, 1, DAY, "a category's dump interval").map(Some)
}
fn watch_min_gap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    duration(d, 1, DAY, "watch_min_gap").map(Some)
}
fn trash_retention<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, DAY, 365 * DAY, "trash retention")
}
fn command_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 1, 3600, "the command timeout")
}

fn check_interval<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 1, 3600, "the PBX check interval")
}
fn hold<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    duration(d, 0, 7 * DAY, "the hold period")
}
/// The heartbeat interval, in milliseconds (100 ms to 1 min).
fn heartbeat<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    let ms = humantime::parse_duration(&text)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration \"{text}\" ({e}); write e.g. \"1s\" or \"500ms\""
            ))
        })?
        .as_millis() as u64;
    if !(100..=60_000).contains(&ms) {
        return Err(serde::de::Error::custom(format!(
            "the heartbeat interval must be between 100ms and 1m, found \"{text}\""
        )));
    }
    Ok(ms)
}

/// A fully qualified DNS name; the final dot is added if missing.
fn dns_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let name = if s.ends_with('.') { s.clone() } else { format!("{s}.") };
    let ok = name.len() > 1
        && name.len() <= 254
        && name[..name.len() - 1].split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !ok {
        return Err(serde::de::Error::custom(format!("\"{s}\" is not a valid DNS name")));
    }
    Ok(name.to_ascii_lowercase())
}

fn tsig_algorithm<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "hmac-sha256" | "hmac-sha512" => Ok(s),
        _ => Err(serde::de::Error::custom(format!(
            "unsupported TSIG algorithm \"{s}\": use hmac-sha256 or hmac-sha512"
        ))),
    }
}

/// `192.168.1.10/24`.
fn cidr<'de, D: Deserializer<'de>>(d: D) -> Result<(std::net::IpAddr, u8), D::Error> {
    let s = String::deserialize(d)?;
    let parsed = s.split_once('/').and_then(|(ip, len)| {
        let ip: std::net::IpAddr = ip.trim().parse().ok()?;
        let len: u8 = len.trim().parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some((ip, len))
    });
    parsed.ok_or_else(|| {
        serde::de::Error::custom(format!(
            "\"{s}\" is not an address with its prefix length, e.g. \"192.168.1.10/24\""
        ))
    })
}

/// `"0"`, `"20 MB/s"`, `"512 KiB/s"`, `"50 Mbit/s"`: bytes per second.
fn bandwidth<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    parse_bandwidth(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "invalid bandwidth \"{text}\"; write e.g. \"0\" (no cap), \"20 MB/s\" or \"50 Mbit/s\""
        ))
    })
}

/// `toml`'s error (line, column, the line itself, what is wrong), except that a line holding a
/// secret — an inline password, a webhook's address, a header — is not shown: the error reaches
/// the journal.
fn parse_error(e: &toml::de::Error, text: &str) -> String {
    let Some(span) = e.span() else {
        return e.to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let text_lines: Vec<&str> = text.lines().collect();
    let key = |l: &str| {
        l.split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_owned()
    };
    let here = text_lines.get(line - 1).copied().unwrap_or_default();
    let table = text_lines[..(line - 1).min(text_lines.len())]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().to_owned())
        .unwrap_or_default();
    let secret = matches!(key(here).as_str(), "password" | "url" | "headers") || table.ends_with(".headers]");
    if !secret {
        return e.to_string();
    }
    // serde quotes a value of the wrong type between backticks: not that one either.
    let message: String = e
        .message()
        .trim_end()
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
        .collect::<Vec<_>>()
        .join("`");
    format!("TOML parse error at line {line}, column {column} (the line is not shown: it may hold a secret)\n{message}")
}

pub fn parse_bandwidth(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (t[..split].trim().parse::<f64>().ok()?, t[split..].trim());
    let factor = match unit {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kbit" | "Kbit" => 1e3 / 8.0,
        "Mbit" => 1e6 / 8.0,
        "Gbit" => 1e9 / 8.0,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then_some((number * factor) as u64)
}

fn category_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        return Err(serde::de::Error::custom(format!(
            "category name \"{s}\" must be 1-40 lowercase letters, digits, '-' or '_'"
        )));
    }
    Ok(s)
}

fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let p = u32::deserialize(d)?;
    if !(1..=9).contains(&p) {
        return Err(serde::de::Error::custom(format!(
            "priority must be between 1 (first) and 9 (last), found {p}"
        )));
    }
    Ok(p)
}

/// Checks what concerns categories together or their commands: unique names, roots that do not
/// overlap (a file must belong to one category), valid globs, a dump that says where it goes.
fn categories<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CategoryConfig>, D::Error> {
    use serde::de::Error;
    let mut list = Vec::<CategoryConfig>::deserialize(d)?;
    for c in &mut list {
        c.select = lbs_sync::select::Selector::new(&c.include, &c.exclude)
            .map_err(|e| D::Error::custom(format!("category \"{}\": {e}", c.name)))?;
    }
    let mut roots: Vec<(&str, &Path)> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        if list[..i].iter().any(|o| o.name == c.name) {
            return Err(D::Error::custom(format!("category \"{}\" is defined twice", c.name)));
        }
        if c.roots.is_empty() {
            return Err(D::Error::custom(format!("category \"{}\" has no roots", c.name)));
        }
        for r in &c.roots {
            if let Some((other, o)) = roots.iter().find(|(_, o)| o.starts_with(r) || r.starts_with(o)) {
                return Err(D::Error::custom(format!(
                    "the root {} of category \"{}\" overlaps {} of category \"{other}\"; each file must belong to one category",
                    r.display(),
                    c.name,
                    o.display()
                )));
            }
            roots.push((&c.name, r));
        }
        if c.dump.is_empty() && !c.watch.is_empty() {
            return Err(D::Error::custom(format!(
                "category \"{}\" has a watch but no dump command: watch names a database's files, whose writes start its dump",
                c.name
            )));
        }
        if c.watch.is_empty() && c.watch_min_gap.is_some() {
            return Err(D::Error::custom(format!(
                "category \"{}\" has a watch_min_gap but nothing to watch; set `watch` or remove watch_min_gap",
                c.name
            )));
        }
        if c.dump.is_empty() && c.dump_interval.is_some() {
            return Err(D::Error::custom(format!(
                "category \"{}\" has a dump_interval but no dump command; set `dump` or remove dump_interval",
                c.name
            )));
        }
        match (&c.dump.is_empty(), &c.dump_file) {
            (false, None) => {
                return Err(D::Error::custom(format!(
                    "category \"{}\" has a dump command but no dump_file to write it to",
                    c.name
                )))
            }
            (_, Some(f)) if f.is_empty() || f.contains('/') || f.starts_with('.') => {
                return Err(D::Error::custom(format!(
                    "category \"{}\": dump_file must be a plain file name, found \"{f}\"",
                    c.name
                )))
            }
            _ => {}
        }
    }
    Ok(list)
}

/// How a command gives a password on its command line, if it does: `--password=…`, MySQL's
/// `-p…` (only next to mysql or mariadb: `-p` means something else to most tools), or
/// `MYSQL_PWD=…` in a shell line. Arguments are looked into word by word, so a `sh -c` line
/// counts too.
fn password_in(command: &[String]) -> Option<&'static str> {
    let words: Vec<&str> = command.iter().flat_map(|a| a.split_whitespace()).collect();
    let mysql = words.iter().any(|w| w.contains("mysql") || w.contains("mariadb"));
    for w in &words {
        let w = w.trim_start_matches(['"', '\'']);
        // MariaDB's clients take any unique prefix of a long option: --pass=, --passw=, …
        if let Some((option, value)) = w.split_once('=') {
            if option.len() >= "--pas".len() && "--password".starts_with(option) && !value.is_empty() {
                return Some("--password=…");
            }
        }
        if w.starts_with("MYSQL_PWD=") {
            return Some("MYSQL_PWD=…");
        }
        if mysql && w.len() > 2 && w.starts_with("-p") && !w.starts_with("--") {
            return Some("-p…");
        }
    }
    None
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(s)
}

fn level<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => Ok(s),
        _ => Err(serde::de::Error::custom(format!(
            "unknown log level \"{s}\": use error, warn, info, debug or trace"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/lbs/agent.toml"))
    }

    const MINIMAL: &str = "[server]\nname = \"pbx-a\"\nstate_dir = \"/var/lib/lbs\"\n";

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server.listen, default_listen());
        assert_eq!(c.metrics.interval, 5);
        assert_eq!(c.metrics.retention_raw, 2 * DAY);
        assert_eq!(c.metrics.retention_minute, 45 * DAY);
        assert_eq!(c.metrics.mounts, vec![PathBuf::from("/")]);
        assert!(c.pbx.probe.is_empty());
        assert_eq!(c.log.level, "info");
    }

    #[test]
    fn an_absent_section_gets_the_documented_defaults_of_its_keys() {
        // docs/agent.example.toml shows every optional key at its default.
        let example = parse(include_str!("../../../docs/agent.example.toml")).unwrap();
        let minimal = parse(MINIMAL).unwrap();
        let empty = parse(&format!(
            "{MINIMAL}[metrics]\n[pbx]\n[failover]\n[log]\n[sync]\n[alerts]\n"
        ))
        .unwrap();
        for c in [&minimal, &empty] {
            assert_eq!(format!("{:?}", c.metrics), format!("{:?}", example.metrics));
            assert_eq!(format!("{:?}", c.pbx), format!("{:?}", example.pbx));
            assert_eq!(format!("{:?}", c.failover), format!("{:?}", example.failover));
            assert_eq!(format!("{:?}", c.log), format!("{:?}", example.log));
            assert_eq!(format!("{:?}", c.alerts), format!("{:?}", example.alerts));
            let documented = SyncConfig {
                categories: Vec::new(),
                ..example.sync.clone()
            };
            assert_eq!(format!("{:?}", c.sync), format!("{:?}", documented));
        }
        // The one that once came out as zero and stopped the PBX watch.
        assert_eq!(minimal.pbx.check_interval, 10);
        assert_eq!(format!("{:?}", PbxConfig::default()), format!("{:?}", minimal.pbx));
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let text = format!("{MINIMAL}[metrics]\ninterval = \"0s\"\n");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("/etc/lbs/agent.toml"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
        assert!(msg.contains("sample interval must be between 1s and 1h"), "{msg}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let msg = parse(&format!("{MINIMAL}[metrics]\nintervall = \"5s\"\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `intervall`"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn bad_values_are_explained() {
        let cases = [
            ("[server]\nname = \"\"\nstate_dir = \"/x\"\n", "must not be empty"),
            (
                "[server]\nname = \"a\"\nstate_dir = \"rel/dir\"\n",
                "`server.state_dir` must be an absolute path",
            ),
            (
                "[server]\nname = \"a\"\nstate_dir = \"/x\"\nlisten = \"nowhere\"\n",
                "line 4",
            ),
            (
                &format!("{MINIMAL}[metrics]\nretention_raw = \"1h\"\n"),
                "raw retention must be between 1day",
            ),
            (
                &format!("{MINIMAL}[metrics]\ninterval = \"soon\"\n"),
                "invalid duration \"soon\"",
            ),
            (&format!("{MINIMAL}[log]\nlevel = \"loud\"\n"), "unknown log level"),
            ("[server]\nname = \"a\"\n", "missing field `state_dir`"),
        ];
        for (text, expected) in cases {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    #[test]
    fn example_config_in_docs_is_valid() {
        let text = include_str!("../../../docs/agent.example.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.server.listen.port(), 7443);
    }

    #[test]
    fn sync_categories_are_checked_together() {
        let cat = |name: &str, root: &str, extra: &str| {
            format!("[[sync.category]]\nname = \"{name}\"\nroots = [\"{root}\"]\n{extra}\n")
        };
        let ok = format!(
            "{MINIMAL}[sync]\nbandwidth_limit = \"20 MB/s\"\n{}{}",
            cat(
                "voicemail",
                "/var/spool/asterisk/voicemail",
                "priority = 2\nexclude = [\"**/tmp/**\"]"
            ),
            cat(
                "astdb",
                "/var/lib/lbs-agent/dumps",
                "dump = [\"true\"]\ndump_file = \"astdb.sql\""
            )
        );
        let c = parse(&ok).unwrap();
        assert_eq!(c.sync.bandwidth_limit, 20_000_000);
        assert_eq!(c.sync.categories.len(), 2);
        assert_eq!(c.sync.full_scan_interval, 1800);
        let vm = &c.sync.categories[0].select;
        assert!(vm.wants("default/1001/INBOX/msg0000.wav") && !vm.wants("default/1001/tmp/msg0001.wav"));
        let cases = [
            (cat("vm", "/a", "") + &cat("vm", "/b", ""), "defined twice"),
            (cat("a", "/var/spool", "") + &cat("b", "/var/spool/x", ""), "overlaps"),
            (cat("Voice Mail", "/a", ""), "lowercase letters"),
            (cat("a", "/a", "priority = 0"), "between 1 (first) and 9"),
            (cat("a", "/a", "exclude = [\"[x\"]"), "not a valid glob"),
            (cat("a", "/a", "dump = [\"x\"]"), "no dump_file"),
            (
                cat("a", "/a", "dump = [\"x\"]\ndump_file = \"../x\""),
                "plain file name",
            ),
            (cat("a", "relative", ""), "must be an absolute path"),
            ("[sync]\nbandwidth_limit = \"fast\"\n".into(), "invalid bandwidth"),
        ];
        for (extra, expected) in cases {
            let msg = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    #[test]
    fn a_database_category_may_be_dumped_more_often_than_the_others() {
        let db = |name: &str, extra: &str| {
            format!(
                "[[sync.category]]\nname = \"{name}\"\nroots = [\"/var/lib/lbs-agent/{name}\"]\n\
                 dump = [\"true\"]\ndump_file = \"{name}.sql\"\n{extra}\n"
            )
        };
        let folder = "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/var/spool/vm\"]\n";
        let text = format!(
            "{MINIMAL}[sync]\ndump_interval = \"30s\"\n{}{}{folder}",
            db("registrations", "dump_interval = \"1s\""),
            db("astdb", "")
        );
        let c = parse(&text).unwrap();
        let every: Vec<Option<u64>> = c.sync.categories.iter().map(|c| c.dump_interval).collect();
        // Its own; the [sync] one filled in (so check-config shows what runs); none for a folder.
        assert_eq!(every, vec![Some(1), Some(30), None]);
        assert_eq!(c.sync.categories[1].dump_every(c.sync.dump_interval), 30);
        // Without [sync] dump_interval, the documented default (1 minute).
        let c = parse(&format!("{MINIMAL}{}", db("astdb", ""))).unwrap();
        assert_eq!(c.sync.categories[0].dump_interval, Some(60));
        // And it reads back from the effective configuration.
        let shown = show::effective(&parse(&text).unwrap()).unwrap();
        assert!(shown.contains("dump_interval = \"1s\""), "{shown}");
        assert_eq!(
            parse(&shown).unwrap().sync.categories[0].dump_interval,
            Some(1),
            "{shown}"
        );
        let cases = [
            (db("a", "dump_interval = \"0s\""), "between 1s and 1day"),
            (db("a", "dump_interval = \"500ms\""), "between 1s and 1day"),
            (db("a", "dump_interval = \"2d\""), "between 1s and 1day"),
            (db("a", "dump_interval = \"often\""), "invalid duration"),
            (
                "[[sync.category]]\nname = \"vm\"\nroots = [\"/a\"]\ndump_interval = \"1s\"\n".into(),
                "has a dump_interval but no dump command",
            ),
            // The global interval keeps its 10 s floor.
            ("[sync]\ndump_interval = \"1s\"\n".into(), "between 10s and 1day"),
        ];
        for (extra, expected) in cases {
            let msg = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    #[test]
    fn a_database_category_may_watch_its_files_and_check_config_shows_it() {
        let db = |extra: &str| {
            format!(
                "{MINIMAL}[[sync.category]]\nname = \"freepbx\"\nroots = [\"/var/lib/lbs-agent/dumps/freepbx\"]\n\
                 dump = [\"mysqldump\", \"--databases\", \"asterisk\"]\ndump_file = \"asterisk.sql\"\n{extra}\n"
            )
        };
        let c = parse(&db(
            "watch = [\"/var/lib/mysql/ib_logfile0\", \"/var/lib/mysql/asterisk\"]",
        ))
        .unwrap();
        let cat = &c.sync.categories[0];
        assert_eq!(cat.watch.len(), 2);
        assert_eq!(
            cat.watch_min_gap,
            Some(1),
            "the default, filled in so check-config shows it"
        );
        let shown = show::effective(&c).unwrap();
        assert!(
            shown.contains("watch = [\"/var/lib/mysql/ib_logfile0\", \"/var/lib/mysql/asterisk\"]"),
            "{shown}"
        );
        assert!(shown.contains("watch_min_gap = \"1s\""), "{shown}");
        assert_eq!(format!("{:?}", parse(&shown).unwrap()), format!("{c:?}"));
        let c = parse(&db("watch = [\"/var/lib/mysql/ib_logfile0\"]\nwatch_min_gap = \"5s\"")).unwrap();
        assert_eq!(c.sync.categories[0].watch_gap(), 5);
        // No watch: nothing shown, and the gap is not filled in.
        let c = parse(&db("")).unwrap();
        assert_eq!(c.sync.categories[0].watch_min_gap, None);
        assert!(!show::effective(&c).unwrap().contains("watch"));
        let folder = "[[sync.category]]\nname = \"vm\"\nroots = [\"/a\"]\n";
        for (text, expected) in [
            (
                db("watch = [\"ib_logfile0\"]"),
                "`sync.category \"freepbx\" watch` must be an absolute path",
            ),
            (db("watch_min_gap = \"5s\""), "has a watch_min_gap but nothing to watch"),
            (
                db("watch = [\"/x\"]\nwatch_min_gap = \"0s\""),
                "watch_min_gap must be between 1s and 1day",
            ),
            (
                format!("{MINIMAL}{folder}watch = [\"/x\"]\n"),
                "has a watch but no dump command",
            ),
        ] {
            let msg = parse(&text).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    #[test]
    fn a_password_in_a_dump_or_restore_command_is_refused_without_repeating_it() {
        let with = |key: &str, command: &str| {
            format!(
                "{MINIMAL}[[sync.category]]\nname = \"freepbx\"\nroots = [\"/d\"]\ndump_file = \"a.sql\"\n{}{key} = {command}\n",
                if key == "dump" { "" } else { "dump = [\"mysqldump\", \"asterisk\"]\n" }
            )
        };
        for (key, command) in [
            (
                "dump",
                r#"["mysqldump", "--user=freepbxuser", "--password=Hunter2secret", "asterisk"]"#,
            ),
            ("dump", r#"["mysqldump", "-uroot", "-pHunter2secret", "asterisk"]"#),
            // A unique prefix of --password is the same option to MariaDB's clients.
            ("dump", r#"["mysqldump", "--pass=Hunter2secret", "asterisk"]"#),
            ("dump", r#"["mysqldump", "--passwo=Hunter2secret", "asterisk"]"#),
            (
                "restore",
                r#"["sh", "-c", "mysql -pHunter2secret asterisk < \"$LBS_DUMP_FILE\""]"#,
            ),
            (
                "restore",
                r#"["sh", "-c", "MYSQL_PWD=Hunter2secret mysql < \"$LBS_DUMP_FILE\""]"#,
            ),
        ] {
            let msg = parse(&with(key, command)).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("its {key} command gives a password on the command line"))
                    && msg.contains("--defaults-extra-file"),
                "{msg}"
            );
            assert!(!msg.contains("Hunter2"), "the password is repeated: {msg}");
        }
        // An option file, a prompt-less socket login, and `-p` for another tool are fine.
        for (key, command) in [
            (
                "dump",
                r#"["mysqldump", "--defaults-extra-file=/etc/lbs-agent/mariadb.cnf", "asterisk"]"#,
            ),
            (
                "restore",
                r#"["sh", "-c", "mkdir -p /tmp/x && cp -p \"$LBS_DUMP_FILE\" /tmp/x"]"#,
            ),
        ] {
            parse(&with(key, command)).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn failover_settings_are_checked() {
        let dns = "[takeover]\nstrategy = \"dns\"\nserver = \"192.168.1.53:53\"\nzone = \"office.lan\"\n\
                   name = \"pbx.office.lan\"\naddress = \"192.168.1.11\"\nkey_name = \"lbs-update\"\n\
                   key_secret_file = \"/etc/lbs-agent/tsig.secret\"\n";
        let c = parse(&format!("{MINIMAL}{dns}")).unwrap();
        match &c.takeover {
            Takeover::Dns(d) => {
                assert_eq!(
                    (d.zone.as_str(), d.name.as_str(), d.ttl),
                    ("office.lan.", "pbx.office.lan.", 10)
                );
                assert_eq!(d.key_algorithm, "hmac-sha256");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.failover.hold, 3600);
        assert_eq!(c.failover.heartbeat_interval_ms, 1000);
        let vip = "[takeover]\nstrategy = \"vip\"\naddress = \"192.168.1.10/24\"\ninterface = \"eth0\"\n";
        assert!(matches!(
            parse(&format!("{MINIMAL}{vip}")).unwrap().takeover,
            Takeover::Vip(_)
        ));
        assert!(matches!(parse(MINIMAL).unwrap().takeover, Takeover::None));
        let cases = [
            (
                "[takeover]\nstrategy = \"carrier-pigeon\"\n".to_string(),
                "unknown variant",
            ),
            (
                "[takeover]\nstrategy = \"hook\"\ncommand = []\n".into(),
                "needs a `command`",
            ),
            (vip.replace("/24", ""), "prefix length"),
            (vip.replace("/24", "/40"), "prefix length"),
            (
                dns.replace("pbx.office.lan", "pbx.elsewhere.lan"),
                "not inside the zone",
            ),
            (
                dns.replace("office.lan\"\nname", "office lan\"\nname"),
                "not a valid DNS name",
            ),
            (
                dns.replace("/etc/lbs-agent/tsig.secret", "tsig.secret"),
                "absolute path",
            ),
            (
                format!("{dns}key_algorithm = \"hmac-md5\"\n"),
                "unsupported TSIG algorithm",
            ),
            (
                "[pbx]\nstart = [\"systemctl\", \"start\", \"asterisk\"]\n".into(),
                "both `start` and `stop`",
            ),
            ("[pbx]\nsip_check = \"localhost\"\n".into(), "host:port"),
            (
                "[failover]\nheartbeat_interval = \"10ms\"\n".into(),
                "between 100ms and 1m",
            ),
            ("[failover]\nhold = \"30d\"\n".into(), "hold period must be between"),
        ];
        for (extra, expected) in cases {
            let msg = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
    }

    #[test]
    fn alert_channels_are_checked() {
        let mail = "[[alerts.email]]\nserver = \"smtp.office365.com\"\nusername = \"pbx@example.com\"\n\
                    password_file = \"/etc/lbs-agent/smtp.password\"\nfrom = \"PBX A <pbx@example.com>\"\n\
                    to = [\"office@example.com\", \"it@example.com\"]\n";
        let hook = "[[alerts.webhook]]\nurl = \"https://ntfy.sh/office\"\nformat = \"ntfy\"\n";
        let c = parse(&format!("{MINIMAL}{mail}{hook}")).unwrap();
        let e = &c.alerts.email[0];
        assert_eq!((e.port(), e.security), (587, Security::Starttls));
        assert_eq!(c.alerts.channel_ids(), ["email:smtp.office365.com", "webhook:ntfy.sh"]);
        assert_eq!(c.alerts.partner_silent_after, 60);
        assert_eq!(c.alerts.repeat, 4 * 3600);
        let cases = [
            (
                mail.replace("pbx@example.com>", "not an address>"),
                "is not a mail address",
            ),
            (
                mail.replace("to = [\"office@example.com\", \"it@example.com\"]", "to = []"),
                "at least one address",
            ),
            (
                mail.replace("password_file = \"/etc/lbs-agent/smtp.password\"\n", ""),
                "needs a `password_file`",
            ),
            (
                mail.replace("/etc/lbs-agent/smtp.password", "smtp.password"),
                "must be an absolute path",
            ),
            (
                format!("{mail}security = \"none\"\n"),
                "only to a mail relay on this box",
            ),
            (format!("{mail}{mail}"), "give each a distinct `name`"),
            (
                hook.replace("https://ntfy.sh/office", "ntfy.sh/office"),
                "not an http:// or https://",
            ),
            (hook.replace("ntfy\"", "slack\""), "unknown variant"),
            (
                hook.replace("https://ntfy.sh/office", "htps://ntfy.sh/secret-topic"),
                "the webhook url \"htps://ntfy.sh/…\" is not an http://",
            ),
            (
                hook.replace("https://", "http://") + "token_file = \"/etc/lbs-agent/ntfy.token\"\n",
                "[alerts.webhook] webhook:ntfy.sh: a token, headers or a login would go unencrypted over http:// to \
                 http://ntfy.sh; use https://",
            ),
            (
                hook.replace("https://", "http://") + "headers = { \"X-Api-Key\" = \"k\" }\n",
                "would go unencrypted over http://",
            ),
            (
                hook.replace("https://", "http://u:p@"),
                "would go unencrypted over http://",
            ),
            ("[alerts]\ndisk_used_above = 0\n".into(), "between 1 and 100"),
            ("[alerts]\nrepeat = \"5s\"\n".into(), "reminder interval"),
        ];
        for (extra, expected) in cases {
            let msg = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(msg.contains(expected), "expected {expected:?} in {msg}");
        }
        // A token over http:// to a receiver on this box, or over https:// anywhere, is fine.
        for url in [
            "http://127.0.0.1:8080/lbs",
            "http://[::1]/lbs",
            "http://localhost/lbs",
            "https://ntfy.sh/office",
        ] {
            let local = format!("[[alerts.webhook]]\nurl = \"{url}\"\ntoken_file = \"/etc/lbs-agent/t\"\n");
            assert!(parse(&format!("{MINIMAL}{local}")).is_ok(), "{url}");
        }
        // Plain SMTP to a relay on this box is fine.
        let local = mail.replace("smtp.office365.com", "127.0.0.1") + "security = \"none\"\n";
        assert_eq!(parse(&format!("{MINIMAL}{local}")).unwrap().alerts.email[0].port(), 25);
    }

    #[test]
    fn inline_secrets_are_never_printed() {
        let text = format!(
            "{MINIMAL}[[alerts.email]]\nserver = \"mail.example.com\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[alerts.webhook]]\nurl = \"https://hook-user:hook-pass@hooks.example.com:8443/T0/B1/path-secret?token=query-secret\"\n\
             headers = {{ \"X-Api-Key\" = \"key-secret\" }}\n"
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.alerts.email[0].password.as_ref().unwrap().expose(), "hunter2-secret");
        let shown = effective(&c).unwrap();
        let debug = format!("{c:?}");
        for secret in [
            "hunter2-secret",
            "key-secret",
            "hook-user",
            "hook-pass",
            "path-secret",
            "query-secret",
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(shown.contains("password = \"(hidden)\""), "{shown}");
        assert!(shown.contains("url = \"https://hooks.example.com:8443/…\""), "{shown}");
        assert_eq!(
            c.alerts.webhook[0].url.expose().path(),
            "/T0/B1/path-secret",
            "sent to as written"
        );
    }

    #[test]
    fn an_error_on_a_line_holding_a_secret_does_not_show_the_line() {
        let cases = [
            "[[alerts.webhook]]\nurl = \"htps://ntfy.sh/topic-secret\"\n",
            "[[alerts.email]]\nserver = \"m.example.com\"\nusername = \"u\"\npassword = 12345\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n",
            "[[alerts.webhook]]\nurl = \"https://h.example.com/\"\n[alerts.webhook.headers]\n\"X-Key\" = 12345\n",
        ];
        for extra in cases {
            let msg = parse(&format!("{MINIMAL}{extra}")).unwrap_err().to_string();
            assert!(!msg.contains("topic-secret") && !msg.contains("12345"), "{msg}");
            assert!(msg.contains("(the line is not shown: it may hold a secret)"), "{msg}");
        }
        let msg = parse(&format!("{MINIMAL}[metrics]\ninterval = \"fast\"\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("TOML parse error at line 5, column 12"), "{msg}");
        assert!(msg.contains("interval = \"fast\""), "other lines are shown: {msg}");
    }

    #[test]
    fn bandwidth_units() {
        assert_eq!(parse_bandwidth("0"), Some(0));
        assert_eq!(parse_bandwidth("512 KiB/s"), Some(512 * 1024));
        assert_eq!(parse_bandwidth("50 Mbit/s"), Some(6_250_000));
        assert_eq!(parse_bandwidth("1.5MB"), Some(1_500_000));
        assert_eq!(parse_bandwidth("-1"), None);
        assert_eq!(parse_bandwidth("10 furlongs"), None);
    }

    #[test]
    fn local_api_address_uses_loopback_for_wildcard() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.local_api_address().to_string(), "127.0.0.1:7443");
    }
}
