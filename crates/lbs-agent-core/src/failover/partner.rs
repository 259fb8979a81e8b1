//! The partner as the heartbeat sees it, and what its heartbeats make this box do: a primary
//! that hears of a higher epoch reintegrates; a backup adopts it; a primary whose partner comes
//! back as a backup announces its address again; a newer maintenance record is taken.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::{EventKind, Heartbeat, Role};

use super::clock_skew::{self, ClockSkew};
use super::{lock, Failover, PartnerView};
use crate::clock::{now_unix, now_unix_ms};
use crate::peer::{CallError, Peer};
use crate::refusal::Refusal;
use crate::role::RoleState;

impl PartnerView {
    /// A heartbeat exchange has ended since pairing or start (answered or not).
    pub fn checked(&self) -> bool {
        self.checked.is_some()
    }

    /// How long the partner has held its role, by its own clock (see
    /// [`clock_skew::role_for_secs`]), as of now.
    pub fn role_for_secs(&self) -> Option<u64> {
        let hb = self.last.as_ref()?;
        let age = self.heard.map(|h| h.elapsed()).unwrap_or_default();
        Some(clock_skew::role_for_secs(hb, age))
    }

    /// When the partner took its role, on this box's clock (its own time corrected by the
    /// measured offset, when known).
    pub fn role_since_here(&self) -> Option<i64> {
        let hb = self.last.as_ref()?;
        Some(hb.role_since_unix - self.clock.map_or(0, |c| c.offset_secs()))
    }
}

impl Failover {
    /// Exchanges heartbeats with the partner now; records what it said (or that it is silent).
    pub async fn heartbeat_now(&self, peer: &Peer, timeout: Duration) -> Result<Heartbeat, Refusal> {
        let own = self.own_heartbeat().await;
        // The round trip by the monotonic clock: the wall clock may jump meanwhile.
        let (sent_ms, sent) = (now_unix_ms(), Instant::now());
        let result = async {
            let client = self.sync.client_for(peer).map_err(Refusal::internal)?;
            let request = client
                .post(crate::peer::url(&peer.address, "/heartbeat"))
                .json(&own)
                .timeout(timeout);
            let hb: Heartbeat = crate::peer::call(request).await.map_err(|e| match e {
                CallError::Silent(why) => {
                    Refusal::unavailable(format!("{} at {} does not answer ({why})", peer.name, peer.address))
                }
                CallError::Refused(_, why) => {
                    Refusal::unavailable(format!("{} refused the heartbeat: {why}", peer.name))
                }
                CallError::Unreadable(why) => {
                    Refusal::unavailable(format!("{} sent an answer that could not be read: {why}", peer.name))
                }
            })?;
            if hb.server_id != peer.server_id {
                return Err(Refusal::internal(format!(
                    "the server answering at {} is not {} (it says it is {})",
                    peer.address, peer.name, hb.server_id
                )));
            }
            Ok(hb)
        }
        .await;
        match &result {
            Ok(hb) => {
                let round_trip = i64::try_from(sent.elapsed().as_millis()).unwrap_or(i64::MAX);
                let skew = hb
                    .now_unix_ms
                    .map(|theirs| ClockSkew::measure(sent_ms, round_trip, theirs));
                self.sync.link.heartbeat(Some(sent.elapsed()));
                self.sync.link.clock(skew.map(|s| s.offset_ms));
                self.partner_seen(hb.clone());
                self.clock_measured(skew, &peer.name);
            }
            Err(msg) => {
                self.sync.link.heartbeat(None);
                self.sync.link.clock(None);
                let mut p = lock(&self.partner);
                p.reachable = false;
                p.announce = true;
                p.message = Some(msg.message.clone());
                p.checked = Some(Instant::now());
            }
        }
        result
    }

    /// A heartbeat `peer` sent: recorded, acted on in the background (a reintegration takes a
    /// while), and answered with this box's own at once.
    pub async fn heard(self: &Arc<Self>, peer: &Peer, hb: Heartbeat) -> Result<Heartbeat, Refusal> {
        if hb.server_id != peer.server_id {
            return Err(Refusal::bad_request(
                "the heartbeat names another server than the partner",
            ));
        }
        self.partner_seen(hb.clone());
        // The switch is taken before answering, so the answer shows the sender it was heard.
        self.autopilot_heard(hb.autopilot.clone(), hb.role, (hb.epoch, hb.epoch_owner.as_str()))
            .await;
        let f = self.clone();
        tokio::spawn(async move { f.on_heartbeat(hb, false).await });
        Ok(self.own_heartbeat().await)
    }

    /// The partner's role for a promotion's guard: a heartbeat that just went unanswered stands
    /// (a dead box would only make the office wait for another timeout); otherwise ask now.
    pub(super) async fn ask_partner(&self, peer: &Peer) -> Result<Heartbeat, Refusal> {
        let beat = Duration::from_millis(self.config.failover.heartbeat_interval_ms);
        // The next heartbeat is due within an interval and ends within its timeout.
        let fresh = super::heartbeat::timeout(beat) + beat * 2;
        let recent_silence = {
            let p = lock(&self.partner);
            p.checked.is_some_and(|t| t.elapsed() < fresh) && !p.reachable
        };
        if recent_silence {
            let p = lock(&self.partner);
            return Err(Refusal::unavailable(
                p.message
                    .clone()
                    .unwrap_or_else(|| format!("{} does not answer", peer.name)),
            ));
        }
        self.heartbeat_now(peer, Duration::from_millis(1500)).await
    }

    /// Records a heartbeat from the partner (sent or answered). A partner whose agent cannot
    /// work with this one still answers; the message says which box to upgrade.
    pub fn partner_seen(&self, hb: Heartbeat) {
        let name = self.peer_name();
        let problem = crate::compat::partner_problem(&self.config.server.name, &name, &hb.versions);
        let mut p = lock(&self.partner);
        if problem.is_some() && p.message != problem {
            tracing::warn!(
                problem = problem.as_deref().unwrap_or_default(),
                "the partner's agent version"
            );
        }
        p.last = Some(hb);
        p.reachable = true;
        p.last_contact = Some(now_unix());
        p.message = problem;
        p.checked = Some(Instant::now());
        p.heard = p.checked;
    }

    /// Records the partner's clock as just measured (`None`: an older agent that does not send
    /// it); logs once when the clocks go too far apart, and once when they agree again.
    fn clock_measured(&self, skew: Option<ClockSkew>, partner: &str) {
        let before = std::mem::replace(&mut lock(&self.partner).clock, skew);
        let tolerance = self.clock_tolerance_ms();
        match clock_skew::news(before.as_ref(), skew.as_ref(), tolerance) {
            Some(true) => {
                let problem = skew.and_then(|s| s.problem(partner, tolerance)).unwrap_or_default();
                tracing::warn!(
                    partner,
                    offset_secs = skew.map_or(0, |s| s.offset_secs()),
                    problem = %problem,
                    "the partner's clock differs from this box's"
                );
            }
            Some(false) => tracing::info!(
                partner,
                offset_secs = skew.map_or(0, |s| s.offset_secs()),
                "the partner's clock agrees with this box's again"
            ),
            None => {}
        }
    }

    /// How far the clocks may differ before it is said (`[alerts] clock_skew_above`).
    pub(super) fn clock_tolerance_ms(&self) -> i64 {
        i64::try_from(self.config.alerts.clock_skew_above.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// The partner's clock against this box's, as last measured; `None` until a heartbeat was
    /// answered by an agent that sends its clock. An automatic action that compares times written
    /// on both boxes must check it.
    pub fn partner_clock(&self) -> Option<ClockSkew> {
        lock(&self.partner).clock
    }

    /// The partner's name for a message, without waiting for the record's lock.
    pub(super) fn peer_name(&self) -> String {
        self.peer
            .try_read()
            .ok()
            .and_then(|p| p.as_ref().map(|p| p.name.clone()))
            .unwrap_or_else(|| "the partner".into())
    }

    pub fn forget_partner(&self) {
        *lock(&self.partner) = PartnerView::default();
    }

    pub fn partner_view(&self) -> PartnerView {
        lock(&self.partner).clone()
    }

    /// Acts on what the partner said: a primary that learns of a higher epoch reintegrates (it
    /// demotes itself at once); a backup just adopts the higher epoch.
    ///
    /// `answer` says the heartbeat is the partner's answer to ours, so it is current. A heartbeat
    /// the partner sent can be old: one sent while the network was cut may arrive after it heals
    /// (TCP keeps retransmitting), so it never makes this box announce its address.
    pub async fn on_heartbeat(self: &Arc<Self>, hb: Heartbeat, answer: bool) {
        // Whatever the roles, the two boxes agree on the maintenance and the autopilot's switch.
        self.adopt_maintenance(hb.maintenance.clone(), &self.peer_name()).await;
        self.partner_inventory_heard(hb.inventory.as_deref());
        self.autopilot_heard(hb.autopilot.clone(), hb.role, (hb.epoch, hb.epoch_owner.as_str()))
            .await;
        let own = self.role();
        let partner_below = (hb.epoch, hb.epoch_owner.as_str()) <= own.rank();
        if answer && own.role == Role::Primary && hb.role == Role::Backup && partner_below {
            let announce = std::mem::take(&mut lock(&self.partner).announce);
            if announce {
                self.announce_again(&own).await;
            }
        }
        if (hb.epoch, hb.epoch_owner.as_str()) <= own.rank() {
            return;
        }
        match own.role {
            Role::Primary => self.reintegrate(hb).await,
            Role::Backup => {
                let _g = self.changing.lock().await;
                let own = self.role();
                if (hb.epoch, hb.epoch_owner.as_str()) > own.rank() && own.role == Role::Backup {
                    let had = own.epoch;
                    let next = RoleState {
                        epoch: hb.epoch,
                        epoch_owner: hb.epoch_owner.clone(),
                        ..own
                    };
                    match self.set_role(next).await {
                        Ok(_) => {
                            let message = format!(
                                "the partner is the primary at epoch {} (this box had epoch {}); this box follows it",
                                hb.epoch, had
                            );
                            self.record(EventKind::EpochLearned, "the agent", None, message).await;
                        }
                        Err(e) => tracing::error!(error = %e, "cannot record the partner's newer epoch"),
                    }
                }
            }
        }
    }

    /// The partner is back (as a backup): take the address again, so that anything that learned
    /// the partner's hardware address for it while both claimed it learns this box's again.
    pub(super) async fn announce_again(&self, own: &RoleState) {
        let _g = self.changing.lock().await;
        match self.address.take(&self.hook_context(own)).await {
            Ok(detail) => tracing::info!(%detail, "the partner is back: address announced again"),
            Err(e) => tracing::warn!(error = %e, "the partner is back, but the address could not be announced again"),
        }
    }
}
