//! Hostile clients, for the hostile-client tests and `lbs-hostile-bench`: each attack runs from a
//! loopback address of its own (127.0.0.2, …: Linux answers all of 127/8 on `lo`), so the agent
//! sees it as another device on the office network than the console and the partner (127.0.0.1).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

/// The loopback address `127.0.0.n`.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A TCP connection to `to` from the address `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A TLS connection (the console's pinned client, no certificate) to `to` from `from`.
pub async fn tls_from(from: IpAddr, to: SocketAddr, pin: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let config =
        lbs_tls::pinned_client_config(Some(pin.to_owned()), Default::default()).map_err(std::io::Error::other)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tcp_from(from, to).await?;
    let name = rustls::pki_types::ServerName::IpAddress(to.ip().into());
    tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

/// Whether the other side has closed `stream` (EOF or an error) within `wait`.
pub async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (e.g. hyper's 408 or 431) before the close: keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

/// An HTTP/1.1 request's head, without the blank line that ends it.
pub fn head(method: &str, path: &str, token: Option<&str>) -> String {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: lbs\r\n");
    if let Some(t) = token {
        h += &format!("Authorization: Bearer {t}\r\n");
    }
    h
}

/// The status code of the answer read from `stream` (its first line), within `wait`.
pub async fn status_of<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, wait: Duration) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    while !got.windows(2).any(|w| w == b"\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The attacks of the hostile-client suite, each run without end until stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Holds as many idle TLS connections as it can (up to `n`), reopening closed ones.
    IdleTls(usize),
    /// Holds TCP connections that never send a ClientHello.
    HalfOpen(usize),
    /// Half-open TCP connections on `n` workers, each reconnecting at once when closed (a tight
    /// loop).
    HalfOpenTight(usize),
    /// TLS garbage: random bytes instead of a ClientHello, connection after connection.
    Garbage,
    /// Headers without end: a header line that never stops, on `n` connections at once.
    EndlessHeaders(usize),
    /// Slowloris: headers at a byte a second, on `n` connections.
    SlowHeaders(usize),
    /// A body at a byte a second (after valid headers and a valid token), on `n` connections.
    SlowBody(usize),
    /// Bodies over the limit (3 MB) to a JSON route, one after another.
    BigBodies,
    /// Wrong tokens, as fast as the agent answers, on `n` connections at once.
    Guessing(usize),
}

impl Attack {
    pub fn name(self) -> String {
        match self {
            Attack::IdleTls(n) => format!("{n} idle TLS connections"),
            Attack::HalfOpen(n) => format!("{n} half-open TCP connections"),
            Attack::HalfOpenTight(n) => format!("{n} half-open TCP connections reconnecting at once"),
            Attack::Garbage => "TLS garbage".into(),
            Attack::EndlessHeaders(n) => format!("endless headers ×{n}"),
            Attack::SlowHeaders(n) => format!("slowloris headers ×{n}"),
            Attack::SlowBody(n) => format!("slowloris body ×{n}"),
            Attack::BigBodies => "3 MB bodies".into(),
            Attack::Guessing(n) => format!("token guessing ×{n}"),
        }
    }
}

/// What an attack managed: attempts (connections or requests) and how many the agent closed or
/// refused.
#[derive(Debug, Default)]
pub struct Tally {
    pub attempts: AtomicU64,
    pub refused: AtomicU64,
    /// Connections held open right now (idle and half-open attacks).
    pub held: AtomicU64,
    /// Guesses answered 429 at once (another guess from the address was being slowed).
    pub throttled: AtomicU64,
}

/// An attack on the agent at `to` (pinned by `pin`; `token` a valid one, for the slow body) from
/// `from`, until `stop` is set.
pub struct Target {
    pub from: IpAddr,
    pub to: SocketAddr,
    pub pin: String,
    pub token: String,
}

pub async fn run(attack: Attack, target: Arc<Target>, tally: Arc<Tally>, stop: tokio::sync::watch::Receiver<bool>) {
    let workers = match attack {
        Attack::IdleTls(n) | Attack::HalfOpen(n) | Attack::HalfOpenTight(n) => n,
        Attack::EndlessHeaders(n) | Attack::SlowHeaders(n) | Attack::SlowBody(n) | Attack::Guessing(n) => n,
        Attack::Garbage | Attack::BigBodies => 2,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..workers {
        let (target, tally, stop) = (target.clone(), tally.clone(), stop.clone());
        tasks.spawn(async move {
            let client = client_from(&target);
            let mut n = 0u64;
            while !*stop.borrow() {
                n += 1;
                tally.attempts.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let closed = match attack {
                    Attack::IdleTls(_) => idle_tls(&target, &tally, &stop).await,
                    Attack::HalfOpen(_) | Attack::HalfOpenTight(_) => half_open(&target, &tally, &stop).await,
                    Attack::Garbage => garbage(&target, (i as u64) << 32 | n).await,
                    Attack::EndlessHeaders(_) => endless_headers(&target).await,
                    Attack::SlowHeaders(_) => slow_headers(&target, &stop).await,
                    Attack::SlowBody(_) => slow_body(&target, &stop).await,
                    Attack::BigBodies => big_body(&target, &client).await,
                    Attack::Guessing(_) => guess(&target, &client, &tally, (i as u64) << 32 | n).await,
                };
                if closed {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                }
                // Refused at once: reconnect a second later, as a stubborn client would (the
                // attacker shares the agent's cores: a tight loop would measure its own CPU, not
                // the agent's limits). Garbage, bodies, guesses and the tight loop go on at full speed.
                let connection_attack = !matches!(
                    attack,
                    Attack::Garbage | Attack::BigBodies | Attack::Guessing(_) | Attack::HalfOpenTight(_)
                );
                if closed && connection_attack && started.elapsed() < Duration::from_millis(500) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }
    let mut stop = stop;
    let _ = stop.wait_for(|s| *s).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Holds one idle TLS connection until the agent closes it or the attack stops; true if the
/// agent refused or closed it.
async fn idle_tls(t: &Target, tally: &Tally, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let Ok(mut tls) = tls_from(t.from, t.to, &t.pin).await else {
        return true;
    };
    hold(&mut tls, tally, stop).await
}

async fn half_open(t: &Target, tally: &Tally, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let Ok(mut tcp) = tcp_from(t.from, t.to).await else {
        return true;
    };
    hold(&mut tcp, tally, stop).await
}

async fn hold<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    tally: &Tally,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> bool {
    tally.held.fetch_add(1, Ordering::Relaxed);
    let mut stop = stop.clone();
    let closed = tokio::select! {
        _ = closed_within(s, Duration::from_secs(3600)) => true,
        _ = stop.wait_for(|s| *s) => false,
    };
    tally.held.fetch_sub(1, Ordering::Relaxed);
    closed
}

async fn garbage(t: &Target, seed: u64) -> bool {
    let Ok(mut tcp) = tcp_from(t.from, t.to).await else {
        return true;
    };
    let junk = crate::noise(seed ^ 0x9e37, 16 * 1024);
    let _ = tcp.write_all(&junk).await;
    closed_within(&mut tcp, Duration::from_secs(10)).await
}

async fn endless_headers(t: &Target) -> bool {
    let Ok(mut tls) = tls_from(t.from, t.to, &t.pin).await else {
        return true;
    };
    let mut request = head("GET", "/api/v1/status", None) + "X-Endless: ";
    let line = vec![b'a'; 16 * 1024];
    if tls.write_all(request.as_bytes()).await.is_err() {
        return true;
    }
    request.clear();
    // Up to 16 MB; the agent closes it long before.
    for _ in 0..1024 {
        if tls.write_all(&line).await.is_err() {
            return true;
        }
    }
    false
}

async fn slow_headers(t: &Target, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let Ok(mut tls) = tls_from(t.from, t.to, &t.pin).await else {
        return true;
    };
    let request = head("GET", "/api/v1/status", Some(&t.token)) + "X-Slow: ";
    for b in request.bytes().chain(std::iter::repeat(b'a')) {
        if *stop.borrow() {
            return false;
        }
        if tls.write_all(&[b]).await.is_err() || tls.flush().await.is_err() {
            return true;
        }
        if closed_within(&mut tls, Duration::from_secs(1)).await {
            return true;
        }
    }
    false
}

async fn slow_body(t: &Target, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let Ok(mut tls) = tls_from(t.from, t.to, &t.pin).await else {
        return true;
    };
    let request = head("POST", "/api/v1/tokens", Some(&t.token))
        + "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"role\":\"viewer\",\"label\":\"";
    if tls.write_all(request.as_bytes()).await.is_err() {
        return true;
    }
    loop {
        if *stop.borrow() {
            return false;
        }
        if tls.write_all(b"a").await.is_err() || tls.flush().await.is_err() {
            return true;
        }
        if closed_within(&mut tls, Duration::from_secs(1)).await {
            return true;
        }
    }
}

async fn big_body(t: &Target, client: &reqwest::Client) -> bool {
    let body = vec![b' '; 3 << 20];
    let r = client
        .post(format!("https://{}/api/v1/tokens", t.to))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    !r.is_ok_and(|r| r.status().is_success())
}

async fn guess(t: &Target, client: &reqwest::Client, tally: &Tally, seed: u64) -> bool {
    let wrong = format!("lbs_{:032x}", seed.wrapping_mul(0x9e3779b97f4a7c15));
    let r = client
        .get(format!("https://{}/api/v1/status", t.to))
        .bearer_auth(wrong)
        .send()
        .await;
    if r.as_ref()
        .is_ok_and(|r| r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS)
    {
        tally.throttled.fetch_add(1, Ordering::Relaxed);
    }
    !r.is_ok_and(|r| r.status().is_success())
}

/// The console's pinned client, from the attack's address.
pub fn client_from(t: &Target) -> reqwest::Client {
    let tls = lbs_tls::pinned_client_config(Some(t.pin.clone()), Default::default()).expect("tls config");
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .local_address(t.from)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// Thousands of connections need as many descriptors: the soft limit raised to the hard one.
pub fn raise_open_files() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
