//! `lbs-agent health`: the two machines of the pair side by side, what differs first, through
//! the local API (`GET /api/v1/health`). `pair` and `setup` print the differences the same way
//! once a backup is paired, so no pair is made without them being said.

use std::path::Path;

use anyhow::Result;
use lbs_protocol::{CardKind, Difference, DiskVerdict, MachineInventory, PairHealth, Reading, RootStorage, Severity};

use super::{load_config, LocalApi};
use lbs_agent_core::identity::Identity;
use lbs_agent_core::units::{human_bytes, human_secs};

pub async fn show(config_path: &Path, json: bool) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let health: PairHealth = api.call(api.get("/health")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&health)?);
    } else {
        print!("{}", render(&health));
    }
    Ok(())
}

/// After a pairing: the differences, or that there are none, asked of the local agent.
pub(super) async fn after_pairing(api: &LocalApi) {
    match api.call::<PairHealth>(api.get("/health")).await {
        Ok(h) if h.partner.is_none() => {
            if let Some(note) = &h.partner_note {
                println!("The two machines could not be compared yet: {note} See `lbs-agent health`.");
            }
        }
        Ok(h) if h.differences.is_empty() => {
            println!("The two machines match: no difference that matters for a failover (`lbs-agent health`).")
        }
        Ok(h) => {
            println!();
            print!("{}", differences(&h.differences));
            println!("Compare the two machines with `lbs-agent health`.");
        }
        Err(e) => println!("The two machines could not be compared: {e:#}. Try `lbs-agent health`."),
    }
}

/// The whole view: the differences first, then the two machines side by side.
pub fn render(h: &PairHealth) -> String {
    let mut out = String::new();
    if h.differences.is_empty() {
        out.push_str(match h.partner {
            Some(_) => "No difference between the two machines that matters for a failover.\n",
            None => "Nothing wrong with this machine.\n",
        });
    } else {
        out.push_str(&differences(&h.differences));
    }
    if let Some(note) = &h.partner_note {
        out.push_str(&format!("\n{note}\n"));
    }
    out.push('\n');
    // The primary first, as the console shows them, whichever box is asked.
    let mut machines: Vec<&MachineInventory> = std::iter::once(&h.this).chain(h.partner.as_ref()).collect();
    machines.sort_by_key(|m| m.role != lbs_protocol::Role::Primary);
    out.push_str(&table(&machines));
    out
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING",
        Severity::Info => "NOTE",
    }
}

/// "Differences (1 critical, 2 warnings):" and each with its consequence and what to do.
pub fn differences(list: &[Difference]) -> String {
    let count = |s: Severity| list.iter().filter(|d| d.severity == s).count();
    let mut parts = Vec::new();
    for (s, one, many) in [
        (Severity::Critical, "critical", "critical"),
        (Severity::Warning, "warning", "warnings"),
        (Severity::Info, "note", "notes"),
    ] {
        match count(s) {
            0 => {}
            1 => parts.push(format!("1 {one}")),
            n => parts.push(format!("{n} {many}")),
        }
    }
    let mut out = format!("Differences ({}):\n", parts.join(", "));
    for d in list {
        out.push_str(&format!("  {:<9} {}\n", severity_word(d.severity), d.subject));
        out.push_str(&indent(&d.message));
        out.push_str(&indent(&format!("What to do: {}", d.fix)));
    }
    out
}

/// Wrapped at 100 columns under the subject.
fn indent(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 88 {
            out.push_str(&format!("            {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("            {line}\n"));
    }
    out
}

fn reading<T>(r: &Reading<T>, show: impl Fn(&T) -> Vec<String>) -> Vec<String> {
    match r {
        Reading::Read { value } => {
            let lines = show(value);
            if lines.is_empty() {
                vec!["none".into()]
            } else {
                lines
            }
        }
        Reading::Unavailable { reason } => vec![format!("unknown: {reason}")],
    }
}

/// Two lines per disk: "sda 2.0 TB WDC WD20EFRX" and "  healthy, read 40m ago" (how old the
/// reading was when the inventory was read: the disks are read hourly), or "  health unknown:"
/// and why.
fn disk_lines(d: &lbs_protocol::DiskInfo, collected_unix: i64) -> [String; 2] {
    let health = match &d.smart {
        Reading::Read { value } => {
            let word = match value.verdict {
                DiskVerdict::Good => "healthy",
                DiskVerdict::Worn => "WEARING OUT",
                DiskVerdict::Failing => "FAILING",
            };
            let age = (collected_unix - value.checked_unix).max(0) as u64;
            if age < 60 {
                format!("{word}, read just now")
            } else {
                format!("{word}, read {} ago", human_secs(age / 60 * 60))
            }
        }
        Reading::Unavailable { reason } => format!("health unknown: {reason}"),
    };
    let model = d.model.as_deref().unwrap_or("disk");
    [
        format!("{} {} {model}", d.name, human_bytes(d.size_bytes)),
        format!("  {health}"),
    ]
}

fn storage_lines(list: &[RootStorage]) -> Vec<String> {
    list.iter()
        .map(|r| {
            let space = r.filesystem.as_ref().map_or(String::new(), |f| {
                format!(
                    " on {} ({} free of {})",
                    f.mount,
                    human_bytes(f.free_bytes),
                    human_bytes(f.total_bytes)
                )
            });
            format!("{}: {}{space}", r.category, human_bytes(r.data_bytes))
        })
        .collect()
}

fn card_kind(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Pri => "PRI",
        CardKind::Bri => "BRI",
        CardKind::Analog => "analog",
        CardKind::Other => "telephony",
    }
}

/// The rows of one machine, by label.
fn rows(m: &MachineInventory) -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("Machine", vec![format!("{} ({})", m.name, m.role)]),
        (
            "Processor",
            reading(&m.cpu, |c| {
                vec![c.model.clone(), format!("{} cores, {} threads", c.cores, c.threads)]
            }),
        ),
        ("Memory", reading(&m.memory, |mem| vec![human_bytes(mem.total_bytes)])),
        (
            "Disks",
            reading(&m.disks, |list| {
                list.iter().flat_map(|d| disk_lines(d, m.collected_unix)).collect()
            }),
        ),
        ("Data", reading(&m.storage, |list| storage_lines(list))),
        (
            "Network",
            reading(&m.network, |list| {
                list.iter()
                    .map(|i| match i.speed_mbps {
                        Some(s) => format!("{} {} Mbit/s", i.name, s),
                        None => format!("{} {}", i.name, i.state),
                    })
                    .collect()
            }),
        ),
        (
            "Telephony",
            reading(&m.telephony.cards, |list| {
                list.iter()
                    .map(|c| format!("{} ({}): {}", c.slot, card_kind(c.kind), c.description))
                    .collect()
            }),
        ),
        (
            "DAHDI spans",
            if m.telephony.dahdi_loaded {
                reading(&m.telephony.spans, |list| {
                    list.iter()
                        .map(|s| {
                            let alarms = if s.alarms.is_empty() {
                                "up".to_owned()
                            } else {
                                s.alarms.join(" ")
                            };
                            format!("{} {} {alarms}", s.number, s.name)
                        })
                        .collect()
                })
            } else {
                vec!["DAHDI not loaded".into()]
            },
        ),
        (
            "System",
            reading(&m.system, |s| vec![s.os.clone(), format!("kernel {}", s.kernel)]),
        ),
        ("Phone system", reading(&m.pbx, |p| vec![p.text.clone()])),
        ("LBS agent", vec![m.agent_version.clone()]),
        (
            "Categories",
            vec![if m.categories.categories.is_empty() {
                "none".into()
            } else {
                m.categories
                    .categories
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }],
        ),
    ]
}

const LABEL: usize = 14;
const COLUMN: usize = 44;

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(width - 1).collect();
        s.push('…');
        s
    }
}

/// The machines side by side, one row per part, one line per item.
fn table(machines: &[&MachineInventory]) -> String {
    let columns: Vec<Vec<(&'static str, Vec<String>)>> = machines.iter().map(|m| rows(m)).collect();
    let mut out = String::new();
    for (i, (label, _)) in columns[0].iter().enumerate() {
        let height = columns.iter().map(|c| c[i].1.len()).max().unwrap_or(1);
        for line in 0..height {
            let head = if line == 0 { *label } else { "" };
            let mut text = format!("{head:<LABEL$}");
            for (n, c) in columns.iter().enumerate() {
                let cell = c[i].1.get(line).map(String::as_str).unwrap_or("");
                if n + 1 == columns.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{:<COLUMN$}  ", cut(cell, COLUMN)));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
    }
    out
}
