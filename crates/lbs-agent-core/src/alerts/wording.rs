//! The words of every alert, for an office manager: a subject that says it in one line, what
//! happened, what it means for the phones, and what to do — in the console's words ("does not
//! answer", "Protected", "the failover wizard").

use lbs_protocol::Role;

/// One alert's words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Text {
    /// The subject line, e.g. "PBX A does not answer — the phones run on PBX B".
    pub title: String,
    /// What happened and what it means for the phones.
    pub message: String,
    /// What to do.
    pub todo: String,
}

fn text(title: String, message: String, todo: impl Into<String>) -> Text {
    Text {
        title,
        message,
        todo: todo.into(),
    }
}

/// "3 s", "2 min", "2 h 5 min", "3 days" (as the console says it).
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

/// A time as people read it in a mail: `2026-05-04 14:02 UTC`.
pub fn when(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    // 2026-05-04T14:02:03Z
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// The partner stopped answering. `me` is this box, `role` its role now.
pub fn partner_silent(me: &str, role: Role, partner: &str, silent_secs: u64, last_contact: Option<i64>) -> Text {
    let last = last_contact.map_or(String::new(), |t| format!(" (last contact {})", when(t)));
    match role {
        Role::Primary => text(
            format!("{partner} does not answer — the phones run on {me}"),
            format!(
                "{me} runs the phones and has not heard from its partner {partner} for {}{last}. The phones \
                 work, but nothing is being copied: until {partner} is back the office has no backup, and a \
                 failure of {me} could not be covered.",
                span(silent_secs)
            ),
            format!(
                "Check that {partner} is on and connected to the network. When it is back it catches up by itself."
            ),
        ),
        Role::Backup => text(
            format!("{partner} (the primary) does not answer — the phones may be down"),
            format!(
                "{me}, the backup, has not heard from {partner}, the primary, for {}{last}. If {partner} is \
                 down, the office's phones cannot call.",
                span(silent_secs)
            ),
            format!(
                "Check whether the phones work and whether {partner} is on and connected. If it does not come \
                 back, open LBS Console: the failover wizard makes {me} the primary."
            ),
        ),
    }
}

pub fn partner_back(me: &str, partner: &str, partner_role: Option<Role>) -> Text {
    let role = partner_role.map_or(String::new(), |r| format!(" It is the {r}."));
    text(
        format!("{partner} answers again"),
        format!("{me} hears from {partner} again.{role}"),
        "Nothing to do: LBS Console shows when the copy has caught up.",
    )
}

pub fn vote_lost(me: &str, no_quorum: bool, detail: &str) -> Text {
    if no_quorum {
        text(
            format!("Automatic failover is off: {me} cannot reach the vote"),
            format!("{detail} If {me} failed now, a person would have to fail over by hand."),
            "Check that the witness machine is on and connected, and that the backup box answers. It comes back by itself.",
        )
    } else {
        text(
            "The witness does not answer — automatic failover hangs on one box".to_string(),
            format!("{detail} The phones are not affected."),
            "Check that the witness machine is on and connected to the network.",
        )
    }
}

pub fn vote_back(me: &str) -> Text {
    text(
        "Automatic failover works again".to_string(),
        format!("{me} reaches the whole vote again: if it fails, its partner takes over by itself."),
        "Nothing to do.",
    )
}

pub fn fenced(me: &str, why: &str) -> Text {
    text(
        format!("{me} stopped its phone system: it was cut off"),
        why.to_string(),
        format!(
            "Check {me}'s network cable and switch. If its partner took over, the phones work there; {me} rejoins as the backup by itself."
        ),
    )
}

pub fn unfenced(me: &str, role: Role) -> Text {
    text(
        format!("{me} is no longer cut off"),
        format!("{me} is reachable again and is the {role}."),
        "Nothing to do.",
    )
}

pub fn autopilot_held(me: &str, why: &str) -> Text {
    text(
        format!("{me} did not take over by itself"),
        why.to_string(),
        "Follow the advice above; a person can still fail over with the console's failover wizard.",
    )
}

pub fn autopilot_not_held(me: &str) -> Text {
    text(
        "Automatic failover: nothing held back any more".to_string(),
        format!("{me} has nothing held back: the primary answers again, or it took over."),
        "Nothing to do.",
    )
}

pub fn partner_unpaired(me: &str) -> Text {
    text(
        format!("{me} has no partner any more"),
        format!("{me} was unpaired, so it no longer waits for its partner to answer."),
        "Nothing to do, unless the pair should be paired again (`lbs-agent pair` on the backup).",
    )
}

/// What keeps the office from being protected, one sentence each.
pub struct Unprotected {
    pub behind: Option<(u64, u64, u64)>,
    /// (where, the error, since)
    pub failing: Vec<(String, String, i64)>,
}

pub fn not_protected(me: &str, role: Role, partner: &str, why: &Unprotected) -> Text {
    let mut said = Vec::new();
    let title = match (role, &why.behind, why.failing.first()) {
        (Role::Backup, Some((lag, _, _)), _) => format!("Not protected: the backup {me} is {} behind", span(*lag)),
        (Role::Backup, None, Some((place, _, _))) => format!("Not protected: copying {place} to the backup {me} fails"),
        (_, _, Some((place, _, _))) => format!("Not protected: {me} cannot copy {place} for its backup"),
        _ => format!("Not protected: {me}"),
    };
    if let Some((lag, files, bytes)) = why.behind {
        said.push(format!(
            "{files} changed files ({}) from {partner} are not on {me} yet; the oldest changed {} ago. A failover \
             now would lose them.",
            crate::units::human_bytes(bytes),
            span(lag)
        ));
    }
    for (place, error, since) in &why.failing {
        said.push(format!(
            "Copying {place} has failed with the same error since {}: {error}",
            when(*since)
        ));
    }
    text(
        title,
        said.join("\n"),
        "The phones work. Open Sync in LBS Console to see why; the message there says what to fix.",
    )
}

pub fn protected_again(me: &str, role: Role) -> Text {
    let title = match role {
        Role::Backup => format!("Protected again: the backup {me} is up to date"),
        Role::Primary => format!("Protected again: {me} copies for its backup"),
    };
    text(
        title,
        "The copy has caught up and no error is left.".into(),
        "Nothing to do.",
    )
}

pub fn pbx_stopped(me: &str, partner: Option<&str>) -> Text {
    let fail_over = partner.map_or(String::new(), |p| {
        format!(" If it will not start, fail over to {p} with LBS Console's failover wizard.")
    });
    text(
        format!("The PBX is not running on {me} (the primary) — phones cannot call"),
        format!("{me} is the primary, but its PBX service is stopped: phones cannot make or take calls."),
        format!(
            "Start it (`lbs-agent promote` on {me} checks and starts it) and look at the PBX's own log.{fail_over}"
        ),
    )
}

pub fn pbx_running_again(me: &str, role: Role) -> Text {
    match role {
        Role::Primary => text(
            format!("The PBX runs again on {me}"),
            format!("The PBX on {me}, the primary, runs again."),
            "Check that the phones work.",
        ),
        Role::Backup => text(
            format!("{me} is the backup now: its PBX is meant to be stopped"),
            format!("{me} became the backup; the PBX runs on its partner."),
            "Check that the phones work.",
        ),
    }
}

pub fn pbx_on_backup(me: &str, problem: Option<&str>) -> Text {
    let detail = problem.map_or(String::new(), |p| format!(" {p}"));
    text(
        format!("The PBX was running on the backup {me} — the agent stops it"),
        format!(
            "The PBX service was found running on {me}, the backup, beside the primary: it could answer phones or \
             register trunks twice.{detail}"
        ),
        "If this comes back, something else starts the PBX on the backup: disable the PBX service at boot on both \
         boxes (the agent starts it where it belongs).",
    )
}

pub fn pbx_off_backup(me: &str, role: Role) -> Text {
    let now = match role {
        Role::Backup => format!("The PBX no longer runs on {me}, the backup."),
        Role::Primary => format!("{me} is the primary now: the PBX belongs on it."),
    };
    text(
        format!("The PBX no longer runs on the backup {me}"),
        now,
        "Nothing to do.",
    )
}

pub fn hold_over(me: &str, partner: &str, primary_for: u64) -> Text {
    text(
        format!(
            "{me} has run the phones for {} — the office may switch back now",
            span(primary_for)
        ),
        format!(
            "The hold after the last role change is over and {partner} has every change: a switchover to \
             {partner} would lose nothing."
        ),
        format!(
            "If {partner} should be the primary again, use Switch over in LBS Console at a quiet time (calls in \
             progress are cut). Otherwise there is nothing to do."
        ),
    )
}

pub fn disk_full(me: &str, mount: &str, used: f64, above: u8) -> Text {
    text(
        format!("The disk {mount} on {me} is {used:.0}% full"),
        format!(
            "More than {above}% of {mount} on {me} is in use. When it is full the PBX cannot record voicemail or \
             calls, and the copy to the backup stops."
        ),
        "Free space (old recordings, logs) or give the box a larger disk.",
    )
}

pub fn disk_ok(me: &str, mount: &str, used: f64) -> Text {
    text(
        format!("The disk {mount} on {me} has room again ({used:.0}% full)"),
        format!("{mount} on {me} is below the alert threshold again."),
        "Nothing to do.",
    )
}

pub fn disks_failing(me: &str, found: &[lbs_protocol::Difference]) -> Text {
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    let fixes: Vec<&str> = found.iter().map(|d| d.fix.as_str()).collect();
    text(
        format!("A disk of {me} is failing"),
        messages.join(" "),
        format!(
            "{} Until then the other box keeps a copy; `lbs-agent health` on {me} shows the disk's details.",
            fixes.join(" ")
        ),
    )
}

pub fn disks_ok(me: &str) -> Text {
    text(
        format!("The disks of {me} report no failure any more"),
        format!("No disk of {me} reports failing sectors or a failed health test now."),
        "Nothing to do.",
    )
}

/// What would break after a failover to `me` (the backup), from `inventory::parity`.
pub fn pair_differs(me: &str, partner: &str, found: &[lbs_protocol::Difference]) -> Text {
    let title = match found {
        [one] => one.subject.clone(),
        many => format!(
            "{me} cannot fully replace {partner}: {} things would break after a failover",
            many.len()
        ),
    };
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    let fixes: Vec<&str> = found.iter().map(|d| d.fix.as_str()).collect();
    text(
        title,
        messages.join(" "),
        format!(
            "{} `lbs-agent health` on either box shows the two machines side by side.",
            fixes.join(" ")
        ),
    )
}

pub fn pair_matches(me: &str, partner: &str) -> Text {
    text(
        format!("{me} can replace {partner} again"),
        format!("Nothing found on {me} or {partner} would break after a failover any more."),
        "Nothing to do.",
    )
}

pub fn memory_high(me: &str, used: f64, above: u8) -> Text {
    text(
        format!("{me} is using {used:.0}% of its memory"),
        format!("More than {above}% of {me}'s memory is in use: the PBX may slow down or be stopped by the system."),
        "Look for a program using too much memory (restarting it helps), or give the box more memory.",
    )
}

/// The partner's clock is `offset` seconds ahead of this box's (behind when negative).
pub fn clock_skew(me: &str, partner: &str, offset: i64) -> Text {
    let way = if offset > 0 { "ahead of" } else { "behind" };
    text(
        format!(
            "The clocks of {me} and {partner} differ by {}",
            span(offset.unsigned_abs())
        ),
        format!(
            "{partner}'s clock is {} {way} {me}'s. The phones are not affected, but the audit log, the alerts and \
             a maintenance's end compare times written on both servers, and call records show different times on \
             each.",
            span(offset.unsigned_abs())
        ),
        "On both servers, turn on network time (`timedatectl set-ntp true`) and check that each reaches a time \
         server (`timedatectl timesync-status`).",
    )
}

pub fn clock_ok(me: &str, partner: &str) -> Text {
    text(
        format!("The clocks of {me} and {partner} agree again"),
        format!("{me} and {partner} show the same time again."),
        "Nothing to do.",
    )
}

pub fn memory_ok(me: &str, used: f64) -> Text {
    text(
        format!("{me}'s memory use is normal again ({used:.0}%)"),
        format!("{me}'s memory use is below the alert threshold again."),
        "Nothing to do.",
    )
}

/// Who asked and why, from the audit log.
fn asked(actor: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("asked by {actor}: \"{r}\""),
        None => format!("asked by {actor}"),
    }
}

pub fn promoted(me: &str, unplanned: bool, actor: &str, reason: Option<&str>, partner: Option<&str>, at: i64) -> Text {
    let title = if unplanned {
        format!("Failover: {me} is now the primary — it runs the phones")
    } else {
        format!("{me} is now the primary — it runs the phones")
    };
    let back = partner.map_or(String::new(), |p| {
        format!(" When {p} is back it becomes the backup by itself; files it wrote meanwhile are set aside, not lost.")
    });
    text(
        title,
        format!("{me} became the primary at {} ({}).", when(at), asked(actor, reason)),
        format!("Check that the phones work.{back}"),
    )
}

pub fn switched_over(me: &str, partner: Option<&str>, actor: &str, reason: Option<&str>, at: i64) -> Text {
    let from = partner.map_or(String::new(), |p| format!(" from {p}"));
    text(
        format!("Switchover: {me} now runs the phones"),
        format!(
            "A planned switchover{from} finished at {}: {me} is the primary ({}).",
            when(at),
            asked(actor, reason)
        ),
        "Check that the phones work.",
    )
}

pub fn demoted(me: &str, actor: &str, reason: Option<&str>, at: i64) -> Text {
    text(
        format!("{me} is now the backup"),
        format!(
            "{me} stopped its PBX and became the backup at {} ({}).",
            when(at),
            asked(actor, reason)
        ),
        "If no other box is the primary now, the phones do not work: make one the primary in LBS Console.",
    )
}

pub fn switchover_called_off(me: &str, detail: &str) -> Text {
    text(
        format!("Switchover called off: {me} runs the phones again"),
        format!("A switchover did not finish; {me} kept the primary role and runs its PBX again. {detail}"),
        "Check that the phones work, then look at LBS Console's Events for why.",
    )
}

pub fn stepped_down(me: &str, partner: Option<&str>, files: u64) -> Text {
    let other = partner.unwrap_or("its partner");
    text(
        format!("{me} stepped down — {files} files set aside"),
        format!(
            "{me} came back and found that {other} had become the primary: it is the backup now. {files} files it \
             wrote while it was cut off differ from {other}'s; they were set aside in the quarantine, not lost."
        ),
        "Open Sync in LBS Console (or run `lbs-agent quarantine list`) and put back the ones the office needs.",
    )
}

pub fn test(me: &str, channel: &str) -> Text {
    text(
        format!("Test alert from {me} — its alerts reach you"),
        format!("This is a test sent by `lbs-agent alert test` on {me} through {channel}."),
        "Nothing to do.",
    )
}

/// The alert as a mail's plain-text body.
pub fn mail_body(t: &Text, server: &str, role: Role, at: i64) -> String {
    format!(
        "{}\n\nWhat to do: {}\n\n-- \n{server} ({role}), {}\nSent by lbs-agent, the LBS agent on {server}.\n",
        t.message,
        t.todo,
        when(at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_say_it_in_one_line() {
        let t = partner_silent("PBX B", Role::Primary, "PBX A", 125, Some(1_700_000_000));
        assert_eq!(t.title, "PBX A does not answer — the phones run on PBX B");
        assert!(
            t.message.contains("for 2 min (last contact 2023-11-14 22:13 UTC)"),
            "{}",
            t.message
        );
        let t = partner_silent("PBX B", Role::Backup, "PBX A", 60, None);
        assert_eq!(t.title, "PBX A (the primary) does not answer — the phones may be down");
        assert!(t.todo.contains("failover wizard makes PBX B the primary"), "{}", t.todo);
        for t in [
            t,
            pbx_stopped("PBX A", Some("PBX B")),
            disk_full("PBX A", "/var", 93.2, 90),
            hold_over("PBX B", "PBX A", 3600),
        ] {
            assert!(!t.title.contains('\n') && t.title.len() < 100, "{}", t.title);
        }
        assert_eq!(
            disk_full("PBX A", "/var", 93.2, 90).title,
            "The disk /var on PBX A is 93% full"
        );
    }

    #[test]
    fn spans_and_times_read_like_people_talk() {
        assert_eq!(span(3), "3 s");
        assert_eq!(span(7500), "2 h 5 min");
        assert_eq!(span(3 * 86_400), "3 days");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn role_changes_say_who_asked_and_why() {
        let t = promoted(
            "PBX B",
            true,
            "token t1 (office laptop)",
            Some("PBX A's power supply died"),
            Some("PBX A"),
            0,
        );
        assert!(t.title.starts_with("Failover: PBX B is now the primary"), "{}", t.title);
        assert!(
            t.message
                .contains("asked by token t1 (office laptop): \"PBX A's power supply died\""),
            "{}",
            t.message
        );
    }
}
