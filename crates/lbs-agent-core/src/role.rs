//! The box's role and epoch: the durable record (`role.json`) and the running value every part of
//! the agent reads ([`RoleReader`]).
//!
//! Architecture Invariant: the epoch only grows, and epochs compare as (number, owner): two boxes
//! that promote at the same moment still have a strict order. Only `failover` changes the role:
//! it holds the one writer (`failover::RoleWriter`), which persists (fsync) before the new value
//! is seen; this module reads, and creates the first record at `init`.

use std::path::{Path, PathBuf};

use lbs_protocol::{Role, RoleStanding};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::watch;

use crate::fsutil;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleState {
    pub role: Role,
    pub epoch: u64,
    /// The server ID of the box that became primary at this epoch (empty for the first epoch,
    /// set by `init`, and for files written before epochs had owners).
    #[serde(default)]
    pub epoch_owner: String,
    /// When this box took its current role.
    pub since_unix: i64,
    /// Set while a reintegration is under way: files changed after what the partner had
    /// acknowledged are moved to the quarantine before this box applies anything from the new
    /// primary; a restart resumes the move.
    #[serde(default)]
    pub reintegrating: Option<Reintegration>,
    /// How this box took its role: `Some(true)` by a promotion (a failover or a switchover),
    /// `Some(false)` by being set up or paired in it; `None` in records written before this was
    /// kept (see [`RoleState::took_over`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reintegration {
    /// The last journal sequence the partner acknowledged while this box was its primary.
    pub acked: i64,
    /// The epoch this box held as primary, and lost.
    pub lost_epoch: u64,
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
    #[error(
        "the role file {0} exists already: this box has a role; `lbs-agent promote`, `demote` or `pair` change it"
    )]
    Exists(PathBuf),
}

pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("role.json")
}

/// The running role, read-only: what the sync engine, the API and the sampler see. Cloned
/// freely; the only writer lives in `failover`.
#[derive(Debug, Clone)]
pub struct RoleReader {
    role: watch::Receiver<RoleState>,
    standing: watch::Receiver<RoleStanding>,
}

impl RoleReader {
    pub(crate) fn new(role: watch::Receiver<RoleState>, standing: watch::Receiver<RoleStanding>) -> RoleReader {
        RoleReader { role, standing }
    }

    pub fn get(&self) -> RoleState {
        self.role.borrow().clone()
    }

    pub fn standing(&self) -> RoleStanding {
        *self.standing.borrow()
    }

    /// Runs `f` only while this box is the primary (and not setting files aside), the role held
    /// still meanwhile: a role change waits until `f` returns. For one short blocking step, such
    /// as putting a dump in place: a box that became the backup while its dump ran must not
    /// write it over the copy its new primary sends.
    pub fn while_primary<T>(&self, f: impl FnOnce() -> T) -> Option<T> {
        let state = self.role.borrow();
        (state.role == Role::Primary && state.reintegrating.is_none()).then(f)
    }
}

impl RoleState {
    /// A new box starts at epoch 1 in the role its installer chose (the first box: primary).
    pub fn initial(role: Role) -> RoleState {
        RoleState {
            role,
            epoch: 1,
            epoch_owner: String::new(),
            since_unix: crate::clock::now_unix(),
            reintegrating: None,
            promoted: Some(false),
        }
    }

    /// Whether this box took its role from its partner. Only then does switching back wait out
    /// the hold: a primary since the pair was set up has nothing to copy back. A record from
    /// before `promoted` was kept counts as promoted when it names an epoch owner (`init` leaves
    /// the owner empty and pairing copies the primary's).
    pub fn took_over(&self) -> bool {
        self.promoted.unwrap_or(!self.epoch_owner.is_empty())
    }

    /// The epoch as it is compared: (number, owner).
    pub fn rank(&self) -> (u64, &str) {
        (self.epoch, &self.epoch_owner)
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

    /// Writes the first record of a new box (`init`); refuses to replace one.
    pub fn create(&self, state_dir: &Path) -> Result<(), RoleError> {
        let p = path(state_dir);
        if p.exists() {
            return Err(RoleError::Exists(p));
        }
        self.write(&p)
    }

    /// Writes the record to `p` (fsync, atomic). For `create` only: a running box's role is
    /// written by `failover::RoleWriter` alone.
    fn write(&self, p: &Path) -> Result<(), RoleError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| RoleError::Damaged {
            path: p.to_owned(),
            reason: e.to_string(),
        })?;
        fsutil::write_atomic(p, &json, false).map_err(|source| RoleError::Io {
            action: "write",
            path: p.to_owned(),
            source,
        })
    }
}

impl From<RoleError> for crate::refusal::Refusal {
    fn from(e: RoleError) -> crate::refusal::Refusal {
        crate::refusal::Refusal::internal(e)
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
            epoch_owner: "b".into(),
            since_unix: 1_700_000_000,
            reintegrating: Some(Reintegration {
                acked: 41,
                lost_epoch: 6,
            }),
            promoted: Some(false),
        };
        state.create(dir.path()).unwrap();
        assert!(
            matches!(state.create(dir.path()), Err(RoleError::Exists(_))),
            "init never replaces a role"
        );
        assert_eq!(RoleState::load(dir.path()).unwrap(), state);
    }

    #[test]
    fn files_from_before_epoch_owners_still_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("role.json"),
            br#"{"role":"primary","epoch":3,"since_unix":5}"#,
        )
        .unwrap();
        let s = RoleState::load(dir.path()).unwrap();
        assert_eq!((s.rank(), s.reintegrating), ((3, ""), None));
        assert!(!s.took_over(), "no owner: the primary since it was set up");
        std::fs::write(
            dir.path().join("role.json"),
            br#"{"role":"primary","epoch":3,"epoch_owner":"a","since_unix":5}"#,
        )
        .unwrap();
        assert!(RoleState::load(dir.path()).unwrap().took_over(), "an owner: promoted");
    }

    #[test]
    fn only_a_promotion_takes_over() {
        let set_up = RoleState::initial(Role::Primary);
        assert!(!set_up.took_over());
        let json = serde_json::to_string(&set_up).unwrap();
        assert!(json.contains("\"promoted\":false"), "{json}");
        let promoted = RoleState {
            promoted: Some(true),
            ..set_up
        };
        assert!(promoted.took_over());
    }

    #[test]
    fn equal_numbers_are_ordered_by_owner() {
        let a = RoleState {
            epoch_owner: "aaa".into(),
            ..RoleState::initial(Role::Primary)
        };
        let b = RoleState {
            epoch_owner: "bbb".into(),
            ..a.clone()
        };
        assert!(b.rank() > a.rank());
        let older = RoleState { epoch: 0, ..b.clone() };
        assert!(a.rank() > older.rank(), "the number comes first");
    }

    #[test]
    fn damaged_file_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("role.json"), b"{ half").unwrap();
        assert!(matches!(RoleState::load(dir.path()), Err(RoleError::Damaged { .. })));
    }
}
