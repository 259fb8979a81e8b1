//! `lbs-agent autopilot [on|off]`: automatic failover for the pair, through the local API. Without
//! a word it shows whether the pair is on autopilot and why not, the vote's members and the last
//! automatic failover.

use std::path::Path;

use anyhow::{bail, Context, Result};
use lbs_protocol::{AutopilotAnswer, AutopilotRequest, AutopilotStatus, PartnerNotice};

use super::{load_config, LocalApi};
use crate::local_time::clock;
use lbs_agent_core::clock::now_unix;
use lbs_agent_core::identity::Identity;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Switch automatic failover on for the pair.
    On,
    /// Switch it off for the pair (needs --reason).
    Off,
}

pub async fn run(config_path: &Path, switch: Option<Switch>, reason: Option<String>, by: Option<String>) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let Some(switch) = switch else {
        let status: AutopilotStatus = api.call(api.get("/autopilot")).await?;
        print_status(&status);
        return Ok(());
    };
    if switch == Switch::Off && reason.is_none() {
        bail!("say why: `lbs-agent autopilot off --reason \"moving the witness to the new NAS\"`");
    }
    let body = AutopilotRequest {
        on: switch == Switch::On,
        reason,
        by: by.or_else(|| Some(super::maintenance::at_the_box(&config.server.name))),
    };
    let url = format!("{}/autopilot", api.base);
    let answer: AutopilotAnswer = api
        .call(api.client.put(&url).json(&body))
        .await
        .context("automatic failover was not switched")?;
    let word = if switch == Switch::On { "on" } else { "off" };
    if answer.changed {
        println!("Automatic failover switched {word} for the pair.");
    } else {
        println!("Automatic failover was already {word}: nothing changed.");
    }
    match &answer.partner {
        PartnerNotice::Told { name } => println!("{name} was told and has the same."),
        PartnerNotice::NotTold { name, message } => {
            println!("Set on this box; {name} will learn it when it answers ({message}).")
        }
        PartnerNotice::Unpaired => println!("This box has no partner."),
        PartnerNotice::NotAsked => {}
    }
    println!();
    print_status(&answer.status);
    Ok(())
}

/// The autopilot as `lbs-agent autopilot` and `lbs-agent status` show it.
pub fn print_status(s: &AutopilotStatus) {
    let now = now_unix();
    println!("Autopilot:    {}", s.summary);
    if !s.configured {
        return;
    }
    if let Some(held) = &s.held {
        println!("Held back:    {held}");
    }
    for b in s.blockers.iter().skip(usize::from(!s.armed)) {
        println!("              also: {}", b.message);
    }
    if let Some(b) = s.blockers.first().filter(|_| !s.armed) {
        if let Some(since) = b.since_unix {
            println!("              since {}", clock(since, now));
        }
        if let Some(until) = b.until_unix {
            println!("              until {}", clock(until, now));
        }
    }
    let members: Vec<String> = s
        .members
        .iter()
        .map(|m| match (m.reachable, m.unreachable_since_unix) {
            (true, _) => format!("{} answers", m.name),
            (false, Some(t)) => format!("{} does NOT answer since {}", m.name, clock(t, now)),
            (false, None) => format!("{} does NOT answer", m.name),
        })
        .collect();
    println!(
        "Vote:         {} ({}){}",
        if s.quorum { "majority reached" } else { "NO majority" },
        members.join(", "),
        s.leader
            .as_deref()
            .map(|l| format!("; leader key held by {l}"))
            .unwrap_or_default()
    );
    if let Some(last) = &s.last_automatic {
        println!(
            "Last automatic failover: {} to {} (epoch {})",
            clock(last.at_unix, now),
            last.by,
            last.epoch
        );
    }
    let st = &s.settings;
    println!(
        "Settings:     lease {} s, {}, flap guard {} s",
        st.lease_secs,
        if st.prefer_service {
            "takes over even when the backup is behind (prefer = \"service\")".to_string()
        } else {
            format!(
                "takes over only a backup within {} s (prefer = \"data\")",
                st.caught_up_within_secs
            )
        },
        st.flap_guard_secs
    );
}
