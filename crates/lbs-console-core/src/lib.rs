//! The LBS Console's logic, with no Tauri inside: a client for agents that pins their
//! certificates, credentials in the OS keyring, and the console's own SQLite store.
//!
//! Architecture Invariant: nothing here knows about windows, events or the front end; the Tauri
//! crate (`src-tauri`) is thin glue that calls into [`Console`].

pub mod autopilot;
pub mod client;
mod console;
pub mod credentials;
mod error;
pub mod events;
pub mod health;
mod history_copy;
pub mod maintenance;
pub mod overview;
pub mod pair;
pub mod store;
pub mod sync_view;
pub mod view;

pub use console::Console;
pub use credentials::Credentials;
pub use error::Error;
