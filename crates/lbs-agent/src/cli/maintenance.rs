//! `lbs-agent maintenance [on|off]`: the pair's maintenance mode, for a technician at the box,
//! through the local API. While it is on, the alerts the work causes are held and nothing
//! happens automatically but the one guard against two PBXs; the copy keeps running; it ends by
//! itself.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lbs_protocol::{Maintenance, MaintenanceAnswer, MaintenanceEndRequest, MaintenanceRequest, PartnerNotice};

use super::{load_config, LocalApi};
use crate::local_time::clock;
use lbs_agent_core::clock::now_unix;
use lbs_agent_core::identity::Identity;
use lbs_agent_core::maintenance::MAX_BY;

/// The one thing the agent still does on its own during maintenance, said whenever it is on.
const PBX_GUARD: &str = "A PBX started on the backup is still stopped: two running PBXs would split the phones; \
                         to try the backup's PBX, switch over.";

/// What `lbs-agent maintenance` was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Start it for the pair (needs --for and --reason).
    On,
    /// End it for the pair now.
    Off,
}

/// `maintenance`'s options.
pub struct Options {
    /// How long, as a person writes it: "30m", "2h", "1h30m" (`on` needs it).
    pub length: Option<String>,
    /// Why (`on` needs it).
    pub reason: Option<String>,
    /// Who does the work, or ends it; the login name at this box when not given.
    pub by: Option<String>,
}

pub async fn run(config_path: &Path, switch: Option<Switch>, options: Options) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let url = format!("{}/maintenance", api.base);
    let by = options.by.unwrap_or_else(|| at_the_box(&config.server.name));
    let answer: MaintenanceAnswer = match (switch, options.length, options.reason) {
        (None, _, _) => api.call(api.get("/maintenance")).await?,
        (Some(Switch::On), Some(length), Some(reason)) => {
            let body = MaintenanceRequest {
                for_secs: parse_length(&length)?,
                reason,
                by: Some(by),
            };
            api.call(api.client.post(&url).json(&body))
                .await
                .context("maintenance was not started")?
        }
        (Some(Switch::On), _, _) => bail!("say how long and why: `lbs-agent maintenance on --for 2h --reason \"…\"`"),
        (Some(Switch::Off), _, _) => {
            let body = MaintenanceEndRequest { by: Some(by) };
            api.call(api.client.delete(&url).json(&body))
                .await
                .context("maintenance was not ended")?
        }
    };
    let now = now_unix();
    match (switch, &answer.maintenance) {
        (Some(Switch::On), Some(m)) => {
            println!("Maintenance on for the pair: {}.", describe(m, now));
            println!("{PBX_GUARD}");
        }
        (Some(Switch::Off), None) if answer.changed => println!("Maintenance ended for the pair."),
        (Some(Switch::Off), None) => println!("No maintenance was on: nothing to end."),
        (_, Some(m)) => {
            println!("Maintenance for the pair: {}.", describe(m, now));
            println!("Alerts about the work are held and nothing happens automatically; the copy keeps running.");
            println!("{PBX_GUARD}");
        }
        (_, None) => println!("No maintenance: alerts and automatic actions work as usual."),
    }
    if let Some(line) = notice(&answer.partner, switch) {
        println!("{line}");
    }
    match (switch, &answer.maintenance) {
        (None, Some(_)) => println!("End it with `lbs-agent maintenance off`; it ends by itself at its time."),
        (None, None) => {
            println!("Start one with `lbs-agent maintenance on --for 2h --reason \"replacing the disk\"`.")
        }
        _ => {}
    }
    Ok(())
}

/// "until 14:30 (in 2 hours), set by Sam: replacing the disk".
fn describe(m: &Maintenance, now: i64) -> String {
    let left = m.until_unix.saturating_sub(now).max(0) as u64;
    let left = humantime::format_duration(Duration::from_secs(left / 60 * 60));
    format!(
        "until {} (in {left}), set by {}: {}",
        clock(m.until_unix, now),
        m.set_by,
        m.reason
    )
}

/// One line on the partner, after a change.
fn notice(partner: &PartnerNotice, switch: Option<Switch>) -> Option<String> {
    let what = if switch == Some(Switch::Off) { "ended" } else { "set" };
    match partner {
        PartnerNotice::NotAsked => None,
        PartnerNotice::Unpaired => Some("This box has no partner: it holds for this box alone.".into()),
        PartnerNotice::Told { name } => Some(format!("{name} was told and has the same.")),
        PartnerNotice::NotTold { name, message } => Some(format!(
            "{} on this box; {name} did not answer and will learn it when it does ({message}).",
            capitalised(what)
        )),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Who works at the box, for the office and the audit log: "sam (command line on PBX A)".
pub(crate) fn at_the_box(name: &str) -> String {
    who_at(login().as_deref(), name)
}

/// `user` at the box `name`, within the agent's limit on who does the work: a long box name is
/// shortened (then the whole, for a very long login), so the default is never refused.
fn who_at(user: Option<&str>, name: &str) -> String {
    let say = |name: &str| {
        let said = match user {
            Some(user) => format!("{user} (command line on {name})"),
            None => format!("the command line on {name}"),
        };
        said.chars().filter(|c| !c.is_control()).collect::<String>()
    };
    let whole = say(name);
    if whole.chars().count() <= MAX_BY {
        return whole;
    }
    let room = MAX_BY.saturating_sub(say("").chars().count());
    if room > 1 {
        let short: String = name.chars().take(room - 1).collect();
        return say(&format!("{short}…"));
    }
    let cut: String = whole.chars().take(MAX_BY - 1).collect();
    format!("{cut}…")
}

/// Who runs the command: the person behind sudo, else the login.
fn login() -> Option<String> {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
}

/// "30m", "2h", "1h30m", "90min" as seconds; a plain number is minutes.
fn parse_length(s: &str) -> Result<u64> {
    let s = s.trim();
    if let Ok(minutes) = s.parse::<u64>() {
        return Ok(minutes.saturating_mul(60));
    }
    let d = humantime::parse_duration(s)
        .with_context(|| format!("\"{s}\" is not a length of time: write it like 30m, 2h or 1h30m"))?;
    Ok(d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_read_as_people_write_them() {
        assert_eq!(parse_length("2h").unwrap(), 7200);
        assert_eq!(parse_length("1h30m").unwrap(), 5400);
        assert_eq!(parse_length(" 45 ").unwrap(), 2700);
        let err = parse_length("soon").unwrap_err().to_string();
        assert!(err.contains("like 30m, 2h or 1h30m"), "{err}");
    }

    #[test]
    fn who_works_at_the_box_fits_the_agents_limit_whatever_the_names() {
        assert_eq!(who_at(Some("sam"), "PBX A"), "sam (command line on PBX A)");
        assert_eq!(who_at(None, "PBX A"), "the command line on PBX A");
        let long = "PBX of the main office, second floor, rack 3, the one with the blue label on its front panel";
        for user in [Some("sam"), None, Some("a-very-long-login-name-from-a-directory")] {
            let by = who_at(user, long);
            assert_eq!(by.chars().count(), MAX_BY, "{by}");
            let kept = user.map_or("the command line on PBX of the main".to_owned(), |u| {
                format!("{u} (command line on PBX")
            });
            assert!(
                by.starts_with(&kept) && by.contains('…'),
                "the name is shortened, the rest kept: {by}"
            );
            assert!(lbs_agent_core::maintenance::who(&by).is_ok(), "{by}");
        }
        let huge = "x".repeat(300);
        let by = who_at(Some(&huge), "PBX A");
        assert_eq!(by.chars().count(), MAX_BY);
        assert!(lbs_agent_core::maintenance::who(&by).is_ok());
        assert!(lbs_agent_core::maintenance::who(&who_at(Some("sam\t"), "PBX\nA")).is_ok());
    }

    #[test]
    fn the_partner_line_says_what_happened_to_it() {
        let not_told = PartnerNotice::NotTold {
            name: "PBX B".into(),
            message: "PBX B at 10.0.0.2:7443 does not answer".into(),
        };
        assert_eq!(
            notice(&not_told, Some(Switch::On)).unwrap(),
            "Set on this box; PBX B did not answer and will learn it when it does (PBX B at 10.0.0.2:7443 does not answer)."
        );
        assert!(notice(&not_told, Some(Switch::Off))
            .unwrap()
            .starts_with("Ended on this box"));
        assert_eq!(notice(&PartnerNotice::NotAsked, None), None);
    }
}
