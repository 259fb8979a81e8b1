//! Automatic failover ("autopilot"), opt-in per pair: the backup takes over by itself when the
//! primary is gone, by the vote of a three-member etcd cluster (`crate::vote`), as Patroni does
//! for PostgreSQL. The rules are `policy`; the loops that read the vote and act are `run`; what
//! a box says about it is `status`. The pair's on/off switch is kept here (`autopilot.json` in
//! the state directory) and travels in every heartbeat, the later setting winning.
//!
//! Architecture Invariant: the autopilot changes the role only through `Failover::promote`
//! (under the role-change lock, audited), and it never switches back: a box that took over
//! stays the primary until a person decides.

mod policy;
mod run;
mod status;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lbs_protocol::{AutopilotAdvert, AutopilotSwitch, Fence};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::vote::{LastAutomatic, Leader, Vote};

pub(crate) use run::{keep_vote, watch};

/// This box's part of automatic failover.
pub struct Autopilot {
    /// `[failover] automatic` with a usable `[witness]`.
    configured: bool,
    /// Why it is set up but cannot work (the vote's files could not be read), for the status.
    problem: Option<String>,
    vote: Option<Arc<Vote>>,
    lease: Duration,
    heartbeat: Duration,
    switch_file: PathBuf,
    switch: Mutex<Option<AutopilotSwitch>>,
    live: Mutex<Live>,
}

/// What the loops learned, read by the status and the decisions.
#[derive(Debug)]
struct Live {
    /// Since start, for a box that never heard its partner or the vote.
    started: Instant,
    quorum: bool,
    /// When `quorum` last changed (Unix seconds), for "since 10:42".
    quorum_changed_unix: Option<i64>,
    /// The lease this box keeps while it is (or becomes) the primary.
    lease: Option<i64>,
    /// When the last renewal that proved this box holds the leader key was sent.
    renewed: Option<Instant>,
    leader: Option<Leader>,
    /// When the leader key was last read (fresh reads only decide a takeover).
    leader_read: Option<Instant>,
    last_automatic: Option<LastAutomatic>,
    /// The flap guard ends then (by the monotonic clock, so a clock jump cannot end it early).
    guard_until: Option<Instant>,
    fenced: Option<Fence>,
    /// A takeover is under way: the lease is kept although the role is still backup.
    taking_over: bool,
    /// A person made this box the primary (a promotion, a switchover): until it has held the
    /// leader key once, it does not fence itself — with the vote down and the partner off, a
    /// person's failover must keep working.
    by_a_person: bool,
    /// The partner's word on the autopilot, from its last heartbeat.
    partner: Option<AutopilotAdvert>,
    /// A fenced primary: since when, and in how many heartbeats, the partner has answered as its
    /// backup (reset when it stops answering).
    backup_answers: Option<(Instant, u32)>,
    /// The backup: the epoch at which the vote's leader key was last seen naming the partner.
    partner_key_epoch: Option<u64>,
    /// The backup: the primary's PBX asked over SIP while the primary is silent — rounds without
    /// an answer in a row, and when the last round ended.
    sip_silent_rounds: u32,
    /// The hold last recorded in the audit log, so each is recorded once.
    held: Option<String>,
    /// When the backup last asked the primary's PBX for SIP OPTIONS.
    probed: Option<Instant>,
    /// When the primary last checked that etcd's leader is not on its box.
    leadership_checked: Option<Instant>,
}

#[derive(Serialize, Deserialize)]
struct SwitchFile {
    switch: AutopilotSwitch,
}

impl Autopilot {
    pub fn open(config: &Config) -> Autopilot {
        let lease = Duration::from_secs(config.failover.lease);
        let heartbeat = Duration::from_millis(config.failover.heartbeat_interval_ms);
        // One call to one member must end well within the lease, so a silent member leaves time
        // to try the others before the primary's half-lease is up.
        let call_timeout = (lease / 8).clamp(Duration::from_millis(250), Duration::from_secs(2));
        let (vote, problem) = match (&config.witness, config.failover.automatic) {
            (Some(w), true) => match Vote::open(w, &config.server.name, call_timeout) {
                Ok(v) => (Some(v), None),
                Err(e) => {
                    tracing::error!(error = %e, "automatic failover is set up but cannot reach the vote's files");
                    (None, Some(e.to_string()))
                }
            },
            _ => (None, None),
        };
        let switch_file = config.server.state_dir.join("autopilot.json");
        let switch = std::fs::read(&switch_file)
            .ok()
            .map(|b| match serde_json::from_slice::<SwitchFile>(&b) {
                Ok(f) => f.switch,
                Err(e) => {
                    // Unreadable: the safe side is off, and a person is told in the status.
                    tracing::warn!(file = %switch_file.display(), error = %e, "the autopilot switch could not be read; taken as off");
                    AutopilotSwitch {
                        on: false,
                        at_unix_ms: 0,
                        by: "the agent".into(),
                        reason: Some(format!("{} could not be read", switch_file.display())),
                    }
                }
            });
        Autopilot {
            configured: vote.is_some(),
            problem,
            vote,
            lease,
            heartbeat,
            switch_file,
            switch: Mutex::new(switch),
            live: Mutex::new(Live {
                started: Instant::now(),
                quorum: false,
                quorum_changed_unix: None,
                lease: None,
                renewed: None,
                leader: None,
                leader_read: None,
                last_automatic: None,
                guard_until: None,
                fenced: None,
                taking_over: false,
                by_a_person: false,
                partner: None,
                backup_answers: None,
                partner_key_epoch: None,
                sip_silent_rounds: 0,
                held: None,
                probed: None,
                leadership_checked: None,
            }),
        }
    }

    pub fn configured(&self) -> bool {
        self.configured
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pair's switch as this box knows it (`None`: nobody set it: on, as configured).
    pub fn switch(&self) -> Option<AutopilotSwitch> {
        self.switch.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn switched_on(&self) -> bool {
        self.switch().is_none_or(|s| s.on)
    }

    /// What the heartbeat tells the partner.
    pub fn advert(&self) -> AutopilotAdvert {
        AutopilotAdvert {
            configured: self.configured,
            switch: self.switch(),
        }
    }

    /// Keeps `theirs` if it is newer than this box's switch; returns it when it changed.
    fn merge_switch(&self, theirs: Option<AutopilotSwitch>) -> Result<Option<AutopilotSwitch>, std::io::Error> {
        let mut mine = self.switch.lock().unwrap_or_else(|p| p.into_inner());
        let newer = AutopilotSwitch::newer(mine.clone(), theirs);
        if newer == *mine {
            return Ok(None);
        }
        if let Some(s) = &newer {
            let bytes = serde_json::to_vec_pretty(&SwitchFile { switch: s.clone() }).unwrap_or_default();
            crate::fsutil::write_atomic(&self.switch_file, &bytes, false)?;
        }
        *mine = newer.clone();
        Ok(newer)
    }

    /// A person made this box the primary (see `Live::by_a_person`).
    pub(in crate::failover) fn person_made_primary(&self) {
        let mut live = self.live();
        if live.taking_over {
            // The autopilot's own promotion: it holds the key and its renewals count.
            return;
        }
        live.by_a_person = true;
        live.renewed = None;
    }

    /// A fenced primary's fence, if any.
    pub fn fenced(&self) -> Option<Fence> {
        self.live().fenced.clone()
    }
}
