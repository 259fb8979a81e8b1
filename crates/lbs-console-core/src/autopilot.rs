//! Automatic failover ("autopilot") as the office manager sees it: one answer for the pair from
//! what each box says in its failover status — on or not, and why not; who switched it and when;
//! the last automatic failover; a primary that stopped its phones because it was cut off (an
//! alarm); the vote's members as each box reaches them — and the switch: which server it goes
//! through, or why it cannot, and the agent's answer in words. Pure rules over what the console
//! last saw; the call is in `console.rs`.
//!
//! The agents decide whether they are armed and why not (`AutopilotStatus::blockers`, each with a
//! sentence for the manager); this module decides whose word counts for the pair — the pair is on
//! autopilot only when every box that answers says so, and the backup's reason comes first, since
//! it is the box that would take over — and adds what only the console knows: which box does not
//! answer it, and times on this computer's clock (the agents' messages carry none).

use lbs_protocol::{
    AutopilotAnswer, AutopilotBlocker, AutopilotSettings, AutopilotStatus, AutopilotSwitch, BlockerKind, Fence,
    PartnerNotice, Role, TokenRole,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::Error;
use crate::overview::MachineView;

/// The pair's autopilot in one word, for the badge's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum AutopilotLevel {
    /// Armed: if the primary died now, the backup would take over by itself.
    On,
    /// Set up, but not armed now: switched off, paused, or something in the way; or the backup
    /// holding back from a primary whose agent is silent while its phones still answer.
    Off,
    /// Not set up for the pair (or an agent too old for it): a person fails over, with the wizard.
    NotSetUp,
    /// No server answers this console: nothing is known.
    Unknown,
    /// A primary stopped its phone system because it was cut off from its partner and the vote:
    /// the phones may be down.
    Alarm,
}

/// One member of the vote as one box reaches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MemberSight {
    pub reachable: bool,
    /// "Answers", "Out of reach since 10:42: connection refused".
    pub text: String,
}

/// One member of the vote (PBX A, PBX B or the witness), as each box that answers reaches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MemberView {
    /// "PBX A", "PBX B", "Witness".
    pub name: String,
    /// Its address, e.g. `https://192.168.1.5:2379`.
    pub endpoint: String,
    /// In the order of [`VoteView::seen_from`]; `None` where that box does not list it.
    pub sights: Vec<Option<MemberSight>>,
}

/// The vote (three etcd members) as the boxes that answer reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct VoteView {
    /// "Every member of the vote answers PBX A and PBX B." / "The witness is out of reach of PBX A
    /// and PBX B."
    pub summary: String,
    /// A member is out of reach of a box: the UI shows the members without being asked.
    pub trouble: bool,
    /// The boxes whose view is shown, by name: the table's columns.
    pub seen_from: Vec<String>,
    pub members: Vec<MemberView>,
}

/// The autopilot's switch on the office view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotOffer {
    /// The pair's switch is on now: the button switches it off.
    pub on: bool,
    /// "Switch off…", "Switch on…".
    pub label: String,
    /// The server the request goes through (the primary first); `None` when blocked.
    pub through: Option<String>,
    /// Why it cannot be switched from here now, in words; `None` when it can.
    pub blocked: Option<String>,
    /// What automatic failover does and does not do, one paragraph each, for the dialog.
    pub explanation: Vec<String>,
    /// Switching on now would not arm it at once: why not (what else is in the way).
    pub not_armed_yet: Option<String>,
    /// Who, as the dialog first suggests it: this computer's user.
    pub by: Option<String>,
}

/// The office's autopilot, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotView {
    pub level: AutopilotLevel,
    /// The level in a word or two, beside its colour: "On", "Off", "Paused", "Holding back",
    /// "Not set up", "Not known", "Phones stopped".
    pub word: String,
    /// "Autopilot: on", "Autopilot: off since 10:42".
    pub headline: String,
    /// What follows the headline: "if PBX A fails, PBX B takes over by itself (about 11 s)."
    pub text: String,
    /// What to do, when something is to be done.
    pub next: Option<String>,
    /// Further facts, one sentence each: who switched it and when, the last automatic failover,
    /// other reasons, a box that does not answer this console.
    pub notes: Vec<String>,
    /// The main reason it is not on, when one box gave it.
    pub cause: Option<BlockerKind>,
    /// What still works but is one loss from stopping (the witness out of reach): the pair stays
    /// on autopilot and `next` says what to check.
    pub warnings: Vec<BlockerKind>,
    /// The vote's members; `None` when it is not set up.
    pub vote: Option<VoteView>,
    /// The switch; `None` when there is nothing to switch (not set up: the contractor's work
    /// first, `next` says what; or no server answers).
    pub offer: Option<AutopilotOffer>,
}

/// What switching it on or off did, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AutopilotDone {
    /// The pair's switch is on now.
    pub on: bool,
    /// "Automatic failover is on for PBX A and PBX B."
    pub message: String,
    /// The partner could not be told (it learns it from the next heartbeat it answers).
    pub partner_not_told: bool,
}

/// What the IT contractor does to set it up, for the office manager to pass on.
pub const SET_UP: &str =
    "Your IT contractor sets it up: a small always-on machine of the office as the witness (a NAS, a \
                          Raspberry Pi, a virtual machine), then `lbs-agent witness setup` on each server, as \
                          docs/failover.md describes (\"Setting up automatic failover\").";

/// Said whenever the pair is not on autopilot: the manual way still works.
const MANUAL: &str = "If the primary fails meanwhile, fail over from this console with the failover wizard: it works \
                      without the autopilot.";

/// One box that answers, with what it says of the autopilot.
struct Said<'a> {
    m: &'a MachineView,
    status: &'a AutopilotStatus,
}

impl Said<'_> {
    fn name(&self) -> &str {
        &self.m.entry.name
    }
}

fn names(list: &[&str]) -> String {
    match list {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    }
}

/// Which machine is (or was last seen as) the primary, and the other one.
fn roles(machines: &[MachineView]) -> Option<(&MachineView, &MachineView)> {
    let [a, b] = machines else { return None };
    let is_primary = |m: &MachineView| m.role() == Some(Role::Primary);
    // The one that answers as the primary, else the one last seen as it, else the first.
    let primary = [a, b]
        .into_iter()
        .find(|m| m.reachable && is_primary(m))
        .or_else(|| [a, b].into_iter().find(|m| is_primary(m)))
        .unwrap_or(a);
    let backup = if std::ptr::eq(primary, a) { b } else { a };
    Some((primary, backup))
}

/// "Witness" for the witness's member, else the box's name.
fn member_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("witness") {
        "Witness".into()
    } else {
        name.to_owned()
    }
}

/// "The witness", "The vote on PBX B": a member as the subject of a sentence.
fn member_subject(name: &str) -> String {
    if name.eq_ignore_ascii_case("witness") {
        "The witness".into()
    } else {
        format!("The vote on {name}")
    }
}

/// The vote as the boxes that answer reach it.
fn vote(said: &[Said], clock: &impl Fn(i64) -> String) -> Option<VoteView> {
    let seeing: Vec<&Said> = said.iter().filter(|s| !s.status.members.is_empty()).collect();
    if seeing.is_empty() {
        return None;
    }
    let mut members: Vec<MemberView> = Vec::new();
    for (i, s) in seeing.iter().enumerate() {
        for vm in &s.status.members {
            let sight = MemberSight {
                reachable: vm.reachable,
                text: if vm.reachable {
                    "Answers".into()
                } else {
                    let since = vm
                        .unreachable_since_unix
                        .map(|t| format!(" since {}", clock(t)))
                        .unwrap_or_default();
                    let why = vm
                        .problem
                        .as_deref()
                        .map(|p| format!(": {}", p.trim_end_matches('.')))
                        .unwrap_or_default();
                    format!("Out of reach{since}{why}")
                },
            };
            let at = match members.iter().position(|m| m.endpoint == vm.endpoint) {
                Some(at) => at,
                None => {
                    members.push(MemberView {
                        name: member_name(&vm.name),
                        endpoint: vm.endpoint.clone(),
                        sights: vec![None; seeing.len()],
                    });
                    members.len() - 1
                }
            };
            members[at].sights[i] = Some(sight);
        }
    }
    let seen_from: Vec<String> = seeing.iter().map(|s| s.name().to_owned()).collect();
    let troubles: Vec<String> = members
        .iter()
        .filter_map(|m| {
            let out: Vec<&str> = m
                .sights
                .iter()
                .zip(&seen_from)
                .filter(|(s, _)| s.as_ref().is_some_and(|s| !s.reachable))
                .map(|(_, from)| from.as_str())
                .collect();
            (!out.is_empty()).then(|| format!("{} is out of reach of {}", member_subject(&m.name), names(&out)))
        })
        .collect();
    let from: Vec<&str> = seen_from.iter().map(String::as_str).collect();
    let summary = if troubles.is_empty() {
        format!("Every member of the vote answers {}.", names(&from))
    } else {
        format!("{}.", troubles.join(". "))
    };
    Some(VoteView {
        summary,
        trouble: !troubles.is_empty(),
        seen_from,
        members,
    })
}

/// The pair's switch: the later of the two boxes' (see `AutopilotSwitch::newer`).
fn switch(said: &[Said]) -> Option<AutopilotSwitch> {
    said.iter()
        .map(|s| s.status.switch.clone())
        .fold(None, AutopilotSwitch::newer)
}

/// Who switched it and when, in words.
fn switch_note(sw: &AutopilotSwitch, clock: &impl Fn(i64) -> String) -> String {
    let reason = sw
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {}", r.trim_end_matches('.')))
        .unwrap_or_default();
    format!(
        "Switched {} by {} at {}{reason}.",
        if sw.on { "on" } else { "off" },
        sw.by,
        clock(sw.at_unix_ms.div_euclid(1000))
    )
}

/// A box whose switch is not the pair's yet (the change did not reach it).
fn stale_switch(said: &[Said], pair: &AutopilotSwitch) -> Option<String> {
    let stale = said.iter().find(|s| s.status.switch.as_ref() != Some(pair))?;
    let other = said.iter().find(|s| !std::ptr::eq(*s, stale))?;
    Some(format!(
        "{} has not heard of this yet: it learns it when it is in contact with {} again.",
        stale.name(),
        other.name()
    ))
}

/// A warning, not a reason: it still works, but one more loss would stop it. The agents list
/// warnings after their reasons, and a box that gives only warnings is armed.
fn is_warning(kind: BlockerKind) -> bool {
    matches!(kind, BlockerKind::WitnessUnreachable)
}

/// The warnings the boxes that answer give, once each.
fn warnings(said: &[Said]) -> Vec<BlockerKind> {
    let mut out = Vec::new();
    for b in said.iter().flat_map(|s| &s.status.blockers) {
        if is_warning(b.kind) && !out.contains(&b.kind) {
            out.push(b.kind);
        }
    }
    out
}

/// What an armed pair's warnings mean: "The witness has not answered since 10:42: …".
fn warning_text(said: &[Said], clock: &impl Fn(i64) -> String) -> Option<String> {
    let kind = BlockerKind::WitnessUnreachable;
    let giving: Vec<(&Said, &AutopilotBlocker)> = said
        .iter()
        .filter_map(|s| s.status.blockers.iter().find(|b| b.kind == kind).map(|b| (s, b)))
        .collect();
    if giving.is_empty() {
        return None;
    }
    let whom = if shared(said, kind) {
        String::new()
    } else {
        let who: Vec<&str> = giving.iter().map(|(s, _)| s.name()).collect();
        format!(" {}", names(&who))
    };
    let since = giving
        .iter()
        .filter_map(|(_, b)| b.since_unix)
        .min()
        .map(|t| format!(" since {}", clock(t)))
        .unwrap_or_default();
    Some(format!(
        "The witness has not answered{whom}{since}: automatic failover still works, but one more lost server would \
         stop it. Check that the witness machine is on and connected."
    ))
}

/// Both boxes answer and give a reason of this kind.
fn shared(said: &[Said], kind: BlockerKind) -> bool {
    said.len() == 2 && said.iter().all(|s| s.status.blockers.iter().any(|b| b.kind == kind))
}

/// The blocker's sentence, with the box's name before it unless both boxes give it.
fn blocker_text(b: &AutopilotBlocker, from: &str, shared: bool) -> String {
    let message = b.message.trim();
    if shared {
        message.to_owned()
    } else {
        format!("{from}: {message}")
    }
}

/// The time a blocker adds: "until 11:42" for one that ends by itself, else "since 10:42".
fn blocker_time(b: &AutopilotBlocker, now: i64, clock: &impl Fn(i64) -> String) -> Option<(bool, String)> {
    match (b.until_unix.filter(|u| *u > now), b.since_unix) {
        (Some(until), _) => Some((true, format!("until {}", clock(until)))),
        (None, Some(since)) => Some((false, format!("since {}", clock(since)))),
        (None, None) => None,
    }
}

/// The settings to explain: the primary's (whose lease counts), else the backup's.
fn settings<'a>(said: &'a [Said], primary: &MachineView) -> Option<&'a AutopilotSettings> {
    said.iter()
        .find(|s| s.m.entry.id == primary.entry.id)
        .or_else(|| said.first())
        .map(|s| &s.status.settings)
}

/// What automatic failover does and does not do, for the dialog: short points, one idea each.
fn explanation(primary: &str, backup: &str, settings: Option<&AutopilotSettings>) -> Vec<String> {
    let span = |s: u64| crate::pair::span(s);
    let within = settings.map_or("a few seconds".to_owned(), |s| {
        format!("about {}", span(s.takeover_secs))
    });
    let guard = settings.map_or("an hour".to_owned(), |s| span(s.flap_guard_secs));
    let data = match settings {
        Some(s) if s.prefer_service => format!(
            "It takes over even if {backup} was behind (this pair puts the phones first; what {backup} lacked is set \
             aside on {primary} when it comes back), and at most once in {guard}."
        ),
        Some(s) => format!(
            "It takes over only if {backup} was up to date (less than {} behind), and at most once in {guard}.",
            span(s.caught_up_within_secs)
        ),
        None => format!("It takes over only if {backup} was up to date, and at most once in {guard}."),
    };
    vec![
        format!(
            "If {primary} goes silent — its agent, its phone system and its network — {backup} makes itself the \
             primary within {within} and the phones move to it, with nobody at the console."
        ),
        format!("If only {primary}'s agent is silent while its phone system still answers, nothing moves: you are alerted."),
        "The witness must agree, so the two servers never both answer the phones. Without the witness the phones \
         keep working; only the autopilot pauses."
            .to_owned(),
        data,
        format!(
            "It never switches back by itself: a repaired {primary} rejoins as the backup, and you switch back with the \
             wizard when it suits the office."
        ),
        "The failover wizard and maintenance work whether it is on or off.".to_owned(),
    ]
}

/// Which server switches it for the office: one that answers an administrator's token and knows
/// the autopilot, set up for it first, the primary first; or why none can.
pub fn through(machines: &[MachineView]) -> Result<String, Error> {
    let answering: Vec<&MachineView> = machines.iter().filter(|m| m.reachable).collect();
    if answering.is_empty() {
        let all: Vec<&str> = machines.iter().map(|m| m.entry.name.as_str()).collect();
        let who = match all.as_slice() {
            [only] => format!("{only} does not answer"),
            [a, b] => format!("Neither {a} nor {b} answers"),
            _ => "No server of this office answers".to_owned(),
        };
        return Err(Error::InvalidInput(format!(
            "{who}, so automatic failover cannot be switched from here; at a box, `lbs-agent autopilot on` or `off` \
             does it."
        )));
    }
    fn said(m: &MachineView) -> Option<&AutopilotStatus> {
        m.failover.as_ref()?.autopilot.as_ref()
    }
    let knowing: Vec<&MachineView> = answering.iter().copied().filter(|m| said(m).is_some()).collect();
    if knowing.is_empty() {
        let old: Vec<&str> = answering.iter().map(|m| m.entry.name.as_str()).collect();
        return Err(Error::InvalidInput(format!(
            "{} {} an agent from before automatic failover, so it cannot be switched: ask your IT contractor to \
             upgrade the agents.",
            names(&old),
            if old.len() > 1 { "run" } else { "runs" }
        )));
    }
    let admin = |m: &MachineView| m.status.as_ref().is_some_and(|s| s.access == TokenRole::Admin);
    let configured = |m: &MachineView| said(m).is_some_and(|a| a.configured);
    knowing
        .into_iter()
        .filter(|m| admin(m))
        .max_by_key(|m| (configured(m), m.role() == Some(Role::Primary)))
        .map(|m| m.entry.id.clone())
        .ok_or_else(|| Error::Forbidden(VIEW_ONLY.into()))
}

/// Why a view-only token cannot switch it, and how to get one that can.
pub const VIEW_ONLY: &str = "Switching automatic failover needs an administrator's access token; this console's \
                             tokens for this office are view-only. Create one on a server with `lbs-agent token \
                             create --role admin` and enter it with \"New access token…\" on its card.";

/// Everything known of the pair's autopilot at `now`.
pub fn view(machines: &[MachineView], now: i64, clock: impl Fn(i64) -> String, by: Option<String>) -> AutopilotView {
    let plain = |level, word: &str, headline: &str, text: String, next: Option<String>| AutopilotView {
        level,
        word: word.into(),
        headline: headline.into(),
        text,
        next,
        notes: Vec::new(),
        cause: None,
        warnings: Vec::new(),
        vote: None,
        offer: None,
    };
    let Some((primary, backup)) = roles(machines) else {
        return plain(
            AutopilotLevel::NotSetUp,
            "Not available",
            "Autopilot: not available",
            "automatic failover needs the office's second server.".into(),
            None,
        );
    };
    let answering: Vec<&MachineView> = machines.iter().filter(|m| m.reachable).collect();
    if answering.is_empty() {
        return plain(
            AutopilotLevel::Unknown,
            "Not known",
            "Autopilot: not known",
            format!(
                "neither {} nor {} answers this console.",
                primary.entry.name, backup.entry.name
            ),
            None,
        );
    }
    // An agent from before the autopilot says nothing of it.
    let old: Vec<&MachineView> = answering
        .iter()
        .copied()
        .filter(|m| m.failover.as_ref().is_some_and(|f| f.autopilot.is_none()))
        .collect();
    if !old.is_empty() {
        let which: Vec<String> = old
            .iter()
            .map(|m| match &m.status {
                Some(s) => format!("{} ({})", m.entry.name, s.version),
                None => m.entry.name.clone(),
            })
            .collect();
        let which: Vec<&str> = which.iter().map(String::as_str).collect();
        let run = if old.len() > 1 { "run" } else { "runs" };
        return plain(
            AutopilotLevel::NotSetUp,
            "Not available",
            "Autopilot: not available",
            format!("{} {run} an agent from before automatic failover.", names(&which)),
            Some(format!(
                "Ask your IT contractor to upgrade the agents (the backup first, as docs/agent.md describes) and then \
                 to set up the witness. {MANUAL}"
            )),
        );
    }
    let said: Vec<Said> = answering
        .iter()
        .filter_map(|m| {
            Some(Said {
                m,
                status: m.failover.as_ref()?.autopilot.as_ref()?,
            })
        })
        .collect();
    // The backup's word first: it is the box that would take over.
    let mut ordered: Vec<&Said> = said.iter().collect();
    ordered.sort_by_key(|s| s.m.entry.id != backup.entry.id);
    let silent: Vec<&MachineView> = machines.iter().filter(|m| !m.reachable).collect();
    let mut notes = Vec::new();
    for m in &silent {
        notes.push(format!(
            "{} does not answer this console: what it sees of the autopilot is not known.",
            m.entry.name
        ));
    }

    // Not set up on a box, or for the pair (the partner not set up, no partner).
    let unconfigured: Vec<&str> = said.iter().filter(|s| !s.status.configured).map(|s| s.name()).collect();
    let contractor = ordered.iter().find_map(|s| {
        s.status
            .blockers
            .iter()
            .find(|b| {
                matches!(
                    b.kind,
                    BlockerKind::NotSetUp | BlockerKind::PartnerNotSetUp | BlockerKind::NotPaired
                )
            })
            .map(|b| (s, b))
    });
    if !unconfigured.is_empty() || contractor.is_some() {
        let configured = said.iter().any(|s| s.status.configured);
        let (text, cause) = match (configured, contractor) {
            // Both (or the one that answers) not set up: the usual case before the contractor's visit.
            (false, _) => (
                "if the primary fails, a person fails over from this console.".to_owned(),
                None,
            ),
            (true, _) if !unconfigured.is_empty() => (
                format!(
                    "it is set up on one server only; {} is not set up for it.",
                    names(&unconfigured)
                ),
                Some(BlockerKind::PartnerNotSetUp),
            ),
            (true, Some((s, b))) => (blocker_text(b, s.name(), shared(&said, b.kind)), Some(b.kind)),
            (true, None) => (String::new(), None),
        };
        return AutopilotView {
            notes,
            cause,
            ..plain(
                AutopilotLevel::NotSetUp,
                "Not set up",
                "Autopilot: not set up",
                text,
                Some(format!("{SET_UP} {MANUAL}")),
            )
        };
    }

    // Set up for the pair.
    let pair_switch = switch(&said);
    match &pair_switch {
        Some(sw) => {
            notes.insert(0, switch_note(sw, &clock));
            if let Some(stale) = stale_switch(&said, sw) {
                notes.insert(1, stale);
            }
        }
        // Nobody switched it since it was set up: on, as configured.
        None => notes.insert(0, "On since it was set up (the servers' configuration).".into()),
    }
    if let Some(last) = said
        .iter()
        .filter_map(|s| s.status.last_automatic.as_ref())
        .max_by_key(|l| l.epoch)
    {
        notes.push(format!(
            "Last automatic failover: {} took over at {}.",
            last.by,
            clock(last.at_unix)
        ));
    }
    let settings = settings(&said, primary);
    let vote = vote(&said, &clock);
    // No switch yet: on, as set up.
    let on = pair_switch.as_ref().is_none_or(|s| s.on);
    let offer = {
        let (through, blocked) = match through(machines) {
            Ok(id) => (Some(id), None),
            Err(why) => (None, Some(why.to_string())),
        };
        let not_armed_yet = ordered.iter().find_map(|s| {
            s.status
                .blockers
                .iter()
                .find(|b| b.kind != BlockerKind::SwitchedOff && !is_warning(b.kind))
                .map(|b| blocker_text(b, s.name(), shared(&said, b.kind)))
        });
        AutopilotOffer {
            on,
            label: if on { "Switch off…" } else { "Switch on…" }.into(),
            through,
            blocked,
            explanation: explanation(&primary.entry.name, &backup.entry.name, settings),
            not_armed_yet: if on { None } else { not_armed_yet },
            by,
        }
    };
    let base = AutopilotView {
        level: AutopilotLevel::Off,
        word: String::new(),
        headline: String::new(),
        text: String::new(),
        next: None,
        notes,
        cause: None,
        warnings: warnings(&said),
        vote,
        offer: Some(offer),
    };

    // A primary that stopped its phones because it was cut off: an alarm, whatever else holds.
    if let Some((s, fence)) = said.iter().find_map(|s| s.status.fenced.as_ref().map(|f| (s, f))) {
        return fenced(base, s, fence, &clock);
    }

    // The backup did not take over a silent primary, and said why (its phones still answer).
    if let Some((s, why)) = said.iter().find_map(|s| s.status.held.as_deref().map(|h| (s, h))) {
        return AutopilotView {
            word: "Holding back".into(),
            headline: format!("Autopilot: {} holds back", s.name()),
            text: why.trim().to_owned(),
            next: Some(format!(
                "If you know {} is off or its phones do not work, fail over with the failover wizard: it goes ahead on \
                 your word.",
                primary.entry.name
            )),
            ..base
        };
    }

    // Armed when every box that answers says so.
    let not_armed: Vec<&&Said> = ordered.iter().filter(|s| !s.status.armed).collect();
    let about = settings
        .map(|s| format!(" (about {})", crate::pair::span(s.takeover_secs)))
        .unwrap_or_default();
    let Some(main) = not_armed.first() else {
        if !backup.reachable {
            // Only the primary answers: can its backup take over? The primary knows.
            let in_contact = primary
                .failover
                .as_ref()
                .is_some_and(|f| f.partner.reachable && f.partner.checked);
            if !in_contact {
                return AutopilotView {
                    word: "Off".into(),
                    headline: "Autopilot: off".into(),
                    text: format!(
                        "{} does not answer, so no server could take over if {} failed.",
                        backup.entry.name, primary.entry.name
                    ),
                    next: Some(format!(
                        "Check that {} is on and connected; the autopilot is back by itself when it answers.",
                        backup.entry.name
                    )),
                    ..base
                };
            }
        }
        let text = if primary.reachable {
            format!(
                "if {} fails, {} takes over by itself{about}.",
                primary.entry.name, backup.entry.name
            )
        } else {
            format!(
                "{} does not answer this console; if it is down, {} takes over by itself{about}.",
                primary.entry.name, backup.entry.name
            )
        };
        return AutopilotView {
            level: AutopilotLevel::On,
            word: "On".into(),
            headline: "Autopilot: on".into(),
            text,
            next: warning_text(&said, &clock),
            ..base
        };
    };
    let shared = |kind: BlockerKind| shared(&said, kind);
    let Some(blocker) = main.status.blockers.first() else {
        // Not armed, and no reason given: the box's own sentence.
        return AutopilotView {
            word: "Off".into(),
            headline: "Autopilot: off".into(),
            text: main.status.summary.clone(),
            next: Some(MANUAL.into()),
            ..base
        };
    };
    let time = blocker_time(blocker, now, &clock);
    let paused = time.as_ref().is_some_and(|(until, _)| *until);
    let (word, headline) = match &time {
        Some((true, t)) => ("Paused", format!("Autopilot: paused {t}")),
        Some((false, t)) => ("Off", format!("Autopilot: off {t}")),
        None => ("Off", "Autopilot: off".to_owned()),
    };
    // The other reasons, once each.
    let mut others = Vec::new();
    for s in &ordered {
        for b in &s.status.blockers {
            if std::ptr::eq(b, blocker) || (b.kind == blocker.kind && shared(b.kind)) {
                continue;
            }
            let text = blocker_text(b, s.name(), shared(b.kind));
            if !others.contains(&text) {
                others.push(text);
            }
        }
    }
    let mut notes = base.notes.clone();
    notes.extend(others.into_iter().map(|t| format!("Also: {t}")));
    let next = match blocker.kind {
        // Paused by a person's maintenance, or for the flap guard: back by itself.
        _ if paused => format!("It is back by itself then. {MANUAL}"),
        BlockerKind::SwitchedOff => format!("Switch it on when the pair may fail over by itself again. {MANUAL}"),
        _ => MANUAL.to_owned(),
    };
    AutopilotView {
        word: word.into(),
        headline,
        text: blocker_text(blocker, main.name(), shared(blocker.kind)),
        next: Some(next),
        notes,
        cause: Some(blocker.kind),
        ..base
    }
}

/// The alarm of a primary that stopped its phone system because it was cut off. What to do is
/// the office's sentence's to say (`pair::pair_state`), not repeated here.
fn fenced(base: AutopilotView, s: &Said, fence: &Fence, clock: &impl Fn(i64) -> String) -> AutopilotView {
    AutopilotView {
        level: AutopilotLevel::Alarm,
        word: "Phones stopped".into(),
        headline: format!("{} stopped its phone system at {}", s.name(), clock(fence.since_unix)),
        text: fence.message.trim().to_owned(),
        next: None,
        ..base
    }
}

/// What switching it on or off through `server` did, in words.
pub fn done(server: &str, on: bool, answer: AutopilotAnswer) -> AutopilotDone {
    let now_on = answer.status.switch.as_ref().map_or(on, |s| s.on);
    let state = if now_on { "on" } else { "off" };
    let (mut message, not_told) = match (answer.changed, &answer.partner) {
        (false, _) => (format!("Automatic failover was already {state}."), false),
        (true, PartnerNotice::Told { name }) => {
            (format!("Automatic failover is {state} for {server} and {name}."), false)
        }
        (true, PartnerNotice::NotTold { name, .. }) => (
            format!(
                "Automatic failover is {state} for {server}; {name} did not answer and will learn it when it does."
            ),
            true,
        ),
        (true, _) => (format!("Automatic failover is {state} for {server}."), false),
    };
    if now_on && !answer.status.armed {
        // On, but something is still in the way: the first reason, in the agent's words.
        let why = answer
            .status
            .blockers
            .iter()
            .find(|b| b.kind != BlockerKind::SwitchedOff && !is_warning(b.kind))
            .map(|b| b.message.trim().to_owned())
            .unwrap_or_else(|| answer.status.summary.trim().to_owned());
        message.push_str(&format!(" It is not armed yet: {why}"));
    } else if !now_on {
        message.push_str(" If the primary fails, fail over with the failover wizard.");
    }
    AutopilotDone {
        on: now_on,
        message,
        partner_not_told: not_told,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lbs_protocol::{AutomaticFailover, ServerStatus, VoteMember};

    const NOW: i64 = 1_800_000_000;

    fn clock(t: i64) -> String {
        format!("t{}", t - NOW)
    }

    fn settings() -> AutopilotSettings {
        AutopilotSettings {
            lease_secs: 10,
            takeover_secs: 11,
            prefer_service: false,
            caught_up_within_secs: 60,
            flap_guard_secs: 3600,
        }
    }

    fn members(witness: bool) -> Vec<VoteMember> {
        let m = |name: &str, port: u16, reachable: bool| VoteMember {
            name: name.into(),
            endpoint: format!("https://192.0.2.{port}:2379"),
            reachable,
            unreachable_since_unix: (!reachable).then_some(NOW - 120),
            problem: (!reachable).then(|| "connection refused".into()),
        };
        vec![m("PBX A", 1, true), m("PBX B", 2, true), m("witness", 5, witness)]
    }

    pub(crate) fn armed() -> AutopilotStatus {
        AutopilotStatus {
            configured: true,
            switch: None,
            armed: true,
            blockers: Vec::new(),
            members: members(true),
            quorum: true,
            leader: Some("PBX A".into()),
            last_automatic: None,
            fenced: None,
            held: None,
            settings: settings(),
            summary: "On autopilot.".into(),
        }
    }

    pub(crate) fn blocker(kind: BlockerKind, message: &str) -> AutopilotBlocker {
        AutopilotBlocker {
            kind,
            since_unix: None,
            until_unix: None,
            message: message.into(),
        }
    }

    fn blocked(mut s: AutopilotStatus, b: AutopilotBlocker) -> AutopilotStatus {
        s.armed = false;
        s.blockers.push(b);
        s
    }

    fn not_set_up() -> AutopilotStatus {
        AutopilotStatus {
            configured: false,
            switch: None,
            members: Vec::new(),
            leader: None,
            quorum: false,
            ..blocked(
                armed(),
                blocker(
                    BlockerKind::NotSetUp,
                    "Automatic failover is not set up on this server.",
                ),
            )
        }
    }

    fn status(id: &str, access: TokenRole) -> ServerStatus {
        ServerStatus {
            server_id: id.into(),
            name: format!("PBX {id}"),
            role: Role::Primary,
            standing: Default::default(),
            epoch: 1,
            version: "0.3.0".into(),
            api_version: 1,
            api_min_version: 1,
            uptime_secs: 1,
            host_uptime_secs: 1,
            hostname: id.into(),
            fingerprint: String::new(),
            access,
            peer: lbs_protocol::PeerSummary::Unpaired,
            sample_interval_secs: 5,
            maintenance: None,
        }
    }

    /// A machine of the office, answering with `autopilot` (`None`: an older agent), or silent.
    pub(crate) fn machine(id: &str, role: Role, autopilot: Option<Option<AutopilotStatus>>) -> MachineView {
        let reachable = autopilot.is_some();
        let mut m = crate::overview::tests::machine(id, role, 1, reachable);
        if let (Some(f), Some(a)) = (m.failover.as_mut(), autopilot) {
            f.autopilot = a;
        }
        m.status = reachable.then(|| status(id, TokenRole::Admin));
        m
    }

    fn pair(a: Option<Option<AutopilotStatus>>, b: Option<Option<AutopilotStatus>>) -> Vec<MachineView> {
        vec![machine("A", Role::Primary, a), machine("B", Role::Backup, b)]
    }

    fn look(machines: &[MachineView]) -> AutopilotView {
        view(machines, NOW, clock, Some("sam".into()))
    }

    #[test]
    fn armed_on_both_boxes_is_on_with_who_takes_over_and_how_soon() {
        let v = look(&pair(Some(Some(armed())), Some(Some(armed()))));
        assert_eq!(v.level, AutopilotLevel::On);
        assert_eq!(v.headline, "Autopilot: on");
        assert_eq!(v.text, "if PBX A fails, PBX B takes over by itself (about 11 s).");
        assert_eq!(v.next, None);
        assert_eq!(v.notes, ["On since it was set up (the servers' configuration)."]);
        let vote = v.vote.expect("the vote");
        assert!(!vote.trouble);
        assert_eq!(vote.summary, "Every member of the vote answers PBX A and PBX B.");
        assert_eq!(vote.seen_from, ["PBX A", "PBX B"]);
        let names: Vec<&str> = vote.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["PBX A", "PBX B", "Witness"]);
        let offer = v.offer.expect("a switch");
        assert!(offer.on);
        assert_eq!(offer.label, "Switch off…");
        assert_eq!((offer.through.as_deref(), offer.blocked), (Some("A"), None));
        assert_eq!(offer.by.as_deref(), Some("sam"));
        let all = offer.explanation.join(" ");
        assert!(all.contains("never switches back by itself"), "{all}");
        assert!(
            all.contains("The failover wizard and maintenance work whether it is on or off"),
            "{all}"
        );
        assert!(
            all.contains("only if PBX B was up to date (less than 1 min behind)"),
            "{all}"
        );
        assert!(all.contains("at most once in 1 h"), "{all}");
        assert!(all.contains("If PBX A goes silent — its agent, its phone system and its network — PBX B makes itself the primary within about 11 s"), "{all}");
    }

    /// The witness lost, as the agents say it: still armed (two of three members decide), with a
    /// warning after the reasons (none).
    pub(crate) fn witness_lost(mut s: AutopilotStatus) -> AutopilotStatus {
        s.members = members(false);
        let mut b = blocker(
            BlockerKind::WitnessUnreachable,
            "The witness does not answer. Automatic failover still works, but one more lost box would stop it: \
             check the witness machine.",
        );
        b.since_unix = Some(NOW - 120);
        s.blockers.push(b);
        s
    }

    #[test]
    fn a_lost_witness_leaves_the_pair_on_autopilot_and_says_since_when_and_what_to_check() {
        let v = look(&pair(
            Some(Some(witness_lost(armed()))),
            Some(Some(witness_lost(armed()))),
        ));
        assert_eq!(v.level, AutopilotLevel::On);
        assert_eq!(v.headline, "Autopilot: on");
        assert_eq!(v.text, "if PBX A fails, PBX B takes over by itself (about 11 s).");
        assert_eq!(v.warnings, [BlockerKind::WitnessUnreachable]);
        assert_eq!(v.cause, None);
        // Both boxes say it: no name; since when on this computer's clock.
        assert_eq!(
            v.next.as_deref(),
            Some(
                "The witness has not answered since t-120: automatic failover still works, but one more lost server \
                 would stop it. Check that the witness machine is on and connected."
            )
        );
        let vote = v.vote.expect("the vote");
        assert!(vote.trouble, "the members shown without being asked");
        assert_eq!(vote.summary, "The witness is out of reach of PBX A and PBX B.");
        let witness = &vote.members[2];
        assert_eq!(
            witness.sights[0].as_ref().map(|s| s.text.as_str()),
            Some("Out of reach since t-120: connection refused")
        );
        assert!(v.offer.is_some_and(|o| o.on));

        // Only the backup lost it: named.
        let v = look(&pair(Some(Some(armed())), Some(Some(witness_lost(armed())))));
        assert_eq!(v.level, AutopilotLevel::On);
        assert!(
            v.next
                .as_deref()
                .is_some_and(|n| n.starts_with("The witness has not answered PBX B since t-120:")),
            "{:?}",
            v.next
        );

        // Switched off meanwhile: off for that reason, the witness an "also"; switching on would
        // arm it at once, so the dialog does not say it would not.
        let off = |s: AutopilotStatus| {
            let mut s = witness_lost(s);
            s.armed = false;
            s.switch = Some(AutopilotSwitch {
                on: false,
                at_unix_ms: (NOW - 60) * 1000,
                by: "Sam".into(),
                reason: Some("witness work".into()),
            });
            s.blockers.insert(
                0,
                blocker(BlockerKind::SwitchedOff, "Sam switched automatic failover off."),
            );
            s
        };
        let v = look(&pair(Some(Some(off(armed()))), Some(Some(off(armed())))));
        assert_eq!(v.cause, Some(BlockerKind::SwitchedOff));
        assert_eq!(v.warnings, [BlockerKind::WitnessUnreachable]);
        assert!(
            v.notes
                .iter()
                .any(|n| n.starts_with("Also: The witness does not answer.")),
            "{:?}",
            v.notes
        );
        assert_eq!(v.offer.and_then(|o| o.not_armed_yet), None);
    }

    #[test]
    fn a_backup_holding_back_from_a_primary_whose_phones_answer_says_why() {
        let held = AutopilotStatus {
            held: Some(crate::pair::tests::HELD.into()),
            ..armed()
        };
        let v = look(&pair(None, Some(Some(held))));
        assert_eq!(v.level, AutopilotLevel::Off);
        assert_eq!(v.word, "Holding back");
        assert_eq!(v.headline, "Autopilot: PBX B holds back");
        assert_eq!(v.text, crate::pair::tests::HELD);
        assert!(
            v.next
                .as_deref()
                .is_some_and(|n| n.starts_with("If you know PBX A is off")),
            "{:?}",
            v.next
        );
    }

    #[test]
    fn a_reason_only_one_box_gives_is_named_after_it_and_the_backups_comes_first() {
        let behind = blocked(
            armed(),
            blocker(BlockerKind::BackupBehind, "The backup is 3 min behind the primary."),
        );
        let no_quorum = blocked(
            armed(),
            blocker(
                BlockerKind::NoQuorum,
                "This server reaches neither its partner's vote nor the witness.",
            ),
        );
        let v = look(&pair(Some(Some(no_quorum)), Some(Some(behind))));
        assert_eq!(v.text, "PBX B: The backup is 3 min behind the primary.");
        assert_eq!(v.cause, Some(BlockerKind::BackupBehind));
        assert!(
            v.notes
                .contains(&"Also: PBX A: This server reaches neither its partner's vote nor the witness.".to_owned()),
            "{:?}",
            v.notes
        );
        // One armed, the other not: the pair is not on autopilot.
        let v = look(&pair(
            Some(Some(armed())),
            Some(Some(blocked(
                armed(),
                blocker(BlockerKind::NotLeader, "Taking the leader key."),
            ))),
        ));
        assert_eq!(v.level, AutopilotLevel::Off);
        assert_eq!(v.text, "PBX B: Taking the leader key.");
    }

    #[test]
    fn switched_off_says_who_when_and_why_and_the_switch_turns_it_on() {
        let off = |s: AutopilotStatus| AutopilotStatus {
            switch: Some(AutopilotSwitch {
                on: false,
                at_unix_ms: (NOW - 600) * 1000 + 999,
                by: "Sam".into(),
                reason: Some("moving the witness to the new rack.".into()),
            }),
            ..blocked(
                s,
                blocker(BlockerKind::SwitchedOff, "A person switched automatic failover off."),
            )
        };
        let mut behind_too = off(armed());
        behind_too
            .blockers
            .push(blocker(BlockerKind::BackupBehind, "The backup is 3 min behind."));
        let v = look(&pair(Some(Some(off(armed()))), Some(Some(behind_too))));
        assert_eq!(v.text, "A person switched automatic failover off.");
        assert_eq!(
            v.notes[0],
            "Switched off by Sam at t-600: moving the witness to the new rack."
        );
        assert!(v.next.unwrap_or_default().starts_with("Switch it on when"));
        let offer = v.offer.expect("a switch");
        assert!(!offer.on);
        assert_eq!(offer.label, "Switch on…");
        // Switching it on would not arm it at once: the dialog says why.
        assert_eq!(
            offer.not_armed_yet.as_deref(),
            Some("PBX B: The backup is 3 min behind.")
        );
    }

    #[test]
    fn the_flap_guard_and_maintenance_pause_it_until_a_time() {
        let mut guard = blocker(BlockerKind::FlapGuard, "An automatic failover happened recently.");
        guard.since_unix = Some(NOW - 600);
        guard.until_unix = Some(NOW + 3000);
        let mut s = blocked(armed(), guard);
        s.last_automatic = Some(AutomaticFailover {
            at_unix: NOW - 600,
            by: "PBX B".into(),
            epoch: 4,
        });
        let v = look(&pair(Some(Some(s.clone())), Some(Some(s))));
        assert_eq!(
            (v.word.as_str(), v.headline.as_str()),
            ("Paused", "Autopilot: paused until t3000")
        );
        assert!(v.next.unwrap_or_default().starts_with("It is back by itself then."));
        assert!(v
            .notes
            .contains(&"Last automatic failover: PBX B took over at t-600.".to_owned()));
        // An end already past reads as "since".
        let mut over = blocker(BlockerKind::Maintenance, "Maintenance is on.");
        over.since_unix = Some(NOW - 60);
        over.until_unix = Some(NOW - 1);
        let s = blocked(armed(), over);
        assert_eq!(
            look(&pair(Some(Some(s.clone())), Some(Some(s)))).headline,
            "Autopilot: off since t-60"
        );
    }

    #[test]
    fn not_set_up_tells_what_the_contractor_does_and_offers_no_switch() {
        let v = look(&pair(Some(Some(not_set_up())), Some(Some(not_set_up()))));
        assert_eq!(v.level, AutopilotLevel::NotSetUp);
        assert_eq!(v.headline, "Autopilot: not set up");
        assert_eq!(v.text, "if the primary fails, a person fails over from this console.");
        let next = v.next.unwrap_or_default();
        assert!(next.contains("`lbs-agent witness setup` on each server"), "{next}");
        assert!(next.contains("docs/failover.md"), "{next}");
        assert_eq!(v.offer, None);
        assert_eq!(v.vote, None);
    }

    #[test]
    fn the_partner_not_set_up_names_it() {
        let partner_missing = blocked(
            armed(),
            blocker(
                BlockerKind::PartnerNotSetUp,
                "PBX B is not set up for automatic failover.",
            ),
        );
        let v = look(&pair(Some(Some(partner_missing.clone())), Some(Some(not_set_up()))));
        assert_eq!(v.level, AutopilotLevel::NotSetUp);
        assert_eq!(v.text, "it is set up on one server only; PBX B is not set up for it.");
        assert_eq!(v.cause, Some(BlockerKind::PartnerNotSetUp));
        assert_eq!(v.offer, None);
        // Only the box that is set up answers: its words, with its name.
        let v = look(&pair(Some(Some(partner_missing)), None));
        assert_eq!(v.level, AutopilotLevel::NotSetUp);
        assert_eq!(v.text, "PBX A: PBX B is not set up for automatic failover.");
    }

    #[test]
    fn an_agent_from_before_the_autopilot_is_named_with_its_version() {
        let v = look(&pair(Some(None), Some(Some(armed()))));
        assert_eq!(v.level, AutopilotLevel::NotSetUp);
        assert_eq!(v.headline, "Autopilot: not available");
        assert_eq!(v.text, "PBX A (0.3.0) runs an agent from before automatic failover.");
        assert!(v.next.unwrap_or_default().contains("upgrade the agents"));
        let v = look(&pair(Some(None), Some(None)));
        assert_eq!(
            v.text,
            "PBX A (0.3.0) and PBX B (0.3.0) run an agent from before automatic failover."
        );
    }

    #[test]
    fn a_fenced_primary_is_an_alarm() {
        let mut f = blocked(armed(), blocker(BlockerKind::NoQuorum, "Cut off from the vote."));
        f.fenced = Some(Fence {
            since_unix: NOW - 30,
            message: "It could reach neither PBX B nor the witness, so it stopped answering the phones.".into(),
        });
        // Cut off from PBX B's member of the vote and from the witness.
        for m in f.members.iter_mut().skip(1) {
            m.reachable = false;
            m.unreachable_since_unix = Some(NOW - 40);
            m.problem = None;
        }
        let v = look(&pair(Some(Some(f)), None));
        assert_eq!(v.level, AutopilotLevel::Alarm);
        let vote = v.vote.clone().expect("the vote");
        assert_eq!(
            vote.summary,
            "The vote on PBX B is out of reach of PBX A. The witness is out of reach of PBX A."
        );
        assert_eq!(
            vote.members[1].sights[0].as_ref().map(|s| s.text.as_str()),
            Some("Out of reach since t-40")
        );
        assert_eq!(v.word, "Phones stopped");
        assert_eq!(v.headline, "PBX A stopped its phone system at t-30");
        assert!(v.text.starts_with("It could reach neither PBX B"));
        assert_eq!(v.next, None, "the office's sentence says what to do");
        assert!(v
            .notes
            .iter()
            .any(|n| n.starts_with("PBX B does not answer this console")));
    }

    #[test]
    fn with_one_box_silent_the_console_says_what_it_knows() {
        // The primary is silent and the backup is armed: it is about to take over.
        let v = look(&pair(None, Some(Some(armed()))));
        assert_eq!(v.level, AutopilotLevel::On);
        assert_eq!(
            v.text,
            "PBX A does not answer this console; if it is down, PBX B takes over by itself (about 11 s)."
        );
        assert!(v
            .notes
            .iter()
            .any(|n| n.starts_with("PBX A does not answer this console")));
        assert_eq!(v.vote.expect("the vote").seen_from, ["PBX B"]);
        // The backup is silent but the primary is in touch with it: still on.
        let v = look(&pair(Some(Some(armed())), None));
        assert_eq!(v.level, AutopilotLevel::On);
        // The primary has lost it too: nobody could take over.
        let mut machines = pair(Some(Some(armed())), None);
        if let Some(f) = machines[0].failover.as_mut() {
            f.partner.reachable = false;
        }
        let v = look(&machines);
        assert_eq!(v.level, AutopilotLevel::Off);
        assert_eq!(
            v.text,
            "PBX B does not answer, so no server could take over if PBX A failed."
        );
        // Nobody answers: nothing known, nothing to switch.
        let v = look(&pair(None, None));
        assert_eq!(v.level, AutopilotLevel::Unknown);
        assert_eq!(v.text, "neither PBX A nor PBX B answers this console.");
        assert_eq!(v.offer, None);
    }

    #[test]
    fn when_the_boxes_disagree_on_the_switch_the_later_one_counts_and_the_other_is_named() {
        let off = AutopilotStatus {
            switch: Some(AutopilotSwitch {
                on: false,
                at_unix_ms: NOW * 1000,
                by: "Sam".into(),
                reason: Some("witness work".into()),
            }),
            ..blocked(armed(), blocker(BlockerKind::SwitchedOff, "Switched off."))
        };
        let v = look(&pair(Some(Some(off)), Some(Some(armed()))));
        assert_eq!(v.level, AutopilotLevel::Off);
        assert_eq!(v.notes[0], "Switched off by Sam at t0: witness work.");
        assert_eq!(
            v.notes[1],
            "PBX B has not heard of this yet: it learns it when it is in contact with PBX A again."
        );
        assert!(!v.offer.expect("a switch").on);
    }

    #[test]
    fn the_switch_goes_through_an_administrator_token_or_says_plainly_it_needs_one() {
        let mut machines = pair(Some(Some(armed())), Some(Some(armed())));
        for m in &mut machines {
            m.status = Some(status(&m.entry.id, TokenRole::Viewer));
        }
        let offer = look(&machines).offer.expect("a switch");
        assert_eq!(offer.through, None);
        assert_eq!(offer.blocked.as_deref(), Some(VIEW_ONLY));
        assert!(VIEW_ONLY.contains("needs an administrator's access token"));
        // The backup's token is an administrator's: through it.
        machines[1].status = Some(status("B", TokenRole::Admin));
        assert_eq!(look(&machines).offer.expect("a switch").through.as_deref(), Some("B"));
    }

    #[test]
    fn the_switch_says_why_no_server_can_take_it() {
        let err = |machines: &[MachineView]| through(machines).map_err(|e| e.to_string()).unwrap_err();
        assert_eq!(
            err(&pair(None, None)),
            "Neither PBX A nor PBX B answers, so automatic failover cannot be switched from here; at a box, \
             `lbs-agent autopilot on` or `off` does it."
        );
        assert_eq!(
            err(&pair(Some(None), None)),
            "PBX A runs an agent from before automatic failover, so it cannot be switched: ask your IT contractor \
             to upgrade the agents."
        );
        // The box set up for it first, even when it is the backup.
        let machines = pair(Some(Some(not_set_up())), Some(Some(armed())));
        assert_eq!(through(&machines).ok().as_deref(), Some("B"));
    }

    #[test]
    fn an_office_with_one_server_has_no_autopilot() {
        let v = look(&[machine("A", Role::Primary, Some(Some(armed())))]);
        assert_eq!(v.level, AutopilotLevel::NotSetUp);
        assert_eq!(v.text, "automatic failover needs the office's second server.");
        assert_eq!(v.offer, None);
    }

    #[test]
    fn the_answer_says_whether_the_partner_knows_and_whether_it_is_armed() {
        let answer = |status: AutopilotStatus, changed, partner| AutopilotAnswer {
            status,
            changed,
            partner,
        };
        let told = PartnerNotice::Told { name: "PBX B".into() };
        let d = done("PBX A", true, answer(armed(), true, told.clone()));
        assert_eq!(d.message, "Automatic failover is on for PBX A and PBX B.");
        assert!(d.on && !d.partner_not_told);
        // The witness lost: armed all the same, nothing to add.
        let d = done(
            "PBX A",
            true,
            answer(
                witness_lost(armed()),
                true,
                PartnerNotice::NotTold {
                    name: "PBX B".into(),
                    message: "no answer".into(),
                },
            ),
        );
        assert_eq!(
            d.message,
            "Automatic failover is on for PBX A; PBX B did not answer and will learn it when it does."
        );
        assert!(d.partner_not_told);
        // Something else in the way: said.
        let behind = blocked(armed(), blocker(BlockerKind::BackupBehind, "PBX B is 5 min behind."));
        let d = done("PBX A", true, answer(witness_lost(behind), true, told.clone()));
        assert_eq!(
            d.message,
            "Automatic failover is on for PBX A and PBX B. It is not armed yet: PBX B is 5 min behind."
        );
        let mut off = blocked(armed(), blocker(BlockerKind::SwitchedOff, "Switched off."));
        if let Some(s) = off.switch.as_mut() {
            s.on = false;
        }
        let d = done("PBX A", false, answer(off.clone(), true, told));
        assert_eq!(
            d.message,
            "Automatic failover is off for PBX A and PBX B. If the primary fails, fail over with the failover wizard."
        );
        let d = done("PBX A", false, answer(off, false, PartnerNotice::NotAsked));
        assert!(d.message.starts_with("Automatic failover was already off."));
    }
}
