//! A member's etcd settings as the environment file Debian's `etcd.service` reads
//! (`EnvironmentFile=-/etc/default/etcd`): TLS with client certificates on the client and the
//! peer port, pre-vote, etcd's default timing, a small quota with compaction.

use std::fmt::Write;

use lbs_protocol::VotePlan;

use super::install::MARK;
use super::{Layout, WitnessError};

/// The vote holds a leader key, a lease and a few records: 64 MiB is far more than it needs and
/// keeps a small witness's disk safe (etcd's default allows 2 GiB).
pub const QUOTA_BYTES: u64 = 64 * 1024 * 1024;

/// The environment file of member `you` of `plan`, its files where `layout` puts them.
pub fn environment(plan: &VotePlan, you: usize, layout: &Layout) -> Result<String, WitnessError> {
    let me = plan.members.get(you).ok_or_else(|| {
        WitnessError::Invalid(format!("the vote has no member {you} (it has {})", plan.members.len()))
    })?;
    let path = |p: std::path::PathBuf| p.display().to_string();
    // Pre-vote: a member cut off from the others does not raise the term when it is back, so it
    // cannot depose a working leader. Heartbeat and election are etcd's defaults, spelled out.
    let settings: Vec<(&str, String)> = vec![
        ("ETCD_NAME", me.etcd_name.clone()),
        ("ETCD_DATA_DIR", path(layout.data_dir(&plan.token))),
        ("ETCD_LISTEN_CLIENT_URLS", me.client_url()),
        ("ETCD_ADVERTISE_CLIENT_URLS", me.client_url()),
        ("ETCD_LISTEN_PEER_URLS", me.peer_url()),
        ("ETCD_INITIAL_ADVERTISE_PEER_URLS", me.peer_url()),
        ("ETCD_INITIAL_CLUSTER", plan.initial_cluster()),
        ("ETCD_INITIAL_CLUSTER_STATE", "new".into()),
        ("ETCD_INITIAL_CLUSTER_TOKEN", plan.token.clone()),
        ("ETCD_CERT_FILE", path(layout.cert_file())),
        ("ETCD_KEY_FILE", path(layout.key_file())),
        ("ETCD_TRUSTED_CA_FILE", path(layout.ca_file())),
        ("ETCD_CLIENT_CERT_AUTH", "true".into()),
        ("ETCD_PEER_CERT_FILE", path(layout.cert_file())),
        ("ETCD_PEER_KEY_FILE", path(layout.key_file())),
        ("ETCD_PEER_TRUSTED_CA_FILE", path(layout.ca_file())),
        ("ETCD_PEER_CLIENT_CERT_AUTH", "true".into()),
        // A peer is who the vote's CA says it is (the CA signed these three members and its key
        // is gone), not where its connection comes from: etcd would otherwise turn away a
        // member whose traffic leaves from another address than its certificate names (the
        // office's virtual address, a second network card, NAT to a witness elsewhere), and a
        // rebooted member so turned away never rejoins.
        ("ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION", "true".into()),
        ("ETCD_PRE_VOTE", "true".into()),
        ("ETCD_HEARTBEAT_INTERVAL", "100".into()),
        ("ETCD_ELECTION_TIMEOUT", "1000".into()),
        ("ETCD_QUOTA_BACKEND_BYTES", QUOTA_BYTES.to_string()),
        ("ETCD_AUTO_COMPACTION_MODE", "periodic".into()),
        ("ETCD_AUTO_COMPACTION_RETENTION", "1h".into()),
        ("ETCD_SNAPSHOT_COUNT", "10000".into()),
        // The agents speak to etcd through its JSON gateway (`/v3/…` on the client port).
        ("ETCD_ENABLE_GRPC_GATEWAY", "true".into()),
    ];
    // No backquotes, dollars or backslashes anywhere (the witness's script writes this text
    // through an unquoted here-document, where only its `${root}` may expand).
    let mut out = format!(
        "{MARK}: this machine's etcd member ({}), one of three.\n\
         # Written by lbs-agent witness setup; running it with --again on a PBX box makes a new vote.\n\
         # Debian's etcd.service reads this file; systemctl restart etcd applies a change.\n",
        me.etcd_name
    );
    for (key, value) in settings {
        // Quoted for systemd and for sh: nothing in a value may end the quotes.
        let plain = value.replace("${root}", "");
        if plain
            .chars()
            .any(|c| matches!(c, '"' | '\\' | '$' | '`') || c.is_control())
        {
            return Err(WitnessError::Invalid(format!("{key} cannot be written: {value}")));
        }
        let _ = writeln!(out, "{key}=\"{value}\"");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::{plan, Planned};

    fn three() -> VotePlan {
        let m = |name: &str, address: &str| Planned::at(name, address.parse().unwrap());
        plan([
            m("PBX A", "192.168.1.11"),
            m("PBX B", "192.168.1.12"),
            m("witness", "192.168.1.5"),
        ])
        .unwrap()
    }

    fn value<'a>(env: &'a str, key: &str) -> &'a str {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing:\n{env}"))
            .trim_matches('"')
    }

    #[test]
    fn a_member_listens_on_its_address_over_tls_with_client_certificates() {
        let p = three();
        let env = environment(&p, 2, &Layout::system()).unwrap();
        assert_eq!(value(&env, "ETCD_NAME"), "witness");
        assert_eq!(value(&env, "ETCD_LISTEN_CLIENT_URLS"), "https://192.168.1.5:2379");
        assert_eq!(
            value(&env, "ETCD_INITIAL_ADVERTISE_PEER_URLS"),
            "https://192.168.1.5:2380"
        );
        assert_eq!(
            value(&env, "ETCD_INITIAL_CLUSTER"),
            "pbx-a=https://192.168.1.11:2380,pbx-b=https://192.168.1.12:2380,witness=https://192.168.1.5:2380"
        );
        assert_eq!(value(&env, "ETCD_INITIAL_CLUSTER_TOKEN"), p.token);
        assert_eq!(value(&env, "ETCD_DATA_DIR"), format!("/var/lib/etcd/{}", p.token));
        for key in [
            "ETCD_CLIENT_CERT_AUTH",
            "ETCD_PEER_CLIENT_CERT_AUTH",
            "ETCD_EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION",
            "ETCD_PRE_VOTE",
        ] {
            assert_eq!(value(&env, key), "true", "{key}");
        }
        assert_eq!(value(&env, "ETCD_KEY_FILE"), "/etc/lbs-vote/member.key");
        assert_eq!(value(&env, "ETCD_PEER_TRUSTED_CA_FILE"), "/etc/lbs-vote/ca.pem");
        assert_eq!(value(&env, "ETCD_QUOTA_BACKEND_BYTES"), "67108864");
        assert_eq!(
            (
                value(&env, "ETCD_HEARTBEAT_INTERVAL"),
                value(&env, "ETCD_ELECTION_TIMEOUT")
            ),
            ("100", "1000")
        );
        assert!(environment(&p, 3, &Layout::system()).is_err());
    }

    #[test]
    fn the_scripts_layout_leaves_the_root_to_the_shell() {
        let env = environment(&three(), 2, &Layout::script()).unwrap();
        assert_eq!(value(&env, "ETCD_CERT_FILE"), "${root}/etc/lbs-vote/member.pem");
        assert_eq!(env.matches('$').count(), env.matches("${root}").count(), "{env}");
        assert!(!env.contains('`') && !env.contains('\\'), "{env}");
    }
}
