//! `lbs-agent alert test|status`: send a test alert through every configured channel now and
//! print what each server answered; show each channel's outbox and the problems open now.
//! Through the local API, like the other commands.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use lbs_protocol::{AlertTestReport, AlertsStatus};

use super::{load_config, rfc3339, LocalApi};
use lbs_agent_core::identity::Identity;

/// A test waits for every channel in turn (a mail server may take its 30 s to answer).
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn test(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    if config.alerts.channel_ids().is_empty() {
        bail!(
            "no alert channel is configured in {}: add an [[alerts.email]] or [[alerts.webhook]] section \
             (see `man lbs-agent` and docs/agent.md), restart the agent, then test again",
            config_path.display()
        );
    }
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let request = api
        .client
        .post(format!("{}/alerts/test", api.base))
        .timeout(TEST_TIMEOUT);
    let report: AlertTestReport = api.call(request).await?;
    if report.results.is_empty() {
        bail!(
            "the running agent has no alert channel: it was started before they were added to {}; \
             restart it (`systemctl restart lbs-agent`) and test again",
            config_path.display()
        );
    }
    let width = report.results.iter().map(|r| r.channel.len()).max().unwrap_or(0);
    let mut failed = 0;
    for r in &report.results {
        let verdict = if r.ok { "sent" } else { "FAILED" };
        println!("{:<width$}  {:<7} {:<6}  {}", r.channel, r.kind, verdict, r.answer);
        failed += usize::from(!r.ok);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} channels did not take the test alert (above): fix what it says, restart the agent if \
             you changed its configuration, and test again",
            report.results.len()
        );
    }
    println!("\nEvery channel took the test alert: check that it arrived.");
    Ok(())
}

pub async fn status(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    let identity = Identity::load(&config.server.state_dir)?;
    let api = LocalApi::open(&config, &identity)?;
    let s: AlertsStatus = api.call(api.get("/alerts")).await?;
    if s.channels.is_empty() {
        println!("No alert channel is configured: this box sends no alert of its own.");
    }
    for c in &s.channels {
        let state = if c.failing { "FAILING" } else { "ok" };
        let last = c.last_success_unix.map_or("never since start".to_string(), rfc3339);
        println!(
            "{} ({}): {state}, {} waiting, last delivered {last}",
            c.channel, c.kind, c.queued
        );
        if let Some(e) = &c.last_error {
            let next = c
                .next_attempt_unix
                .map_or(String::new(), |t| format!(" (next try {})", rfc3339(t)));
            println!("    {e}{next}");
        }
    }
    if s.open.is_empty() {
        println!("No problem is open.");
    }
    for o in &s.open {
        let held = if o.sent { "" } else { " (held: maintenance)" };
        println!("open since {}: {}{held}", rfc3339(o.since_unix), o.title);
    }
    Ok(())
}
