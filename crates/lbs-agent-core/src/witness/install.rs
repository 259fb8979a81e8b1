//! A member's files, where Debian's etcd finds them: its settings in `/etc/default/etcd` (what
//! `etcd.service` reads), the CA, certificate and key in `/etc/lbs-vote/`, its data in
//! `/var/lib/etcd/<token>`. The same layout on the boxes and on the witness (its script writes
//! it in shell). Tests put it under another root.

use std::path::{Path, PathBuf};

use lbs_protocol::WitnessEnrollment;

use super::{environment, WitnessError};
use crate::{fsutil, platform};

/// The first line of an environment file written here: a file without it is someone else's,
/// kept aside before it is replaced.
pub(super) const MARK: &str = "# The vote for LBS automatic failover";

/// Where a member's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The system's own places (`/etc/default/etcd`, …).
    pub fn system() -> Layout {
        Layout { root: "/".into() }
    }

    /// Everything under `root` instead (tests, or a member started some other way). The paths
    /// end up quoted in an environment file and a shell script, so `root` must be plain.
    pub fn under(root: &Path) -> Result<Layout, WitnessError> {
        let text = root
            .to_str()
            .ok_or_else(|| WitnessError::Invalid(format!("{} is not a UTF-8 path", root.display())))?;
        if !root.is_absolute()
            || text
                .chars()
                .any(|c| matches!(c, '"' | '\\' | '$' | '`') || c.is_control())
        {
            return Err(WitnessError::Invalid(format!(
                "{text}: give an absolute path without quotes, dollars, backquotes or backslashes"
            )));
        }
        Ok(Layout { root: root.into() })
    }

    /// A layout under a root the witness's script fills in (`${root}`).
    pub(super) fn script() -> Layout {
        Layout {
            root: "${root}/".into(),
        }
    }

    fn at(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    pub fn env_file(&self) -> PathBuf {
        self.at("etc/default/etcd")
    }

    pub fn vote_dir(&self) -> PathBuf {
        self.at("etc/lbs-vote")
    }

    pub fn ca_file(&self) -> PathBuf {
        self.vote_dir().join("ca.pem")
    }

    pub fn cert_file(&self) -> PathBuf {
        self.vote_dir().join("member.pem")
    }

    pub fn key_file(&self) -> PathBuf {
        self.vote_dir().join("member.key")
    }

    /// etcd's folder, where each vote keeps its data under its token.
    pub fn data_root(&self) -> PathBuf {
        self.at("var/lib/etcd")
    }

    pub fn data_dir(&self, token: &str) -> PathBuf {
        self.data_root().join(token)
    }

    /// Whether this is the system's layout (then etcd runs as its own user, under systemd).
    pub fn is_system(&self) -> bool {
        self.root == Path::new("/")
    }
}

/// What `install_member` did.
#[derive(Debug, Clone)]
pub struct Installed {
    pub env_file: PathBuf,
    /// The environment file found there before (not one of ours), kept here.
    pub kept_aside: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Earlier votes' data removed (a vote made again has a new CA: the old data is worthless).
    pub removed: Vec<PathBuf>,
}

/// Checks that an enrollment can be installed: three members, a box's member (not the
/// witness's), a certificate and a key.
pub fn check(e: &WitnessEnrollment) -> Result<(), WitnessError> {
    if e.plan.members.len() != 3 || e.you > 1 {
        return Err(WitnessError::Invalid(format!(
            "the vote sent by {} is not one this agent can install (three members, this box first or second); \
             make sure both boxes run the same version of lbs-agent",
            e.from
        )));
    }
    // The partner is trusted (mutual TLS), but what it sent becomes paths and etcd's flags here:
    // the shapes this agent makes, nothing else.
    let token_ok = e
        .plan
        .token
        .strip_prefix("lbs-")
        .is_some_and(|t| t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let names_ok = e.plan.members.iter().all(|m| {
        !m.etcd_name.is_empty()
            && m.etcd_name.len() <= 63
            && m.etcd_name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && m.client_port != 0
            && m.peer_port != 0
            && m.name.chars().count() <= 200
            && !m.name.chars().any(char::is_control)
    });
    if !token_ok || !names_ok {
        return Err(WitnessError::Invalid(format!(
            "the vote sent by {} has names or ports this agent would not make; run `lbs-agent witness setup \
             --witness … --again` there with the same version of lbs-agent on both boxes",
            e.from
        )));
    }
    let has = |pem: &str, what: &str| pem.contains(&format!("-----BEGIN {what}"));
    if !has(&e.ca_pem, "CERTIFICATE") || !has(&e.cert_pem, "CERTIFICATE") || !has(&e.key_pem, "PRIVATE KEY") {
        return Err(WitnessError::Invalid(format!(
            "the vote sent by {} lacks its certificates; run `lbs-agent witness setup --witness … --again` there",
            e.from
        )));
    }
    Ok(())
}

/// Installs member `you` of the enrollment's plan under `layout`: the CA, its certificate and
/// key (the key owner-only, and owned by the `etcd` user when that exists and we are root, so
/// Debian's etcd can read it), etcd's settings, and no data of an earlier vote.
pub fn install_member(layout: &Layout, e: &WitnessEnrollment) -> Result<Installed, WitnessError> {
    check(e)?;
    let dir = layout.vote_dir();
    std::fs::create_dir_all(&dir).map_err(WitnessError::io("create", &dir))?;
    readable(&dir, 0o755)?;
    for (path, text, private) in [
        (layout.ca_file(), &e.ca_pem, false),
        (layout.cert_file(), &e.cert_pem, false),
        (layout.key_file(), &e.key_pem, true),
    ] {
        fsutil::write_atomic(&path, text.as_bytes(), private).map_err(WitnessError::io("write", &path))?;
        if !private {
            readable(&path, 0o644)?;
        }
    }
    if platform::is_root() {
        if let Some((uid, gid)) = platform::user_ids("etcd") {
            let key = layout.key_file();
            std::os::unix::fs::chown(&key, Some(uid), Some(gid)).map_err(WitnessError::io("give etcd", &key))?;
        }
    }
    let removed = remove_other_votes(layout, &e.plan.token)?;
    let env_file = layout.env_file();
    let kept_aside = keep_aside(&env_file)?;
    if let Some(parent) = env_file.parent() {
        std::fs::create_dir_all(parent).map_err(WitnessError::io("create", parent))?;
    }
    let text = environment(&e.plan, e.you, layout)?;
    fsutil::write_atomic(&env_file, text.as_bytes(), false).map_err(WitnessError::io("write", &env_file))?;
    Ok(Installed {
        env_file,
        kept_aside,
        data_dir: layout.data_dir(&e.plan.token),
        removed,
    })
}

/// Sets `mode` whatever the umask: etcd runs as its own user and must read these.
fn readable(path: &Path, mode: u32) -> Result<(), WitnessError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(WitnessError::io("set the mode of", path))
}

/// Someone else's environment file (Debian's own, or the administrator's) is kept beside it as
/// `<file>.before-lbs`, once: nothing they wrote is lost.
fn keep_aside(env_file: &Path) -> Result<Option<PathBuf>, WitnessError> {
    let Ok(old) = std::fs::read_to_string(env_file) else {
        return Ok(None);
    };
    let aside = env_file.with_file_name("etcd.before-lbs");
    if old.starts_with(MARK) || aside.exists() {
        return Ok(None);
    }
    std::fs::copy(env_file, &aside).map_err(WitnessError::io("copy", env_file))?;
    Ok(Some(aside))
}

/// Removes the data of earlier votes (`lbs-*` folders other than this vote's) from etcd's folder.
fn remove_other_votes(layout: &Layout, token: &str) -> Result<Vec<PathBuf>, WitnessError> {
    let root = layout.data_root();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && name.starts_with("lbs-") && name != token {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(WitnessError::io("remove", &path))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::witness::{issue, plan, Planned};

    fn enrollment(you: usize) -> WitnessEnrollment {
        let m = |name: &str, address: &str| Planned::at(name, address.parse().unwrap());
        let plan = plan([
            m("PBX A", "10.0.0.11"),
            m("PBX B", "10.0.0.12"),
            m("witness", "10.0.0.5"),
        ])
        .unwrap();
        let issued = issue(&plan).unwrap();
        WitnessEnrollment {
            ca_pem: issued.ca_pem,
            cert_pem: issued.members[you].cert_pem.clone(),
            key_pem: issued.members[you].key_pem.clone(),
            plan,
            you,
            from: "PBX A".into(),
            created_unix: 1,
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_is_owner_only_and_the_settings_name_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::under(dir.path()).unwrap();
        let e = enrollment(1);
        let done = install_member(&layout, &e).unwrap();
        assert_eq!(mode(&layout.key_file()), 0o600);
        assert_eq!(
            mode(&layout.cert_file()),
            0o644,
            "etcd's own user reads the certificate"
        );
        assert_eq!(mode(&layout.vote_dir()), 0o755);
        assert_eq!(std::fs::read_to_string(layout.key_file()).unwrap(), e.key_pem);
        let env = std::fs::read_to_string(&done.env_file).unwrap();
        assert!(env.starts_with(MARK), "{env}");
        assert!(
            env.contains(&format!("ETCD_KEY_FILE=\"{}\"", layout.key_file().display())),
            "{env}"
        );
        assert!(env.contains("ETCD_NAME=\"pbx-b\""), "{env}");
        assert_eq!(done.data_dir, dir.path().join("var/lib/etcd").join(&e.plan.token));
    }

    #[test]
    fn another_file_is_kept_aside_and_old_votes_go() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::under(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("etc/default")).unwrap();
        std::fs::write(layout.env_file(), "ETCD_NAME=debian\n").unwrap();
        let old_vote = layout.data_dir("lbs-000000000000");
        let other = layout.data_root().join("default");
        std::fs::create_dir_all(&old_vote).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let e = enrollment(0);
        std::fs::create_dir_all(layout.data_dir(&e.plan.token)).unwrap();
        let done = install_member(&layout, &e).unwrap();
        let aside = done.kept_aside.unwrap();
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "ETCD_NAME=debian\n");
        assert_eq!(done.removed, vec![old_vote.clone()]);
        assert!(!old_vote.exists() && other.exists() && layout.data_dir(&e.plan.token).exists());
        // Installed again: ours is not kept aside a second time, the data of this vote stays.
        let again = install_member(&layout, &e).unwrap();
        assert!(again.kept_aside.is_none() && again.removed.is_empty());
    }

    #[test]
    fn an_enrollment_with_a_path_for_a_token_or_odd_names_is_refused() {
        assert!(check(&enrollment(1)).is_ok());
        let mut e = enrollment(1);
        e.plan.token = "../../etc".into();
        assert!(check(&e).unwrap_err().to_string().contains("names or ports"));
        let mut e = enrollment(1);
        e.plan.members[2].etcd_name = "w --data-dir=/".into();
        assert!(check(&e).is_err());
        let mut e = enrollment(1);
        e.plan.members[0].peer_port = 0;
        assert!(check(&e).is_err());
    }

    #[test]
    fn a_root_that_cannot_be_quoted_or_an_enrollment_for_the_witness_is_refused() {
        assert!(Layout::under(Path::new("/tmp/a\"b")).is_err());
        assert!(Layout::under(Path::new("relative")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::under(dir.path()).unwrap();
        let mut e = enrollment(0);
        e.you = 2;
        assert!(install_member(&layout, &e).is_err());
        let mut e = enrollment(0);
        e.key_pem = String::new();
        let err = install_member(&layout, &e).unwrap_err().to_string();
        assert!(err.contains("--again"), "{err}");
        assert!(!layout.env_file().exists(), "nothing is written for a bad enrollment");
    }
}
