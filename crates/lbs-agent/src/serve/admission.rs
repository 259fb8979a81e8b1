//! Who may hold a connection: bounds on pending TLS handshakes and on open connections, per
//! source address and in total, with pools of its own for the paired partner. A device on the
//! office network that opens connections without end fills its own share, never the partner's
//! nor another address's.
//!
//! An "address" here is an IPv4 address (an IPv4-mapped IPv6 address counts as the IPv4 one) or
//! an IPv6 /64: one device may hold a whole /64, and would otherwise get a share per address.
//!
//! The partner is known by its certificate only after the handshake; so the source addresses
//! that recently presented the pinned certificate are remembered ([`LEARNED`] of them), and a
//! handshake from one of them takes a place in a pool of its own: not counted against that
//! address's share nor the shared total, never cooled down, and when that pool is full the oldest
//! silent handshake in it (else the oldest) is dropped rather than the newcomer (a device sharing the partner's address
//! cannot shut the partner out by holding handshakes open).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// After an address was refused for holding its share of open connections, its next connections
/// are refused at once, before any TLS handshake, for this long: a client reconnecting in a loop
/// then costs a handshake four times a second, not as fast as it can. Never applied to an
/// address the partner was seen at.
const COOL_DOWN: Duration = Duration::from_millis(250);
/// Source addresses of the partner remembered at most (it has one or two; the oldest goes).
const LEARNED: usize = 8;
/// A partner address not seen for this long is forgotten.
const LEARNED_FOR: Duration = Duration::from_secs(24 * 3600);

/// The bounds (see `docs/agent.md`, "Connections").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TLS handshakes under way from one address.
    pub pending_per_address: usize,
    /// TLS handshakes under way in all.
    pub pending_total: usize,
    /// TLS handshakes under way from the addresses the partner was seen at (a pool of their own).
    /// Large: the partner's handshake is silent for a moment after it is accepted, and must not
    /// be the oldest silent one before it speaks, however fast a neighbour connects.
    pub partner_pending: usize,
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
            partner_pending: 256,
            per_address: 32,
            total: 512,
            partner: 64,
        }
    }
}

/// The key an address is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by /64.
pub fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// An address as itself, an IPv4-mapped one as IPv4 (how the partner's addresses are remembered).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
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
    /// By address key ([`key_of`]); a key with nothing pending or open is removed.
    by_address: HashMap<IpAddr, Address>,
    pending: usize,
    open: usize,
    partner: usize,
    /// Handshakes from the partner's addresses, oldest first.
    partner_pending: VecDeque<PartnerHandshake>,
    next_id: u64,
    /// Addresses that presented the partner's certificate, and when last.
    learned: HashMap<IpAddr, Instant>,
}

struct PartnerHandshake {
    id: u64,
    /// Signalled to drop it.
    drop: Arc<Notify>,
    /// The client has sent something (the partner sends its ClientHello at once).
    spoke: bool,
}

pub struct Admission {
    limits: Limits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    /// A handshake in the partner's addresses' pool, by its id there.
    PartnerPending(u64),
    Open,
    Partner,
}

/// A held place; dropping it gives the place back.
pub struct Ticket {
    /// `None` once the place was handed on to the next stage's ticket.
    admission: Option<Arc<Admission>>,
    /// The source address (IPv4-mapped as IPv4) and the key it is counted under.
    ip: IpAddr,
    key: IpAddr,
    stage: Stage,
    /// Signalled when a newer handshake from the partner's addresses took this one's place.
    dropped: Option<Arc<Notify>>,
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
        let ip = canonical(address);
        let key = key_of(ip);
        let now = Instant::now();
        let mut c = self.counts();
        if c.learned
            .get(&ip)
            .is_some_and(|seen| now.duration_since(*seen) < LEARNED_FOR)
        {
            while c.partner_pending.len() >= self.limits.partner_pending.max(1) {
                // The oldest silent one, else the oldest.
                let at = c.partner_pending.iter().position(|h| !h.spoke).unwrap_or(0);
                if let Some(oldest) = c.partner_pending.remove(at) {
                    oldest.drop.notify_one();
                }
            }
            let id = c.next_id;
            c.next_id += 1;
            let dropped = Arc::new(Notify::new());
            c.partner_pending.push_back(PartnerHandshake {
                id,
                drop: dropped.clone(),
                spoke: false,
            });
            return Ok(Ticket {
                admission: Some(self.clone()),
                ip,
                key,
                stage: Stage::PartnerPending(id),
                dropped: Some(dropped),
            });
        }
        let (mine, cooling) = c
            .by_address
            .get(&key)
            .map_or((0, None), |e| (e.pending, e.cooling_until));
        if cooling.is_some_and(|until| now < until) {
            return Err(Refused::PerAddress);
        }
        if mine >= self.limits.pending_per_address {
            return Err(Refused::PendingPerAddress);
        }
        if c.pending >= self.limits.pending_total {
            return Err(Refused::PendingTotal);
        }
        c.pending += 1;
        c.by_address.entry(key).or_default().pending += 1;
        Ok(Ticket {
            admission: Some(self.clone()),
            ip,
            key,
            stage: Stage::Pending,
            dropped: None,
        })
    }

    /// (pending, open, partner) connections now: for the tests' and the log's view.
    pub fn load(&self) -> (usize, usize, usize) {
        let c = self.counts();
        (c.pending + c.partner_pending.len(), c.open, c.partner)
    }

    /// Gives back a handshake's place (in `c`, already locked).
    fn end_handshake(c: &mut Counts, key: IpAddr, stage: Stage) {
        match stage {
            Stage::Pending => {
                c.pending -= 1;
                if let Some(e) = c.by_address.get_mut(&key) {
                    e.pending -= 1;
                }
            }
            // Gone already if a newer one took its place.
            Stage::PartnerPending(id) => c.partner_pending.retain(|h| h.id != id),
            Stage::Open | Stage::Partner => {}
        }
    }

    fn release(&self, key: IpAddr, stage: Stage) {
        let mut c = self.counts();
        match stage {
            Stage::Pending | Stage::PartnerPending(_) => Self::end_handshake(&mut c, key, stage),
            Stage::Open => {
                c.open -= 1;
                if let Some(e) = c.by_address.get_mut(&key) {
                    e.open -= 1;
                }
            }
            Stage::Partner => c.partner -= 1,
        }
        if c.by_address.get(&key).is_some_and(Address::idle) {
            c.by_address.remove(&key);
        }
    }
}

impl Ticket {
    /// Resolves when a newer handshake from the partner's addresses took this one's place (never
    /// for other handshakes): the connection is to be closed.
    pub async fn dropped(&self) {
        match &self.dropped {
            Some(signal) => signal.notified().await,
            None => std::future::pending().await,
        }
    }

    /// The client sent its first bytes: a handshake in the partner's addresses' pool is no longer
    /// among the silent ones dropped first.
    pub fn spoke(&self) {
        if let (Stage::PartnerPending(id), Some(admission)) = (self.stage, &self.admission) {
            let mut c = admission.counts();
            if let Some(h) = c.partner_pending.iter_mut().find(|h| h.id == id) {
                h.spoke = true;
            }
        }
    }

    /// The handshake is done: a place among the open connections, the partner's own pool if it
    /// presented the partner's certificate (its address is then remembered as the partner's).
    /// The handshake's place is given back either way.
    pub fn open(mut self, partner: bool) -> Result<Ticket, Refused> {
        debug_assert!(matches!(self.stage, Stage::Pending | Stage::PartnerPending(_)));
        // Taken: the old ticket gives nothing back when dropped; the handshake's place is
        // given back below, whether the connection is let in or not.
        let Some(admission) = self.admission.take() else {
            return Err(Refused::Total);
        };
        let mut guard = admission.counts();
        let c = &mut *guard;
        let now = Instant::now();
        if partner {
            c.learned.insert(self.ip, now);
            if c.learned.len() > LEARNED {
                let oldest = c.learned.iter().min_by_key(|(_, seen)| **seen).map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    c.learned.remove(&oldest);
                }
            }
        }
        let refused = if partner {
            (c.partner >= admission.limits.partner).then_some(Refused::Partner)
        } else if c.by_address.get(&self.key).map_or(0, |e| e.open) >= admission.limits.per_address {
            Some(Refused::PerAddress)
        } else {
            (c.open >= admission.limits.total).then_some(Refused::Total)
        };
        Admission::end_handshake(c, self.key, self.stage);
        let result = match refused {
            Some(Refused::PerAddress) => {
                c.by_address.entry(self.key).or_default().cooling_until = Some(now + COOL_DOWN);
                Err(Refused::PerAddress)
            }
            Some(r) => Err(r),
            None if partner => {
                c.partner += 1;
                Ok(Stage::Partner)
            }
            None => {
                c.by_address.entry(self.key).or_default().open += 1;
                c.open += 1;
                Ok(Stage::Open)
            }
        };
        if c.by_address.get(&self.key).is_some_and(Address::idle) {
            c.by_address.remove(&self.key);
        }
        drop(guard);
        result.map(|stage| Ticket {
            admission: Some(admission),
            ip: self.ip,
            key: self.key,
            stage,
            dropped: None,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.release(self.key, self.stage);
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
            partner_pending: 2,
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

    #[test]
    fn an_ipv6_64_is_one_address_and_mapped_ipv4_is_ipv4() {
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(key_of(v6("2001:db8:1:2::1")), key_of(v6("2001:db8:1:2:ffff::9")));
        assert_ne!(key_of(v6("2001:db8:1:2::1")), key_of(v6("2001:db8:1:3::1")));
        assert_eq!(key_of(v6("::ffff:10.0.0.1")), ip(1));
        let a = small();
        let _one = a.handshake(v6("2001:db8::1")).unwrap();
        let _two = a.handshake(v6("2001:db8::2")).unwrap();
        // A third address of the same /64 shares the two places.
        assert_eq!(a.handshake(v6("2001:db8::3")).err(), Some(Refused::PendingPerAddress));
        let _mapped = a.handshake(v6("::ffff:10.0.0.1")).unwrap();
        assert_eq!(a.handshake(ip(1)).err(), Some(Refused::PendingTotal));
        assert_eq!(a.counts().by_address.len(), 2);
    }

    async fn dropped_now(t: &Ticket) -> bool {
        tokio::time::timeout(Duration::ZERO, t.dropped()).await.is_ok()
    }

    #[tokio::test]
    async fn an_address_the_partner_was_seen_at_is_never_shut_out_by_its_neighbours() {
        let a = small();
        // Before the partner was seen there, ip(1) is like any address.
        drop(a.handshake(ip(1)).unwrap().open(true).unwrap());
        // A device at the same address fills the address's share and cools it down.
        let _o1 = a.handshake(ip(1)).unwrap().open(false).unwrap();
        let _o2 = a.handshake(ip(1)).unwrap().open(false).unwrap();
        assert_eq!(a.handshake(ip(1)).unwrap().open(false).err(), Some(Refused::PerAddress));
        // Other addresses fill the shared handshake places.
        let _p = [
            a.handshake(ip(2)).unwrap(),
            a.handshake(ip(3)).unwrap(),
            a.handshake(ip(4)).unwrap(),
        ];
        assert_eq!(a.handshake(ip(5)).err(), Some(Refused::PendingTotal));
        // The partner's address still gets handshake places, cool-down or not; once its pool
        // is full, the oldest silent handshake is dropped, not the newcomer.
        let silent1 = a.handshake(ip(1)).unwrap();
        let partner = a.handshake(ip(1)).unwrap();
        partner.spoke();
        let silent2 = a.handshake(ip(1)).unwrap();
        assert!(dropped_now(&silent1).await, "the oldest silent handshake is dropped");
        assert!(!dropped_now(&partner).await);
        let silent3 = a.handshake(ip(1)).unwrap();
        assert!(
            dropped_now(&silent2).await,
            "a silent one goes before one that spoke, even newer"
        );
        assert!(!dropped_now(&partner).await && !dropped_now(&silent3).await);
        assert_eq!(a.counts().partner_pending.len(), 2);
        drop(silent1);
        assert_eq!(
            a.counts().partner_pending.len(),
            2,
            "a dropped handshake gives back nothing twice"
        );
        let _second = partner.open(true).unwrap();
        drop((silent2, silent3));
        assert_eq!(a.load(), (3, 2, 1));
        // Any other address is still refused before its handshake while cooling down.
        assert_eq!(a.handshake(ip(5)).err(), Some(Refused::PendingTotal));
    }

    #[test]
    fn the_partners_addresses_are_bounded() {
        let a = small();
        for n in 1..=(LEARNED as u8 + 4) {
            let _ = a.handshake(ip(n)).unwrap().open(true);
        }
        let c = a.counts();
        assert_eq!(c.learned.len(), LEARNED);
        assert!(!c.learned.contains_key(&ip(1)), "the oldest is forgotten");
        assert!(c.learned.contains_key(&ip(LEARNED as u8 + 4)));
    }
}
