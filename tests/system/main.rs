//! System tests: every test starts real `lbs-agent` processes in fresh directories and talks to
//! them over real TLS on loopback. One binary, one module per feature (as ripgrep does).

mod alerts;
mod auth;
mod autopilot;
mod cli;
mod console;
mod databases;
mod failover;
mod health;
mod history;
mod hostile;
mod link;
mod maintenance;
mod matrix;
mod office;
mod phones;
mod roles;
mod smart;
mod soak;
mod sync;
mod trash;
mod vote;
