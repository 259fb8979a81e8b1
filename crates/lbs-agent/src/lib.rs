//! lbs-agent: the daemon on each PBX box. See `docs/ARCHITECTURE.md` for the map.
//!
//! The binary (`main.rs`) parses the command line and calls into `commands`; everything else is a
//! library so the integration tests can reach it.

pub mod agent;
pub mod clock;
pub mod command;
pub mod commands;
pub mod compat;
pub mod config;
pub mod db;
pub mod failover;
pub mod fsutil;
pub mod http;
pub mod identity;
pub mod link;
pub mod logging;
pub mod peer;
pub mod platform;
pub mod prometheus;
pub mod refusal;
pub mod role;
pub mod sampler;
pub mod serve;
pub mod sync;
pub mod systemd;
pub mod tokens;
pub mod units;
