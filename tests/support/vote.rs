//! The vote for automatic failover as the tests run it: three real etcd members (Debian's
//! `etcd-server`) on 127.0.0.1, each on its own free ports, all traffic over TLS with client
//! certificates on both the client and the peer port, pre-vote on, default timing. Each member
//! gives its endpoint and a client identity (CA, certificate, key) that an agent's `[witness]`
//! section can use. Members can be stopped, killed, frozen and thawed, and started again with
//! their data; dropping the cluster kills every member.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use crate::free_port;

/// The files an etcd client presents: the vote's CA, a certificate and its key (PEM).
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// One member of the vote.
pub struct Member {
    /// How an agent's `[witness]` names it ("PBX A", "PBX B", "witness").
    pub name: String,
    /// etcd's own name for it (`--name`).
    pub etcd_name: String,
    pub client_port: u16,
    pub peer_port: u16,
    /// Its certificate (serverAuth and clientAuth), which is also its client identity.
    pub identity: ClientIdentity,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// Its client URL, `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.peer_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct VoteCluster {
    pub dir: PathBuf,
    pub ca_file: PathBuf,
    pub members: Vec<Member>,
    token: String,
}

/// The etcd binary (Debian's `etcd-server`).
fn etcd_bin() -> &'static str {
    "etcd"
}

fn etcdctl_bin() -> &'static str {
    "etcdctl"
}

/// Checks etcd is installed, with a message that says how to get it.
pub fn require() {
    for (tool, package) in [(etcd_bin(), "etcd-server"), (etcdctl_bin(), "etcd-client")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{tool}` is missing: run scripts/setup.sh (it installs {package})"
        );
    }
}

impl VoteCluster {
    /// Three members named "PBX A", "PBX B" and "witness", started in `dir`; returns once the
    /// cluster has a leader.
    pub fn start(dir: &Path) -> VoteCluster {
        VoteCluster::start_named(dir, ["PBX A", "PBX B", "witness"])
    }

    /// As `start`, with the names the agents' `[witness]` sections give the members.
    pub fn start_named(dir: &Path, names: [&str; 3]) -> VoteCluster {
        require();
        std::fs::create_dir_all(dir).expect("vote dir");
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        let (ca_cert, ca_key) = make_ca();
        let ca_file = certs.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write ca");
        let members = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let etcd_name = format!("m{i}");
                let (cert, key) = make_member(&ca_cert, &ca_key, &etcd_name);
                let cert_file = certs.join(format!("{etcd_name}.pem"));
                let key_file = certs.join(format!("{etcd_name}.key"));
                std::fs::write(&cert_file, cert).expect("write cert");
                write_private(&key_file, key.as_bytes());
                Member {
                    name: (*name).to_owned(),
                    data_dir: dir.join(&etcd_name).join("data"),
                    log: dir.join(format!("{etcd_name}.log")),
                    etcd_name,
                    client_port: free_port(),
                    peer_port: free_port(),
                    identity: ClientIdentity {
                        ca_file: ca_file.clone(),
                        cert_file,
                        key_file,
                    },
                    child: None,
                }
            })
            .collect();
        let mut cluster = VoteCluster {
            dir: dir.to_owned(),
            ca_file,
            members,
            token: format!("lbs-test-{}-{}", std::process::id(), crate::free_port()),
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster.wait_for_leader(Duration::from_secs(30));
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.etcd_name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts member `i` (again), with the data it has.
    fn spawn(&mut self, i: usize) {
        let initial = self.initial_cluster();
        let token = self.token.clone();
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {} runs already", m.name);
        std::fs::create_dir_all(m.data_dir.parent().expect("member dir")).expect("member dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("etcd log");
        let id = &m.identity;
        let child = Command::new(etcd_bin())
            .arg(format!("--name={}", m.etcd_name))
            .arg(format!("--data-dir={}", m.data_dir.display()))
            .arg(format!("--listen-client-urls={}", m.endpoint()))
            .arg(format!("--advertise-client-urls={}", m.endpoint()))
            .arg(format!("--listen-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-advertise-peer-urls={}", m.peer_url()))
            .arg(format!("--initial-cluster={initial}"))
            .arg("--initial-cluster-state=new")
            .arg(format!("--initial-cluster-token={token}"))
            .arg(format!("--cert-file={}", id.cert_file.display()))
            .arg(format!("--key-file={}", id.key_file.display()))
            .arg(format!("--trusted-ca-file={}", id.ca_file.display()))
            .arg("--client-cert-auth=true")
            .arg(format!("--peer-cert-file={}", id.cert_file.display()))
            .arg(format!("--peer-key-file={}", id.key_file.display()))
            .arg(format!("--peer-trusted-ca-file={}", id.ca_file.display()))
            .arg("--peer-client-cert-auth=true")
            .arg("--pre-vote=true")
            .arg("--quota-backend-bytes=67108864")
            .arg("--auto-compaction-mode=periodic")
            .arg("--auto-compaction-retention=1h")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd log"))
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        m.child = Some(child);
    }

    /// Waits until every running member knows a leader, or panics with their logs.
    pub fn wait_for_leader(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let running: Vec<usize> = (0..3).filter(|&i| self.members[i].running()).collect();
            if running.iter().all(|&i| self.leader_seen_by(i).is_some()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the vote has no leader after {limit:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leader's member ID as member `i` reports it (`None` while it knows none, or does not
    /// answer).
    pub fn leader_seen_by(&self, i: usize) -> Option<u64> {
        let out = self.etcdctl(i, &["endpoint", "status", "-w", "json"]);
        if !out.status.success() {
            return None;
        }
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        status.get(0)?.pointer("/Status/leader")?.as_u64().filter(|&l| l != 0)
    }

    /// Runs `etcdctl` against member `i` only, with member `i`'s client identity.
    pub fn etcdctl(&self, i: usize, args: &[&str]) -> Output {
        self.etcdctl_as(&self.members[i].identity, &[i], args)
    }

    /// Runs `etcdctl` with `identity` against the `via` members.
    pub fn etcdctl_as(&self, identity: &ClientIdentity, via: &[usize], args: &[&str]) -> Output {
        let endpoints: Vec<String> = via.iter().map(|&i| self.members[i].endpoint()).collect();
        Command::new(etcdctl_bin())
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .arg(format!("--cacert={}", identity.ca_file.display()))
            .arg(format!("--cert={}", identity.cert_file.display()))
            .arg(format!("--key={}", identity.key_file.display()))
            .args(["--dial-timeout=2s", "--command-timeout=3s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].endpoint()
    }

    pub fn identity(&self, i: usize) -> &ClientIdentity {
        &self.members[i].identity
    }

    /// The `[witness]` section of the agent on box `i` (0 or 1): its own member's certificate,
    /// and the three members by name and endpoint.
    pub fn witness_toml(&self, i: usize) -> String {
        let id = &self.members[i].identity;
        let mut out = format!(
            "\n[witness]\nca_file = {}\ncert_file = {}\nkey_file = {}\n",
            toml_str(&id.ca_file.display().to_string()),
            toml_str(&id.cert_file.display().to_string()),
            toml_str(&id.key_file.display().to_string()),
        );
        for m in &self.members {
            out += &format!(
                "\n[[witness.member]]\nname = {}\nendpoint = {}\n",
                toml_str(&m.name),
                toml_str(&m.endpoint())
            );
        }
        out
    }

    fn signal(&self, i: usize, signal: libc::c_int) {
        let pid = self.members[i]
            .pid()
            .unwrap_or_else(|| panic!("member {} is not running", self.members[i].name));
        // SAFETY: kill has no memory preconditions; the pid is our own child's, not yet reaped.
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(rc, 0, "cannot signal etcd {pid}");
    }

    /// SIGTERM, as systemd stops it; waits until it has exited.
    pub fn stop(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.signal(i, libc::SIGTERM);
        self.reap(i, Duration::from_secs(20));
    }

    /// SIGKILL: gone at once, nothing flushed.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process is there, its sockets open, but it answers nothing (a hung box).
    pub fn freeze(&self, i: usize) {
        self.signal(i, libc::SIGSTOP);
    }

    pub fn thaw(&self, i: usize) {
        self.signal(i, libc::SIGCONT);
    }

    /// Starts member `i` again with its data (after `stop` or `kill`).
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    fn reap(&mut self, i: usize, limit: Duration) {
        let Some(mut child) = self.members[i].child.take() else {
            return;
        };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("etcd {} did not stop on SIGTERM within {limit:?}", self.members[i].name);
    }

    /// Every member's log, for a failure message.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let text = std::fs::read_to_string(&m.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} ({}):\n{}\n", m.name, m.etcd_name, tail.join("\n"))
            })
            .collect()
    }
}

impl Drop for VoteCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_private(path: &Path, data: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("write key");
    f.write_all(data).expect("write key");
}

fn make_ca() -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "LBS test vote CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("ca key");
    let cert = params.self_signed(&key).expect("ca cert");
    (cert, key)
}

/// A member's certificate (PEM) and key (PEM), for 127.0.0.1 and localhost, server and client.
fn make_member(ca: &rcgen::Certificate, ca_key: &KeyPair, name: &str) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("member params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().expect("member key");
    let cert = params.signed_by(&key, ca, ca_key).expect("member cert");
    (cert.pem(), key.serialize_pem())
}
