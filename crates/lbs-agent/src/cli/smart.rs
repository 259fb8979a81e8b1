//! `lbs-agent smart snapshot`: every whole disk's health read now and written where the agent
//! reads it (`<state_dir>/smart/disks.json`). `lbs-agent-smart.service` runs it hourly from its
//! timer, with the access SMART needs, which the agent's own unit withholds; an admin may run
//! it as root to read the disks at once. Does not need the agent to run.

use std::path::Path;

use anyhow::{Context, Result};
use lbs_agent_core::inventory::disks;
use lbs_agent_core::inventory::smart::{self, SnapshotDisk};
use lbs_protocol::{DiskVerdict, Reading};

use super::load_config;

pub async fn snapshot(config_path: &Path) -> Result<()> {
    let config = load_config(config_path)?;
    let location = smart::Location::new(&config.server.state_dir);
    let taken = smart::take(&location)
        .await
        .context("the disks' health could not be recorded")?;
    if taken.disks.is_empty() {
        println!("No disk to read.");
    }
    for d in &taken.disks {
        println!("{}", line(d));
    }
    println!("Written to {}.", location.file().display());
    Ok(())
}

/// "sda: healthy", "sdb: FAILING (8 sector(s) cannot be read now)", "vda: health unknown: …".
fn line(d: &SnapshotDisk) -> String {
    match &d.smart {
        Reading::Read { value } => {
            let problems = disks::problems(value);
            let word = match value.verdict {
                DiskVerdict::Good => "healthy",
                DiskVerdict::Worn => "WEARING OUT",
                DiskVerdict::Failing => "FAILING",
            };
            if problems.is_empty() {
                format!("{}: {word}", d.name)
            } else {
                format!("{}: {word} ({})", d.name, problems.join(", "))
            }
        }
        Reading::Unavailable { reason } => format!("{}: health unknown: {reason}", d.name),
    }
}
