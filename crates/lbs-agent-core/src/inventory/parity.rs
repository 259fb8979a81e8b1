//! Parity: what differs between the primary and its backup that matters for a failover, as pure
//! rules over the two inventories, one function per rule, each with its test. Every difference
//! says which box, what breaks, and what to do, in an office manager's words.
//!
//! The primary is the reference: the backup must do what the primary does. What the backup has
//! and the primary lacks breaks nothing and is at most a note. Disk health is about each box
//! alone, since the pair depends on both.

use std::collections::BTreeMap;

use lbs_protocol::{CardKind, Difference, DiskVerdict, HealthArea, MachineInventory, Reading, RootStorage, Severity};

use super::categories::{self, Comparison};
use super::{disks, net, telephony};
use crate::units::human_bytes;

/// Every difference between `primary` and `backup`, the most severe first.
pub fn differences(primary: &MachineInventory, backup: &MachineInventory) -> Vec<Difference> {
    let (p, b) = (primary, backup);
    let mut out = Vec::new();
    out.extend(categories_rule(p, b));
    out.extend(telephony_cards(p, b));
    out.extend(dahdi_spans(p, b));
    out.extend(storage(p, b));
    out.extend(disk_health(p, Some(&b.name)));
    out.extend(disk_health(b, Some(&p.name)));
    out.extend(smart_unreadable(p));
    out.extend(smart_unreadable(b));
    out.extend(pbx(p, b));
    out.extend(memory(p, b));
    out.extend(cpu(p, b));
    out.extend(network(p, b));
    out.extend(agent(p, b));
    out.extend(system(p, b));
    sort(&mut out);
    out
}

/// What is wrong with one box alone (no partner to compare with): its disks.
pub fn alone(this: &MachineInventory) -> Vec<Difference> {
    let mut out = disk_health(this, None);
    out.extend(smart_unreadable(this));
    sort(&mut out);
    out
}

/// Critical first, then warnings, then notes; within a severity, the rules' order.
pub fn sort(list: &mut [Difference]) {
    list.sort_by_key(|d| d.severity);
}

fn diff(
    severity: Severity,
    area: HealthArea,
    code: &str,
    about: Option<&MachineInventory>,
    subject: String,
    message: String,
    fix: String,
) -> Difference {
    Difference {
        severity,
        area,
        code: code.to_owned(),
        server_id: about.map(|m| m.server_id.clone()),
        subject,
        message,
        fix,
    }
}

/// "a PRI card", "2 PRI cards".
fn count_of(n: usize, what: &str) -> String {
    match n {
        0 => format!("no {what}"),
        1 => format!("a {what}"),
        n => format!("{n} {what}s"),
    }
}

fn categories_rule(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    match categories::compare(&p.name, &p.categories, &b.name, &b.categories) {
        Comparison::Same => Vec::new(),
        Comparison::Shape(why) => vec![diff(
            Severity::Critical,
            HealthArea::Categories,
            "categories_differ",
            Some(b),
            format!("The sync categories of {} and {} differ", p.name, b.name),
            format!(
                "{}: {} cannot keep a faithful copy of {}, and after a failover data would be missing or in the \
                 wrong place.",
                capitalise(&why),
                b.name,
                p.name
            ),
            categories::shape_fix(&b.name, &p.name),
        )],
        Comparison::Settings(list) if list.is_empty() => Vec::new(),
        Comparison::Settings(list) => vec![diff(
            Severity::Warning,
            HealthArea::Categories,
            "category_settings_differ",
            Some(b),
            format!("Sync settings differ on {}", b.name),
            format!(
                "{}: the copy works, but after a failover {} would copy back other files, or in another order.",
                capitalise(&list.join("; ")),
                b.name
            ),
            "Make the include, exclude and priority settings of the [[sync.category]] sections the same on both \
             boxes (/etc/lbs-agent/agent.toml), then restart the agent where you changed them."
                .to_owned(),
        )],
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

const KINDS: [CardKind; 4] = [CardKind::Pri, CardKind::Bri, CardKind::Analog, CardKind::Other];

fn telephony_cards(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let Some(pc) = p.telephony.cards.value() else {
        return Vec::new();
    };
    let bc = match &b.telephony.cards {
        Reading::Read { value } => value,
        Reading::Unavailable { reason } => {
            if pc.is_empty() {
                return Vec::new();
            }
            let kind = pc[0].kind;
            return vec![diff(
                Severity::Warning,
                HealthArea::Telephony,
                "telephony_unknown",
                Some(b),
                format!("Cannot tell whether {} has {}'s telephony card", b.name, p.name),
                format!(
                    "{} has {} ({}), but {}'s cards cannot be read: {reason}. If {} lacks it, calls on {} stop \
                     after a failover.",
                    p.name,
                    count_of(
                        pc.iter().filter(|c| c.kind == kind).count(),
                        telephony::kind_words(kind)
                    ),
                    pc[0].description,
                    b.name,
                    b.name,
                    telephony::lines_words(kind)
                ),
                format!(
                    "Install pciutils on {} (apt install pciutils), which lists the cards.",
                    b.name
                ),
            )];
        }
    };
    let mut out = Vec::new();
    for kind in KINDS {
        let ours: Vec<&str> = pc
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.description.as_str())
            .collect();
        let theirs = bc.iter().filter(|c| c.kind == kind).count();
        let words = telephony::kind_words(kind);
        if ours.len() > theirs {
            let (severity, consequence) = match kind {
                CardKind::Other => (
                    Severity::Warning,
                    format!("whatever {} uses it for stops after a failover", p.name),
                ),
                _ => (
                    Severity::Critical,
                    format!("calls on {} stop after a failover", telephony::lines_words(kind)),
                ),
            };
            let subject = if theirs == 0 {
                format!("No {words} on {}", b.name)
            } else {
                format!("Fewer {words}s on {} than on {}", b.name, p.name)
            };
            out.push(diff(
                severity,
                HealthArea::Telephony,
                "telephony_card_missing",
                Some(b),
                subject,
                format!(
                    "{} has {} ({} has {}: {}): {consequence}.",
                    b.name,
                    count_of(theirs, words),
                    p.name,
                    count_of(ours.len(), words),
                    ours.join("; ")
                ),
                format!(
                    "Fit the same card in {} and set up DAHDI for it there (dahdi_genconf), or plan to move the card \
                     and its line cables over when you fail over.",
                    b.name
                ),
            ));
        } else if theirs > ours.len() {
            out.push(diff(
                Severity::Info,
                HealthArea::Telephony,
                "telephony_card_extra",
                Some(p),
                format!("{} has a {words} {} lacks", b.name, p.name),
                format!(
                    "{} has {}, {} has {}: nothing breaks in a failover, but the lines must be connected to the box \
                     that runs the phones.",
                    b.name,
                    count_of(theirs, words),
                    p.name,
                    count_of(ours.len(), words)
                ),
                "Nothing to do if this is intended.".to_owned(),
            ));
        }
    }
    out
}

fn dahdi_spans(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(ps), Some(bs)) = (p.telephony.spans.value(), b.telephony.spans.value()) else {
        return Vec::new();
    };
    // A missing card already says it: its spans are missing too.
    let cards_missing = match (p.telephony.cards.value(), b.telephony.cards.value()) {
        (Some(pc), Some(bc)) => pc.len() > bc.len(),
        _ => false,
    };
    if ps.len() <= bs.len() || cards_missing {
        return Vec::new();
    }
    vec![diff(
        Severity::Critical,
        HealthArea::Telephony,
        "dahdi_spans_missing",
        Some(b),
        format!("Fewer telephone line spans on {} than on {}", b.name, p.name),
        format!(
            "DAHDI shows {} span(s) on {} and {} on {}: calls on the lines of the missing spans stop after a \
             failover.",
            bs.len(),
            b.name,
            ps.len(),
            p.name
        ),
        format!(
            "Set up DAHDI on {} like on {} (dahdi_genconf, then dahdi_cfg -vv) and check that `dahdi_scan` lists \
             every span.",
            b.name, p.name
        ),
    )]
}

/// Per file system of the backup: the primary's data for the roots on it against its space.
fn storage(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(pr), Some(br)) = (p.storage.value(), b.storage.value()) else {
        return Vec::new();
    };
    let primary_data = |r: &RootStorage| {
        pr.iter()
            .find(|x| x.category == r.category && x.index == r.index)
            .map_or(0, |x| x.data_bytes)
    };
    // mount → (total, free, the primary's data there, the backup's own copies there, categories)
    let mut by_fs: BTreeMap<&str, (u64, u64, u64, u64, Vec<&str>)> = BTreeMap::new();
    for r in br {
        let Some(fs) = &r.filesystem else { continue };
        let e = by_fs
            .entry(fs.mount.as_str())
            .or_insert((fs.total_bytes, fs.free_bytes, 0, 0, Vec::new()));
        e.2 += primary_data(r);
        e.3 += r.data_bytes;
        if !e.4.contains(&r.category.as_str()) {
            e.4.push(r.category.as_str());
        }
    }
    let mut out = Vec::new();
    for (mount, (total, free, need, held, cats)) in by_fs {
        let what = cats.join(", ");
        // The backup's copies of those files are replaced, not added to.
        let room = free.saturating_add(held);
        let missing_then = format!(
            "the copy stops when it is full, and the files not copied are missing on {} after a failover",
            b.name
        );
        if need > total {
            out.push(diff(
                Severity::Critical,
                HealthArea::Storage,
                "disk_too_small",
                Some(b),
                format!("{}'s disk is too small for {}'s data", b.name, p.name),
                format!(
                    "{}'s disk for {what} (mounted on {mount}, {}) is smaller than {}'s data there ({}): \
                     {missing_then}.",
                    b.name,
                    human_bytes(total),
                    p.name,
                    human_bytes(need)
                ),
                format!(
                    "Give {} a disk at least as large as {}'s (more than {}, with room to grow).",
                    b.name,
                    p.name,
                    human_bytes(need)
                ),
            ));
        } else if need > room {
            out.push(diff(
                Severity::Critical,
                HealthArea::Storage,
                "disk_space_short",
                Some(b),
                format!("Not enough free space on {} for {}'s data", b.name, p.name),
                format!(
                    "{}'s disk for {what} (mounted on {mount}) has {} free, and {}'s data needs {} more: \
                     {missing_then}.",
                    b.name,
                    human_bytes(free),
                    p.name,
                    human_bytes(need - held)
                ),
                format!(
                    "Free space on {} (other files on {mount}), or give it a larger disk.",
                    b.name
                ),
            ));
        } else if total > 0 && (room - need) * 10 < total && need > 0 {
            out.push(diff(
                Severity::Warning,
                HealthArea::Storage,
                "disk_space_low",
                Some(b),
                format!("{}'s disk will be nearly full with {}'s data", b.name, p.name),
                format!(
                    "With {}'s data, {}'s disk for {what} (mounted on {mount}) keeps only {} free of {}: once it \
                     fills, the copy stops.",
                    p.name,
                    b.name,
                    human_bytes(room - need),
                    human_bytes(total)
                ),
                format!(
                    "Free space on {} or give it a larger disk before the data grows.",
                    b.name
                ),
            ));
        }
    }
    out
}

/// The disks of `m` that fail or wear out. `partner` names the other box, if any.
fn disk_health(m: &MachineInventory, partner: Option<&str>) -> Vec<Difference> {
    let Some(list) = m.disks.value() else { return Vec::new() };
    let mut out = Vec::new();
    for d in list {
        let Some(r) = d.smart.value() else { continue };
        let named = match &d.model {
            Some(model) => format!("{}, {model}", d.name),
            None => d.name.clone(),
        };
        let problems = disks::problems(r).join(", ");
        let identify = d
            .serial
            .as_ref()
            .map_or(String::new(), |s| format!(" (serial number {s})"));
        match r.verdict {
            DiskVerdict::Failing => {
                let then = match (m.role, partner) {
                    (lbs_protocol::Role::Primary, Some(other)) => {
                        format!("if it stops, the phones stop until {other} takes over")
                    }
                    (lbs_protocol::Role::Primary, None) => "if it stops, the phones stop".to_owned(),
                    (lbs_protocol::Role::Backup, _) => "if it stops, the office has no backup".to_owned(),
                };
                out.push(diff(
                    Severity::Critical,
                    HealthArea::Disks,
                    "disk_failing",
                    Some(m),
                    format!("A disk of {} is failing", m.name),
                    format!(
                        "A disk of {} ({named}) reports failing sectors or a failed health test: {problems}. It may \
                         lose data or stop any day; {then}.",
                        m.name
                    ),
                    format!("Replace this disk of {}{identify} soon.", m.name),
                ));
            }
            DiskVerdict::Worn => out.push(diff(
                Severity::Warning,
                HealthArea::Disks,
                "disk_worn",
                Some(m),
                format!("A disk of {} is wearing out", m.name),
                format!("A disk of {} ({named}) is wearing out: {problems}.", m.name),
                format!("Plan to replace this disk of {}{identify}.", m.name),
            )),
            DiskVerdict::Good => {}
        }
    }
    out
}

/// A disk's health that cannot be read for a reason someone can fix (smartctl missing; the
/// agent's unit hiding the disks and `lbs-agent-smart.timer`, which reads them for it, missing,
/// failing or stopped): a note with the fix. A virtual disk without SMART is no news.
fn smart_unreadable(m: &MachineInventory) -> Vec<Difference> {
    let fix = m.disks.value().and_then(|list| {
        list.iter().find_map(|d| match &d.smart {
            Reading::Unavailable { reason } => disks::smart_fix(reason).map(|f| (reason.clone(), f)),
            Reading::Read { .. } => None,
        })
    });
    let Some((reason, fix)) = fix else { return Vec::new() };
    vec![diff(
        Severity::Info,
        HealthArea::Disks,
        "smart_unavailable",
        Some(m),
        format!("The health of {}'s disks cannot be read", m.name),
        format!(
            "The health of {}'s disks cannot be read: {reason}. A failing disk there would not be seen coming.",
            m.name
        ),
        format!("On {}, {fix}.", m.name),
    )]
}

fn pbx(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let Some(pv) = p.pbx.value() else { return Vec::new() };
    let bv = match &b.pbx {
        Reading::Read { value } => value,
        Reading::Unavailable { reason } => {
            return vec![diff(
                Severity::Warning,
                HealthArea::Pbx,
                "pbx_unknown",
                Some(b),
                format!("{}'s phone system version cannot be read", b.name),
                format!(
                    "{} runs {}, but {}'s version cannot be read ({reason}): if the phone system is not installed \
                     there, nothing answers the phones after a failover.",
                    p.name, pv.text, b.name
                ),
                format!(
                    "Check that the phone system is installed on {}. If it is not Asterisk, set [pbx] version in \
                     /etc/lbs-agent/agent.toml to the command that prints its version.",
                    b.name
                ),
            )]
        }
    };
    match (pv.major, bv.major) {
        (Some(x), Some(y)) if x != y => vec![diff(
            Severity::Critical,
            HealthArea::Pbx,
            "pbx_major_differs",
            Some(b),
            format!("{} and {} run different phone system versions", p.name, b.name),
            format!(
                "{} runs {}, {} runs {}: after a failover {} loads the configuration and databases copied from {}, \
                 which another major version may not read.",
                p.name, pv.text, b.name, bv.text, b.name, p.name
            ),
            "Install the same version of the phone system on both boxes.".to_owned(),
        )],
        // One side's major version unknown: they cannot be compared, only their words.
        (Some(_), None) | (None, Some(_)) if pv.text != bv.text => vec![diff(
            Severity::Warning,
            HealthArea::Pbx,
            "pbx_versions_not_comparable",
            Some(b),
            format!("{}'s and {}'s phone system versions cannot be compared", p.name, b.name),
            format!(
                "{} says \"{}\", {} says \"{}\": if they are different versions, {} may not read the \
                 configuration copied from {} after a failover.",
                p.name, pv.text, b.name, bv.text, b.name, p.name
            ),
            "Check that both boxes run the same version of the phone system.".to_owned(),
        )],
        (Some(_), Some(_)) if pv.version.is_some() && pv.version != bv.version => vec![diff(
            Severity::Info,
            HealthArea::Pbx,
            "pbx_version_differs",
            Some(b),
            format!("{} and {} run different phone system releases", p.name, b.name),
            format!(
                "{} runs {}, {} runs {}: the same major version, so the configuration loads on both.",
                p.name, pv.text, b.name, bv.text
            ),
            "Update both boxes to the same release when convenient.".to_owned(),
        )],
        _ => Vec::new(),
    }
}

fn memory(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(pm), Some(bm)) = (p.memory.value(), b.memory.value()) else {
        return Vec::new();
    };
    // Firmware and the kernel keep different amounts of the same modules: 10 % is no difference.
    if bm.total_bytes.saturating_mul(10) >= pm.total_bytes.saturating_mul(9) {
        return Vec::new();
    }
    vec![diff(
        Severity::Warning,
        HealthArea::Memory,
        "memory_less",
        Some(b),
        format!("{} has less memory than {}", b.name, p.name),
        format!(
            "{} has {} of memory, {} has {}: after a failover the phone system may run slower, or out of memory \
             when the office is busy.",
            b.name,
            human_bytes(bm.total_bytes),
            p.name,
            human_bytes(pm.total_bytes)
        ),
        format!("Give {} as much memory as {}.", b.name, p.name),
    )]
}

fn cpu(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(pc), Some(bc)) = (p.cpu.value(), b.cpu.value()) else {
        return Vec::new();
    };
    if bc.threads >= pc.threads {
        return Vec::new();
    }
    vec![diff(
        Severity::Warning,
        HealthArea::Cpu,
        "cpu_fewer",
        Some(b),
        format!("{} has a smaller processor than {}", b.name, p.name),
        format!(
            "{} has {} processor threads ({}), {} has {} ({}): after a failover, calls that are recorded or \
             converted between codecs may overload it.",
            b.name, bc.threads, bc.model, p.name, pc.threads, pc.model
        ),
        format!("Give {} a processor like {}'s.", b.name, p.name),
    )]
}

fn network(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(pn), Some(bn)) = (p.network.value(), b.network.value()) else {
        return Vec::new();
    };
    let (Some(ps), Some(bs)) = (net::fastest_link(pn), net::fastest_link(bn)) else {
        return Vec::new();
    };
    if bs >= ps {
        return Vec::new();
    }
    vec![diff(
        Severity::Warning,
        HealthArea::Network,
        "link_slower",
        Some(b),
        format!("{}'s network link is slower than {}'s", b.name, p.name),
        format!(
            "{}'s fastest network link runs at {bs} Mbit/s, {}'s at {ps} Mbit/s: after a failover the calls and \
             the copy back to {} share a slower link.",
            b.name, p.name, p.name
        ),
        format!(
            "Connect {} to a switch port of the same speed; check the cable and the port's setting.",
            b.name
        ),
    )]
}

/// Numeric parts of a version, for "which is newer".
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn agent(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    if p.agent_version == b.agent_version || p.agent_version.is_empty() || b.agent_version.is_empty() {
        return Vec::new();
    }
    let (older, newer) = if version_key(&p.agent_version) < version_key(&b.agent_version) {
        (p, b)
    } else {
        (b, p)
    };
    vec![diff(
        Severity::Warning,
        HealthArea::Agent,
        "agent_version_differs",
        Some(older),
        format!("{} and {} run different LBS agent versions", p.name, b.name),
        format!(
            "{} runs lbs-agent {}, {} runs {}: the two boxes may not behave alike in a failover.",
            p.name, p.agent_version, b.name, b.agent_version
        ),
        format!("Upgrade lbs-agent on {} to {}.", older.name, newer.agent_version),
    )]
}

fn system(p: &MachineInventory, b: &MachineInventory) -> Vec<Difference> {
    let (Some(ps), Some(bs)) = (p.system.value(), b.system.value()) else {
        return Vec::new();
    };
    if ps.os_id != bs.os_id || ps.os_version != bs.os_version {
        return vec![diff(
            Severity::Warning,
            HealthArea::System,
            "os_differs",
            Some(b),
            format!("{} and {} run different operating systems", p.name, b.name),
            format!(
                "{} runs {}, {} runs {}: the phone system and its modules may behave differently after a failover.",
                p.name, ps.os, b.name, bs.os
            ),
            "Run the same release of the operating system on both boxes.".to_owned(),
        )];
    }
    if ps.kernel != bs.kernel {
        return vec![diff(
            Severity::Info,
            HealthArea::System,
            "kernel_differs",
            Some(b),
            format!("{} and {} run different kernels", p.name, b.name),
            format!(
                "{} runs kernel {}, {} runs {}: drivers built for one kernel (such as DAHDI's) must be built for the \
                 other too.",
                p.name, ps.kernel, b.name, bs.kernel
            ),
            "Update both boxes to the same kernel when convenient, and check that the telephony drivers load on both."
                .to_owned(),
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests;
