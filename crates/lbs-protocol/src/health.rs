//! The two machines of a pair side by side (issue 17): what each box is made of — its
//! *inventory* — and what differs between them that matters for a failover.
//!
//! A backup is only as good as its likeness to the primary: one without the primary's PRI card,
//! with a smaller disk or a failing one, fails the day it is needed. Each agent collects its own
//! [`MachineInventory`] (every part may be unreadable, with the reason); the two boxes exchange
//! them over the pair's mutual TLS (`GET /peer/v1/inventory`, fetched when the digest a
//! heartbeat carries changes), and each compares the two with the same pure rules into
//! [`Difference`]s, the most severe first.
//!
//! Who reads what: `GET /api/v1/health` (any token) answers [`PairHealth`] — the console's
//! Health tab draws it as two columns (this box and its partner), the differences above them,
//! each difference pointing at its row by [`HealthArea`]; `lbs-agent health` prints the same.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Role;

/// The partner's inventory on the peer routes (mutual TLS; the answer is a [`MachineInventory`]).
pub const INVENTORY_ROUTE: &str = "/inventory";

/// One part of the inventory: read, or why it could not be ("smartctl is not installed", "no
/// permission to read /dev/sda", "this is a virtual disk without SMART"). A part that could not
/// be read is never a guess and never an error of the whole inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum Reading<T> {
    Read { value: T },
    Unavailable { reason: String },
}

impl<T> Reading<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Reading::Read { value } => Some(value),
            Reading::Unavailable { .. } => None,
        }
    }

    pub fn unavailable(reason: impl Into<String>) -> Self {
        Reading::Unavailable { reason: reason.into() }
    }
}

/// `GET /api/v1/health` (any token): both machines and what differs between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PairHealth {
    /// The box that answers.
    pub this: MachineInventory,
    /// Its partner, as last received over the pair's link; `None` when unpaired or not received
    /// yet (`partner_note` says which).
    pub partner: Option<MachineInventory>,
    /// Why the partner's inventory is missing or may be old, in plain words; `None` when it is
    /// current.
    pub partner_note: Option<String>,
    /// What differs, the most severe first (critical, then warnings, then notes). Includes what
    /// is wrong with one box alone (a failing disk), since the pair depends on both.
    pub differences: Vec<Difference>,
    /// How many differences of each severity, for a badge.
    pub counts: DifferenceCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DifferenceCounts {
    pub critical: u32,
    pub warning: u32,
    pub info: u32,
}

/// How much a difference matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Severity {
    /// Something will break after a failover (or is breaking now): calls on the PRI lines, the
    /// data not fitting, a disk failing.
    Critical,
    /// Something may break or work worse after a failover.
    Warning,
    /// Worth knowing; nothing breaks.
    Info,
}

/// Which row of the side-by-side view a difference is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum HealthArea {
    Cpu,
    Memory,
    Disks,
    /// The space the synced data needs against the space each box has for it.
    Storage,
    Network,
    Telephony,
    System,
    Pbx,
    Agent,
    Categories,
}

/// One thing that differs between the boxes (or is wrong with one of them), said for the office
/// manager: what, on which box, what it breaks, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Difference {
    pub severity: Severity,
    pub area: HealthArea,
    /// A stable code for the rule (`telephony_card_missing`, `disk_too_small`, …; see
    /// docs/agent.md), for scripts and tests.
    pub code: String,
    /// The box the difference is about (the one lacking something, or whose disk fails); `None`
    /// when it is about both alike.
    pub server_id: Option<String>,
    /// A short title: "No PRI card on PBX B".
    pub subject: String,
    /// What it means, with the consequence: "PBX B has no PRI card (PBX A has a Digium TE420):
    /// calls on the PRI lines stop after a failover."
    pub message: String,
    /// What to do: "Fit the same card in PBX B and set up DAHDI there, then check `lbs-agent
    /// health` again."
    pub fix: String,
}

/// What one box is made of, as its agent read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MachineInventory {
    pub server_id: String,
    pub name: String,
    pub role: Role,
    /// When the inventory was last read (Unix seconds); the SMART readings carry their own time.
    #[ts(type = "number")]
    pub collected_unix: i64,
    /// The agent's version (semver) and API version.
    pub agent_version: String,
    pub api_version: u32,
    pub cpu: Reading<CpuInfo>,
    pub memory: Reading<MemoryInfo>,
    pub disks: Reading<Vec<DiskInfo>>,
    pub network: Reading<Vec<NetInterface>>,
    pub telephony: TelephonyInfo,
    pub system: Reading<SystemInfo>,
    pub pbx: Reading<PbxVersion>,
    /// The sync categories as configured here: what must match between the boxes.
    pub categories: CategoriesDigest,
    /// The data each category root holds here, and the space of the file system holding it.
    pub storage: Reading<Vec<RootStorage>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CpuInfo {
    /// "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz".
    pub model: String,
    /// Physical cores (all sockets).
    pub cores: u32,
    /// Logical processors (threads).
    pub threads: u32,
    pub sockets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MemoryInfo {
    #[ts(type = "number")]
    pub total_bytes: u64,
    #[ts(type = "number")]
    pub swap_bytes: u64,
}

/// A whole disk (not a partition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DiskInfo {
    /// The kernel's name: `sda`, `nvme0n1`.
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    #[ts(type = "number")]
    pub size_bytes: u64,
    /// A spinning disk (false for an SSD or NVMe).
    pub rotational: bool,
    /// How it is attached: `sata`, `nvme`, `usb`, `virtio`…, when the kernel says.
    pub transport: Option<String>,
    /// SMART, read hourly (it is not free): absent with the reason when it cannot be read.
    pub smart: Reading<SmartReport>,
}

/// What a disk says of its own health (`smartctl --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SmartReport {
    /// The disk's own verdict ("SMART overall-health self-assessment test result").
    pub passed: bool,
    /// Ours, from the verdict and the counters below.
    pub verdict: DiskVerdict,
    /// Sectors the disk replaced with spares (ATA attribute 5); growing means it is wearing out.
    #[ts(type = "number | null")]
    pub reallocated_sectors: Option<u64>,
    /// Sectors waiting to be replaced: unreadable now (ATA 197).
    #[ts(type = "number | null")]
    pub pending_sectors: Option<u64>,
    /// Sectors that could not be read or written at all (ATA 198).
    #[ts(type = "number | null")]
    pub uncorrectable_sectors: Option<u64>,
    /// NVMe: the controller's critical warning bits (0 is good).
    pub nvme_critical_warning: Option<u32>,
    /// NVMe: unrecovered data errors.
    #[ts(type = "number | null")]
    pub nvme_media_errors: Option<u64>,
    /// NVMe: how much of its rated endurance is used, in percent (may exceed 100).
    pub percentage_used: Option<u32>,
    pub temperature_celsius: Option<i32>,
    #[ts(type = "number | null")]
    pub power_on_hours: Option<u64>,
    /// When it was read (Unix seconds).
    #[ts(type = "number")]
    pub checked_unix: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DiskVerdict {
    Good,
    /// Wearing: it replaced sectors, or used most of its endurance; replace it at the next
    /// occasion.
    Worn,
    /// Failing: its own test failed, sectors cannot be read, or an NVMe critical warning.
    Failing,
}

/// A physical network interface (virtual ones — loopback, bridges, tunnels — are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NetInterface {
    pub name: String,
    pub mac: Option<String>,
    /// The kernel's `operstate`: `up`, `down`, `dormant`, `unknown`…
    pub state: String,
    /// The negotiated link speed in Mbit/s; `None` when the link is down or the driver does not
    /// say (a virtual machine's NIC).
    pub speed_mbps: Option<u32>,
}

/// Telephony hardware: PCI cards and, where DAHDI runs, its spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TelephonyInfo {
    /// The telephony cards on the PCI bus (`lspci`), by vendor or by class.
    pub cards: Reading<Vec<TelephonyCard>>,
    /// DAHDI's spans (`/proc/dahdi`); an empty list with `dahdi_loaded: false` when DAHDI is not
    /// loaded, which is normal on a box without cards.
    pub spans: Reading<Vec<DahdiSpan>>,
    pub dahdi_loaded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TelephonyCard {
    /// PCI address: `02:08.0`.
    pub slot: String,
    /// PCI vendor and device IDs, hex: `d161`, `1420`.
    pub vendor_id: String,
    pub device_id: String,
    /// What lspci calls it: "Digium, Inc. Wildcard TE420 quad-span T1/E1/J1 card …".
    pub description: String,
    pub kind: CardKind,
}

/// What a card connects to, as far as its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CardKind {
    /// T1/E1/J1: a PRI line.
    Pri,
    /// ISDN basic rate.
    Bri,
    /// Analog lines (FXO/FXS).
    Analog,
    /// A telephony vendor's card whose kind its name does not say.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DahdiSpan {
    pub number: u32,
    /// DAHDI's name: `TE4/0/1`.
    pub name: String,
    /// "T4XXP (PCI) Card 0 Span 1".
    pub description: String,
    /// Alarms DAHDI reports (`RED`, `YELLOW`, `BLUE`, `NOTOPEN`…); empty when the span is up.
    pub alarms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SystemInfo {
    /// `/etc/os-release` PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    /// `ID` and `VERSION_ID`: `debian`, `12`.
    pub os_id: String,
    pub os_version: Option<String>,
    /// `uname -r`.
    pub kernel: String,
    pub arch: String,
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PbxVersion {
    /// The first line the version command printed: "Asterisk 20.6.0".
    pub text: String,
    /// The version number in it, when there is one: "20.6.0".
    pub version: Option<String>,
    /// Its first number: 20.
    pub major: Option<u32>,
}

/// The sync categories of a box, as far as the two boxes must agree on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategoriesDigest {
    /// SHA-256 (hex) of the list below: equal digests, equal categories.
    pub digest: String,
    /// In the order of the configuration file.
    pub categories: Vec<CategoryShape>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CategoryShape {
    pub name: String,
    pub priority: u32,
    /// How many roots: the boxes match roots by position, so the count must be the same.
    pub roots: u32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// A database category (a dump command), whose dump the backup restores on promotion.
    pub database: bool,
}

/// One category root on one box: the data it holds and the file system it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RootStorage {
    pub category: String,
    /// The root's position in its category (roots pair up by position).
    pub index: u32,
    pub path: String,
    /// What the box holds there: the journal on the primary, the verified copies on the backup.
    #[ts(type = "number")]
    pub data_bytes: u64,
    #[ts(type = "number")]
    pub files: u64,
    /// The file system the root is on (the nearest existing folder's, if the root is missing).
    pub filesystem: Option<Filesystem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Filesystem {
    /// Where it is mounted: `/var`.
    pub mount: String,
    #[ts(type = "number")]
    pub total_bytes: u64,
    /// Space available to the agent.
    #[ts(type = "number")]
    pub free_bytes: u64,
}

impl DifferenceCounts {
    pub fn of(differences: &[Difference]) -> DifferenceCounts {
        let mut c = DifferenceCounts::default();
        for d in differences {
            match d.severity {
                Severity::Critical => c.critical += 1,
                Severity::Warning => c.warning += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_says_read_or_why_not() {
        let read: Reading<u32> = Reading::Read { value: 3 };
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::json!({"state": "read", "value": 3})
        );
        let not: Reading<u32> = Reading::unavailable("smartctl is not installed");
        assert_eq!(
            serde_json::to_value(&not).unwrap(),
            serde_json::json!({"state": "unavailable", "reason": "smartctl is not installed"})
        );
        assert_eq!(not.value(), None);
    }

    #[test]
    fn severities_sort_critical_first() {
        let mut s = vec![Severity::Info, Severity::Critical, Severity::Warning];
        s.sort();
        assert_eq!(s, [Severity::Critical, Severity::Warning, Severity::Info]);
    }
}
