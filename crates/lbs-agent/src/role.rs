//! The box's role and epoch, persisted (fsync) before any change takes effect.
//!
//! Architecture Invariant: the epoch only grows. Role changes themselves (promote, demote) arrive
//! with the failover issue; this module already owns the durable record they will update.

use std::path::{Path, PathBuf};

use lbs_protocol::Role;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fsutil;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    pub role: Role,
    pub epoch: u64,
    /// When this box took its current role.
    pub since_unix: i64,
}

#[derive(Debug, Error)]
pub enum RoleError {
    #[error("cannot {action} the role file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the role file {path} is damaged ({reason}); restore it from the partner box's epoch before starting")]
    Damaged { path: PathBuf, reason: String },
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("role.json")
}

impl RoleState {
    /// A new box starts at epoch 1 in the role its installer chose (the first box: primary).
    pub fn initial(role: Role) -> RoleState {
        RoleState {
            role,
            epoch: 1,
            since_unix: crate::clock::now_unix(),
        }
    }

    pub fn load(state_dir: &Path) -> Result<RoleState, RoleError> {
        let p = path(state_dir);
        let bytes = std::fs::read(&p).map_err(|source| RoleError::Io {
            action: "read",
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RoleError::Damaged {
            path: p,
            reason: e.to_string(),
        })
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), RoleError> {
        let p = path(state_dir);
        let json = serde_json::to_vec_pretty(self).map_err(|e| RoleError::Damaged {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        fsutil::write_atomic(&p, &json, false).map_err(|source| RoleError::Io {
            action: "write",
            path: p,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let state = RoleState {
            role: Role::Backup,
            epoch: 7,
            since_unix: 1_700_000_000,
        };
        state.save(dir.path()).unwrap();
        assert_eq!(RoleState::load(dir.path()).unwrap(), state);
    }

    #[test]
    fn damaged_file_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("role.json"), b"{ half").unwrap();
        assert!(matches!(RoleState::load(dir.path()), Err(RoleError::Damaged { .. })));
    }
}
