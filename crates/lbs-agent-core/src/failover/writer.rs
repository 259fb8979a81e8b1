//! The one writer of the role. Everything else holds a [`RoleReader`]; writing needs this
//! value, which lives inside [`super::Failover`], and its methods are private to `failover`, so
//! a role change that skips the role-change lock or the audit log does not compile.

use std::path::{Path, PathBuf};

use lbs_protocol::{Role, RoleStanding};
use tokio::sync::watch;

use crate::role::{self, RoleError, RoleReader, RoleState};

pub struct RoleWriter {
    role: watch::Sender<RoleState>,
    standing: watch::Sender<RoleStanding>,
    state_dir: PathBuf,
}

impl RoleWriter {
    /// Loads `role.json` from `state_dir`. A box whose record says primary starts
    /// [`RoleStanding::Unconfirmed`]: it may have lost the role while it was down, and it says so
    /// until it has asked its partner (`Failover::settle_at_start`).
    pub fn load(state_dir: &Path) -> Result<(RoleWriter, RoleReader), RoleError> {
        let state = RoleState::load(state_dir)?;
        let standing = match state.role {
            Role::Primary => RoleStanding::Unconfirmed,
            Role::Backup => RoleStanding::Settled,
        };
        let (role, role_rx) = watch::channel(state);
        let (standing, standing_rx) = watch::channel(standing);
        let writer = RoleWriter {
            role,
            standing,
            state_dir: state_dir.to_owned(),
        };
        Ok((writer, RoleReader::new(role_rx, standing_rx)))
    }

    pub(super) fn reader(&self) -> RoleReader {
        RoleReader::new(self.role.subscribe(), self.standing.subscribe())
    }

    pub(super) fn get(&self) -> RoleState {
        self.role.borrow().clone()
    }

    /// Persists `next` (fsync), then makes it the running role. "Unconfirmed" is a primary's
    /// standing only: a box that became a backup meanwhile (pairing) is settled.
    pub(super) fn set(&self, next: RoleState) -> Result<(), RoleError> {
        let file = role::path(&self.state_dir);
        let json = serde_json::to_vec_pretty(&next).map_err(|e| RoleError::Damaged {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        crate::fsutil::write_atomic(&file, &json, false).map_err(|source| RoleError::Io {
            action: "write",
            path: file,
            source,
        })?;
        if next.role == Role::Backup && self.standing() == RoleStanding::Unconfirmed {
            self.standing.send_replace(RoleStanding::Settled);
        }
        self.role.send_replace(next);
        Ok(())
    }

    pub(super) fn standing(&self) -> RoleStanding {
        *self.standing.borrow()
    }

    pub(super) fn set_standing(&self, standing: RoleStanding) {
        self.standing.send_replace(standing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primary_starts_unconfirmed_and_a_backup_is_never_unconfirmed() {
        let dir = tempfile::tempdir().unwrap();
        RoleState::initial(Role::Primary).create(dir.path()).unwrap();
        let (writer, reader) = RoleWriter::load(dir.path()).unwrap();
        assert_eq!(reader.standing(), RoleStanding::Unconfirmed);
        // Paired as a backup before it had asked anyone: settled, and recorded before it is seen.
        let next = RoleState {
            role: Role::Backup,
            epoch: 4,
            ..reader.get()
        };
        writer.set(next.clone()).unwrap();
        assert_eq!((reader.get(), reader.standing()), (next.clone(), RoleStanding::Settled));
        assert_eq!(RoleState::load(dir.path()).unwrap(), next);
    }
}
