//! The simulated office (`tests/lab/office.sh`): network namespaces for a DNS server (knot), two
//! PBX boxes running real agents that start and stop a real SIP server (kamailio, keeping the
//! phones' registrations in SQLite, synced as the agents' `registrations` category), the phones'
//! network, where a prober keeps asking "who answers?" by SIP OPTIONS (`Phone`), real phones
//! register and call (`crate::baresip`) and the observer watches (`crate::observer`), and a
//! witness whose etcd member forms the vote for automatic failover with the boxes'
//! (`tests/lab/vote.sh`, `Lab::office_with_vote`).
//! Used by the office system tests and the failover benchmark. Needs root.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Agent;
use lbs_protocol::FailoverStatus;

/// How the phones find the primary in a lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Dns,
    Vip,
}

pub fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lab")
}

/// Wall-clock milliseconds (the phone runs in another process; both read the same clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Checks what a lab needs, with a message that says how to get it.
pub fn require() {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    assert!(
        root,
        "the office tests build network namespaces and need root; run them as root (scripts/test.sh does)"
    );
    for tool in [
        "knotd", "kamailio", "arping", "dig", "ip", "sqlite3", "baresip", "unshare",
    ] {
        assert!(
            crate::has_command(tool),
            "`{tool}` is missing: run scripts/setup.sh (it installs knot, kamailio, kamailio-sqlite-modules, sqlite3, baresip-core, iputils-arping, bind9-dnsutils)"
        );
    }
}

pub struct Lab {
    pub n: u32,
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl Lab {
    /// Builds lab `n` (each test its own `n`, so labs can run side by side).
    pub fn up(n: u32) -> Lab {
        require();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(lab_dir().join("office.sh"))
            .args(["up", &dir.path().display().to_string(), &n.to_string()])
            .output()
            .expect("run office.sh");
        assert!(
            out.status.success(),
            "office.sh up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.path().join("lab.env"))
            .expect("lab.env")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Lab { n, dir, env }
    }

    pub fn var(&self, key: &str) -> String {
        self.env
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing from lab.env"))
    }

    pub fn ns(&self, host: &str) -> String {
        format!("lbs{}-{host}", self.n)
    }

    pub fn ip(&self, host: &str) -> String {
        self.var(&format!("LAB_IP_{}", host.to_uppercase()))
    }

    fn office_sh(&self, action: &str, host: &str) {
        let ok = Command::new(lab_dir().join("office.sh"))
            .args([action, &self.n.to_string(), host])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "office.sh {action} {host} failed");
    }

    /// Unplugs `host` from the office switch.
    pub fn cut(&self, host: &str) {
        self.office_sh("cut", host);
    }

    pub fn heal(&self, host: &str) {
        self.office_sh("heal", host);
    }

    /// Whether the PBX (kamailio) runs on box `host`.
    pub fn pbx_running(&self, host: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .arg(lab_dir().join("pbx.sh"))
            .args(["running", &self.dir.path().display().to_string(), host])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The box's PBX folder (`<lab>/pbx-<box>`: kamailio's config, log, registrations).
    pub fn pbx_dir(&self, host: &str) -> PathBuf {
        self.dir.path().join(format!("pbx-{host}"))
    }

    /// The phones' registrations kamailio keeps on box `host` (its usrloc SQLite database).
    pub fn registrations_db(&self, host: &str) -> PathBuf {
        self.pbx_dir(host).join("registrations.sqlite")
    }

    /// The extensions registered in box `host`'s database right now (expired ones included
    /// until kamailio cleans them up), read with sqlite3.
    pub fn registered(&self, host: &str) -> Vec<String> {
        let out = Command::new("sqlite3")
            .args(["-cmd", ".timeout 2000"])
            .arg(self.registrations_db(host))
            .arg("SELECT username FROM location ORDER BY username;")
            .output()
            .expect("run sqlite3");
        assert!(
            out.status.success(),
            "cannot read the registrations of box {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines the PBX of box `host` logged with `tag` (`LBS-CALL`, `LBS-REGISTER`: see
    /// kamailio.cfg.in), across restarts.
    pub fn pbx_log(&self, host: &str, tag: &str) -> Vec<String> {
        std::fs::read_to_string(self.pbx_dir(host).join("kamailio.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.find(tag).map(|i| l[i..].to_owned()))
            .collect()
    }

    /// How the PBX of box `host` handled the call with SIP Call-ID `id`: `Some("relayed")`,
    /// `Some("404")`, or `None` if the call never reached it.
    pub fn call_seen_by(&self, host: &str, id: &str) -> Option<String> {
        let needle = format!(" callid={id} ");
        self.pbx_log(host, "LBS-CALL INVITE")
            .iter()
            .find(|l| l.contains(&needle))
            .and_then(|l| l.rsplit_once("result=").map(|(_, r)| r.trim().to_owned()))
    }

    /// How many REGISTERs from extension `ext` the PBX of box `host` received.
    pub fn registers_seen_by(&self, host: &str, ext: u32) -> usize {
        let needle = format!("user={ext} ");
        self.pbx_log(host, "LBS-REGISTER")
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// A real phone (baresip) for extension `ext` in the phones' network, not registered yet.
    pub fn sip_phone(&self, ext: u32, strategy: Strategy) -> crate::baresip::SipPhone {
        crate::baresip::SipPhone::start(self, ext, strategy)
    }

    /// An agent for box `host` ("a" or "b") in its namespace, managing kamailio through
    /// `pbx.sh`, moving the address with `strategy`, syncing one voicemail folder that the PBX
    /// writes into while it runs, and the phones' registrations: a database category dumped
    /// every second (`registrations.sh dump`, only written when it changed) and loaded back on
    /// promotion before the PBX starts (`registrations.sh restore`).
    pub fn agent(&self, host: &str, name: &str, role: &str, strategy: Strategy, hold: &str) -> Agent {
        let ip = self.ip(host);
        let lab = self.dir.path().display().to_string();
        let pbx = lab_dir().join("pbx.sh").display().to_string();
        let regs = lab_dir().join("registrations.sh").display().to_string();
        let db = self.registrations_db(host).display().to_string();
        let takeover = match strategy {
            Strategy::Dns => format!(
                "strategy = \"dns\"\nserver = \"{}:53\"\nzone = \"{}\"\nname = \"{}\"\naddress = \"{ip}\"\nttl = 5\n\
                 key_name = \"{}\"\nkey_algorithm = \"{}\"\nkey_secret_file = \"{lab}/tsig.secret\"\n",
                self.ip("dns"),
                self.var("LAB_ZONE"),
                self.var("LAB_NAME"),
                self.var("LAB_TSIG_NAME"),
                self.var("LAB_TSIG_ALG"),
            ),
            Strategy::Vip => format!(
                "strategy = \"vip\"\naddress = \"{}/{}\"\ninterface = \"eth0\"\narp_count = 2\n",
                self.var("LAB_VIP"),
                self.var("LAB_PREFIX")
            ),
        };
        let mut agent = Agent::init_raw(role, Some(self.ns(host)), 7443, |dir| {
            let voicemail = dir.join("voicemail");
            std::fs::create_dir_all(&voicemail).expect("voicemail dir");
            format!(
                "[server]\nname = \"{name}\"\nlisten = \"0.0.0.0:7443\"\nadvertise = \"{ip}:7443\"\nstate_dir = \"{}\"\n\n\
                 [metrics]\ninterval = \"5s\"\n\n\
                 [pbx]\nstart = [\"{pbx}\", \"start\", \"{lab}\", \"{host}\"]\nstop = [\"{pbx}\", \"stop\", \"{lab}\", \"{host}\"]\n\
                 running = [\"{pbx}\", \"running\", \"{lab}\", \"{host}\"]\nsip_check = \"{ip}:5060\"\ncheck_interval = \"2s\"\n\n\
                 [failover]\nhold = \"{hold}\"\nheartbeat_interval = \"500ms\"\ndrain_timeout = \"60s\"\n\n\
                 [takeover]\n{takeover}\n\
                 [sync]\n[[sync.category]]\nname = \"voicemail\"\npriority = 2\nroots = [\"{}\"]\n\n\
                 [[sync.category]]\nname = \"registrations\"\nlabel = \"Phone registrations\"\npriority = 1\n\
                 roots = [\"{}\"]\ndump = [\"{regs}\", \"dump\", \"{db}\"]\ndump_file = \"registrations.sql\"\n\
                 restore = [\"{regs}\", \"restore\", \"{db}\"]\ndump_interval = \"1s\"\n",
                dir.join("state").display(),
                voicemail.display(),
                dir.join("registrations").display()
            )
        });
        let voicemail = agent.dir.path().join("voicemail").display().to_string();
        agent.env.push(("LBS_LAB_WRITER_DIR".into(), voicemail));
        agent
    }

    /// Starts the phone: it asks `pbx.office.lan` (through the lab's DNS server) or the floating
    /// address every 20 ms who answers SIP OPTIONS.
    pub fn phone(&self, strategy: Strategy) -> Phone {
        let target = match strategy {
            Strategy::Dns => vec![
                "--dns".to_string(),
                format!("{}:53", self.ip("dns")),
                "--name".into(),
                self.var("LAB_NAME"),
            ],
            Strategy::Vip => vec!["--target".to_string(), format!("{}:5060", self.var("LAB_VIP"))],
        };
        let bin = crate::agent_bin().with_file_name("lbs-lab-phone");
        assert!(
            bin.exists(),
            "{} is missing: build it (`cargo build -p lbs-tests --bins`)",
            bin.display()
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("phone")])
            .arg(bin)
            .args(target)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the phone");
        let stdout = child.stdout.take().expect("phone stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = Probe::parse(&line) {
                    if tx.send(p).is_err() {
                        break;
                    }
                }
            }
        });
        Phone {
            child,
            rx,
            seen: Vec::new(),
        }
    }
}

impl Lab {
    /// A paired office: A the primary (PBX running, address held), B its backup (PBX stopped).
    pub fn office(&self, strategy: Strategy, hold: &str) -> (Agent, Agent) {
        let mut a = self.agent("a", "PBX A", "primary", strategy, hold);
        let mut b = self.agent("b", "PBX B", "backup", strategy, hold);
        a.start();
        b.start();
        let out = b.cli(&["pair", &a.link.to_string()]);
        assert!(
            out.status.success(),
            "pairing B with A failed: {}{}\n--- A's log:\n{}\n--- B's log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            a.log(),
            b.log()
        );
        wait_for("A's PBX to run", Duration::from_secs(15), || self.pbx_running("a"));
        assert!(!self.pbx_running("b"), "the backup's PBX stays stopped");
        (a, b)
    }
}

/// The vote for automatic failover in the lab: an etcd member on each box and on the witness
/// (10.77.<n>.5), set up by the real commands, run by `tests/lab/vote.sh` in each namespace.
impl Lab {
    /// Where host `host`'s etcd member keeps its files (`lbs-agent witness setup
    /// --install-root`, the witness's script's `LBS_WITNESS_ROOT`).
    pub fn vote_root(&self, host: &str) -> PathBuf {
        self.dir.path().join(format!("vote-{host}"))
    }

    /// `vote.sh <action> <dir> <host>`: start, stop, kill, freeze or thaw host's etcd member.
    pub fn vote(&self, action: &str, host: &str) {
        let out = Command::new(lab_dir().join("vote.sh"))
            .args([action, &self.dir.path().display().to_string(), host])
            .output()
            .expect("run vote.sh");
        assert!(
            out.status.success(),
            "vote.sh {action} {host} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `etcdctl` in host's namespace against the three members, with the client identity host's
    /// member was given (on a box, the one its agent's `[witness]` names).
    pub fn etcdctl(&self, host: &str, args: &[&str]) -> std::process::Output {
        let root = self.vote_root(host);
        let vote = root.join("etc/lbs-vote");
        let endpoints: Vec<String> = ["a", "b", "witness"]
            .iter()
            .map(|h| format!("https://{}:2379", self.ip(h)))
            .collect();
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host), "etcdctl"])
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .arg(format!("--cacert={}", vote.join("ca.pem").display()))
            .arg(format!("--cert={}", vote.join("member.pem").display()))
            .arg(format!("--key={}", vote.join("member.key").display()))
            .args(["--dial-timeout=2s", "--command-timeout=3s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// How many of the three members answer healthy (a linearizable read each), asked from host.
    pub fn vote_healthy(&self, host: &str) -> usize {
        let out = self.etcdctl(host, &["endpoint", "health"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines().filter(|l| l.contains("is healthy")).count()
    }

    /// A paired office whose vote is set up through the real commands, as a contractor would:
    /// `lbs-agent witness setup --witness <the witness>` on A (the primary), the script it wrote
    /// run in the witness's namespace, `lbs-agent witness setup` on B; the three etcd members
    /// started (vote.sh) and the agents restarted to read their `[witness]` and
    /// `automatic = true`. Returns once every member is healthy seen from both boxes, A's PBX
    /// runs and the heartbeat answers. The setup's output is `<dir>/witness-setup.log`.
    pub fn office_with_vote(&self, strategy: Strategy, hold: &str) -> (Agent, Agent) {
        self.office_with_vote_tuned(strategy, hold, &[])
    }

    /// As `office_with_vote`, with these `[failover]` keys set on both boxes before the agents
    /// restart on the vote (e.g. `("lease", "\"2s\"")`).
    pub fn office_with_vote_tuned(&self, strategy: Strategy, hold: &str, failover: &[(&str, &str)]) -> (Agent, Agent) {
        crate::vote::require();
        let (mut a, mut b) = self.office(strategy, hold);
        let script = self.dir.path().join("lbs-witness-setup.sh");
        let a_root = self.vote_root("a").display().to_string();
        let mut said = cli_ok(
            &a,
            &[
                "witness",
                "setup",
                "--witness",
                &self.ip("witness"),
                "--script",
                &script.display().to_string(),
                "--install-root",
                &a_root,
            ],
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns("witness"), "sh"])
            .arg(&script)
            .env("LBS_WITNESS_ROOT", self.vote_root("witness"))
            .stdin(Stdio::null())
            .output()
            .expect("run the witness's script");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "the witness's script failed:\n{text}");
        said += &text;
        said += &cli_ok(
            &b,
            &[
                "witness",
                "setup",
                "--install-root",
                &self.vote_root("b").display().to_string(),
            ],
        );
        let _ = std::fs::write(self.dir.path().join("witness-setup.log"), &said);
        for host in ["a", "b", "witness"] {
            self.vote("start", host);
        }
        wait_for(
            "the vote to be healthy from both boxes",
            Duration::from_secs(30),
            || self.vote_healthy("a") == 3 && self.vote_healthy("b") == 3,
        );
        // The agents read their configuration at start.
        for agent in [&mut a, &mut b] {
            set_failover_keys(&agent.config, failover);
            agent.stop();
            agent.start();
        }
        wait_for("A's PBX to run", Duration::from_secs(15), || self.pbx_running("a"));
        wait_for("the heartbeat after the restart", Duration::from_secs(15), || {
            failover_status(&b).partner.reachable && failover_status(&a).partner.reachable
        });
        (a, b)
    }
}

/// Runs the agent's CLI; panics with its output (and the agent's log) if it fails.
/// Sets `[failover]` keys in an agent's config file: a key already there is replaced, a new one
/// goes at the top of the section.
fn set_failover_keys(config: &Path, keys: &[(&str, &str)]) {
    if keys.is_empty() {
        return;
    }
    let text = std::fs::read_to_string(config).expect("read the agent's config");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let section = lines
        .iter()
        .position(|l| l.trim() == "[failover]")
        .expect("a [failover] section");
    for (key, value) in keys {
        let end = lines[section + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |i| section + 1 + i);
        let line = format!("{key} = {value}");
        let at = lines[section + 1..end]
            .iter()
            .position(|l| l.split('=').next().is_some_and(|k| k.trim() == *key));
        match at {
            Some(i) => lines[section + 1 + i] = line,
            None => lines.insert(section + 1, line),
        }
    }
    std::fs::write(config, lines.join("\n") + "\n").expect("write the agent's config");
}

pub fn cli_ok(agent: &Agent, args: &[&str]) -> String {
    let out = agent.cli(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "lbs-agent {args:?} failed:\n{text}\n{}",
        agent.log()
    );
    text
}

/// The agent's failover status, through its CLI (`status --json`).
pub fn failover_status(agent: &Agent) -> FailoverStatus {
    let out = agent.cli(&["status", "--json"]);
    assert!(out.status.success(), "status: {}", String::from_utf8_lossy(&out.stderr));
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    serde_json::from_value(all["failover"].clone()).expect("failover status")
}

pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_dir().join("office.sh"))
            .args(["down", &self.dir.path().display().to_string(), &self.n.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One probe of the phone: when, and which box answered (`None`: nobody).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub t_ms: u64,
    pub answered_by: Option<String>,
    /// The address the phone asked (after the DNS lookup, with the dns strategy).
    pub asked: Option<String>,
    /// When the probe ended: the answer arrived, or it gave up.
    pub done_ms: u64,
}

impl Probe {
    /// `<t_ms> <box or -> <address or -> <done_ms>`, as the phone prints it.
    fn parse(line: &str) -> Option<Probe> {
        let mut parts = line.split_whitespace();
        let t_ms = parts.next()?.parse().ok()?;
        let known = |s: Option<&str>| s.filter(|s| *s != "-").map(str::to_owned);
        Some(Probe {
            t_ms,
            answered_by: known(parts.next()),
            asked: known(parts.next()),
            done_ms: parts.next()?.parse().ok()?,
        })
    }
}

pub struct Phone {
    child: Child,
    rx: mpsc::Receiver<Probe>,
    /// Every probe so far.
    pub seen: Vec<Probe>,
}

impl Phone {
    fn drain(&mut self, wait: Duration) {
        if let Ok(p) = self.rx.recv_timeout(wait) {
            self.seen.push(p);
        }
        while let Ok(p) = self.rx.try_recv() {
            self.seen.push(p);
        }
    }

    /// Waits until `who` answers a probe sent at or after `since_ms`; returns when that answer
    /// arrived.
    pub fn answered_by(&mut self, who: &str, since_ms: u64, timeout: Duration) -> u64 {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(p) = self
                .seen
                .iter()
                .find(|p| p.t_ms >= since_ms && p.answered_by.as_deref() == Some(who))
            {
                return p.done_ms;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the phone never reached box {who} (last probes: {:?})",
                &self.seen[self.seen.len().saturating_sub(5)..]
            );
            self.drain(Duration::from_millis(100));
        }
    }

    /// Probes sent at or after `since_ms` (after letting `settle` pass).
    pub fn since(&mut self, since_ms: u64, settle: Duration) -> Vec<Probe> {
        self.drain(settle);
        std::thread::sleep(settle);
        self.drain(Duration::from_millis(50));
        self.seen.iter().filter(|p| p.t_ms >= since_ms).cloned().collect()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
