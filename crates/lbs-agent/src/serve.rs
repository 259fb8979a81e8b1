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

pub use admission::{Admission, Limits};
pub use body::Pace;

/// The fingerprint of the certificate the client presented, if any (the partner box presents
/// one; consoles do not). Put into every request's extensions for the partner routes to check.
#[derive(Debug, Clone)]
pub struct ClientCert(pub Option<String>);

/// The address the connection came from, in every request's extensions (for the throttle of
/// failed authentication).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A ClientHello arrives within a round trip on the office network: a connection still silent
/// after this holds a place for nothing.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
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
        // Small answers (a page of changes, a voicemail) must not wait for Nagle's algorithm.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        let partner = partner.clone();
        let refusals = refusals.clone();
        let admission = admission.clone();
        tokio::spawn(async move {
            let tls_stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
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

/// Connections refused at once are logged as a warning at most once a minute for each address
/// (with how many since), so a flood cannot flood the log too.
mod refusal_log {
    use std::collections::HashMap;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use super::admission::Refused;

    const EVERY: Duration = Duration::from_secs(60);
    /// Addresses remembered at most (a flood from many addresses forgets the quiet ones).
    const REMEMBERED: usize = 1024;

    #[derive(Default)]
    pub struct RefusalLog(Mutex<HashMap<IpAddr, (Option<Instant>, u64)>>);

    impl RefusalLog {
        pub fn note(&self, peer: SocketAddr, why: Refused, (pending, open, partner): (usize, usize, usize)) {
            let now = Instant::now();
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= REMEMBERED {
                seen.retain(|_, (at, _)| at.is_some_and(|at| now.duration_since(at) < EVERY));
            }
            let entry = seen.entry(peer.ip()).or_insert((None, 0));
            entry.1 += 1;
            if entry.0.is_none_or(|at| now.duration_since(at) >= EVERY) {
                tracing::warn!(
                    address = %peer.ip(),
                    refused = entry.1,
                    pending,
                    open,
                    partner,
                    "refusing connections: {} (this address holds its share; others and the partner are still served)",
                    why.reason()
                );
                *entry = (Some(now), 0);
            }
        }
    }
}
