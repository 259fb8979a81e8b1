//! The fault matrix of automatic failover in the office lab: one fault on a fresh office on
//! autopilot (two boxes, the witness's vote, kamailio keeping registrations, two real phones),
//! judged by the independent observer (`crate::observer`) and by what is on the disks:
//! how many automatic failovers were expected and taken, whether two boxes ever answered the
//! phones at once, how long until a call from phone 1 to phone 2 connected again, and how many
//! voicemail files were lost. `tests/system/matrix.rs` asserts on each case once; the failover
//! benchmark runs them several times and prints the table for docs/benchmarks.md.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lbs_protocol::Role;

use crate::baresip::{Outcome, SipPhone};
use crate::lab::{cli_ok, failover_status, now_ms, wait_for, Lab, Strategy};
use crate::observer::{Observer, Report};
use crate::Agent;

/// The heartbeat and the lease the boxes run with.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub name: &'static str,
    pub heartbeat: &'static str,
    pub heartbeat_ms: u64,
    pub lease_secs: u64,
}

/// The agent's defaults.
pub const DEFAULTS: Timing = Timing {
    name: "defaults (heartbeat 1 s, lease 10 s)",
    heartbeat: "1s",
    heartbeat_ms: 1000,
    lease_secs: 10,
};

/// The fastest settings docs/failover.md calls safe: etcd keeps no lease under 2 s, and a
/// cut-off primary needs half of it to stop its PBX.
pub const FASTEST: Timing = Timing {
    name: "fastest safe (heartbeat 250 ms, lease 2 s)",
    heartbeat: "250ms",
    heartbeat_ms: 250,
    lease_secs: 2,
};

impl Timing {
    fn keys(&self) -> Vec<(&'static str, String)> {
        vec![
            ("heartbeat_interval", format!("\"{}\"", self.heartbeat)),
            ("lease", format!("\"{}s\"", self.lease_secs)),
        ]
    }

    /// When a takeover is due at the latest after the primary goes (the heartbeat's silence
    /// plus half the lease, or the lease and etcd's election), with room for a busy machine.
    pub fn takeover_due(&self) -> Duration {
        let beat = Duration::from_millis(self.heartbeat_ms);
        let silence = (beat * 2).max(Duration::from_millis(1500)) + beat * 2;
        let lease = Duration::from_secs(self.lease_secs);
        (silence + lease / 2).max(lease + Duration::from_secs(1)) + Duration::from_secs(5)
    }
}

/// One case of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The primary's power goes: agent, PBX, etcd member and links at once.
    PrimaryPoweredOff,
    /// The primary's network cable is pulled.
    PrimaryLanCut,
    /// The backup's network cable is pulled.
    BackupLanCut,
    /// The link between the two boxes fails; both still reach the phones and the witness.
    LinkBetweenBoxesCut,
    /// The witness machine goes away.
    WitnessDown,
    /// etcd dies on the primary box.
    EtcdKilledOnPrimary,
    /// The primary's agent dies while its PBX keeps serving the phones.
    PrimaryAgentKilled,
    /// The primary's link goes down and up, three times.
    FlappingPrimaryLink,
    /// The primary's clock jumps an hour ahead, then back.
    ClockJumpOnPrimary,
    /// The backup's clock jumps an hour ahead, then back.
    ClockJumpOnBackup,
    /// Maintenance is on while the primary reboots.
    RebootDuringMaintenance,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::PrimaryPoweredOff,
        Fault::PrimaryLanCut,
        Fault::BackupLanCut,
        Fault::LinkBetweenBoxesCut,
        Fault::WitnessDown,
        Fault::EtcdKilledOnPrimary,
        Fault::PrimaryAgentKilled,
        Fault::FlappingPrimaryLink,
        Fault::ClockJumpOnPrimary,
        Fault::ClockJumpOnBackup,
        Fault::RebootDuringMaintenance,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Fault::PrimaryPoweredOff => "primary powered off",
            Fault::PrimaryLanCut => "primary's LAN cut",
            Fault::BackupLanCut => "backup's LAN cut",
            Fault::LinkBetweenBoxesCut => "link between the boxes cut",
            Fault::WitnessDown => "witness down",
            Fault::EtcdKilledOnPrimary => "etcd killed on the primary",
            Fault::PrimaryAgentKilled => "primary's agent killed, its PBX running",
            Fault::FlappingPrimaryLink => "primary's link flapping (3 times)",
            Fault::ClockJumpOnPrimary => "primary's clock jumps 1 h and back",
            Fault::ClockJumpOnBackup => "backup's clock jumps 1 h and back",
            Fault::RebootDuringMaintenance => "primary rebooted during maintenance",
        }
    }

    /// Automatic failovers the case calls for (at most this many: a flapping link moves the
    /// phones once within the flap guard).
    pub fn expected_failovers(self) -> usize {
        match self {
            Fault::PrimaryPoweredOff | Fault::PrimaryLanCut | Fault::FlappingPrimaryLink => 1,
            _ => 0,
        }
    }
}

/// What one run of a case showed.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub fault: Fault,
    pub strategy: Strategy,
    pub expected: usize,
    pub taken: usize,
    pub dual_answers: usize,
    pub both_claimed_primary: usize,
    /// From the fault to the first call 1 → 2 connected through the box that took over (when
    /// one did), in ms.
    pub calls_back_ms: Option<u64>,
    /// A call 1 → 2 connected through the primary while the fault lasted (cases without a
    /// failover; `None` when the case stops the primary's PBX on purpose).
    pub call_during_fault: Option<bool>,
    pub files_lost: usize,
    pub longest_gap_ms: u64,
    /// Phone 2 (registered for an hour) registered again during the case: then a call that
    /// reached it proves nothing about the registrations the new primary restored.
    pub callee_registered_again: bool,
    pub report: Report,
}

/// A fresh office on autopilot in lab `n`, with phones 1001 and 1002 registered for an hour.
pub struct Office {
    pub lab: Lab,
    pub a: Agent,
    pub b: Agent,
    pub p1: SipPhone,
    pub p2: SipPhone,
    pub strategy: Strategy,
    pub timing: Timing,
}

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// Runs `agent` (from its next start) on a wall clock `offset` from the real one ("-2h",
/// "+90s"), kept in `file` so a test can move it later. Only the wall clock moves, as when a
/// clock is set by hand or by NTP: the monotonic clock keeps running.
pub fn fake_clock_in(agent: &mut Agent, file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).expect("the fake clock");
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: run scripts/setup.sh (it installs faketime)"
    );
    for (k, v) in [
        ("LD_PRELOAD", LIBFAKETIME.to_string()),
        ("FAKETIME_TIMESTAMP_FILE", file.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ] {
        agent.env.push((k.into(), v));
    }
}

/// As [`fake_clock_in`], the clock's file in the agent's own folder.
pub fn fake_clock(agent: &mut Agent, offset: &str) {
    let file = agent.dir.path().join("fake-clock");
    fake_clock_in(agent, &file, offset);
}

impl Office {
    /// `fake_clock`: the box ("a" or "b") whose agent runs on a clock the test can move.
    pub fn up(n: u32, strategy: Strategy, timing: Timing, fake_clock: Option<&str>) -> Office {
        let lab = Lab::up(n);
        let keys = timing.keys();
        let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (mut a, mut b) = lab.office_with_vote_tuned(strategy, "1h", &keys);
        if let Some(host) = fake_clock {
            let agent = if host == "a" { &mut a } else { &mut b };
            fake_clock_in(agent, &lab.dir.path().join(format!("clock-{host}")), "+0");
            agent.stop();
            agent.start();
        }
        wait_for("the pair on autopilot", Duration::from_secs(60), || {
            armed(&a) && armed(&b)
        });
        let mut p1 = lab.sip_phone(1001, strategy);
        let mut p2 = lab.sip_phone(1002, strategy);
        p1.register(3600);
        p2.register(3600);
        let synced = b.dir.path().join("registrations/registrations.sql");
        wait_for(
            "both phones' registrations on the backup",
            Duration::from_secs(30),
            || std::fs::read_to_string(&synced).is_ok_and(|t| t.contains("'1001'") && t.contains("'1002'")),
        );
        Office {
            lab,
            a,
            b,
            p1,
            p2,
            strategy,
            timing,
        }
    }

    fn agent(&mut self, host: &str) -> &mut Agent {
        if host == "a" {
            &mut self.a
        } else {
            &mut self.b
        }
    }

    pub fn power_off(&mut self, host: &str) {
        self.agent(host).kill9();
        self.pbx("stop", host);
        self.lab.vote("kill", host);
        self.lab.cut(host);
    }

    pub fn power_on(&mut self, host: &str) {
        self.lab.heal(host);
        self.lab.vote("start", host);
        self.agent(host).start();
    }

    fn pbx(&self, action: &str, host: &str) {
        let ok = Command::new(crate::lab::lab_dir().join("pbx.sh"))
            .args([action, &self.lab.dir.path().display().to_string(), host])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pbx.sh {action} {host}");
    }

    /// Drops everything between the two boxes (both directions, in A's namespace).
    pub fn cut_between_boxes(&self, cut: bool) {
        let op = if cut { "-I" } else { "-D" };
        for (chain, side) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
            let ok = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.lab.ns("a"),
                    "iptables",
                    op,
                    chain,
                    side,
                    &self.lab.ip("b"),
                    "-j",
                    "DROP",
                ])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "iptables {op} {chain} in A's namespace (is iptables installed? scripts/setup.sh)"
            );
        }
    }

    /// Moves `host`'s wall clock: "+1h", "+0".
    pub fn set_clock(&self, host: &str, offset: &str) {
        std::fs::write(self.lab.dir.path().join(format!("clock-{host}")), format!("{offset}\n"))
            .expect("the fake clock");
    }

    /// Calls phone 2 from phone 1 until a call connects through box `via`; when it connected
    /// (unix ms), `None` if none did within `within`.
    pub fn call_through(&mut self, via: &str, within: Duration) -> Option<u64> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let call = self.p1.call(1002, Duration::from_secs(1));
            let through = call.id.as_deref().and_then(|id| self.lab.call_seen_by(via, id));
            self.p1.hangup();
            if call.outcome == Outcome::Established && through.as_deref() == Some("relayed") {
                return Some(call.ended_ms);
            }
            if call.outcome != Outcome::NoAnswer {
                // A refusal comes back at once: do not hammer the PBX.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        None
    }

    /// Waits until the office is whole again: one primary running its PBX, the other its backup,
    /// each hearing the other, nobody busy, the backup caught up — and with `armed`, the backup
    /// ready to take over by itself (a backup that just rejoined copies what it missed first;
    /// within the flap guard it is not). Returns the primary's host.
    pub fn settled(&self, within: Duration, armed: bool) -> &'static str {
        let mut primary = "a";
        wait_for("the office to settle", within, || {
            let (fa, fb) = (failover_status(&self.a), failover_status(&self.b));
            let whole = fa.partner.reachable && fb.partner.reachable && fa.busy.is_none() && fb.busy.is_none();
            let one = match (fa.role, fb.role) {
                (Role::Primary, Role::Backup) => Some("a"),
                (Role::Backup, Role::Primary) => Some("b"),
                _ => None,
            };
            let ready = |f: &lbs_protocol::FailoverStatus| !armed || f.autopilot.as_ref().is_some_and(|a| a.armed);
            match one {
                Some(p) if whole && self.lab.pbx_running(p) && !self.lab.pbx_running(other(p)) => {
                    primary = p;
                    let backup = if p == "a" { &fb } else { &fa };
                    fa.hold.caught_up && fb.hold.caught_up && ready(backup)
                }
                _ => false,
            }
        });
        primary
    }

    /// For a benchmark that fails over round after round: once the box that took over has
    /// recorded the automatic failover in the vote, removes the record, so the flap guard does
    /// not hold the next round. (The matrix tests the guard itself.)
    pub fn forget_last_automatic(&self, via: &str) {
        let key = "/lbs/last_automatic";
        wait_for(
            "the automatic failover recorded in the vote",
            Duration::from_secs(30),
            || {
                let out = self.lab.etcdctl(via, &["get", key, "--print-value-only"]);
                out.status.success() && !out.stdout.is_empty()
            },
        );
        let out = self.lab.etcdctl(via, &["del", key]);
        assert!(
            out.status.success(),
            "etcdctl del: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Automatic failovers in both boxes' audit logs.
    pub fn automatic_failovers(&self) -> usize {
        [&self.a, &self.b]
            .iter()
            .map(|agent| {
                cli_ok(agent, &["events", "--limit", "500"])
                    .lines()
                    .filter(|l| {
                        l.split_whitespace().nth(1) == Some("promoted") && l.trim_end().ends_with("by autopilot")
                    })
                    .count()
            })
            .sum()
    }

    /// Voicemail the PBXs finished writing that is on neither box (copy, quarantine or trash).
    /// The file being written when a PBX was killed is not counted: it was never finished (the
    /// last number before each restart of the writer, and the last one of all).
    pub fn files_lost(&self) -> usize {
        let mut found: BTreeSet<String> = BTreeSet::new();
        for agent in [&self.a, &self.b] {
            collect(&agent.dir.path().join("voicemail"), &mut found);
        }
        let mut lost = 0;
        for host in ["a", "b"] {
            let counter = std::fs::read_to_string(self.lab.pbx_dir(host).join("vm-counter"))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let resumed: BTreeSet<u64> = std::fs::read_to_string(self.lab.pbx_dir(host).join("vm-resumed"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            lost += (1..counter)
                .filter(|k| !resumed.contains(k) && !found.contains(&format!("vm-{host}-{k}.txt")))
                .count();
        }
        lost
    }
}

pub fn other(host: &str) -> &'static str {
    if host == "a" {
        "b"
    } else {
        "a"
    }
}

fn armed(agent: &Agent) -> bool {
    failover_status(agent).autopilot.is_some_and(|a| a.armed)
}

fn collect(dir: &Path, into: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, into);
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            into.insert(name.to_owned());
        }
    }
}

/// Waits out `d` — only where the case must show that nothing happens for that long.
fn quiet_for(d: Duration) {
    let until = Instant::now() + d;
    wait_for("the quiet time", d + Duration::from_secs(1), || Instant::now() >= until);
}

/// Runs `fault` once on a fresh office in lab `n`.
pub fn run(n: u32, fault: Fault, strategy: Strategy, timing: Timing) -> CaseResult {
    let fake_clock = match fault {
        Fault::ClockJumpOnPrimary => Some("a"),
        Fault::ClockJumpOnBackup => Some("b"),
        _ => None,
    };
    let mut o = Office::up(n, strategy, timing, fake_clock);
    let observer = Observer::start(&o.lab, strategy, &[("a", &o.a), ("b", &o.b)]);
    let callee_registrations = o.p2.registrations();
    let due = timing.takeover_due();
    let t0 = now_ms();
    let mut calls_back_ms = None;
    let mut call_during_fault = None;
    match fault {
        Fault::PrimaryPoweredOff | Fault::PrimaryLanCut => {
            if fault == Fault::PrimaryPoweredOff {
                o.power_off("a");
            } else {
                o.lab.cut("a");
            }
            calls_back_ms = o
                .call_through("b", due + Duration::from_secs(30))
                .map(|t| t.saturating_sub(t0));
            if fault == Fault::PrimaryPoweredOff {
                o.power_on("a");
            } else {
                o.lab.heal("a");
            }
        }
        Fault::BackupLanCut => {
            o.lab.cut("b");
            quiet_for(due);
            call_during_fault = Some(o.call_through("a", Duration::from_secs(10)).is_some());
            o.lab.heal("b");
        }
        Fault::LinkBetweenBoxesCut => {
            o.cut_between_boxes(true);
            quiet_for(due);
            call_during_fault = Some(o.call_through("a", Duration::from_secs(10)).is_some());
            o.cut_between_boxes(false);
        }
        Fault::WitnessDown => {
            o.lab.vote("kill", "witness");
            quiet_for(due);
            call_during_fault = Some(o.call_through("a", Duration::from_secs(10)).is_some());
            o.lab.vote("start", "witness");
        }
        Fault::EtcdKilledOnPrimary => {
            o.lab.vote("kill", "a");
            quiet_for(due);
            call_during_fault = Some(o.call_through("a", Duration::from_secs(10)).is_some());
            o.lab.vote("start", "a");
        }
        Fault::PrimaryAgentKilled => {
            o.a.kill9();
            quiet_for(due);
            call_during_fault = Some(o.call_through("a", Duration::from_secs(10)).is_some());
            o.a.start();
        }
        Fault::FlappingPrimaryLink => {
            // Each time, the link of the box that is the primary then goes down long enough for
            // a takeover, and comes back until the office is whole again.
            for round in 0..3 {
                let primary = o.settled(Duration::from_secs(120), false);
                o.lab.cut(primary);
                if round == 0 {
                    calls_back_ms = o
                        .call_through(other(primary), due + Duration::from_secs(30))
                        .map(|t| t.saturating_sub(t0));
                } else {
                    quiet_for(due);
                }
                o.lab.heal(primary);
            }
        }
        Fault::ClockJumpOnPrimary | Fault::ClockJumpOnBackup => {
            let host = fake_clock.unwrap_or("a");
            o.set_clock(host, "+1h");
            quiet_for(due);
            let ahead = o.call_through("a", Duration::from_secs(10)).is_some();
            o.set_clock(host, "+0");
            quiet_for(due);
            call_during_fault = Some(ahead && o.call_through("a", Duration::from_secs(10)).is_some());
        }
        Fault::RebootDuringMaintenance => {
            cli_ok(
                &o.a,
                &[
                    "maintenance",
                    "on",
                    "--for",
                    "30m",
                    "--reason",
                    "replacing the disk of PBX A",
                ],
            );
            wait_for("B to know of the maintenance", Duration::from_secs(10), || {
                failover_status(&o.b).autopilot.is_some_and(|a| {
                    a.blockers
                        .iter()
                        .any(|b| b.kind == lbs_protocol::BlockerKind::Maintenance)
                })
            });
            o.power_off("a");
            quiet_for(due);
            o.power_on("a");
            calls_back_ms = o
                .call_through("a", Duration::from_secs(60))
                .map(|t| t.saturating_sub(t0));
            cli_ok(&o.a, &["maintenance", "off"]);
        }
    }
    o.settled(Duration::from_secs(120), false);
    let report = observer.stop();
    let taken = o.automatic_failovers();
    CaseResult {
        fault,
        strategy,
        expected: fault.expected_failovers(),
        taken,
        dual_answers: report.dual_answers.len(),
        both_claimed_primary: report.both_claim_primary,
        calls_back_ms,
        call_during_fault,
        files_lost: o.files_lost(),
        longest_gap_ms: report.longest_gap_ms(),
        callee_registered_again: o.p2.registrations() != callee_registrations,
        report,
    }
}
