//! Who may hold a connection: bounds on pending TLS handshakes and on open connections, per
//! source address and in total, with a pool of its own for the paired partner. A device on the
//! office network that opens connections without end fills its own share, never the partner's
//! nor another address's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// After an address was refused for holding its share of open connections, its next connections
/// are refused at once, before any TLS handshake, for this long: a client reconnecting in a loop
/// then costs a handshake four times a second, not as fast as it can (one that shares the
/// partner's address may delay the partner's new connection by as much).
const COOL_DOWN: Duration = Duration::from_millis(250);

/// The bounds (see `docs/agent.md`, "Connections").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TLS handshakes under way from one address.
    pub pending_per_address: usize,
    /// TLS handshakes under way in all.
    pub pending_total: usize,
    /// Open connections (consoles, scripts, a box pairing) from one address.
    pub per_address: usize,
    /// Open connections in all, the partner's aside.
    pub total: usize,
    /// Open connections that presented the paired partner's certificate.
    pub partner: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pending_per_address: 16,
            pending_total: 128,
            per_address: 32,
            total: 512,
            partner: 64,
        }
    }
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PendingPerAddress,
    PendingTotal,
    PerAddress,
    Total,
    Partner,
}

impl Refused {
    pub fn reason(self) -> &'static str {
        match self {
            Refused::PendingPerAddress => "too many TLS handshakes under way from this address",
            Refused::PendingTotal => "too many TLS handshakes under way",
            Refused::PerAddress => "too many connections from this address",
            Refused::Total => "too many connections",
            Refused::Partner => "too many connections from the partner",
        }
    }
}

#[derive(Default)]
struct Address {
    pending: usize,
    open: usize,
    /// Refused before its handshake until then (see [`COOL_DOWN`]).
    cooling_until: Option<Instant>,
}

impl Address {
    fn idle(&self) -> bool {
        self.pending == 0 && self.open == 0
    }
}

#[derive(Default)]
struct Counts {
    /// By address; an address with nothing pending or open is removed.
    by_address: HashMap<IpAddr, Address>,
    pending: usize,
    open: usize,
    partner: usize,
}

pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    Open,
    Partner,
}

/// A held place; dropping it gives the place back.
pub struct Ticket {
    /// `None` once the place was handed on to the next stage's ticket.
    admission: Option<Arc<Admission>>,
    address: IpAddr,
    stage: Stage,
}

impl Admission {
    pub fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            counts: Mutex::default(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every change is one statement.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new TCP connection's TLS handshake.
    pub fn handshake(self: &Arc<Self>, address: IpAddr) -> Result<Ticket, Refused> {
        let mut c = self.counts();
        let (mine, cooling) = c
            .by_address
            .get(&address)
            .map_or((0, None), |e| (e.pending, e.cooling_until));
        if cooling.is_some_and(|until| Instant::now() < until) {
            return Err(Refused::PerAddress);
        }
        if mine >= self.limits.pending_per_address {
            return Err(Refused::PendingPerAddress);
        }
        if c.pending >= self.limits.pending_total {
            return Err(Refused::PendingTotal);
        }
        c.pending += 1;
        c.by_address.entry(address).or_default().pending += 1;
        Ok(Ticket {
            admission: Some(self.clone()),
            address,
            stage: Stage::Pending,
        })
    }

    /// (pending, open, partner) connections now: for the tests' and the log's view.
    pub fn load(&self) -> (usize, usize, usize) {
        let c = self.counts();
        (c.pending, c.open, c.partner)
    }

    fn release(&self, address: IpAddr, stage: Stage) {
        let mut c = self.counts();
        match stage {
            Stage::Pending => {
                c.pending -= 1;
                if let Some(e) = c.by_address.get_mut(&address) {
                    e.pending -= 1;
                }
            }
            Stage::Open => {
                c.open -= 1;
                if let Some(e) = c.by_address.get_mut(&address) {
                    e.open -= 1;
                }
            }
            Stage::Partner => c.partner -= 1,
        }
        if c.by_address.get(&address).is_some_and(Address::idle) {
            c.by_address.remove(&address);
        }
    }
}

impl Ticket {
    /// The handshake is done: a place among the open connections, the partner's own pool if it
    /// presented the partner's certificate. The handshake's place is given back either way.
    pub fn open(mut self, partner: bool) -> Result<Ticket, Refused> {
        debug_assert_eq!(self.stage, Stage::Pending);
        // Taken: the old ticket gives nothing back when dropped; the handshake's place is
        // given back below, whether the connection is let in or not.
        let Some(admission) = self.admission.take() else {
            return Err(Refused::Total);
        };
        let mut guard = admission.counts();
        let c = &mut *guard;
        let refused = if partner {
            (c.partner >= admission.limits.partner).then_some(Refused::Partner)
        } else if c.by_address.get(&self.address).map_or(0, |e| e.open) >= admission.limits.per_address {
            Some(Refused::PerAddress)
        } else {
            (c.open >= admission.limits.total).then_some(Refused::Total)
        };
        c.pending -= 1;
        let entry = c.by_address.entry(self.address).or_default();
        entry.pending -= 1;
        let result = match refused {
            Some(Refused::PerAddress) => {
                entry.cooling_until = Some(Instant::now() + COOL_DOWN);
                Err(Refused::PerAddress)
            }
            Some(r) => Err(r),
            None if partner => {
                c.partner += 1;
                Ok(Stage::Partner)
            }
            None => {
                entry.open += 1;
                c.open += 1;
                Ok(Stage::Open)
            }
        };
        if c.by_address.get(&self.address).is_some_and(Address::idle) {
            c.by_address.remove(&self.address);
        }
        drop(guard);
        result.map(|stage| Ticket {
            admission: Some(admission),
            address: self.address,
            stage,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.release(self.address, self.stage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn small() -> Arc<Admission> {
        Admission::new(Limits {
            pending_per_address: 2,
            pending_total: 3,
            per_address: 2,
            total: 3,
            partner: 1,
        })
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let a = small();
        let p1 = a.handshake(ip(1)).unwrap();
        let p2 = a.handshake(ip(1)).unwrap();
        assert_eq!(a.handshake(ip(1)).err(), Some(Refused::PendingPerAddress));
        // Another address still gets in.
        let q = a.handshake(ip(2)).unwrap();
        assert_eq!(a.handshake(ip(3)).err(), Some(Refused::PendingTotal));
        let o1 = p1.open(false).unwrap();
        let o2 = a.handshake(ip(1)).unwrap().open(false).unwrap();
        assert_eq!(a.load(), (2, 2, 0));
        // ip(1) holds its two open connections: a third is refused after its handshake.
        assert_eq!(a.handshake(ip(1)).unwrap().open(false).err(), Some(Refused::PerAddress));
        // … and its next connections are refused before their handshake for a while.
        assert_eq!(a.handshake(ip(1)).err(), Some(Refused::PerAddress));
        std::thread::sleep(COOL_DOWN);
        // The partner has its own pool, whatever its address.
        drop(p2);
        let partner = a.handshake(ip(1)).unwrap().open(true).unwrap();
        assert_eq!(a.handshake(ip(9)).unwrap().open(true).err(), Some(Refused::Partner));
        let _q = q.open(false).unwrap();
        assert_eq!(a.handshake(ip(4)).unwrap().open(false).err(), Some(Refused::Total));
        drop((o1, o2, partner));
        assert_eq!(a.load(), (0, 1, 0));
        drop(_q);
        assert_eq!(a.load(), (0, 0, 0));
        assert!(
            a.counts().by_address.is_empty(),
            "no address is remembered once it has nothing open"
        );
    }
}
