//! The fault scheduler: faults of every kind in a seeded random order (each round deals every
//! kind once, shuffled, so a short run still sees each), at a real-time pace; after each fault
//! the office must be whole again within a deadline (`healthy`) and the checker's checkpoint
//! pass, else the soak stops with what was seen.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Command;
use std::time::{Duration, Instant};

use lbs_protocol::{FailoverStatus, Role};

use super::checker::{self, Checker, RolePoller, RoleReport};
use super::growth::{self, BoxFiles, Growth};
use super::writer::Writer;
use super::{pause, pbx_pid, Plan, Rng, SoakOffice};
use crate::faults::other;
use crate::lab::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// kill -9 of either agent, restarted after a moment.
    KillAgent,
    /// The PBX (kamailio's whole process group) killed -9 on the primary; once its agent
    /// reports it, `lbs-agent promote` on the primary starts it again (the documented remedy).
    PbxCrash,
    /// A box's category root filled up, then freed.
    FullDisk,
    /// The link between the boxes cut, then mended.
    CutLink,
    /// `lbs-agent switchover` on either box.
    Switchover,
    /// The primary lost (powered off, or its network cut with its PBX still writing), the backup
    /// taking over (the autopilot, else `promote --force`), the old primary back and reintegrated.
    Failover,
    /// Each agent in turn stopped (SIGTERM) and started on the same state.
    Upgrade,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::KillAgent,
        Kind::PbxCrash,
        Kind::FullDisk,
        Kind::CutLink,
        Kind::Switchover,
        Kind::Failover,
        Kind::Upgrade,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::KillAgent => "agent killed (-9) and restarted",
            Kind::PbxCrash => "PBX crash (kill -9)",
            Kind::FullDisk => "full disk (category root)",
            Kind::CutLink => "link between the boxes cut and mended",
            Kind::Switchover => "planned switchover",
            Kind::Failover => "unplanned failover + reintegration",
            Kind::Upgrade => "agent upgrade (stop, start on the same state)",
        }
    }
}

/// What the soak saw.
pub struct Outcome {
    pub plan: Plan,
    pub real_secs: f64,
    pub sim_days: f64,
    pub faults: BTreeMap<Kind, u64>,
    /// Unplanned failovers the autopilot took, and those `promote --force` had to.
    pub automatic: u64,
    pub forced: u64,
    /// Switchovers refused for 20 s (a change in flight, the hold) and then overridden.
    pub overridden: u64,
    /// Per fault, seconds from the fault's end until the office was whole and the backup held
    /// everything closed before.
    pub recovery: Vec<f64>,
    pub written: u64,
    pub deleted: u64,
    pub abandoned: u64,
    pub failed_writes: u64,
    pub checker: Checker,
    pub roles: RoleReport,
    pub growth: Vec<growth::Sample>,
    pub failure: Option<String>,
}

/// The office is whole: one primary running its PBX, the other its backup, each hearing the
/// other, nobody busy. Returns the primary's host, or what was last seen.
pub fn healthy(o: &SoakOffice, within: Duration) -> Result<&'static str, String> {
    let deadline = Instant::now() + within;
    loop {
        let (fa, fb) = (status(o.agent("a")), status(o.agent("b")));
        let lab = o.office.lab.dir.path();
        let (pa, pb) = (pbx_pid(lab, "a").is_some(), pbx_pid(lab, "b").is_some());
        if let (Ok(fa), Ok(fb)) = (&fa, &fb) {
            let one = match (fa.role, fb.role) {
                (Role::Primary, Role::Backup) if pa && !pb => Some("a"),
                (Role::Backup, Role::Primary) if pb && !pa => Some("b"),
                _ => None,
            };
            // Caught up is the checker's to judge, from the files (`Checker::checkpoint`): with a
            // PBX writing without pause a recording is nearly always in flight, and the agents'
            // own "caught up" is rarely true at the moment it is asked.
            let whole = fa.partner.reachable && fb.partner.reachable && fa.busy.is_none() && fb.busy.is_none();
            if let Some(p) = one {
                if whole {
                    return Ok(p);
                }
            }
        }
        let seen = format!(
            "A: {} (PBX {}); B: {} (PBX {})",
            describe(&fa),
            if pa { "running" } else { "stopped" },
            describe(&fb),
            if pb { "running" } else { "stopped" }
        );
        if Instant::now() > deadline {
            return Err(format!(
                "the office was not whole again within {} s: {seen}",
                within.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn describe(s: &Result<FailoverStatus, String>) -> String {
    match s {
        Ok(f) => format!(
            "{:?} at epoch {}, partner {}, busy {:?}, caught up {}, pending {:?}",
            f.role,
            f.epoch,
            if f.partner.reachable {
                "reachable"
            } else {
                "unreachable"
            },
            f.busy,
            f.hold.caught_up,
            f.hold.pending_files
        ),
        Err(e) => e.clone(),
    }
}

fn status(agent: &crate::Agent) -> Result<FailoverStatus, String> {
    let out = agent.cli(&["status", "--json"]);
    if !out.status.success() {
        return Err(format!(
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    serde_json::from_value(all["failover"].clone()).map_err(|e| e.to_string())
}

const SETTLE: Duration = Duration::from_secs(240);

/// Runs the soak on `o` with `plan`; `out` is where the ledger goes.
pub fn run(mut o: SoakOffice, plan: Plan, out: &std::path::Path) -> Outcome {
    let mut rng = Rng::new(plan.seed);
    let lab_dir = o.office.lab.dir.path().to_owned();
    let roots: BTreeMap<String, std::path::PathBuf> = ["a", "b"].iter().map(|h| (h.to_string(), o.root(h))).collect();
    let files = |h: &str| BoxFiles {
        config: o.agent(h).config.clone(),
        state: o.agent(h).state_dir(),
        root: o.root(h),
    };
    let mut growth = Growth::start(&o.clock, [files("a"), files("b")]);
    let mut poller = RolePoller::start(&o.office.lab, [&o.office.a, &o.office.b]);
    let mut writer = Writer::start(plan.seed, lab_dir.clone(), roots.clone(), &out.join("ledger.jsonl"));
    let mut checker = Checker::default();
    let mut faults: BTreeMap<Kind, u64> = BTreeMap::new();
    let (mut automatic, mut forced, mut overridden) = (0, 0, 0);
    let mut recovery: Vec<f64> = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(plan.minutes * 60.0);
    let mut failure = None;
    let mut deck: Vec<Kind> = Vec::new();
    let mut n = 0u64;
    // The office settles first and everything so far is acknowledged.
    let first = healthy(&o, SETTLE).and_then(|p| {
        let cut = now_ms();
        checker
            .checkpoint(&writer.ledger, (p, &o.root(p)), &o.root(other(p)), cut, None)
            .map(|_| p)
    });
    let mut primary = match first {
        Ok(p) => p,
        Err(e) => {
            failure = Some(format!("before any fault: {e}"));
            "a"
        }
    };
    // At least one fault of each kind, however slow the machine.
    while failure.is_none() && (Instant::now() < end || n < Kind::ALL.len() as u64) {
        if deck.is_empty() {
            deck = Kind::ALL.to_vec();
            for i in (1..deck.len()).rev() {
                deck.swap(i, rng.range(0, i as u64 + 1) as usize);
            }
        }
        let kind = deck.pop().unwrap_or(Kind::KillAgent);
        n += 1;
        let acked_before = checker.last_ack_ms;
        let before = primary;
        let detail = inject(
            &mut o,
            &mut rng,
            kind,
            primary,
            &mut automatic,
            &mut forced,
            &mut overridden,
        );
        eprintln!(
            "soak: fault {n} at day {:.2} ({:.0} s): {} — {}",
            o.clock.days(),
            started.elapsed().as_secs_f64(),
            kind.label(),
            detail.as_deref().unwrap_or_else(|e| e)
        );
        *faults.entry(kind).or_default() += 1;
        let detail = match detail {
            Ok(d) => d,
            Err(e) => {
                failure = Some(format!("fault {n} ({}): {e}", kind.label()));
                break;
            }
        };
        let t_fault = Instant::now();
        match healthy(&o, SETTLE) {
            Ok(p) => primary = p,
            Err(e) => {
                failure = Some(format!("after fault {n} ({}: {detail}): {e}", kind.label()));
                break;
            }
        }
        if kind == Kind::Failover {
            let old = other(primary);
            match checker::quarantine(&o.office.lab, old, o.agent(old)) {
                Ok(list) => {
                    let new = checker.account_quarantine(&writer.ledger, old, &list, acked_before);
                    checker.count_unacknowledged_gone(
                        &writer.ledger,
                        old,
                        [&o.root("a"), &o.root("b")],
                        &list,
                        acked_before,
                    );
                    eprintln!("soak:   box {old} set aside {new} files");
                }
                Err(e) => {
                    failure = Some(format!("after fault {n}: cannot read box {old}'s quarantine: {e}"));
                    break;
                }
            }
        }
        let settled = t_fault.elapsed();
        let cut = now_ms();
        if let Err(e) = checker.checkpoint(
            &writer.ledger,
            (primary, &o.root(primary)),
            &o.root(other(primary)),
            cut,
            (kind == Kind::Switchover).then_some(before),
        ) {
            failure = Some(format!("after fault {n} ({}: {detail}): {e}", kind.label()));
            break;
        }
        let whole = t_fault.elapsed();
        eprintln!(
            "soak:   whole again in {:.1} s, the backup holding everything in {:.1} s",
            settled.as_secs_f64(),
            whole.as_secs_f64()
        );
        recovery.push(whole.as_secs_f64());
        if !checker.unaccounted.is_empty() {
            failure = Some(format!(
                "quarantined files the writer did not write after the last acknowledgement:\n  {}",
                checker.unaccounted.join("\n  ")
            ));
            break;
        }
        let roles = poller.report();
        if roles.dual_primaries() > 0 {
            failure = Some(format!("two primaries:\n  {}", roles.examples.join("\n  ")));
            break;
        }
        pause(Duration::from_millis(rng.range(3_000, 10_000)));
    }
    writer.stop();
    let roles = poller.stop();
    let samples = growth.stop();
    let ledger = writer.ledger.lock().expect("ledger");
    Outcome {
        plan,
        real_secs: started.elapsed().as_secs_f64(),
        sim_days: o.clock.days(),
        faults,
        automatic,
        forced,
        overridden,
        recovery,
        written: ledger.written,
        deleted: ledger.deleted,
        abandoned: ledger.abandoned,
        failed_writes: ledger.failed_writes,
        checker,
        roles,
        growth: samples,
        failure,
    }
}

fn cli(agent: &crate::Agent, args: &[&str]) -> Result<String, String> {
    let out = agent.cli(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("lbs-agent {}: {}", args.join(" "), text.trim()))
    }
}

fn run_cmd(program: &str, args: &[&str]) -> Result<(), String> {
    let ok = Command::new(program).args(args).status().is_ok_and(|s| s.success());
    ok.then_some(())
        .ok_or_else(|| format!("{program} {} failed", args.join(" ")))
}

fn pick(rng: &mut Rng) -> &'static str {
    if rng.chance(50) {
        "a"
    } else {
        "b"
    }
}

/// Injects one fault of `kind`; returns what exactly was done.
fn inject(
    o: &mut SoakOffice,
    rng: &mut Rng,
    kind: Kind,
    primary: &'static str,
    automatic: &mut u64,
    forced: &mut u64,
    overridden: &mut u64,
) -> Result<String, String> {
    let lab = o.office.lab.dir.path().to_owned();
    match kind {
        Kind::KillAgent => {
            let host = pick(rng);
            o.agent_mut(host).kill9();
            pause(Duration::from_millis(rng.range(500, 5_000)));
            o.agent_mut(host).start();
            Ok(format!(
                "box {host} ({})",
                if host == primary { "primary" } else { "backup" }
            ))
        }
        Kind::PbxCrash => {
            let pid = pbx_pid(&lab, primary).ok_or("no PBX runs on the primary")?;
            run_cmd("kill", &["-KILL", "--", &format!("-{pid}")])?;
            // The agent does not restart a PBX that died: it says so in its status, and the
            // remedy it names is `lbs-agent promote` on the primary (docs/failover.md).
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let seen = status(o.agent(primary));
                if seen
                    .as_ref()
                    .is_ok_and(|f| f.pbx.running == Some(false) && f.pbx.problem.is_some())
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "box {primary}'s status did not report its PBX stopped within 30 s: {}",
                        describe(&seen)
                    ));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            cli(o.agent(primary), &["promote"])?;
            Ok(format!(
                "box {primary}'s kamailio (group {pid}); reported by its agent, restarted by `lbs-agent promote`"
            ))
        }
        Kind::FullDisk => {
            let host = pick(rng);
            let dir = o.root(host).join(".lbs-sync");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let filler = dir.join("soak-filler");
            fill(&filler);
            let hold = rng.range(5_000, 20_000);
            pause(Duration::from_millis(hold));
            std::fs::remove_file(&filler).map_err(|e| format!("cannot free the disk: {e}"))?;
            Ok(format!("box {host}'s root full for {:.1} s", hold as f64 / 1000.0))
        }
        Kind::CutLink => {
            let hold = rng.range(3_000, 20_000);
            o.office.cut_between_boxes(true);
            pause(Duration::from_millis(hold));
            o.office.cut_between_boxes(false);
            Ok(format!("for {:.1} s", hold as f64 / 1000.0))
        }
        Kind::Switchover => {
            let host = pick(rng);
            // Refused within the hold (an hour of simulated time) or while a change is still to
            // copy — with a PBX writing without pause, a recording is nearly always in flight. As
            // an office manager would: ask again for a while, then override with a reason (the
            // handover still waits for every change, with the PBX stopped).
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut refusal = String::new();
            while Instant::now() < deadline {
                match cli(o.agent(host), &["switchover"]) {
                    Ok(_) => return Ok(format!("asked on box {host}")),
                    Err(e) if e.contains("hold") || e.contains("still to copy") => refusal = e,
                    Err(e) => return Err(e),
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            *overridden += 1;
            cli(
                o.agent(host),
                &["switchover", "--override", "--reason", "soak: planned switchover"],
            )?;
            Ok(format!(
                "asked on box {host}, overridden after 20 s of refusals ({})",
                refusal.trim()
            ))
        }
        Kind::Failover => {
            let (old, new) = (primary, other(primary));
            let power = rng.chance(50);
            if power {
                o.office.power_off(old);
            } else {
                o.office.lab.cut(old);
            }
            let due = o.office.timing.takeover_due() + Duration::from_secs(20);
            let took = healthy_role(o, new, due);
            let how = if took {
                *automatic += 1;
                "the autopilot took over"
            } else {
                *forced += 1;
                cli(
                    o.agent(new),
                    &["promote", "--force", "--reason", "soak: the primary is gone"],
                )?;
                "promote --force"
            };
            // The writer writes on the new primary for a while; the flap guard is the matrix's
            // to test, not the soak's.
            pause(Duration::from_millis(rng.range(3_000, 12_000)));
            let _ = o.office.lab.etcdctl(new, &["del", "/lbs/last_automatic"]);
            if power {
                o.office.power_on(old);
            } else {
                o.office.lab.heal(old);
            }
            Ok(format!(
                "box {old} {}, {how} on box {new}",
                if power {
                    "powered off"
                } else {
                    "cut off (its PBX writing on)"
                }
            ))
        }
        Kind::Upgrade => {
            let mut upgraded = false;
            for host in [other(primary), primary] {
                let agent = o.agent_mut(host);
                agent.stop();
                upgraded |= agent.bin.take().is_some();
                agent.start();
                healthy(o, SETTLE)?;
            }
            Ok(if upgraded {
                "both boxes, backup first, from the older build to this one".into()
            } else {
                "both boxes, backup first (the same build)".into()
            })
        }
    }
}

/// Whether box `host` becomes the primary running its PBX within `within`.
fn healthy_role(o: &SoakOffice, host: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if status(o.agent(host)).is_ok_and(|f| f.role == Role::Primary && f.busy.is_none())
            && pbx_pid(o.office.lab.dir.path(), host).is_some()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// Writes zeros until the file system is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let Ok(mut f) = std::fs::File::create(path) else { return };
    let block = vec![0u8; 1 << 20];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: seed {} — {:.1} simulated days in {:.1} real minutes (clock x{:.0})",
            self.plan.seed,
            self.sim_days,
            self.real_secs / 60.0,
            self.plan.speed()
        )?;
        if let Some(older) = &self.plan.from {
            writeln!(
                f,
                "both boxes started on an older build ({}), moved to this one by the first upgrade",
                older.display()
            )?;
        }
        let total: u64 = self.faults.values().sum();
        writeln!(f, "faults injected: {total}")?;
        for (k, n) in &self.faults {
            writeln!(f, "  {:<48} {n}", k.label())?;
        }
        writeln!(
            f,
            "  (unplanned failovers: {} by the autopilot, {} by promote --force; switchovers overridden after 20 s of refusals: {})",
            self.automatic, self.forced, self.overridden
        )?;
        let mut r = self.recovery.clone();
        r.sort_by(f64::total_cmp);
        if !r.is_empty() {
            writeln!(
                f,
                "recovery after a fault (whole, the backup holding everything): median {:.1} s, max {:.1} s",
                r[r.len() / 2],
                r[r.len() - 1]
            )?;
        }
        let c = &self.checker;
        writeln!(
            f,
            "files written: {} ({} deleted by the writer, {} recordings left unfinished, {} writes failed and not counted)",
            self.written, self.deleted, self.abandoned, self.failed_writes
        )?;
        writeln!(
            f,
            "files verified on both boxes: {} ({} checkpoints)",
            c.verified.len(),
            c.checkpoints
        )?;
        writeln!(
            f,
            "acknowledged files lost: {}, torn: {}; acknowledged deletions undone: {}",
            c.losses.len(),
            c.torn.len(),
            c.undeleted.len()
        )?;
        writeln!(
            f,
            "quarantined files: {} ({} unaccounted); unacknowledged files gone in failovers: {}",
            c.quarantined,
            c.unaccounted.len(),
            c.unacknowledged_gone
        )?;
        writeln!(
            f,
            "dual primaries: {} (same-epoch claims {}, both PBXs running {}; {} role samples, {} with a cut-off old primary not yet stepped down)",
            self.roles.dual_primaries(),
            self.roles.same_epoch_primaries,
            self.roles.both_pbx_running,
            self.roles.samples,
            self.roles.different_epoch_primaries
        )?;
        writeln!(f, "growth per simulated day over the last third (max seen):")?;
        for (name, unit, per_day, max) in growth::summary(&self.growth) {
            writeln!(f, "  {name:<20} {per_day:>+10.1} {unit}/day   (max {max} {unit})")?;
        }
        writeln!(
            f,
            "per-day samples (day: A rss KiB/fds/sync.db+wal/history.db+wal/trash KiB/files | B ...):"
        )?;
        for s in &self.growth {
            let r = |x: &growth::Reading| {
                format!(
                    "{}/{}/{}+{}/{}+{}/{}/{}",
                    x.rss_kib,
                    x.fds,
                    x.sync_db / 1024,
                    x.sync_wal / 1024,
                    x.history_db / 1024,
                    x.history_wal / 1024,
                    x.trash / 1024,
                    x.files
                )
            };
            writeln!(f, "  {:5.1}: {} | {}", s.day, r(&s.boxes[0]), r(&s.boxes[1]))?;
        }
        match &self.failure {
            Some(e) => write!(f, "FAILED: {e}"),
            None => write!(f, "passed"),
        }
    }
}
