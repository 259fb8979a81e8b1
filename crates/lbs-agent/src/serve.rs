//! The HTTPS server: a TCP listener, rustls, and hyper serving the axum app, with limits that
//! keep a misbehaving client from starving the box or shutting out the partner: places held per
//! source address with a pool of the partner's own ([`admission`]), short handshake and header
//! timeouts (an idle keep-alive connection is closed by the header timeout too), a bounded header
//! size, and request bodies that must keep coming ([`body`]).

mod admission;
mod body;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use lbs_agent_core::peer::Peer;
use tokio::net::TcpListener;
use tokio::sync::RwLock;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

pub use admission::{key_of, Admission, Limits};
pub use body::Pace;

/// The fingerprint of the certificate the client presented, if any (the partner box presents
/// one; consoles do not). Put into every request's extensions for the partner routes to check.
#[derive(Debug, Clone)]
pub struct ClientCert(pub Option<String>);

/// The address the connection came from, in every request's extensions (for the throttle of
/// failed authentication).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A client sends its ClientHello as soon as it is connected: a connection still silent after
/// this holds a place for nothing.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole TLS handshake, within a few round trips on the office network.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Data sent and not acknowledged for this long (a client that stopped reading, its window shut)
/// ends the connection, which would otherwise hold its place for as long as the kernel retries.
/// The partner's long poll has nothing unacknowledged while it waits, so it is not cut.
const USER_TIMEOUT: Duration = Duration::from_secs(60);
/// The time to send a request's headers, and so also how long an idle keep-alive connection is
/// kept (hyper starts this timer whenever it waits for a request). The partner's long poll is a
/// request in flight, which it does not cut; its client drops idle connections sooner
/// (`lbs_agent_core::peer::client`), so it never sends on one this side is closing.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most a request's headers may take (hyper's default is its read buffer's, ~400 KB); the
/// count of headers keeps hyper's bound of 100.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What the server needs beside the app: the pinned partner (whose certificate earns its own
/// pool) and the bounds.
pub struct Guard {
    pub partner: Arc<RwLock<Option<Peer>>>,
    pub limits: Limits,
    pub pace: Pace,
}

pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    guard: Guard,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let admission = Admission::new(guard.limits);
    let refusals = Arc::new(refusal_log::RefusalLog::default());
    let partner = guard.partner;
    let pace = guard.pace;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to be given back.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let ticket = match admission.handshake(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                refusals.note(peer, why, admission.load());
                continue;
            }
        };
        // Marked before the next connection is let in, so a flood of silent connections from
        // the partner's address cannot drop a handshake whose ClientHello is already here.
        if has_data(&stream) {
            ticket.spoke();
        }
        // Small answers (a page of changes, a voicemail) must not wait for Nagle's algorithm.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        if let Err(e) = set_user_timeout(&stream, USER_TIMEOUT) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_USER_TIMEOUT");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        let partner = partner.clone();
        let refusals = refusals.clone();
        let admission = admission.clone();
        tokio::spawn(async move {
            let handshake = async {
                let mut first = [0u8; 1];
                match tokio::time::timeout(FIRST_BYTE_TIMEOUT, stream.peek(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => ticket.spoke(),
                    _ => return Err("the client sent nothing"),
                }
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => Ok(s),
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        Err("TLS handshake failed")
                    }
                    Err(_) => Err("TLS handshake timed out"),
                }
            };
            let tls_stream = tokio::select! {
                done = handshake => match done {
                    Ok(s) => s,
                    Err(why) => {
                        tracing::debug!(%peer, why, "connection closed before its handshake ended");
                        return;
                    }
                },
                _ = ticket.dropped() => {
                    tracing::debug!(%peer, "handshake dropped for a newer one from the partner's address");
                    return;
                }
            };
            let fingerprint = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| lbs_tls::fingerprint(c.as_ref()));
            let is_partner = match &fingerprint {
                Some(fp) => partner.read().await.as_ref().is_some_and(|p| &p.fingerprint == fp),
                None => false,
            };
            let _ticket = match ticket.open(is_partner) {
                Ok(t) => t,
                Err(why) => {
                    refusals.note(peer, why, admission.load());
                    return;
                }
            };
            let cert = ClientCert(fingerprint);
            let app = app.map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(|b| axum::body::Body::new(body::Paced::new(b, pace)));
                req.extensions_mut().insert(cert.clone());
                req.extensions_mut().insert(ClientAddr(peer));
                req
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_header_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(tls_stream), TowerToHyperService::new(app))
                .await;
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Whether bytes are waiting on the socket now (without reading them nor waiting).
fn has_data(stream: &tokio::net::TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: the descriptor is the open socket `stream` owns; the buffer is one local byte.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
}

/// `TCP_USER_TIMEOUT` on an accepted socket (Linux).
fn set_user_timeout(stream: &tokio::net::TcpStream, timeout: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let millis = libc::c_uint::try_from(timeout.as_millis()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: the descriptor is the open socket `stream` owns, and the option's value is a
    // `c_uint` whose address and size are passed with it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&raw const millis).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Connections refused at once are logged as one warning a minute at most, for all addresses
/// together (how many, from how many addresses, the latest reason), so a flood cannot flood the
/// log too, nor slow the accept loop: each refusal costs a set insertion, and the set is bounded.
mod refusal_log {
    use std::collections::HashSet;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::admission::{key_of, Refused};

    const EVERY: Duration = Duration::from_secs(60);
    /// Addresses (IPv6 by /64) counted at most per minute; beyond, the count is a lower bound.
    const REMEMBERED: usize = 1024;

    #[derive(Default)]
    struct Window {
        logged: Option<Instant>,
        refused: u64,
        addresses: HashSet<IpAddr>,
        /// More addresses than [`REMEMBERED`] were refused since the last line.
        more: bool,
    }

    #[derive(Default)]
    pub struct RefusalLog(Mutex<Window>);

    impl RefusalLog {
        pub fn note(&self, peer: SocketAddr, why: Refused, (pending, open, partner): (usize, usize, usize)) {
            let now = Instant::now();
            let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
            w.refused += 1;
            let key = key_of(peer.ip());
            if w.addresses.len() < REMEMBERED {
                w.addresses.insert(key);
            } else if !w.addresses.contains(&key) {
                w.more = true;
            }
            if w.logged.is_none_or(|at| now.duration_since(at) >= EVERY) {
                let addresses = format!("{}{}", w.addresses.len(), if w.more { "+" } else { "" });
                tracing::warn!(
                    refused = w.refused,
                    addresses = %addresses,
                    latest = %key,
                    pending,
                    open,
                    partner,
                    "refused {} connections from {addresses} addresses since the last warning, the latest for: {} \
                     (each address holds only its share; others and the partner are still served)",
                    w.refused,
                    why.reason()
                );
                *w = Window {
                    logged: Some(now),
                    ..Window::default()
                };
            }
        }
    }
}
