//! Real receivers for the agent's alerts: a mail server (aiosmtpd, `smtp_server.py` beside this
//! file: STARTTLS or TLS with a certificate made here, AUTH, each mail written to a folder) and
//! an HTTP server (axum) that records every request it gets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A certificate authority and a server certificate it signed for 127.0.0.1 and localhost.
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    /// Writes a fresh CA and server certificate (for 127.0.0.1 and localhost) into `dir`.
    pub fn make(dir: &Path) -> Tls {
        Tls::make_for(dir, &[])
    }

    /// As [`Tls::make`], the certificate also naming `more` (addresses or names).
    pub fn make_for(dir: &Path, more: &[&str]) -> Tls {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        std::fs::create_dir_all(dir).expect("tls dir");
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "LBS test mail CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca cert");
        let key = KeyPair::generate().expect("server key");
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        names.extend(more.iter().map(|n| n.to_string()));
        let params = CertificateParams::new(names).expect("server params");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");
        let tls = Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&tls.ca, ca.pem()).expect("write ca");
        std::fs::write(&tls.cert, cert.pem()).expect("write cert");
        std::fs::write(&tls.key, key.serialize_pem()).expect("write key");
        tls
    }
}

/// `starttls`, `tls` or `plain`.
pub struct MailServer {
    /// Where it listens: 127.0.0.1, or an address in `netns`.
    pub host: String,
    pub netns: Option<String>,
    pub port: u16,
    pub out: PathBuf,
    pub user: String,
    pub password: String,
    mode: &'static str,
    tls: Option<(PathBuf, PathBuf)>,
    login_only: bool,
    child: Option<Child>,
}

/// One mail as received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub file: String,
    pub text: String,
}

impl Mail {
    /// The value of the first header `name` (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = &mut value {
                if line.starts_with(' ') || line.starts_with('\t') {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_owned());
                }
            }
        }
        value
    }

    /// The subject, decoded if it came as encoded words (lettre encodes what is not ASCII).
    pub fn subject(&self) -> String {
        decode_words(&self.header("Subject").unwrap_or_default())
    }

    pub fn body(&self) -> String {
        let body = self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default();
        if encoding.eq_ignore_ascii_case("base64") {
            use base64::Engine;
            let clean: String = body.split_whitespace().collect();
            return String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .unwrap_or_default(),
            )
            .into_owned();
        }
        if encoding.eq_ignore_ascii_case("quoted-printable") {
            return String::from_utf8_lossy(&quoted_printable(body)).into_owned();
        }
        body.to_owned()
    }
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if let Some(h) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded; other text as it is.
pub fn decode_words(s: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
    let mut last_encoded = false;
    for word in s.split_whitespace() {
        let decoded = word
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|w| {
                let mut parts = w.splitn(3, '?');
                let (_charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
                let bytes = if enc.eq_ignore_ascii_case("b") {
                    base64::engine::general_purpose::STANDARD.decode(text).ok()?
                } else {
                    quoted_printable(&text.replace('_', " "))
                };
                String::from_utf8(bytes).ok()
            });
        let encoded = decoded.is_some();
        if !(out.is_empty() || encoded && last_encoded) {
            out.push(' ');
        }
        out.push_str(&decoded.unwrap_or_else(|| word.to_owned()));
        last_encoded = encoded;
    }
    out
}

impl MailServer {
    /// A server on a free port (not started).
    pub fn new(dir: &Path, mode: &'static str, tls: Option<&Tls>) -> MailServer {
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).expect("mail dir");
        MailServer {
            host: "127.0.0.1".into(),
            netns: None,
            port: crate::free_port(),
            out,
            user: "pbx-alerts@example.com".into(),
            password: "s3cret pass".into(),
            mode,
            tls: tls.map(|t| (t.cert.clone(), t.key.clone())),
            login_only: false,
            child: None,
        }
    }

    /// Listens on `host` inside the network namespace `netns` (the simulated office).
    pub fn in_netns(mut self, netns: &str, host: &str) -> MailServer {
        self.netns = Some(netns.to_owned());
        self.host = host.to_owned();
        self.port = 2525;
        self
    }

    /// Offers AUTH LOGIN only.
    pub fn login_only(mut self) -> MailServer {
        self.login_only = true;
        self
    }

    /// Starts it and waits until it listens (it says "ready").
    pub fn start(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/smtp_server.py");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/bin/python3"]);
                c
            }
            None => Command::new("/usr/bin/python3"),
        };
        // aiosmtpd warns about plain AUTH, which the plain mode is for.
        cmd.args(["-W", "ignore"])
            .arg(script)
            .args([
                "--host",
                &self.host,
                "--port",
                &self.port.to_string(),
                "--mode",
                self.mode,
            ])
            .args(["--user", &self.user, "--password", &self.password])
            .arg("--out")
            .arg(&self.out)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.out.with_file_name("smtp-server.log")).expect("smtp log"));
        if let Some((cert, key)) = &self.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if self.login_only {
            cmd.arg("--login-only");
        }
        let mut child = cmd
            .spawn()
            .expect("start the mail server (apt-get install python3-aiosmtpd)");
        let stdout = child.stdout.take().expect("mail server stdout");
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let said = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        assert_eq!(
            said.trim(),
            "ready",
            "the mail server did not start (is python3-aiosmtpd installed?): {}",
            std::fs::read_to_string(self.out.with_file_name("smtp-server.log")).unwrap_or_default()
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every mail received so far, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<String> = std::fs::read_dir(&self.out)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by_key(|n| {
            let (t, k) = n.trim_end_matches(".eml").split_once('-').unwrap_or((n, "0"));
            (t.parse::<u128>().unwrap_or(0), k.parse::<u64>().unwrap_or(0))
        });
        names
            .into_iter()
            .map(|n| Mail {
                text: std::fs::read_to_string(self.out.join(&n)).unwrap_or_default(),
                file: n,
            })
            .collect()
    }

    /// Writes the password into `dir/smtp.password` and returns the `[[alerts.email]]` section
    /// (plus `extra` keys) that reaches this server.
    pub fn config(&self, dir: &Path, extra: &str) -> String {
        let password_file = dir.join("smtp.password");
        std::fs::write(&password_file, format!("{}\n", self.password)).expect("password file");
        let security = match self.mode {
            "plain" => "none",
            m => m,
        };
        format!(
            "[[alerts.email]]\nserver = \"{}\"\nport = {}\nsecurity = \"{security}\"\nusername = \"{}\"\n\
             password_file = \"{}\"\nfrom = \"PBX alerts <{}>\"\nto = [\"office@example.com\", \"it@example.com\"]\n{extra}\n",
            self.host,
            self.port,
            self.user,
            password_file.display(),
            self.user
        )
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request the HTTP receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Hook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP server recording every request; answers 200. It runs on the test's runtime: a test
/// that blocks a thread (running the CLI) needs a multi-threaded one.
pub struct HookServer {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Hook>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HookServer {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> HookServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        HookServer::serve(listener)
    }

    /// Listens on `addr` inside the network namespace `netns`: the socket is made by a thread
    /// that enters it (a namespace is per thread); it stays there once made.
    pub async fn start_in_netns(netns: &str, addr: &str) -> HookServer {
        let path = format!("/var/run/netns/{netns}");
        let addr = addr.to_owned();
        let listener = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(&path).expect("the namespace");
            // SAFETY: setns with an open namespace file changes only this thread's namespace.
            let entered = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(entered, 0, "cannot enter {path}");
            std::net::TcpListener::bind(&addr).expect("bind in the namespace")
        })
        .join()
        .expect("the namespace thread");
        HookServer::serve(listener)
    }

    fn serve(listener: std::net::TcpListener) -> HookServer {
        use axum::extract::{Request, State};
        let received: Arc<Mutex<Vec<Hook>>> = Arc::default();
        async fn record(State(r): State<Arc<Mutex<Vec<Hook>>>>, req: Request) -> &'static str {
            let path = req.uri().path().to_owned();
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
            r.lock().expect("hooks").push(Hook {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            "ok"
        }
        let app = axum::Router::new().fallback(record).with_state(received.clone());
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HookServer { addr, received, task }
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.received.lock().expect("hooks").clone()
    }

    /// The `[[alerts.webhook]]` section that reaches this server at `path`.
    pub fn config(&self, path: &str, format: &str) -> String {
        format!(
            "[[alerts.webhook]]\nurl = \"http://{}{path}\"\nformat = \"{format}\"\n",
            self.addr
        )
    }
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
