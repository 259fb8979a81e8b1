//! The agent's domain: what a PBX box is (config, identity, tokens), its role and how it changes
//! (failover), its partner, the sync of its data, the sampling of its resources and the alerts it
//! sends itself. The binary crate `lbs-agent` is the edge around it: the CLI, the HTTPS API,
//! systemd and logging. See `docs/ARCHITECTURE.md` for the layers and what each may import.
//!
//! Architecture Invariant: nothing here knows HTTP or the command line; every refusal reaches the
//! edges as one [`refusal::Refusal`].

pub mod agent;
pub mod alerts;
pub mod clock;
pub(crate) mod command;
pub(crate) mod compat;
pub mod config;
pub mod db;
pub mod failover;
pub mod fsutil;
pub mod identity;
pub mod inventory;
pub mod maintenance;
pub mod peer;
pub mod platform;
pub mod refusal;
pub mod role;
pub mod sampler;
pub mod sync;
pub mod tokens;
pub mod units;
pub mod vote;
pub mod witness;
