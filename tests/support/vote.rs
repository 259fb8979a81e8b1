//! The vote for automatic failover as the tests run it: three real etcd members (Debian's
//! `etcd-server`) on 127.0.0.1, each on its own free ports, set up as `lbs-agent witness setup`
//! sets them up: the vote's CA and certificates, the two boxes' members installed by the
//! domain (`lbs_agent_core::witness`), the witness's by running its real script, each member
//! started from the environment file it wrote (TLS with client certificates on the client and
//! the peer port, pre-vote, default timing, a small quota). Each member gives its endpoint and
//! a client identity (CA, certificate, key) that an agent's `[witness]` section can use.
//! Members can be stopped, killed, frozen and thawed, and started again with their data;
//! dropping the cluster kills every member.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lbs_agent_core::witness::{self, Layout, Planned};
use lbs_protocol::WitnessEnrollment;

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
    /// Its settings, as Debian's `etcd.service` would read them.
    pub env_file: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// Its client URL, `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.client_port)
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
        assert!(
            crate::has_command(tool),
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
        // A free port found here can be taken by another test before etcd binds it: a member
        // that exits at start is a new try on new ports, in a folder of its own.
        for attempt in 1..=3 {
            let here = if attempt == 1 {
                dir.to_owned()
            } else {
                dir.join(format!("attempt-{attempt}"))
            };
            let mut cluster = VoteCluster::set_up(&here, names);
            for i in 0..3 {
                cluster.spawn(i);
            }
            if cluster.leader_or_exit(Duration::from_secs(30)) {
                return cluster;
            }
            eprintln!(
                "an etcd member exited at start (a port taken?), trying again:\n{}",
                cluster.logs()
            );
        }
        panic!("the vote did not start in three tries; see the logs above")
    }

    fn set_up(dir: &Path, names: [&str; 3]) -> VoteCluster {
        std::fs::create_dir_all(dir).expect("vote dir");
        let planned = names.map(|name| Planned {
            name: name.to_owned(),
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            dns_names: vec!["localhost".into()],
            client_port: free_port(),
            peer_port: free_port(),
        });
        let plan = witness::plan(planned).expect("a plan for three members");
        let issued = witness::issue(&plan).expect("the vote's certificates");
        let members = plan
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let root = dir.join(&m.etcd_name);
                let layout = Layout::under(&root).expect("a plain root");
                let enrollment = WitnessEnrollment {
                    plan: plan.clone(),
                    you: i,
                    ca_pem: issued.ca_pem.clone(),
                    cert_pem: issued.members[i].cert_pem.clone(),
                    key_pem: issued.members[i].key_pem.clone(),
                    from: plan.members[0].name.clone(),
                    created_unix: lbs_agent_core::clock::now_unix(),
                };
                if i < 2 {
                    witness::install_member(&layout, &enrollment).expect("install a box's member");
                } else {
                    run_witness_script(dir, &root, &enrollment);
                }
                Member {
                    name: m.name.clone(),
                    etcd_name: m.etcd_name.clone(),
                    client_port: m.client_port,
                    peer_port: m.peer_port,
                    identity: ClientIdentity {
                        ca_file: layout.ca_file(),
                        cert_file: layout.cert_file(),
                        key_file: layout.key_file(),
                    },
                    env_file: layout.env_file(),
                    data_dir: layout.data_dir(&plan.token),
                    log: dir.join(format!("{}.log", m.etcd_name)),
                    child: None,
                }
            })
            .collect();
        VoteCluster {
            dir: dir.to_owned(),
            ca_file: Layout::under(&dir.join(&plan.members[0].etcd_name))
                .expect("a plain root")
                .ca_file(),
            members,
        }
    }

    /// Waits until every member knows a leader (`true`), or one has exited (`false`); panics
    /// with the logs after `limit`.
    fn leader_or_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            for m in &mut self.members {
                if let Some(child) = m.child.as_mut() {
                    if child.try_wait().ok().flatten().is_some() {
                        m.child = None;
                        return false;
                    }
                }
            }
            if (0..3).all(|i| self.leader_seen_by(i).is_some()) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "the vote has no leader after {limit:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts member `i` (again, with the data it has) from its environment file.
    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        assert!(m.child.is_none(), "member {} runs already", m.name);
        m.child = Some(spawn_etcd(&m.env_file, &m.log));
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

/// Writes the witness's script as `lbs-agent witness setup` does and runs it with its files
/// under `root` (it then leaves starting etcd to us).
fn run_witness_script(dir: &Path, root: &Path, enrollment: &WitnessEnrollment) {
    let script = dir.join("lbs-witness-setup.sh");
    std::fs::write(
        &script,
        witness::witness_script(enrollment).expect("the witness's script"),
    )
    .expect("write script");
    let out = Command::new("sh")
        .arg(&script)
        .env("LBS_WITNESS_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .expect("run the witness's script");
    assert!(
        out.status.success(),
        "the witness's script failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// etcd started from an environment file as Debian's `etcd.service` reads it (its variables
/// exported, then etcd in their place), its output appended to `log`.
pub fn spawn_etcd(env_file: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("etcd log");
    Command::new("sh")
        .args(["-c", "set -a; . \"$1\"; exec etcd", "sh"])
        .arg(env_file)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("etcd log"))
        .stderr(out)
        .spawn()
        .expect("spawn etcd")
}

/// An etcd member run from the files `lbs-agent witness setup` (or the witness's script) wrote
/// under `root`; killed when dropped.
pub struct Etcd {
    pub log: PathBuf,
    child: Child,
}

impl Etcd {
    pub fn start(root: &Path) -> Etcd {
        let layout = Layout::under(root).expect("a plain root");
        let log = root.join("etcd.log");
        let child = spawn_etcd(&layout.env_file(), &log);
        Etcd { log, child }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops it; waits until it has exited.
    pub fn stop(&mut self) {
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "cannot signal etcd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "etcd did not stop on SIGTERM within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `etcdctl` with the client identity of an agent's `[witness]` section, against its three
/// endpoints.
pub fn etcdctl_for(witness: &lbs_agent_core::config::WitnessConfig, args: &[&str]) -> Output {
    let endpoints: Vec<&str> = witness.members.iter().map(|m| m.endpoint.as_str()).collect();
    Command::new(etcdctl_bin())
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .arg(format!("--cacert={}", witness.ca_file.display()))
        .arg(format!("--cert={}", witness.cert_file.display()))
        .arg(format!("--key={}", witness.key_file.display()))
        .args(["--dial-timeout=2s", "--command-timeout=3s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl")
}
