//! The agent's TOML configuration: parsing, defaults and validation.
//!
//! Every check happens while deserialising, so a bad value is reported with the file, line and
//! column by `toml` itself. Defaults are documented in `docs/agent.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub pbx: PbxConfig,
    #[serde(default)]
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Seconds between samples (1 s to 1 h).
    #[serde(default = "default_interval", deserialize_with = "interval")]
    pub interval: u64,
    /// How long raw samples are kept (at least 1 day, so any range under 16 h has full detail).
    #[serde(default = "default_raw", deserialize_with = "retention_raw")]
    pub retention_raw: u64,
    /// How long per-minute and ten-minute roll-ups are kept (at least 42 days).
    #[serde(default = "default_minute", deserialize_with = "retention_minute")]
    pub retention_minute: u64,
    /// How long per-hour roll-ups are kept (at least 30 days).
    #[serde(default = "default_hour", deserialize_with = "retention_hour")]
    pub retention_hour: u64,
    /// Data mounts whose space and I/O are recorded.
    #[serde(default = "default_mounts")]
    pub mounts: Vec<PathBuf>,
    /// Network interfaces to record; empty means every interface but loopback.
    #[serde(default)]
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbxConfig {
    /// Command (program and arguments) that prints `{"calls": N, "phones": M}`.
    #[serde(default)]
    pub probe: Vec<String>,
    /// How long the probe may take.
    #[serde(default = "default_probe_timeout", deserialize_with = "probe_timeout")]
    pub probe_timeout: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG` overrides it.
    #[serde(default = "default_level", deserialize_with = "level")]
    pub level: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: default_interval(),
            retention_raw: default_raw(),
            retention_minute: default_minute(),
            retention_hour: default_hour(),
            mounts: default_mounts(),
            interfaces: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: default_level() }
    }
}

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
fn default_probe_timeout() -> u64 {
    3
}
fn default_level() -> String {
    "info".into()
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
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check_paths(path)?;
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
        Ok(())
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
    fn local_api_address_uses_loopback_for_wildcard() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.local_api_address().to_string(), "127.0.0.1:7443");
    }
}
