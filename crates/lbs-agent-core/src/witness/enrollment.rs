//! The partner's part of a new vote: sent by the box that ran `lbs-agent witness setup
//! --witness …` (`POST /peer/v1/witness/enroll`, over the pair's mutual TLS), kept owner-only in
//! the partner's state directory until `lbs-agent witness setup` there installs it. A newer one
//! replaces it.

use std::path::{Path, PathBuf};

use lbs_protocol::{WitnessEnrolled, WitnessEnrollment, WITNESS_ENROLL_ROUTE};

use super::{install, WitnessError};
use crate::fsutil;
use crate::identity::Identity;
use crate::peer::{self, CallError, Peer};

/// Sends `part` to the partner, presenting this box's identity as its agent does.
pub async fn send(
    identity: &Identity,
    partner: &Peer,
    part: &WitnessEnrollment,
) -> Result<WitnessEnrolled, WitnessError> {
    let client = peer::client(identity, &partner.fingerprint).map_err(|r| WitnessError::Certificate(r.message))?;
    let request = client
        .post(peer::url(&partner.address, WITNESS_ENROLL_ROUTE))
        .json(part);
    let name = &partner.name;
    peer::call::<WitnessEnrolled>(request).await.map_err(|e| {
        WitnessError::Unreachable(match e {
            CallError::Silent(why) => {
                format!("{name} did not answer ({why}): check that its agent runs, then run this again")
            }
            CallError::Refused(status, _) if status == reqwest::StatusCode::NOT_FOUND => format!(
                "{name}'s agent is too old to take part in automatic failover: upgrade lbs-agent there, then run this again"
            ),
            CallError::Refused(_, why) => format!("{name} refused its part of the vote: {why}"),
            CallError::Unreadable(why) => format!(
                "{name}'s answer could not be read ({why}): make sure both boxes run the same version of lbs-agent"
            ),
        })
    })
}

const FILE: &str = "witness-enrollment.json";

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Keeps `e`, sent by the partner `from` (its name from pairing), after checking it can be
/// installed here.
pub fn receive(state_dir: &Path, from: &str, e: &WitnessEnrollment) -> Result<(), WitnessError> {
    install::check(e)?;
    let json = serde_json::to_vec(e).map_err(|err| WitnessError::Invalid(err.to_string()))?;
    let file = path(state_dir);
    fsutil::write_atomic(&file, &json, true).map_err(WitnessError::io("write", &file))?;
    tracing::info!(
        partner = from,
        token = %e.plan.token,
        "the partner set up a new vote for automatic failover; `lbs-agent witness setup` on this box installs this box's member"
    );
    Ok(())
}

/// What the partner sent, if anything.
pub fn load(state_dir: &Path) -> Result<Option<WitnessEnrollment>, WitnessError> {
    let file = path(state_dir);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WitnessError::io("read", &file)(e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        WitnessError::Invalid(format!(
            "{} is damaged ({e}); run `lbs-agent witness setup --witness … --again` on the partner to send it again",
            file.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::witness::{issue, plan, Planned};

    #[test]
    fn kept_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let m = |name: &str, address: &str| Planned::at(name, address.parse().unwrap());
        let plan = plan([m("A", "10.0.0.11"), m("B", "10.0.0.12"), m("witness", "10.0.0.5")]).unwrap();
        let issued = issue(&plan).unwrap();
        let e = WitnessEnrollment {
            ca_pem: issued.ca_pem,
            cert_pem: issued.members[1].cert_pem.clone(),
            key_pem: issued.members[1].key_pem.clone(),
            plan,
            you: 1,
            from: "A".into(),
            created_unix: 1,
        };
        receive(dir.path(), "A", &e).unwrap();
        let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "it holds a private key");
        assert_eq!(load(dir.path()).unwrap(), Some(e.clone()));

        let mut witness = e.clone();
        witness.you = 2;
        assert!(
            receive(dir.path(), "A", &witness).is_err(),
            "a box never installs the witness's member"
        );
        assert_eq!(load(dir.path()).unwrap(), Some(e), "a refused one replaces nothing");
        std::fs::write(path(dir.path()), "{").unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("--again"));
    }
}
