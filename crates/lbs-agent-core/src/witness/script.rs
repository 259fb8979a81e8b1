//! The witness's setup as one self-contained POSIX shell script (`lbs-witness-setup.sh`): the
//! witness may be a Raspberry Pi or a NAS without our agent, of any architecture, so it gets
//! its certificates and etcd settings inside a script that only needs `sh`, and `apt-get` if
//! etcd is missing. It writes the same layout as a box (`Layout`), enables and starts etcd
//! and waits until the member is healthy. `LBS_WITNESS_ROOT` puts the files under another
//! root and leaves starting etcd to the caller (the tests).

use std::fmt::Write;

use lbs_protocol::WitnessEnrollment;

use super::install::MARK;
use super::{environment, Layout, WitnessError};

/// A shell word that stays as it is: single quotes, a quote inside written `'\''`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A name for a comment: one line, no control characters.
fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The here-document that writes `text` to `path` (a shell expression), taken literally.
fn literal_file(out: &mut String, path: &str, text: &str) -> Result<(), WitnessError> {
    if text.lines().any(|l| l == "LBS_END") {
        return Err(WitnessError::Invalid(format!("{path} cannot be written by the script")));
    }
    let _ = write!(out, "cat > {path} <<'LBS_END'\n{}\nLBS_END\n", text.trim_end());
    Ok(())
}

/// The witness's script for `e`, the enrollment of member 2 (the witness).
pub fn witness_script(e: &WitnessEnrollment) -> Result<String, WitnessError> {
    let (Some(first), Some(second), Some(me), 2) = (
        e.plan.members.first(),
        e.plan.members.get(1),
        e.plan.members.get(2),
        e.you,
    ) else {
        return Err(WitnessError::Invalid(
            "the witness's script is for the third member of a vote of three".into(),
        ));
    };
    let env = environment(&e.plan, 2, &Layout::script())?;
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.created_unix.max(0) as u64),
    );
    let mut s = format!(
        r#"#!/bin/sh
# LBS: makes this machine the witness of the vote for automatic failover between
# {first_c} and {second_c}; written by `lbs-agent witness setup` on {from_c} ({created}).
#
# Run it as root on the witness ({address}): sudo sh lbs-witness-setup.sh
# It installs etcd if it is missing (Debian's etcd-server and etcd-client), writes this member's
# settings (/etc/default/etcd) and certificates (/etc/lbs-vote/), enables and starts etcd, and
# waits until the member is healthy. Running it again is harmless.
#
# It holds the witness's private key for the vote: keep it private, delete it once it has run.
set -eu

root="${{LBS_WITNESS_ROOT:-}}"
address={address_q}
endpoint={endpoint_q}
token={token_q}
# The boxes' names, taken literally whatever they hold.
# shellcheck disable=SC2016
from={from_q}
# shellcheck disable=SC2016
partner={partner_q}

say() {{ printf '%s\n' "$*"; }}
fail() {{ printf 'error: %s\n' "$*" >&2; exit 1; }}

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    fail "run it as root: sudo sh $0"
fi

# The kernel's own answer: packets for the address would be delivered here.
if command -v ip >/dev/null 2>&1 && ! ip route get "$address" 2>/dev/null | grep -q '^local '; then
    fail "this machine does not have the address $address, where $from expects the witness: run this script on the witness, or run lbs-agent witness setup --witness <the witness's address> --again on $from and use the new script"
fi

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
        fail "etcd is not installed and this system has no apt-get: install etcd 3.4 or later (with etcdctl), then run this script again"
    say "Installing etcd (etcd-server, etcd-client)..."
    apt-get update -q ||
        fail "apt-get update failed: check the network and the apt sources, then run this script again"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server etcd-client ||
        fail "apt-get could not install etcd-server and etcd-client (see above); fix that, then run this script again"
fi

umask 022
vote="$root/etc/lbs-vote"
env_file="$root/etc/default/etcd"
mkdir -p "$vote" "$root/etc/default"
"#,
        first_c = comment(&first.name),
        second_c = comment(&second.name),
        from_c = comment(&e.from),
        address = me.address,
        address_q = quote(&me.address.to_string()),
        endpoint_q = quote(&me.client_url()),
        token_q = quote(&e.plan.token),
        from_q = quote(&e.from),
        partner_q = quote(&second.name),
    );
    literal_file(&mut s, "\"$vote/ca.pem\"", &e.ca_pem)?;
    literal_file(&mut s, "\"$vote/member.pem\"", &e.cert_pem)?;
    s.push_str("(\n    umask 077\n");
    literal_file(&mut s, "\"$vote/member.key\"", &e.key_pem)?;
    s.push_str(")\n");
    let _ = write!(
        s,
        r#"chmod 644 "$vote/ca.pem" "$vote/member.pem"
chmod 600 "$vote/member.key"
if [ -z "$root" ] && id etcd >/dev/null 2>&1; then
    # Debian's etcd runs as the etcd user: the key is its own.
    chown etcd:etcd "$vote/member.key"
fi

# Someone else's settings are kept beside ours, once.
if [ -f "$env_file" ] && [ ! -e "$env_file.before-lbs" ] &&
    ! head -n 1 "$env_file" | grep -q -F {mark}; then
    cp -p "$env_file" "$env_file.before-lbs"
    say "Kept the previous etcd settings as $env_file.before-lbs"
fi

# An earlier vote's data is worthless once the vote is made again (a new CA).
for old in "$root"/var/lib/etcd/lbs-*; do
    if [ -d "$old" ] && [ "$old" != "$root/var/lib/etcd/$token" ]; then
        rm -rf "$old"
        say "Removed the data of an earlier vote: $old"
    fi
done

cat > "$env_file" <<LBS_END
{env}LBS_END
chmod 644 "$env_file"
say "Wrote the witness's etcd settings ($env_file) and certificates ($vote/)."

if [ -n "$root" ] || [ ! -d /run/systemd/system ]; then
    say "systemd does not run etcd here: start etcd with the settings in $env_file."
    exit 0
fi

systemctl enable etcd >/dev/null 2>&1 || fail "systemctl could not enable etcd (see above)"
# Not waiting for systemctl: etcd reports ready only once a majority of the vote answers.
systemctl restart --no-block etcd || fail "systemctl could not start etcd; see journalctl -u etcd"
say "etcd is starting; waiting for the vote (up to 2 minutes)..."
tries=0
until ETCDCTL_API=3 etcdctl --endpoints="$endpoint" --cacert="$vote/ca.pem" --cert="$vote/member.pem" \
    --key="$vote/member.key" --dial-timeout=2s --command-timeout=3s endpoint health >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 40 ]; then
        fail "etcd runs here but the vote has no majority yet: the etcd of $from must run too (systemctl status etcd there), and ports 2379 and 2380 must be open between the three machines; see journalctl -u etcd here, then run this script again"
    fi
    sleep 3
done
say "The witness is set up: its etcd member is healthy and the vote has a majority."
say "Next, if it is not done yet: run lbs-agent witness setup on $partner."
say "Then delete this script: it holds the witness's private key."
"#,
        mark = quote(MARK),
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::witness::{issue, plan, Planned};

    fn enrollment(from: &str, witness: &str) -> WitnessEnrollment {
        let m = |name: &str, address: &str| Planned::at(name, address.parse().unwrap());
        let plan = plan([
            m(from, "192.168.1.11"),
            m("PBX B", "192.168.1.12"),
            m("witness", witness),
        ])
        .unwrap();
        let issued = issue(&plan).unwrap();
        WitnessEnrollment {
            ca_pem: issued.ca_pem,
            cert_pem: issued.members[2].cert_pem.clone(),
            key_pem: issued.members[2].key_pem.clone(),
            plan,
            you: 2,
            from: from.into(),
            created_unix: 1_800_000_000,
        }
    }

    fn run(script: &std::path::Path, root: &std::path::Path, path: &str) -> (bool, String) {
        let out = Command::new("/bin/sh")
            .arg(script)
            .env("LBS_WITNESS_ROOT", root)
            .env("PATH", path)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    #[test]
    fn the_script_carries_the_witness_files_and_passes_shellcheck() {
        // A name with quotes and a dollar stays a name.
        let e = enrollment("PBX 'A' $(reboot) \"1\"", "192.168.1.5");
        let script = witness_script(&e).unwrap();
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains(e.key_pem.trim_end()) && script.contains(e.ca_pem.trim_end()));
        assert!(script.contains(r#"from='PBX '\''A'\'' $(reboot) "1"'"#), "{script}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lbs-witness-setup.sh");
        std::fs::write(&path, &script).unwrap();
        let syntax = Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
        let check = Command::new("shellcheck")
            .args(["--shell=sh", "--severity=style"])
            .arg(&path)
            .output()
            .expect("shellcheck is missing: run scripts/setup.sh");
        assert!(
            check.status.success(),
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    #[test]
    fn under_a_root_it_writes_the_witness_files_and_leaves_etcd_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("witness");
        let script = dir.path().join("lbs-witness-setup.sh");
        // etcd and etcdctl as this test's stand-ins, found first on the PATH.
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["etcd", "etcdctl"] {
            std::os::unix::fs::symlink("/bin/true", bin.join(tool)).unwrap();
        }
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());

        // Not this machine's address (a documentation address): refused before anything is
        // written, with what to do.
        let elsewhere = enrollment("PBX A", "203.0.113.77");
        std::fs::write(&script, witness_script(&elsewhere).unwrap()).unwrap();
        let (ok, text) = run(&script, &root, &path);
        assert!(!ok && text.contains("does not have the address 203.0.113.77"), "{text}");
        assert!(text.contains("--again on PBX A"), "{text}");
        assert!(!root.exists());

        // No etcd, and no apt-get to install it: says what to do.
        let e = enrollment("PBX A", "127.0.0.1");
        std::fs::write(&script, witness_script(&e).unwrap()).unwrap();
        let (ok, text) = run(&script, &root, "/nonexistent");
        assert!(!ok && text.contains("etcd is not installed"), "{text}");

        let old = root.join("var/lib/etcd/lbs-000000000000");
        std::fs::create_dir_all(&old).unwrap();
        let (ok, text) = run(&script, &root, &path);
        assert!(ok, "{text}");
        assert!(text.contains("start etcd with the settings"), "{text}");
        let layout = Layout::under(&root).unwrap();
        assert_eq!(
            std::fs::read_to_string(layout.key_file()).unwrap().trim_end(),
            e.key_pem.trim_end()
        );
        assert_eq!(
            std::fs::read_to_string(layout.ca_file()).unwrap().trim_end(),
            e.ca_pem.trim_end()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(layout.key_file()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The settings are those a box would write for the witness, under this root.
        let env = std::fs::read_to_string(layout.env_file()).unwrap();
        assert_eq!(env, environment(&e.plan, 2, &layout).unwrap());
        assert!(!old.exists(), "an earlier vote's data is removed");
        // Again: harmless.
        let (ok, text) = run(&script, &root, &path);
        assert!(ok, "{text}");
    }
}
