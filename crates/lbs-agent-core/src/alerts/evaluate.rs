//! The incidents: a pure state machine over what the conditions saw, with the clock and the
//! maintenance flag passed in. Each problem is sent once when it begins, reminded every `repeat`
//! while it lasts, and said to be over when it ends.
//!
//! Maintenance holds the problems the work causes (`Observation::held`): one that begins during
//! maintenance is recorded but not sent; if it is still open when maintenance ends it is sent
//! then; if it ends inside maintenance it is never sent. A problem already sent before
//! maintenance still gets its "over" message (the office was told it began).

use std::collections::BTreeMap;

use super::wording::Text;

/// What one condition looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The incident's key, e.g. `partner_silent` or `disk:/var`.
    pub key: String,
    /// Maintenance holds it (the work causes it).
    pub held: bool,
    /// Reminders while it lasts, and a message when it ends (false for a one-off notice).
    pub lasting: bool,
    pub seen: Seen,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The problem is there; the words for it now.
    Active(Text),
    /// It is not; the words for "it is over".
    Clear(Text),
    /// Cannot tell now (not checked yet, or hidden by another problem): nothing changes.
    Unknown,
}

/// A problem open now, as stored in `alert_incidents`.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub key: String,
    pub since: i64,
    /// Its first message went out (false while maintenance holds it).
    pub notified: bool,
    pub last_sent: Option<i64>,
    pub title: String,
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub key: String,
    pub state: NoticeState,
    pub text: Text,
    /// When the incident began.
    pub since: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    Firing,
    Reminder,
    Recovered,
}

impl NoticeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Firing => "firing",
            NoticeState::Reminder => "reminder",
            NoticeState::Recovered => "recovered",
        }
    }
}

/// A change to store with the notices, in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Open(Incident),
    Close(String),
}

#[derive(Debug, Default)]
pub struct Step {
    pub notices: Vec<Notice>,
    pub changes: Vec<Change>,
}

pub struct Evaluator {
    open: BTreeMap<String, Incident>,
    repeat: i64,
}

impl Evaluator {
    /// Starts from the incidents stored before a restart.
    pub fn new(open: Vec<Incident>, repeat_secs: u64) -> Evaluator {
        Evaluator {
            open: open.into_iter().map(|i| (i.key.clone(), i)).collect(),
            repeat: repeat_secs as i64,
        }
    }

    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// One look at every condition at `now`, with maintenance on or off.
    pub fn step(&mut self, now: i64, observations: &[Observation], maintenance: bool) -> Step {
        let mut step = Step::default();
        for o in observations {
            let silenced = o.held && maintenance;
            match (&o.seen, self.open.get_mut(&o.key)) {
                (Seen::Unknown, _) | (Seen::Clear(_), None) => {}
                (Seen::Active(text), None) => {
                    let incident = Incident {
                        key: o.key.clone(),
                        since: now,
                        notified: !silenced,
                        last_sent: (!silenced).then_some(now),
                        title: text.title.clone(),
                    };
                    if !silenced {
                        step.notices.push(notice(o, NoticeState::Firing, text, now));
                    }
                    step.changes.push(Change::Open(incident.clone()));
                    self.open.insert(o.key.clone(), incident);
                }
                (Seen::Active(text), Some(incident)) => {
                    if silenced {
                        continue;
                    }
                    let state = if !incident.notified {
                        // Held by maintenance until now, or found open after a restart before
                        // it was sent.
                        NoticeState::Firing
                    } else if o.lasting && incident.last_sent.is_none_or(|t| now - t >= self.repeat) {
                        NoticeState::Reminder
                    } else {
                        continue;
                    };
                    step.notices.push(notice(o, state, text, incident.since));
                    incident.notified = true;
                    incident.last_sent = Some(now);
                    incident.title = text.title.clone();
                    step.changes.push(Change::Open(incident.clone()));
                }
                (Seen::Clear(text), Some(incident)) => {
                    if incident.notified && o.lasting {
                        step.notices
                            .push(notice(o, NoticeState::Recovered, text, incident.since));
                    }
                    step.changes.push(Change::Close(o.key.clone()));
                    self.open.remove(&o.key);
                }
            }
        }
        step
    }
}

fn notice(o: &Observation, state: NoticeState, text: &Text, since: i64) -> Notice {
    Notice {
        key: o.key.clone(),
        state,
        text: text.clone(),
        since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(title: &str) -> Text {
        Text {
            title: title.into(),
            message: format!("{title}: what happened"),
            todo: "what to do".into(),
        }
    }

    fn obs(key: &str, held: bool, seen: Seen) -> Observation {
        Observation {
            key: key.into(),
            held,
            lasting: true,
            seen,
        }
    }

    fn silent(active: bool) -> Observation {
        let seen = if active {
            Seen::Active(text("PBX A does not answer"))
        } else {
            Seen::Clear(text("PBX A answers again"))
        };
        obs("partner_silent", true, seen)
    }

    fn states(step: &Step) -> Vec<(String, NoticeState)> {
        step.notices.iter().map(|n| (n.key.clone(), n.state)).collect()
    }

    const HOUR: i64 = 3600;

    #[test]
    fn a_problem_is_sent_once_reminded_every_repeat_and_said_to_be_over() {
        let mut e = Evaluator::new(Vec::new(), 4 * HOUR as u64);
        let t0 = 1_000_000;
        let s = e.step(t0, &[silent(true)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Firing)]);
        assert!(matches!(&s.changes[..], [Change::Open(i)] if i.notified && i.since == t0));
        // Still there a minute and three hours later: nothing new.
        for t in [t0 + 60, t0 + 3 * HOUR] {
            assert!(e.step(t, &[silent(true)], false).notices.is_empty());
        }
        let s = e.step(t0 + 4 * HOUR, &[silent(true)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Reminder)]);
        assert_eq!(s.notices[0].since, t0, "a reminder says since when");
        assert!(e.step(t0 + 5 * HOUR, &[silent(true)], false).notices.is_empty());
        let s = e.step(t0 + 8 * HOUR, &[silent(true)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Reminder)]);
        // An unknown reading changes nothing.
        let unknown = obs("partner_silent", true, Seen::Unknown);
        assert!(e.step(t0 + 9 * HOUR, &[unknown], false).notices.is_empty());
        let s = e.step(t0 + 9 * HOUR + 1, &[silent(false)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Recovered)]);
        assert_eq!(s.changes, [Change::Close("partner_silent".into())]);
        assert_eq!(e.open().count(), 0);
        // Clear again: nothing to say.
        assert!(e.step(t0 + 10 * HOUR, &[silent(false)], false).notices.is_empty());
    }

    #[test]
    fn maintenance_holds_what_the_work_causes_and_sends_what_outlives_it() {
        let mut e = Evaluator::new(Vec::new(), 4 * HOUR as u64);
        let t0 = 2_000_000;
        // Began and ended inside maintenance: never sent.
        let s = e.step(t0, &[silent(true)], true);
        assert!(s.notices.is_empty());
        assert!(matches!(&s.changes[..], [Change::Open(i)] if !i.notified));
        assert!(
            e.step(t0 + 5 * HOUR, &[silent(true)], true).notices.is_empty(),
            "no reminder either"
        );
        let s = e.step(t0 + 5 * HOUR + 10, &[silent(false)], true);
        assert!(s.notices.is_empty(), "{:?}", s.notices);
        assert_eq!(s.changes, [Change::Close("partner_silent".into())]);

        // Began inside maintenance and still open when it ends: sent then, with its start.
        let t1 = t0 + 10 * HOUR;
        assert!(e.step(t1, &[silent(true)], true).notices.is_empty());
        let s = e.step(t1 + 600, &[silent(true)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Firing)]);
        assert_eq!(s.notices[0].since, t1);

        // Disk and memory are not held: sent during maintenance.
        let disk = obs("disk:/", false, Seen::Active(text("Disk / is 97% full")));
        let s = e.step(t1 + 700, &[disk], true);
        assert_eq!(states(&s), [("disk:/".into(), NoticeState::Firing)]);

        // A problem sent before maintenance gets its "over" message even during it.
        let s = e.step(t1 + 800, &[silent(false)], true);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Recovered)]);
    }

    #[test]
    fn maintenance_through_a_watch_channel_as_the_loop_reads_it() {
        // The loop asks the receiver at each look whether maintenance is on now.
        let (tx, rx) = tokio::sync::watch::channel::<Option<lbs_protocol::Maintenance>>(None);
        let on = |rx: &tokio::sync::watch::Receiver<Option<lbs_protocol::Maintenance>>, now: i64| {
            super::super::maintenance_on(&rx.borrow(), now)
        };
        let mut e = Evaluator::new(Vec::new(), 4 * HOUR as u64);
        let t0 = 3_000_000;
        tx.send_replace(Some(lbs_protocol::Maintenance {
            until_unix: t0 + 1800,
            reason: "replacing PBX A's disk".into(),
            set_by: "Sam".into(),
            set_at_unix: t0 - 60,
        }));
        assert!(e.step(t0, &[silent(true)], on(&rx, t0)).notices.is_empty());
        // Past its end time the maintenance no longer holds, even before it is cleared.
        let s = e.step(t0 + 1800, &[silent(true)], on(&rx, t0 + 1800));
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Firing)]);
        tx.send_replace(None);
        assert!(!on(&rx, t0 + 1801));
    }

    #[test]
    fn a_restart_neither_repeats_nor_forgets_an_open_problem() {
        let t0 = 4_000_000;
        let stored = vec![
            Incident {
                key: "partner_silent".into(),
                since: t0,
                notified: true,
                last_sent: Some(t0),
                title: "PBX A does not answer".into(),
            },
            Incident {
                key: "pbx_stopped".into(),
                since: t0,
                notified: false,
                last_sent: None,
                title: "The PBX is not running".into(),
            },
        ];
        let mut e = Evaluator::new(stored, 4 * HOUR as u64);
        let pbx = obs("pbx_stopped", true, Seen::Active(text("The PBX is not running")));
        let s = e.step(t0 + 60, &[silent(true), pbx], false);
        assert_eq!(
            states(&s),
            [("pbx_stopped".into(), NoticeState::Firing)],
            "the one already sent is not sent again; the held one is sent now"
        );
        let s = e.step(t0 + 120, &[silent(false)], false);
        assert_eq!(states(&s), [("partner_silent".into(), NoticeState::Recovered)]);
    }

    #[test]
    fn a_one_off_notice_is_neither_reminded_nor_said_to_be_over() {
        let mut e = Evaluator::new(Vec::new(), 3600);
        let hold = |seen| Observation {
            key: "hold_over".into(),
            held: true,
            lasting: false,
            seen,
        };
        let t0 = 5_000_000;
        let s = e.step(t0, &[hold(Seen::Active(text("the office may switch back now")))], false);
        assert_eq!(states(&s), [("hold_over".into(), NoticeState::Firing)]);
        let s = e.step(
            t0 + 10 * HOUR,
            &[hold(Seen::Active(text("the office may switch back now")))],
            false,
        );
        assert!(s.notices.is_empty());
        let s = e.step(t0 + 11 * HOUR, &[hold(Seen::Clear(text("over")))], false);
        assert!(s.notices.is_empty());
        assert_eq!(s.changes, [Change::Close("hold_over".into())]);
    }
}
