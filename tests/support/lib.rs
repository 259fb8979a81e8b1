//! Test support: start real `lbs-agent` processes in fresh directories on free loopback ports,
//! and talk to them over real TLS with the console's own pinned client.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lbs_protocol::ConnectionLink;

pub mod alerts;
pub mod baresip;
pub mod bench;
pub mod faults;
pub mod hostile;
pub mod lab;
pub mod mariadb;
pub mod netns;
pub mod observer;
pub mod relay;
pub mod soak;
pub mod vote;

/// Whether `tool` is on the PATH (for the tests' "install it with scripts/setup.sh" messages).
pub fn has_command(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A [`Agent::wrapper`] that runs the agent as its packaged unit's `PrivateDevices=true` does
/// (needs root): in its own mount namespace, with a `/dev` of its own holding only the pseudo
/// devices, so no disk is visible to it.
pub const WITHOUT_DISKS: &[&str] = &[
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    "set -e; mount -t tmpfs -o mode=0755,size=1m lbs-private-dev /dev; \
     for d in null:3 zero:5 full:7 random:8 urandom:9; do mknod -m 0666 /dev/${d%:*} c 1 ${d#*:}; done; \
     ln -s /proc/self/fd /dev/fd; exec \"$@\"",
    "sh",
];

/// The `lbs-agent` binary built by `cargo build --workspace --bins` (or `LBS_AGENT_BIN`).
pub fn agent_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("LBS_AGENT_BIN") {
        return PathBuf::from(p);
    }
    // Test binaries live in target/<profile>/deps, other binaries (lbs-bench) beside the agent.
    let exe = std::env::current_exe().expect("own binary path");
    let dir = exe.parent().expect("binary dir");
    let candidates = [
        dir.join("lbs-agent"),
        dir.parent().map(|d| d.join("lbs-agent")).unwrap_or_default(),
    ];
    let bin = candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| candidates[1].clone());
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build --workspace --bins`)",
        bin.display()
    );
    bin
}

/// A port nothing listens on now, and never handed out before in this process. The kernel can
/// give the same free port to two binds in a row once the first is closed: a vote of three
/// members once got two members on one port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// One agent: its directory, config, and (once started) its process.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    pub link: ConnectionLink,
    /// The network namespace it runs in (the simulated office), if any.
    pub netns: Option<String>,
    /// Extra environment for the agent process (and so for the PBX it starts).
    pub env: Vec<(String, String)>,
    /// A command the agent (and its CLI) runs under, given the agent's command line as its
    /// arguments: e.g. [`WITHOUT_DISKS`]. Empty: none.
    pub wrapper: Vec<String>,
    /// The agent's binary (and its CLI's) when it is not this build's: an older release, to be
    /// upgraded from. `None`: [`agent_bin`].
    pub bin: Option<PathBuf>,
    child: Option<Child>,
}

impl Agent {
    /// Writes a config (1 s sampling, a scripted PBX probe) and runs `lbs-agent init`.
    pub fn init(name: &str) -> Agent {
        Agent::init_with(name, "1s")
    }

    /// As `init`, sampling every `interval` (e.g. "5s").
    pub fn init_with(name: &str, interval: &str) -> Agent {
        Agent::init_config(name, interval, |_| String::new())
    }

    /// As `init_with`, with more TOML appended; `extra` gets the agent's directory (for roots).
    pub fn init_config(name: &str, interval: &str, extra: impl FnOnce(&std::path::Path) -> String) -> Agent {
        let port = free_port();
        Agent::init_raw("primary", None, port, |dir| {
            let text = format!(
                "[server]\nname = \"{name}\"\nlisten = \"127.0.0.1:{port}\"\nstate_dir = \"{}\"\n\n\
                 [metrics]\ninterval = \"{interval}\"\nmounts = [\"/\"]\n\n\
                 [pbx]\nprobe = [\"/bin/sh\", \"-c\", \"echo '{{\\\"calls\\\": 4, \\\"phones\\\": 17}}'\"]\n",
                dir.join("state").display()
            );
            text + &extra(dir)
        })
    }

    /// Writes the config `text` makes (given the agent's directory; its state dir must be
    /// `<dir>/state`) and runs `lbs-agent init --role <role>`. With `netns`, the agent later runs
    /// in that namespace, answering on `port` there.
    pub fn init_raw(
        role: &str,
        netns: Option<String>,
        port: u16,
        text: impl FnOnce(&std::path::Path) -> String,
    ) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, text(dir.path())).expect("write config");
        let out = run_cli(&["init", "--role", role, "--config", config.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let link = parse_link(&String::from_utf8_lossy(&out.stdout));
        Agent {
            dir,
            config,
            port,
            link,
            netns,
            env: Vec::new(),
            wrapper: Vec::new(),
            bin: None,
            child: None,
        }
    }

    /// The command for `program`, inside the agent's namespace if it has one.
    fn command(&self, program: &std::path::Path) -> Command {
        let mut line: Vec<std::ffi::OsString> = self.wrapper.iter().map(Into::into).collect();
        line.push(program.into());
        if let Some(ns) = &self.netns {
            line.splice(0..0, ["ip", "netns", "exec", ns.as_str()].map(Into::into));
        }
        let mut c = Command::new(&line[0]);
        c.args(&line[1..]);
        c
    }

    fn binary(&self) -> PathBuf {
        self.bin.clone().unwrap_or_else(agent_bin)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// Starts `lbs-agent run` and waits until `/healthz` answers.
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = self
            .command(&self.binary())
            .args(["run", "--config", self.config.to_str().expect("utf-8 path")])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("LBS_AGENT_LOG").unwrap_or_else(|_| "debug,sqlx=warn".into()),
            )
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn lbs-agent");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let up = match &self.netns {
                None => std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
                Some(_) => self.cli(&["status"]).status.success(),
            };
            if up {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("lbs-agent exited early ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("lbs-agent did not start listening: {}", self.log());
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(self.log_path()).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// Stops the agent with SIGTERM, as systemd does.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the agent with SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client presenting this agent's own certificate (as its partner would) to `server`.
    pub fn as_partner_of(&self, server: &Agent) -> reqwest::Client {
        let read = |p: &str| std::fs::read(self.state_dir().join(p)).expect("tls file");
        let cert = rustls_pemfile::certs(&mut read("tls/cert.pem").as_slice())
            .next()
            .expect("a certificate")
            .expect("valid pem");
        let key = rustls_pemfile::private_key(&mut read("tls/key.pem").as_slice())
            .expect("valid pem")
            .expect("a key");
        let tls = lbs_tls::mutual_client_config(server.link.fingerprint.clone(), Default::default(), cert, key)
            .expect("tls config");
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client")
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().expect("utf-8 path")]);
        self.command(&self.binary())
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .expect("run lbs-agent")
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path` over pinned TLS with `token` as the bearer.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with a JSON body over pinned TLS with `token` as the bearer.
    pub async fn post(&self, path: &str, token: &str, body: serde_json::Value) -> reqwest::Response {
        self.http()
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .expect("request")
    }

    /// An HTTPS client that pins this agent's certificate.
    pub fn http(&self) -> reqwest::Client {
        let tls = lbs_tls_config(&self.link.fingerprint);
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn lbs_tls_config(pin: &str) -> rustls::ClientConfig {
    lbs_tls::pinned_client_config(Some(pin.to_owned()), Default::default()).expect("tls config")
}

pub fn run_cli(args: &[&str]) -> Output {
    Command::new(agent_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lbs-agent")
}

/// The connection link printed by `init` or `token create`.
pub fn parse_link(stdout: &str) -> ConnectionLink {
    let line = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("lbs://"))
        .expect("a connection link in the output");
    ConnectionLink::parse(line).expect("a valid link")
}

/// The files directly in `root`, by name, with their content.
pub fn files(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` until it returns `Some` or the time is up.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (utime + stime in seconds, VmRSS in KiB) of a process, from /proc (for the benchmarks).
pub fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks / clock_ticks(), rss))
}

/// The `p` quantile (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Deterministic incompressible bytes (like encoded audio), `n` long.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}
