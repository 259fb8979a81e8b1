//! The LBS Console's logic, with no Tauri inside: a client for agents that pins their
//! certificates, credentials in the OS keyring, and the console's own SQLite store.
//!
//! Architecture Invariant: nothing here knows about windows, events or the front end; the Tauri
//! crate (`src-tauri`) is thin glue that calls into this crate.

pub mod view;
