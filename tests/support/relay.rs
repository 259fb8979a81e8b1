//! A TCP relay that delays what it carries, for a link between two agents that is slower than
//! loopback: a backup in another building, over a VPN. The kernel here has no `tc netem`, so the
//! delay is added in user space, each way, keeping the order of the bytes. It can also cut the
//! link (every connection dropped, new ones refused) and mend it, or stall it: a partner that
//! vanished mid-transfer without a word (every connection left open and unread).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Each connection to the target: the relay's end of it, and the bytes the target sent on it.
type Carried = Arc<Mutex<Vec<(SocketAddr, Arc<AtomicU64>)>>>;

pub struct Relay {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    carried: Carried,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and carries each connection to `target`, `delay` later
    /// each way.
    pub async fn start(target: SocketAddr, delay: Duration) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay listener");
        let addr = listener.local_addr().expect("relay address");
        let (cut, stalled) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let carried: Carried = Arc::default();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (cut, stalled, carried, tasks) = (cut.clone(), stalled.clone(), carried.clone(), tasks.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) || stalled.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let (stalled, carried) = (stalled.clone(), carried.clone());
                    let handle = tokio::spawn(async move {
                        let Ok(outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let from_target = Arc::new(AtomicU64::new(0));
                        if let Ok(end) = outbound.local_addr() {
                            carried.lock().unwrap().push((end, from_target.clone()));
                        }
                        let (ri, wi) = inbound.into_split();
                        let (ro, wo) = outbound.into_split();
                        let to_target = Arc::new(AtomicU64::new(0));
                        tokio::join!(
                            carry(ri, wo, delay, &stalled, &to_target),
                            carry(ro, wi, delay, &stalled, &from_target)
                        );
                    });
                    let mut list = tasks.lock().unwrap();
                    list.retain(|t| !t.is_finished());
                    list.push(handle);
                }
            })
        };
        Relay {
            addr,
            cut,
            stalled,
            carried,
            tasks,
            accept,
        }
    }

    /// Drops every connection and refuses new ones, as a link that went down.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// Stops carrying anything, either way, and leaves every connection open and unread, new ones
    /// refused: a partner gone mid-transfer without a FIN or a RST, whose kernel still answers
    /// with a closed window. The sender's only way out is a timeout of its own.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// The connection to the target that carried the most bytes from it: the relay's end of it
    /// (the address the target sees as its peer) and the bytes.
    pub fn busiest_from_target(&self) -> Option<(SocketAddr, u64)> {
        self.carried
            .lock()
            .unwrap()
            .iter()
            .map(|(end, n)| (*end, n.load(Ordering::SeqCst)))
            .max_by_key(|(_, n)| *n)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, counting the bytes read; the order
/// is kept, and a slow reader does not hold up what follows any more than the link would. Once
/// `stalled`, nothing more is read or written.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    stalled: &AtomicBool,
    counted: &AtomicU64,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if stalled.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if stalled.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    counted.fetch_add(n as u64, Ordering::SeqCst);
                    if tx
                        .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    tokio::join!(reader, writer);
}
