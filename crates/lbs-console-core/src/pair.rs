//! The pair as the office manager sees it, and the failover wizard's guards. Pure logic over what
//! the console last saw of each machine, so the front end only renders and the rules live (and are
//! tested) here, once.
//!
//! - [`pair_state`]: one sentence for the dashboard ("Protected: the backup is 3 s behind").
//! - [`offer`]: the dashboard's failover button — its words, and why it is disabled.
//! - [`assess`]: step 1 of the wizard — what is wrong, how old the backup's data is per category,
//!   whether this is an unplanned failover or a planned switchover, what stands in the way, and
//!   what step 2 asks of the manager.
//! - [`check`]: the last guard before the agent is called — the typed name, the "old primary is
//!   off" confirmation, the override reason — turned into exactly one agent request.
//!
//! The button and the wizard decide planned or unplanned with the same [`wizard_kind`], so they
//! cannot disagree.

use lbs_protocol::{
    AutopilotStatus, FailoverStatus, Fence, PromoteRequest, Role, RoleStanding, SwitchoverRequest, SyncLinkState,
    SyncStatus,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Error;

/// Behind by more than this, the pair is at risk.
pub const AT_RISK_LAG_SECS: u64 = 5 * 60;

/// What the console last saw of one machine.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub name: String,
    /// When it last answered (unix seconds); `None` if it never has since the console started.
    pub last_answer_unix: Option<i64>,
    /// Whether its last poll was answered.
    pub reachable: bool,
    pub failover: Option<FailoverStatus>,
    pub sync: Option<SyncStatus>,
    /// The role it had when it last answered (kept while it does not answer).
    pub last_role: Option<Role>,
    /// The console's token for it is view-only: it may look, not change anything.
    pub view_only: bool,
}

impl Machine {
    /// Its role now, or as last seen.
    fn role(&self) -> Option<Role> {
        self.failover.as_ref().map(|f| f.role).or(self.last_role)
    }

    /// What it says of the autopilot, when it answers (an older agent says nothing).
    fn autopilot(&self) -> Option<&AutopilotStatus> {
        self.failover.as_ref().filter(|_| self.reachable)?.autopilot.as_ref()
    }

    /// It answers, and says it stopped its phone system because it was cut off from its partner
    /// and the vote (it "fenced" itself).
    pub fn fence(&self) -> Option<&Fence> {
        self.autopilot()?.fenced.as_ref()
    }

    /// How settled it is in that role, when it answers.
    fn standing(&self) -> RoleStanding {
        match &self.failover {
            Some(f) if self.reachable => f.standing,
            _ => RoleStanding::Settled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PairLevel {
    /// The backup has a current copy: a failover now would lose little or nothing.
    Protected,
    /// The phones work, but a failover now would lose data or is not possible.
    AtRisk,
    /// The phones are down or may be: no primary answers, or two claim the role.
    Down,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairState {
    pub level: PairLevel,
    /// The level in a word, shown beside its colour ("Protected", "At risk", "Down").
    pub word: String,
    /// One sentence, e.g. "Protected: the backup is 3 s behind".
    pub sentence: String,
    /// What to do next, when there is something to do.
    pub next: Option<String>,
}

impl PairLevel {
    /// The level in a word, so the state is never told by colour alone.
    pub fn word(self) -> &'static str {
        match self {
            PairLevel::Protected => "Protected",
            PairLevel::AtRisk => "At risk",
            PairLevel::Down => "Down",
        }
    }
}

impl PairState {
    pub fn new(level: PairLevel, sentence: String, next: Option<&str>) -> PairState {
        PairState {
            level,
            word: level.word().to_owned(),
            sentence,
            next: next.map(str::to_owned),
        }
    }
}

/// "3 s", "12 min", "2 h 5 min", "3 days".
pub fn span(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 if secs % 3600 >= 60 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        3600..=86_399 => format!("{} h", secs / 3600),
        _ if secs < 2 * 86_400 => "1 day".into(),
        _ => format!("{} days", secs / 86_400),
    }
}

fn silent_for(m: &Machine, now: i64) -> String {
    match m.last_answer_unix {
        Some(t) => format!(" for {}", span((now - t).max(0) as u64)),
        None => String::new(),
    }
}

/// How far behind a backup's sync report is: the oldest change it has not applied, by category.
pub(crate) fn lag_secs(sync: &SyncStatus) -> u64 {
    sync.categories.iter().filter_map(|c| c.lag_secs).max().unwrap_or(0)
}

/// "12,400": a count as people write it.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Files the primary has counted so far, while its first scan of any category still runs (as
/// either box last reported it); `None` once everything is counted.
pub(crate) fn still_counting(primary: &Machine, backup: &Machine) -> Option<u64> {
    let counted = |m: &Machine| {
        let s = m.sync.as_ref()?;
        let counting: Vec<u64> = s
            .categories
            .iter()
            .filter_map(|c| c.counting.as_ref().map(|p| p.files_counted))
            .collect();
        (!counting.is_empty()).then(|| counting.iter().sum::<u64>())
    };
    // The primary's own report is the freshest; the backup's says what it was told.
    counted(primary).or_else(|| counted(backup))
}

/// How far behind the backup is, when it reported its sync.
fn behind_secs(backup: &Machine) -> Option<u64> {
    backup.sync.as_ref().map(lag_secs)
}

/// The dashboard's sentence for the pair of `a` and `b` (in any order).
pub fn pair_state(a: &Machine, b: &Machine, now: i64) -> PairState {
    let state = |level, sentence: String, next: Option<&str>| PairState::new(level, sentence, next);
    // A box between two states says so; neither counts as a second primary.
    for (m, other) in [(a, b), (b, a)] {
        match m.standing() {
            RoleStanding::Settled => {}
            RoleStanding::Unconfirmed => {
                return state(
                    PairLevel::AtRisk,
                    format!(
                        "{} has just started and is asking {} which of them runs the phones",
                        m.name, other.name
                    ),
                    Some("Wait a few seconds: it starts its PBX only if it is still the primary."),
                )
            }
            RoleStanding::SteppingDown => {
                return state(
                    PairLevel::AtRisk,
                    format!(
                        "{} is stepping down: {} runs the phones now, and {} is stopping its PBX",
                        m.name, other.name, m.name
                    ),
                    Some("Wait a few seconds: it then catches up as the backup."),
                )
            }
        }
    }
    // A primary that stopped its phone system because it was cut off is not a second primary:
    // the phones are down unless its partner took over.
    for (m, other) in [(a, b), (b, a)] {
        let Some(fence) = m.fence() else { continue };
        let ago = span((now - fence.since_unix).max(0) as u64);
        return if other.reachable && other.role() == Some(Role::Primary) && other.fence().is_none() {
            state(
                PairLevel::AtRisk,
                format!(
                    "{} runs the phones; {} stopped its own {ago} ago, cut off from it and the witness",
                    other.name, m.name
                ),
                Some(&format!(
                    "When {} is in contact with {} again, it rejoins as the backup by itself.",
                    m.name, other.name
                )),
            )
        } else {
            state(
                PairLevel::Down,
                format!(
                    "The phones may be down: {} stopped its phone system {ago} ago, cut off from {} and the witness",
                    m.name, other.name
                ),
                Some(&format!(
                    "{} takes over by itself if it still reaches the witness. If it has not within a minute, call \
                     your IT contractor: the network between the servers and the witness needs looking at.",
                    other.name
                )),
            )
        };
    }
    let answering_primaries: Vec<&Machine> = [a, b]
        .into_iter()
        .filter(|m| m.reachable && m.role() == Some(Role::Primary))
        .collect();
    if answering_primaries.len() == 2 {
        return state(
            PairLevel::Down,
            format!("Both {} and {} say they are the primary", a.name, b.name),
            Some("Wait a few seconds: the one with the older role steps down by itself. If it does not, call your IT contractor."),
        );
    }
    let Some(primary) = answering_primaries.first().copied() else {
        // Nobody answers as the primary: which one was it?
        let last = [a, b].into_iter().find(|m| m.role() == Some(Role::Primary));
        let backup = [a, b]
            .into_iter()
            .find(|m| m.reachable && m.role() == Some(Role::Backup));
        return match (last, backup) {
            (Some(p), Some(bk)) => match bk.autopilot().filter(|a| a.armed) {
                // The backup holds back (only the primary's agent is silent, its phones answer);
                // the autopilot line gives its words.
                Some(a) if a.held.is_some() => state(
                    PairLevel::Down,
                    format!("Primary {} unreachable{}", p.name, silent_for(p, now)),
                    Some(&format!(
                        "{} did not take over by itself: the autopilot line below says why. If {} is really off, \
                         start the failover wizard.",
                        bk.name, p.name
                    )),
                ),
                // The backup is armed: it takes over by itself if the primary is down.
                Some(a) => state(
                    PairLevel::Down,
                    format!("Primary {} unreachable{}", p.name, silent_for(p, now)),
                    Some(&format!(
                        "Automatic failover is on: {} takes over by itself about {} after {} went silent. If it \
                         does not, start the failover wizard.",
                        bk.name,
                        span(a.settings.takeover_secs),
                        p.name
                    )),
                ),
                None => state(
                    PairLevel::Down,
                    format!("Primary {} unreachable{}", p.name, silent_for(p, now)),
                    Some("If it does not come back, start the failover wizard to make the backup the primary."),
                ),
            },
            (_, Some(bk)) => state(
                PairLevel::Down,
                format!("No primary: {} is a backup and its partner does not answer", bk.name),
                Some("Start the failover wizard to make it the primary."),
            ),
            _ => state(
                PairLevel::Down,
                format!("Neither {} nor {} answers", a.name, b.name),
                Some("Check that both servers are on and connected, and that this computer is on the office network."),
            ),
        };
    };
    let backup = if std::ptr::eq(primary, a) { b } else { a };
    let paired = primary.failover.as_ref().is_some_and(|f| f.partner.paired);
    if !paired {
        return state(
            PairLevel::AtRisk,
            format!("Not protected: {} has no backup paired", primary.name),
            Some("Pair the backup with it (`lbs-agent pair` on the backup)."),
        );
    }
    if !backup.reachable {
        return state(
            PairLevel::AtRisk,
            format!(
                "At risk: the backup {} does not answer{}",
                backup.name,
                silent_for(backup, now)
            ),
            Some("Check that it is on and connected; until then a failure of the primary cannot be covered."),
        );
    }
    let link = backup.sync.as_ref().map(|s| (s.peer.state, s.peer.last_contact_unix));
    match link {
        Some((SyncLinkState::Ok, _)) | None => {}
        Some((_, last)) => {
            let since = last
                .map(|t| format!(" for {}", span((now - t).max(0) as u64)))
                .unwrap_or_default();
            return state(
                PairLevel::AtRisk,
                format!("At risk: the backup has not synced{since}"),
                Some("Open Sync to see why; the message there says what to fix."),
            );
        }
    }
    if let Some(counted) = still_counting(primary, backup) {
        // Nothing pending can also mean nothing known yet: not protected before it is all counted.
        return state(
            PairLevel::AtRisk,
            format!(
                "{} is still counting its files ({} so far); the copy is not complete yet",
                primary.name,
                count(counted)
            ),
            Some(
                "Wait: copying goes on by itself, and the backup is up to date once every file is counted and copied.",
            ),
        );
    }
    match behind_secs(backup) {
        Some(lag) if lag > AT_RISK_LAG_SECS => state(
            PairLevel::AtRisk,
            format!("At risk: the backup is {} behind", span(lag)),
            Some("Open Sync to see what is still to copy."),
        ),
        Some(0) => state(PairLevel::Protected, "Protected: the backup is up to date".into(), None),
        Some(lag) => state(
            PairLevel::Protected,
            format!("Protected: the backup is {} behind", span(lag)),
            None,
        ),
        None => state(PairLevel::Protected, "Protected: the backup is in contact".into(), None),
    }
}

/// What kind of role change the wizard would run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum WizardKind {
    /// The primary does not answer (or not about its role): the backup is promoted on the
    /// manager's word that the old primary is off.
    Unplanned,
    /// Both answer: a switchover, nothing lost.
    Planned,
}

/// Which change a failover from `primary` to `backup` is: the one rule behind the dashboard's
/// button and the wizard. `Err`: none, and why, in words.
///
/// A primary that answers but whose failover status cannot be read counts as not answering: the
/// console cannot see its hold or its pending changes (the guards a switchover shows), nor that
/// it still holds the role, so it cannot offer a switchover that promises nothing is lost. The
/// unplanned path is the safe one: it asks the manager to switch that box off before the backup
/// starts the phones.
pub fn wizard_kind(primary: &Machine, backup: &Machine) -> Result<WizardKind, String> {
    match &primary.failover {
        // A primary that stopped its phones because it was cut off from its partner cannot hand
        // over to it: the backup is promoted, on the manager's word that the old one is off.
        Some(f) if primary.reachable && f.role == Role::Primary && primary.fence().is_some() => {
            Ok(WizardKind::Unplanned)
        }
        Some(f) if primary.reachable && f.role == Role::Primary => Ok(WizardKind::Planned),
        Some(_) if primary.reachable => Err(format!(
            "{} answers but is not the primary: promote {} directly, no failover is needed.",
            primary.name, backup.name
        )),
        _ => Ok(WizardKind::Unplanned),
    }
}

/// The words of the button that opens the wizard, and the wizard's title.
fn wizard_title(kind: Option<WizardKind>, backup: &Machine) -> String {
    match kind {
        Some(WizardKind::Unplanned) => format!("Fail over to {}", backup.name),
        Some(WizardKind::Planned) | None => format!("Switch over to {}", backup.name),
    }
}

/// The dashboard's failover button for an office.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FailoverOffer {
    /// What the wizard would run; `None` when there is no pair to change.
    pub kind: Option<WizardKind>,
    /// "Switch over to PBX B", "Fail over to PBX B"; the wizard's title says the same.
    pub label: String,
    /// Why the button is disabled, in words; `None` when it may be used.
    pub blocked: Option<String>,
}

/// The button of an office with `servers` servers, of which `pair` are the primary (or the one
/// last seen as the primary) and the other one. The console asks the backup to take over, so the
/// backup must answer, with an administrator's token, and not be busy.
pub fn offer(servers: usize, pair: Option<(&Machine, &Machine)>) -> FailoverOffer {
    let none = |why: &str| FailoverOffer {
        kind: None,
        label: "Fail over".into(),
        blocked: Some(why.into()),
    };
    if servers < 2 {
        return none("This office has one server: add its partner first.");
    }
    let Some((primary, backup)) = pair else {
        return none("Neither server has been seen as the primary yet; wait for them to answer.");
    };
    let kind = wizard_kind(primary, backup);
    let blocked = if !backup.reachable {
        Some(format!("{} does not answer, so it cannot take over.", backup.name))
    } else if backup.view_only {
        Some(format!(
            "The access token for {} is view-only: it can see everything but change nothing. To fail over from this console, enter an administrator token with \"New access token…\" on its card.",
            backup.name
        ))
    } else if let Some(busy) = backup.failover.as_ref().and_then(|f| f.busy.as_ref()) {
        Some(format!("{} is busy: {busy}.", backup.name))
    } else {
        kind.as_ref().err().cloned()
    };
    let kind = kind.ok();
    FailoverOffer {
        kind,
        label: wizard_title(kind, backup),
        blocked,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Fact {
    pub ok: bool,
    pub text: String,
}

/// How old the backup's copy of one category is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategoryAge {
    pub label: String,
    /// Seconds since the oldest change the backup has not applied; 0 when it has everything.
    #[ts(type = "number")]
    pub behind_secs: u64,
    #[ts(type = "number")]
    pub pending_files: u64,
    #[ts(type = "number")]
    pub pending_bytes: u64,
    /// When this category was last complete on the backup.
    #[ts(type = "number | null")]
    pub last_success_unix: Option<i64>,
    /// While the primary still counts this category's files: how many so far (the backup's copy
    /// is not complete, whatever `pending_files` says).
    #[ts(type = "number | null")]
    pub counting_files: Option<u64>,
}

/// What step 2 of the wizard asks of the manager before it may run; [`check`] refuses until
/// each is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Needs {
    /// Tick "the old primary is switched off or unplugged".
    pub old_primary_off: bool,
    /// Type `confirm_name` exactly (spaces around it aside).
    pub typed_name: bool,
    /// Give a reason, kept in the audit log, to go ahead despite the warnings.
    pub reason: bool,
    /// Said under the form while something is missing, e.g. "To go ahead, type a reason above.".
    pub hint: String,
}

/// Step 1 of the wizard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Assessment {
    /// `None`: no role change is possible now (see `blockers`).
    pub kind: Option<WizardKind>,
    /// "Fail over to PBX B" or "Switch over to PBX B", as on the dashboard's button.
    pub title: String,
    pub primary_name: String,
    pub backup_name: String,
    /// What the console sees of the primary, one sentence: "PBX A does not answer.".
    pub primary_state: String,
    /// What the console sees, good and bad, in plain sentences.
    pub facts: Vec<Fact>,
    pub categories: Vec<CategoryAge>,
    /// Why it cannot go ahead at all.
    pub blockers: Vec<String>,
    /// Why it should not go ahead now, unless the manager overrides with a reason (planned only).
    pub warnings: Vec<String>,
    /// Time left of the hold after the current primary took the role.
    #[ts(type = "number | null")]
    pub hold_remaining_secs: Option<u64>,
    /// For an unplanned failover: the manager types this name to confirm.
    pub confirm_name: String,
    /// What step 2 asks for.
    pub needs: Needs,
    /// The button that runs it: "Make PBX B the primary", "Switch over", "Switch over anyway".
    pub run_label: String,
    /// For an unplanned failover of a pair set up for automatic failover: whether the backup
    /// takes over by itself, and what the wizard adds.
    pub autopilot: Option<AutopilotNote>,
}

/// What the wizard says of automatic failover when the primary is silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotNote {
    /// The backup is armed and the primary has not been silent for long: it takes over by
    /// itself shortly, and the manager may simply wait.
    pub waiting: bool,
    /// "PBX B takes over by itself shortly".
    pub title: String,
    pub text: String,
}

/// How long past its usual takeover time (`AutopilotSettings::takeover_secs`) the backup may take
/// to check the primary's phone system and start its own before the wizard says it is holding back.
pub const TAKEOVER_GRACE_SECS: u64 = 20;

/// The wizard's word on automatic failover when `primary` is silent (or stopped its phones) and
/// `backup` is set up for it.
fn autopilot_note(primary: &Machine, backup: &Machine, now: i64) -> Option<AutopilotNote> {
    let status = backup.autopilot().filter(|a| a.configured)?;
    let (p, b) = (&primary.name, &backup.name);
    if !status.armed {
        let why = status
            .blockers
            .first()
            .map_or_else(|| status.summary.trim().to_owned(), |x| x.message.trim().to_owned());
        return Some(AutopilotNote {
            waiting: false,
            title: "Automatic failover will not step in".into(),
            text: format!("{why} Failing over here is the way to bring the phones back now."),
        });
    }
    if let Some(why) = &status.held {
        return Some(AutopilotNote {
            waiting: false,
            title: format!("{b} is holding back"),
            text: format!(
                "{} The wizard goes ahead where automatic failover holds back, on your word that {p} is switched off.",
                why.trim()
            ),
        });
    }
    // About how long the backup waits after the primary's last word (its silence, the lease).
    let takeover = status.settings.takeover_secs;
    let silent_since = primary.fence().map(|f| f.since_unix).or(primary.last_answer_unix);
    let silent = silent_since.map(|t| (now - t).max(0) as u64);
    let adds = format!(
        "The wizard does not wait, and it goes ahead where automatic failover holds back ({p}'s phone system still \
         answering while its agent does not, or {b} behind), on your word that {p} is switched off."
    );
    Some(match silent {
        Some(s) if s > takeover + TAKEOVER_GRACE_SECS => AutopilotNote {
            waiting: false,
            title: format!("{b} has not taken over by itself"),
            text: format!(
                "{p} has been silent for {}, longer than automatic failover waits (about {}): it is holding back, \
                 and the Events tab says why. {adds}",
                span(s),
                span(takeover)
            ),
        },
        _ => AutopilotNote {
            waiting: true,
            title: format!("{b} takes over by itself shortly"),
            text: format!(
                "Automatic failover is on: once {p} has been silent for about {} and its phone system does not \
                 answer either, {b} makes itself the primary. You can wait and watch this office's state. {adds}",
                span(takeover)
            ),
        },
    })
}

/// The wizard's step 1: `primary` is the machine that holds (or last held) the role, `backup`
/// the one to promote.
pub fn assess(primary: &Machine, backup: &Machine, now: i64) -> Assessment {
    let mut facts = Vec::new();
    let mut blockers = Vec::new();
    let mut warnings = Vec::new();
    let primary_state = match (&primary.failover, primary.reachable) {
        (Some(_), true) if primary.fence().is_some() => {
            let since = primary.fence().map_or(0, |f| (now - f.since_unix).max(0) as u64);
            facts.push(Fact {
                ok: false,
                text: format!(
                    "{} answers, but stopped its phone system {} ago: it was cut off from {} and the witness.",
                    primary.name,
                    span(since),
                    backup.name
                ),
            });
            format!("{} stopped its phone system.", primary.name)
        }
        (Some(f), true) => {
            facts.push(Fact {
                ok: true,
                text: format!("{} answers; it is the {}.", primary.name, f.role),
            });
            format!("{} answers.", primary.name)
        }
        (None, true) => {
            facts.push(Fact {
                ok: false,
                text: format!(
                    "{} answers, but its failover status cannot be read: it cannot take part in a switchover.",
                    primary.name
                ),
            });
            format!("{} answers, but its failover status cannot be read.", primary.name)
        }
        (_, false) => {
            facts.push(Fact {
                ok: false,
                text: format!("{} does not answer{}.", primary.name, silent_for(primary, now)),
            });
            format!("{} does not answer.", primary.name)
        }
    };
    match (&backup.failover, backup.reachable) {
        (Some(f), true) if f.role == Role::Backup => {
            facts.push(Fact {
                ok: true,
                text: format!("{} answers and is ready to take over.", backup.name),
            });
            if let Some(problem) = &f.pbx.problem {
                facts.push(Fact {
                    ok: false,
                    text: problem.clone(),
                });
            }
            if f.busy.is_some() {
                blockers.push(format!(
                    "{} is busy with another role change; wait until it finishes.",
                    backup.name
                ));
            }
            if !f.partner.paired {
                blockers.push(format!("{} is not paired with a primary.", backup.name));
            }
        }
        (Some(f), true) => blockers.push(format!("{} is already the {}.", backup.name, f.role)),
        _ => blockers.push(format!(
            "{} does not answer{}: it cannot take over until it does.",
            backup.name,
            silent_for(backup, now)
        )),
    }
    let categories: Vec<CategoryAge> = backup
        .sync
        .as_ref()
        .map(|s| {
            s.categories
                .iter()
                .map(|c| CategoryAge {
                    label: c.label.clone(),
                    behind_secs: c.lag_secs.unwrap_or(0),
                    pending_files: c.pending_files,
                    pending_bytes: c.pending_bytes,
                    last_success_unix: c.last_success_unix,
                    counting_files: c.counting.as_ref().map(|p| p.files_counted),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(counted) = still_counting(primary, backup) {
        facts.push(Fact {
            ok: false,
            text: format!(
                "{} is still counting its files ({} so far): the backup's copy is not complete.",
                primary.name,
                count(counted)
            ),
        });
    }
    let behind: Vec<String> = categories
        .iter()
        .filter(|c| c.pending_files > 0)
        .map(|c| format!("{} ({} behind)", c.label, span(c.behind_secs)))
        .collect();
    let mut hold_remaining_secs = None;
    let planned = wizard_kind(primary, backup);
    let title = wizard_title(planned.as_ref().ok().copied(), backup);
    let kind = if !blockers.is_empty() {
        None
    } else if let (Ok(WizardKind::Planned), Some(f)) = (&planned, &primary.failover) {
        hold_remaining_secs = f.hold.remaining_secs;
        if let Some(left) = f.hold.remaining_secs.filter(|l| *l > 0) {
            warnings.push(format!(
                "{} became the primary only {} ago. Wait {} more so that recordings, voicemail, prompts and music on hold finish copying back.",
                primary.name,
                span(f.hold.primary_for_secs.unwrap_or(0)),
                span(left)
            ));
        }
        if !f.hold.caught_up {
            warnings.push(format!(
                "{} changes ({}) are not on {} yet.",
                f.hold.pending_files,
                bytes(f.hold.pending_bytes),
                backup.name
            ));
        }
        Some(WizardKind::Planned)
    } else if let Err(not_primary) = planned {
        blockers.push(not_primary);
        None
    } else {
        if !behind.is_empty() {
            facts.push(Fact {
                ok: false,
                text: format!("Not everything reached {}: {}.", backup.name, behind.join(", ")),
            });
        }
        Some(WizardKind::Unplanned)
    };
    let (needs, run_label) = match kind {
        Some(WizardKind::Unplanned) => (
            Needs {
                old_primary_off: true,
                typed_name: true,
                reason: false,
                hint: format!("To go ahead, tick the box and type {} exactly.", backup.name),
            },
            format!("Make {} the primary", backup.name),
        ),
        // Past the hold or with changes pending, the switchover overrides the agent's guards:
        // only with a reason for the audit log.
        Some(WizardKind::Planned) if !warnings.is_empty() => (
            Needs {
                reason: true,
                hint: "To go ahead, type a reason above.".into(),
                ..Needs::default()
            },
            "Switch over anyway".into(),
        ),
        Some(WizardKind::Planned) | None => (Needs::default(), "Switch over".into()),
    };
    let autopilot = match kind {
        Some(WizardKind::Unplanned) => autopilot_note(primary, backup, now),
        _ => None,
    };
    Assessment {
        autopilot,
        kind,
        title,
        primary_name: primary.name.clone(),
        backup_name: backup.name.clone(),
        primary_state,
        facts,
        categories,
        blockers,
        warnings,
        hold_remaining_secs,
        confirm_name: backup.name.clone(),
        needs,
        run_label,
    }
}

fn bytes(b: u64) -> String {
    match b {
        0..=999 => format!("{b} B"),
        1_000..=999_999 => format!("{:.1} KB", b as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.1} GB", b as f64 / 1e9),
    }
}

/// What the manager confirmed in step 2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Confirmation {
    /// Unplanned: the backup's name, typed.
    pub typed_name: String,
    /// Unplanned: "the old primary is switched off or unplugged".
    pub old_primary_off: bool,
    /// Planned: a reason to go ahead despite the warnings (kept in the audit log).
    pub override_reason: Option<String>,
}

/// The one request the wizard sends to the backup.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Promote(PromoteRequest),
    Switchover(SwitchoverRequest),
}

/// The last guard: refuses unless the assessment allows a change and the manager gave what its
/// [`Needs`] ask (the same fields the wizard enables its button from), whatever the front end
/// shows.
pub fn check(a: &Assessment, c: &Confirmation) -> Result<Action, Error> {
    let refuse = |m: String| Err(Error::InvalidInput(m));
    let Some(kind) = a.kind else {
        return refuse(format!("No role change is possible now: {}", a.blockers.join(" ")));
    };
    let reason = c.override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if a.needs.old_primary_off && !c.old_primary_off {
        return refuse(format!(
            "Confirm that {} is switched off or unplugged: two primaries would answer the phones.",
            a.primary_name
        ));
    }
    if a.needs.typed_name && c.typed_name.trim() != a.confirm_name {
        return refuse(format!(
            "Type the backup's name exactly as shown (\"{}\") to confirm.",
            a.confirm_name
        ));
    }
    if a.needs.reason && reason.is_none() {
        return refuse(format!(
            "{} To go ahead anyway, give a reason; it is kept in the audit log.",
            a.warnings.join(" ")
        ));
    }
    match kind {
        WizardKind::Unplanned => Ok(Action::Promote(PromoteRequest {
            force: true,
            reason: Some(format!(
                "Unplanned failover from the LBS Console: {} did not answer and was confirmed off",
                a.primary_name
            )),
        })),
        WizardKind::Planned => Ok(Action::Switchover(SwitchoverRequest {
            override_guards: a.needs.reason,
            reason: reason.map(str::to_owned),
        })),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lbs_protocol::{AddressStatus, CategorySync, HoldStatus, PartnerStatus, PbxStatus, SyncPeer};

    const NOW: i64 = 1_800_000_000;

    pub(crate) fn failover(role: Role, paired: bool, remaining: u64, caught_up: bool) -> FailoverStatus {
        FailoverStatus {
            role,
            standing: Default::default(),
            epoch: 2,
            epoch_owner: "x".into(),
            role_since_unix: NOW - 7200,
            busy: None,
            hold: HoldStatus {
                hold_secs: 3600,
                primary_for_secs: Some(3600 - remaining.min(3600)),
                remaining_secs: Some(remaining),
                took_over: true,
                caught_up,
                pending_files: if caught_up { 0 } else { 12 },
                pending_bytes: if caught_up { 0 } else { 4_000_000 },
            },
            pbx: PbxStatus {
                managed: true,
                running: Some(role == Role::Primary),
                should_run: role == Role::Primary,
                problem: None,
                checked_unix: Some(NOW),
            },
            address: AddressStatus {
                strategy: "vip".into(),
                target: "10.0.0.10/24 on eth0".into(),
                held: role == Role::Primary,
                problem: None,
                warning: None,
            },
            partner: PartnerStatus {
                paired,
                name: None,
                server_id: None,
                address: None,
                reachable: true,
                checked: true,
                role: None,
                epoch: None,
                role_since_unix: None,
                last_contact_unix: None,
                message: None,
                clock_offset_secs: None,
                clock_problem: None,
            },
            quarantined_files: 0,
            last_change: None,
            autopilot: None,
        }
    }

    pub(crate) fn sync(link: SyncLinkState, lag: Option<u64>) -> SyncStatus {
        SyncStatus {
            role: Role::Backup,
            epoch: 2,
            peer: SyncPeer {
                state: link,
                server_id: None,
                name: None,
                address: None,
                last_contact_unix: Some(NOW - 7200),
                message: None,
            },
            categories: vec![CategorySync {
                name: "voicemail".into(),
                label: "Voicemail".into(),
                priority: 2,
                local_files: 10,
                local_bytes: 100,
                peer_files: Some(10),
                peer_bytes: Some(100),
                pending_files: u64::from(lag.is_some()),
                pending_bytes: 0,
                lag_secs: lag,
                last_success_unix: Some(NOW - 3),
                last_error: None,
                throughput_bps: 0.0,
                skipped: vec![],
                counting: None,
                watch_problem: None,
            }],
            history: vec![],
            link: None,
        }
    }

    fn machine(name: &str, f: Option<FailoverStatus>, s: Option<SyncStatus>) -> Machine {
        Machine {
            name: name.into(),
            last_answer_unix: Some(NOW - 125),
            reachable: f.is_some(),
            last_role: f.as_ref().map(|f| f.role),
            failover: f,
            sync: s,
            view_only: false,
        }
    }

    fn pair_ok(lag: Option<u64>) -> (Machine, Machine) {
        (
            machine("PBX A", Some(failover(Role::Primary, true, 0, true)), None),
            machine(
                "PBX B",
                Some(failover(Role::Backup, true, 0, true)),
                Some(sync(SyncLinkState::Ok, lag)),
            ),
        )
    }

    fn with_autopilot(mut m: Machine, a: AutopilotStatus) -> Machine {
        if let Some(f) = m.failover.as_mut() {
            f.autopilot = Some(a);
        }
        m
    }

    #[test]
    fn a_primary_that_stopped_its_phones_when_cut_off_is_down_and_not_a_second_primary() {
        let fenced = AutopilotStatus {
            fenced: Some(Fence {
                since_unix: NOW - 90,
                message: "Cut off from PBX B and the witness.".into(),
            }),
            ..crate::autopilot::tests::armed()
        };
        let (a, b) = pair_ok(None);
        let a = with_autopilot(a, fenced);
        let s = pair_state(&a, &b, NOW);
        assert_eq!(s.level, PairLevel::Down);
        assert_eq!(
            s.sentence,
            "The phones may be down: PBX A stopped its phone system 1 min ago, cut off from PBX B and the witness"
        );
        assert!(s
            .next
            .unwrap_or_default()
            .starts_with("PBX B takes over by itself if it still reaches the witness."));
        // The wizard promotes the backup: a primary cut off from it cannot hand over.
        assert_eq!(wizard_kind(&a, &b), Ok(WizardKind::Unplanned));
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, Some(WizardKind::Unplanned));
        assert_eq!(x.primary_state, "PBX A stopped its phone system.");
        assert!(x.needs.old_primary_off && x.needs.typed_name);
        assert!(x
            .facts
            .iter()
            .any(|f| !f.ok && f.text.contains("stopped its phone system 1 min ago")));
        // The backup took over: the phones work, and the box that stopped is no second primary.
        let b_primary = machine("PBX B", Some(failover(Role::Primary, true, 0, true)), None);
        let s = pair_state(&a, &b_primary, NOW);
        assert_eq!(s.level, PairLevel::AtRisk);
        assert_eq!(
            s.sentence,
            "PBX B runs the phones; PBX A stopped its own 1 min ago, cut off from it and the witness"
        );
    }

    #[test]
    fn a_silent_primary_with_an_armed_backup_says_the_backup_takes_over_by_itself() {
        let (mut a, b) = pair_ok(None);
        a.reachable = false;
        let plain = pair_state(&a, &b, NOW);
        let armed = pair_state(&a, &with_autopilot(b, crate::autopilot::tests::armed()), NOW);
        assert_eq!(armed.level, PairLevel::Down);
        assert_eq!(armed.sentence, plain.sentence);
        assert_eq!(
            armed.next.as_deref(),
            Some(
                "Automatic failover is on: PBX B takes over by itself about 11 s after PBX A went silent. If it does \
                 not, start the failover wizard."
            )
        );
        assert!(plain.next.unwrap_or_default().starts_with("If it does not come back"));
    }

    /// Only the primary's agent is silent, its phones answer: the backup holds back and says so.
    pub(crate) const HELD: &str = "PBX A's agent does not answer, but its phone system still answers at \
                                   192.0.2.10:5060: the phones work, so nothing moved.";

    #[test]
    fn a_backup_that_holds_back_says_why_on_the_dashboard_and_in_the_wizard() {
        let (mut a, b) = pair_ok(None);
        a.reachable = false;
        a.last_answer_unix = Some(NOW - 40);
        let held = AutopilotStatus {
            held: Some(HELD.into()),
            ..crate::autopilot::tests::armed()
        };
        let b = with_autopilot(b, held);
        let s = pair_state(&a, &b, NOW);
        assert_eq!(s.level, PairLevel::Down);
        assert_eq!(
            s.next.as_deref(),
            Some(
                "PBX B did not take over by itself: the autopilot line below says why. If PBX A is really off, start \
                 the failover wizard."
            )
        );
        a.last_role = Some(Role::Primary);
        let note = assess(&a, &b, NOW).autopilot.expect("a note");
        assert!(!note.waiting);
        assert_eq!(note.title, "PBX B is holding back");
        assert!(note.text.starts_with(HELD), "{}", note.text);
    }

    #[test]
    fn the_wizard_says_when_the_backup_takes_over_by_itself_and_what_it_adds() {
        use crate::autopilot::tests::{armed, blocker};
        let silent = Machine {
            last_answer_unix: Some(NOW - 5),
            last_role: Some(Role::Primary),
            ..machine("PBX A", None, None)
        };
        let (_, b) = pair_ok(None);
        let backup = with_autopilot(b.clone(), armed());
        let note = assess(&silent, &backup, NOW).autopilot.expect("a note");
        assert!(note.waiting);
        assert_eq!(note.title, "PBX B takes over by itself shortly");
        assert!(
            note.text.contains("once PBX A has been silent for about 11 s"),
            "{}",
            note.text
        );
        assert!(note.text.contains("The wizard does not wait"), "{}", note.text);
        // Silent for longer than automatic failover waits: it is holding back.
        let long = Machine {
            last_answer_unix: Some(NOW - 125),
            ..silent.clone()
        };
        let note = assess(&long, &backup, NOW).autopilot.expect("a note");
        assert!(!note.waiting);
        assert_eq!(note.title, "PBX B has not taken over by itself");
        assert!(
            note.text.starts_with("PBX A has been silent for 2 min, longer than"),
            "{}",
            note.text
        );
        // Not armed: it will not step in, and why.
        let lost = AutopilotStatus {
            armed: false,
            blockers: vec![blocker(
                lbs_protocol::BlockerKind::NoQuorum,
                "PBX B cannot reach the vote.",
            )],
            ..armed()
        };
        let note = assess(&silent, &with_autopilot(b.clone(), lost), NOW)
            .autopilot
            .expect("a note");
        assert_eq!(note.title, "Automatic failover will not step in");
        assert!(note.text.starts_with("PBX B cannot reach the vote. "), "{}", note.text);
        // Not set up, or a planned switchover: nothing to say.
        assert_eq!(assess(&silent, &b, NOW).autopilot, None);
        let (a, _) = pair_ok(None);
        assert_eq!(assess(&a, &backup, NOW).autopilot, None);
    }

    #[test]
    fn the_dashboard_sentence_says_how_safe_the_pair_is() {
        let (a, b) = pair_ok(Some(3));
        assert_eq!(pair_state(&a, &b, NOW).sentence, "Protected: the backup is 3 s behind");
        let (a, b) = pair_ok(None);
        let s = pair_state(&b, &a, NOW);
        assert_eq!(
            (s.level, s.sentence.as_str()),
            (PairLevel::Protected, "Protected: the backup is up to date")
        );
        let (a, b) = pair_ok(Some(7200));
        assert_eq!(pair_state(&a, &b, NOW).sentence, "At risk: the backup is 2 h behind");
        let (a, mut b) = pair_ok(None);
        b.sync = Some(sync(SyncLinkState::Unreachable, None));
        assert_eq!(
            pair_state(&a, &b, NOW).sentence,
            "At risk: the backup has not synced for 2 h"
        );
        let (mut a, b) = pair_ok(None);
        a.reachable = false;
        let s = pair_state(&a, &b, NOW);
        assert_eq!(
            (s.level, s.sentence.as_str()),
            (PairLevel::Down, "Primary PBX A unreachable for 2 min")
        );
        assert!(s.next.unwrap().contains("failover wizard"));
        let (a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Primary, true, 0, true));
        assert_eq!(pair_state(&a, &b, NOW).level, PairLevel::Down);
        let (mut a, b) = pair_ok(None);
        a.failover = Some(failover(Role::Primary, false, 0, true));
        assert!(pair_state(&a, &b, NOW).sentence.starts_with("Not protected"));
    }

    #[test]
    fn a_box_between_two_states_is_not_counted_as_a_second_primary() {
        // A restarted old primary that has not asked its partner yet, beside the new primary.
        let (mut a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Primary, true, 0, true));
        a.failover.as_mut().unwrap().standing = RoleStanding::Unconfirmed;
        let s = pair_state(&a, &b, NOW);
        assert_eq!(
            (s.level, s.sentence.as_str()),
            (
                PairLevel::AtRisk,
                "PBX A has just started and is asking PBX B which of them runs the phones"
            )
        );
        // An old primary that heard of the new one and is stopping its PBX.
        let (mut a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Primary, true, 0, true));
        a.failover = Some(FailoverStatus {
            standing: RoleStanding::SteppingDown,
            ..failover(Role::Backup, true, 0, true)
        });
        let s = pair_state(&a, &b, NOW);
        assert_eq!(s.level, PairLevel::AtRisk);
        assert_eq!(
            s.sentence,
            "PBX A is stepping down: PBX B runs the phones now, and PBX A is stopping its PBX"
        );
        // What a box that no longer answers last said does not count.
        a.reachable = false;
        assert!(!pair_state(&a, &b, NOW).sentence.contains("stepping down"));
    }

    #[test]
    fn nothing_is_protected_while_the_primary_still_counts_its_files() {
        // Nothing pending and a good link, as right after pairing: the backup knows of nothing yet.
        let (a, mut b) = pair_ok(None);
        let mut s = sync(SyncLinkState::Ok, None);
        s.categories[0].counting = Some(lbs_protocol::ScanProgress { files_counted: 12_400 });
        b.sync = Some(s);
        let state = pair_state(&a, &b, NOW);
        assert_eq!(state.level, PairLevel::AtRisk);
        assert_eq!(
            state.sentence,
            "PBX A is still counting its files (12,400 so far); the copy is not complete yet"
        );
        let wizard = assess(&a, &b, NOW);
        assert_eq!(wizard.categories[0].counting_files, Some(12_400));
        assert!(
            wizard.facts.iter().any(|f| !f.ok && f.text.contains("still counting")),
            "{:?}",
            wizard.facts
        );
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(200_000), "200,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn spans_read_like_people_talk() {
        assert_eq!(span(3), "3 s");
        assert_eq!(span(125), "2 min");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(7500), "2 h 5 min");
        assert_eq!(span(90_000), "1 day");
        assert_eq!(span(3 * 86_400), "3 days");
    }

    #[test]
    fn an_unplanned_failover_needs_the_old_primary_off_and_the_name_typed() {
        let (mut a, b) = pair_ok(Some(40));
        a.reachable = false;
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, Some(WizardKind::Unplanned));
        assert_eq!(x.title, "Fail over to PBX B");
        assert_eq!(x.primary_state, "PBX A does not answer.");
        assert_eq!(x.run_label, "Make PBX B the primary");
        assert!(x.needs.old_primary_off && x.needs.typed_name && !x.needs.reason);
        assert_eq!(x.needs.hint, "To go ahead, tick the box and type PBX B exactly.");
        assert!(x
            .facts
            .iter()
            .any(|f| !f.ok && f.text == "PBX A does not answer for 2 min."));
        assert!(x.facts.iter().any(|f| f.text.contains("Voicemail (40 s behind)")));
        let mut c = Confirmation {
            typed_name: "PBX B".into(),
            ..Default::default()
        };
        let e = check(&x, &c).unwrap_err().to_string();
        assert!(e.contains("switched off or unplugged"), "{e}");
        c.old_primary_off = true;
        c.typed_name = "pbx b".into();
        assert!(check(&x, &c).unwrap_err().to_string().contains("exactly"));
        c.typed_name = " PBX B ".into();
        match check(&x, &c).unwrap() {
            Action::Promote(p) => assert!(p.force && p.reason.unwrap().contains("PBX A")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_switch_back_is_refused_during_the_hold_or_with_changes_pending_unless_overridden() {
        let a = machine("PBX A", Some(failover(Role::Primary, true, 1800, false)), None);
        let b = machine(
            "PBX B",
            Some(failover(Role::Backup, true, 0, true)),
            Some(sync(SyncLinkState::Ok, Some(4))),
        );
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, Some(WizardKind::Planned));
        assert_eq!(x.title, "Switch over to PBX B");
        assert_eq!(x.hold_remaining_secs, Some(1800));
        assert!(x.needs.reason && !x.needs.old_primary_off && !x.needs.typed_name);
        assert_eq!(x.needs.hint, "To go ahead, type a reason above.");
        assert_eq!(x.run_label, "Switch over anyway");
        assert_eq!(x.warnings.len(), 2, "{:?}", x.warnings);
        assert!(x.warnings[0].contains("30 min"), "{:?}", x.warnings);
        assert!(x.warnings[1].contains("12 changes (4.0 MB)"), "{:?}", x.warnings);
        let e = check(&x, &Confirmation::default()).unwrap_err().to_string();
        assert!(e.contains("give a reason"), "{e}");
        let blank = Confirmation {
            override_reason: Some("  ".into()),
            ..Default::default()
        };
        assert!(check(&x, &blank).is_err(), "a blank reason is no reason");
        let c = Confirmation {
            override_reason: Some("the old box is needed elsewhere".into()),
            ..Default::default()
        };
        match check(&x, &c).unwrap() {
            Action::Switchover(s) => assert!(s.override_guards && s.reason.is_some()),
            other => panic!("{other:?}"),
        }
        // After the hold, caught up: no warning, no override.
        let a = machine("PBX A", Some(failover(Role::Primary, true, 0, true)), None);
        let x = assess(&a, &b, NOW);
        assert!(x.warnings.is_empty());
        assert_eq!(x.needs, Needs::default(), "nothing to confirm");
        assert_eq!(x.run_label, "Switch over");
        match check(&x, &Confirmation::default()).unwrap() {
            Action::Switchover(s) => assert!(!s.override_guards),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nothing_is_possible_when_the_backup_cannot_take_over() {
        let (a, mut b) = pair_ok(None);
        b.reachable = false;
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, None);
        assert!(x.blockers[0].contains("PBX B does not answer"));
        assert!(check(&x, &Confirmation::default()).is_err());
        let (a, mut b) = pair_ok(None);
        b.failover = Some(failover(Role::Backup, false, 0, true));
        assert!(assess(&a, &b, NOW).blockers[0].contains("not paired"));
        let (a, mut b) = pair_ok(None);
        let mut busy = failover(Role::Backup, true, 0, true);
        busy.busy = Some("Reintegrating".into());
        b.failover = Some(busy);
        assert!(assess(&a, &b, NOW).blockers[0].contains("busy"));
    }

    #[test]
    fn the_button_says_which_change_and_why_it_is_disabled() {
        let (a, b) = pair_ok(None);
        let o = offer(2, Some((&a, &b)));
        assert_eq!(
            (o.kind, o.label.as_str(), o.blocked),
            (Some(WizardKind::Planned), "Switch over to PBX B", None)
        );
        let (mut a, b) = pair_ok(None);
        a.reachable = false;
        a.failover = None;
        let o = offer(2, Some((&a, &b)));
        assert_eq!(
            (o.kind, o.label.as_str(), o.blocked),
            (Some(WizardKind::Unplanned), "Fail over to PBX B", None),
            "a silent primary is no reason to refuse: that is what the wizard is for"
        );

        let blocked = |servers, pair: Option<(&Machine, &Machine)>| offer(servers, pair).blocked.unwrap_or_default();
        let (a, b) = pair_ok(None);
        assert!(blocked(1, Some((&a, &b))).contains("add its partner first"));
        assert!(blocked(2, None).contains("Neither server has been seen as the primary"));
        assert_eq!(offer(2, None).label, "Fail over");
        let (a, mut b) = pair_ok(None);
        b.reachable = false;
        assert_eq!(
            blocked(2, Some((&a, &b))),
            "PBX B does not answer, so it cannot take over."
        );
        let (a, mut b) = pair_ok(None);
        b.view_only = true;
        assert!(blocked(2, Some((&a, &b))).starts_with("The access token for PBX B is view-only"));
        let (a, mut b) = pair_ok(None);
        let mut busy = failover(Role::Backup, true, 0, true);
        busy.busy = Some("Copying the last changes".into());
        b.failover = Some(busy);
        assert_eq!(blocked(2, Some((&a, &b))), "PBX B is busy: Copying the last changes.");
    }

    #[test]
    fn a_primary_whose_failover_status_cannot_be_read_is_an_unplanned_failover_for_button_and_wizard() {
        // It answers (its status), but not about its role: no hold, no pending changes to show,
        // so no switchover is promised; the manager switches it off first.
        let (mut a, b) = pair_ok(None);
        a.failover = None;
        assert!(a.reachable);
        let o = offer(2, Some((&a, &b)));
        let x = assess(&a, &b, NOW);
        assert_eq!(o.kind, Some(WizardKind::Unplanned));
        assert_eq!(x.kind, o.kind);
        assert_eq!(x.title, o.label);
        assert_eq!(o.label, "Fail over to PBX B");
        assert_eq!(
            x.primary_state,
            "PBX A answers, but its failover status cannot be read."
        );
        assert!(
            x.facts[0].text.contains("cannot take part in a switchover"),
            "{:?}",
            x.facts
        );
        assert!(x.needs.old_primary_off, "the old primary must be confirmed off");
    }

    #[test]
    fn a_primary_that_answers_as_a_backup_is_not_failed_over() {
        let (mut a, b) = pair_ok(None);
        a.failover = Some(failover(Role::Backup, true, 0, true));
        let x = assess(&a, &b, NOW);
        assert_eq!(x.kind, None);
        assert!(x.blockers[0].contains("promote PBX B directly"), "{:?}", x.blockers);
        let o = offer(2, Some((&a, &b)));
        assert_eq!(o.kind, None);
        assert_eq!(o.blocked, x.blockers.first().cloned());
    }
}
