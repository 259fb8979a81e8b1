//! Setting up the vote for automatic failover: an etcd cluster of three members (this box, its
//! partner and the witness) that speak TLS with client certificates on both ports. Here: the
//! plan (`plan`: who is where, etcd's names, the cluster token), the vote's own CA and each
//! member's certificate (`certs`), a member's etcd settings as Debian's `etcd.service` reads them
//! (`etcd`), the files a member installs and where (`install`, `Layout`), the partner's part kept
//! until its own `lbs-agent witness setup` installs it (`enrollment`), the witness's
//! self-contained shell script (`script`), and whether the members answer (`health`).
//!
//! `lbs-agent witness setup` (the CLI) runs it; the agent's vote client (`vote`) uses what it
//! wrote, through `[witness]` in the agent's configuration.

mod certs;
pub mod enrollment;
mod etcd;
pub mod health;
mod install;
mod plan;
mod script;

use std::path::PathBuf;

use thiserror::Error;

use crate::refusal::Refusal;

pub use certs::{issue, Issued, MemberCert};
pub use etcd::environment;
pub use install::{install_member, Installed, Layout};
pub use plan::{plan, Planned};
pub use script::witness_script;

#[derive(Debug, Error)]
pub enum WitnessError {
    #[error("could not make the vote's certificates: {0}")]
    Certificate(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// What was asked cannot be a vote, in the contractor's words.
    #[error("{0}")]
    Invalid(String),
    /// A member did not answer, or answered with an error: why.
    #[error("{0}")]
    Unreachable(String),
}

impl WitnessError {
    fn io<'a>(action: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> WitnessError + 'a {
        move |source| WitnessError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

impl From<WitnessError> for Refusal {
    fn from(e: WitnessError) -> Refusal {
        match e {
            WitnessError::Invalid(m) => Refusal::bad_request(m),
            WitnessError::Unreachable(m) => Refusal::unavailable(m),
            other => Refusal::internal(other),
        }
    }
}
