//! Disks: the whole disks `lsblk` lists, and what each says of its health through
//! `smartctl --json` (smartmontools 7.0 or later).

use lbs_protocol::{DiskInfo, DiskVerdict, Reading, SmartReport};
use serde_json::Value;

use super::Unreadable;

/// The command that lists the disks (one line per whole disk, sizes in bytes).
pub const LSBLK: &[&str] = &[
    "lsblk",
    "--json",
    "--bytes",
    "--nodeps",
    "--output",
    "NAME,MODEL,SERIAL,SIZE,ROTA,TYPE,TRAN",
];

/// The reason given for every disk when smartctl is not there: a plain note, not an error.
pub const SMARTCTL_MISSING: &str =
    "smartctl is not installed, so the disks' health cannot be read: install smartmontools (apt install smartmontools)";

/// The reason given when the agent cannot reach the disks: its systemd unit hides the devices
/// (`PrivateDevices=true`) or withholds the capabilities SMART needs. The packaged unit does so on
/// purpose; `lbs-agent-smart.timer` reads the disks for it (see [`super::smart`]).
pub const SMART_BLOCKED: &str = "the agent may not read the disks' health here";

/// Whether `reason` says the agent was kept from the disk (rather than the disk having no SMART).
pub fn blocked(reason: &str) -> bool {
    reason.contains(SMART_BLOCKED)
}

/// What to do about a disk whose health cannot be read, when something can be done.
pub fn smart_fix(reason: &str) -> Option<&'static str> {
    if reason == SMARTCTL_MISSING {
        Some("install smartmontools (apt install smartmontools)")
    } else if super::smart::about_timer(reason) {
        Some(super::smart::TIMER_FIX)
    } else {
        None
    }
}

/// Why `/dev/{name}` cannot be asked: it is not visible to the agent.
pub fn hidden(name: &str) -> String {
    format!("/dev/{name} is not visible to the agent: {SMART_BLOCKED} (its systemd unit hides the devices)")
}

/// `smartctl` for one disk: identity, health and attributes; a disk asleep is left asleep
/// (`--nocheck=standby`) and read at the next round.
pub fn smartctl_command(disk: &str) -> Vec<String> {
    [
        "smartctl",
        "--json",
        "--info",
        "--health",
        "--attributes",
        "--nocheck=standby",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("/dev/{disk}")])
    .collect()
}

/// Parses `lsblk --json` (see [`LSBLK`]): the whole disks, without SMART yet. RAM disks, zram,
/// loop devices and empty drives are left out. Older lsblk writes numbers and flags as strings.
pub fn parse_lsblk(text: &str) -> Result<Vec<DiskInfo>, Unreadable> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| Unreadable(format!("lsblk's answer could not be read: {e}")))?;
    let devices = doc["blockdevices"]
        .as_array()
        .ok_or("lsblk's answer has no list of block devices")?;
    let text_of = |v: &Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let mut disks = Vec::new();
    for d in devices {
        let Some(name) = text_of(&d["name"]) else { continue };
        let size = match &d["size"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(0);
        let virtual_ram = ["zram", "ram", "loop"].iter().any(|p| name.starts_with(p));
        if d["type"].as_str() != Some("disk") || virtual_ram || size == 0 {
            continue;
        }
        let rotational = match &d["rota"] {
            Value::Bool(b) => *b,
            Value::String(s) => s.trim() == "1",
            Value::Number(n) => n.as_u64() == Some(1),
            _ => false,
        };
        disks.push(DiskInfo {
            model: text_of(&d["model"]),
            serial: text_of(&d["serial"]),
            size_bytes: size,
            rotational,
            transport: text_of(&d["tran"]),
            smart: Reading::unavailable("not read yet"),
            name,
        });
    }
    Ok(disks)
}

/// What became of one run of smartctl.
#[derive(Debug, PartialEq, Eq)]
pub enum Smart {
    Read(SmartReport),
    /// The disk was asleep and was not woken: keep what was read before.
    Asleep,
    Unavailable(String),
}

/// Parses `smartctl --json` for the disk `name` read at `now`. smartctl's exit status is a bit
/// mask (bit 1: the device could not be opened; bit 3: the disk says it is failing), so the
/// answer is judged by what the JSON holds, not by the status.
pub fn parse_smartctl(name: &str, text: &str, now: i64) -> Smart {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) if text.contains("UNRECOGNIZED OPTION") => {
            return Smart::Unavailable(
                "smartctl is too old to answer in JSON (smartmontools 7.0 or later is needed)".into(),
            )
        }
        Err(e) => return Smart::Unavailable(format!("smartctl's answer for {name} could not be read: {e}")),
    };
    let messages: Vec<&str> = doc["smartctl"]["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["string"].as_str()).collect())
        .unwrap_or_default();
    let said = messages.join("; ");
    if said.contains("STANDBY") || said.to_ascii_lowercase().contains("standby mode") {
        return Smart::Asleep;
    }
    let Some(passed) = doc["smart_status"]["passed"].as_bool() else {
        let lower = said.to_ascii_lowercase();
        return Smart::Unavailable(
            if lower.contains("permission denied") || lower.contains("operation not permitted") {
                format!(
                "no permission to read /dev/{name}'s health: {SMART_BLOCKED} (SMART needs root with CAP_SYS_RAWIO, \
                 and CAP_SYS_ADMIN for NVMe)"
            )
            } else if lower.contains("unable to detect device type") || lower.contains("unknown usb bridge") {
                format!("/dev/{name} does not report SMART (a virtual disk, or a USB or RAID adapter that hides it)")
            } else if said.is_empty() {
                format!("/dev/{name} gave no health status")
            } else {
                format!("/dev/{name} gave no health status: {said}")
            },
        );
    };
    let attribute = |id: u64| -> Option<u64> {
        doc["ata_smart_attributes"]["table"]
            .as_array()?
            .iter()
            .find(|a| a["id"].as_u64() == Some(id))
            // The raw value's low 48 bits are the count; some disks pack more into the rest.
            .and_then(|a| a["raw"]["value"].as_u64())
            .map(|v| v & 0xffff_ffff_ffff)
    };
    let nvme = &doc["nvme_smart_health_information_log"];
    let nvme_u64 = |key: &str| nvme[key].as_u64();
    let mut report = SmartReport {
        passed,
        verdict: DiskVerdict::Good,
        reallocated_sectors: attribute(5).or_else(|| doc["scsi_grown_defect_list"].as_u64()),
        pending_sectors: attribute(197),
        uncorrectable_sectors: attribute(198),
        nvme_critical_warning: nvme_u64("critical_warning").map(|v| v as u32),
        nvme_media_errors: nvme_u64("media_errors"),
        percentage_used: nvme_u64("percentage_used").map(|v| v as u32),
        temperature_celsius: doc["temperature"]["current"].as_i64().map(|t| t as i32),
        power_on_hours: doc["power_on_time"]["hours"].as_u64(),
        checked_unix: now,
    };
    report.verdict = verdict(&report);
    Smart::Read(report)
}

/// Our reading of a disk's report: failing when its own test failed, when sectors cannot be
/// read now, or on an NVMe critical warning; worn when it has replaced sectors, met media
/// errors, or used 90 % of its rated endurance.
pub fn verdict(r: &SmartReport) -> DiskVerdict {
    let some = |v: Option<u64>| v.is_some_and(|n| n > 0);
    if !r.passed
        || some(r.pending_sectors)
        || some(r.uncorrectable_sectors)
        || r.nvme_critical_warning.is_some_and(|w| w != 0)
    {
        DiskVerdict::Failing
    } else if some(r.reallocated_sectors) || some(r.nvme_media_errors) || r.percentage_used.is_some_and(|p| p >= 90) {
        DiskVerdict::Worn
    } else {
        DiskVerdict::Good
    }
}

/// The plain words for what a report says is wrong: "3 sectors cannot be read (pending)".
pub fn problems(r: &SmartReport) -> Vec<String> {
    let mut out = Vec::new();
    if !r.passed {
        out.push("its own health test failed".to_owned());
    }
    if let Some(w) = r.nvme_critical_warning.filter(|w| *w != 0) {
        out.push(format!("it raised a critical warning ({})", nvme_warning(w)));
    }
    if let Some(n) = r.pending_sectors.filter(|n| *n > 0) {
        out.push(format!("{n} sector(s) cannot be read now"));
    }
    if let Some(n) = r.uncorrectable_sectors.filter(|n| *n > 0) {
        out.push(format!("{n} sector(s) could not be recovered"));
    }
    if let Some(n) = r.reallocated_sectors.filter(|n| *n > 0) {
        out.push(format!("it has replaced {n} failing sector(s)"));
    }
    if let Some(n) = r.nvme_media_errors.filter(|n| *n > 0) {
        out.push(format!("{n} media error(s)"));
    }
    if let Some(p) = r.percentage_used.filter(|p| *p >= 90) {
        out.push(format!("{p} % of its rated endurance is used"));
    }
    out
}

/// NVMe critical warning bits in words (NVMe base specification, SMART / Health log byte 0).
fn nvme_warning(bits: u32) -> String {
    let names = [
        "spare space below threshold",
        "temperature out of range",
        "reliability degraded",
        "read-only mode",
        "volatile memory backup failed",
        "persistent memory unreliable",
    ];
    let found: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    if found.is_empty() {
        format!("code {bits}")
    } else {
        found.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> SmartReport {
        match parse_smartctl(name, text, 1_700_000_000) {
            Smart::Read(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn this_vm_lists_its_virtio_disk_and_leaves_zram_out() {
        let disks = parse_lsblk(include_str!("fixtures/lsblk-vm.json")).unwrap();
        assert_eq!(disks.len(), 1, "{disks:?}");
        assert_eq!(disks[0].name, "vda");
        assert_eq!(disks[0].size_bytes, 274_877_906_944);
        assert_eq!(disks[0].model, None);
    }

    #[test]
    fn an_older_lsblk_writes_strings() {
        let text = r#"{"blockdevices": [
            {"name": "sda", "model": "WDC WD20EFRX-68E", "serial": "WD-X", "size": "2000398934016", "rota": "1", "type": "disk", "tran": "sata"},
            {"name": "sr0", "model": "DVD", "serial": null, "size": "1073741312", "rota": "1", "type": "rom", "tran": "sata"}
        ]}"#;
        let disks = parse_lsblk(text).unwrap();
        assert_eq!(disks.len(), 1);
        assert!(disks[0].rotational);
        assert_eq!(disks[0].size_bytes, 2_000_398_934_016);
        assert_eq!(disks[0].transport.as_deref(), Some("sata"));
        assert!(parse_lsblk("not json").is_err());
    }

    #[test]
    fn a_virtual_disk_without_smart_is_a_plain_note() {
        let Smart::Unavailable(why) = parse_smartctl("vda", include_str!("fixtures/smartctl-virtio-no-smart.json"), 0)
        else {
            panic!()
        };
        assert!(why.contains("does not report SMART"), "{why}");
    }

    #[test]
    fn a_healthy_disk_is_good() {
        let r = read("sda", include_str!("fixtures/smartctl-sata-healthy.json"));
        assert!(r.passed);
        assert_eq!(r.verdict, DiskVerdict::Good);
        assert_eq!((r.reallocated_sectors, r.pending_sectors), (Some(0), Some(0)));
        assert_eq!(r.temperature_celsius, Some(31));
        assert_eq!(r.power_on_hours, Some(21_904));
        assert!(problems(&r).is_empty());
    }

    #[test]
    fn a_disk_with_unreadable_sectors_is_failing_though_its_own_test_passes() {
        let r = read("sdb", include_str!("fixtures/smartctl-sata-failing-sectors.json"));
        assert!(r.passed, "the disk's own test still passes");
        assert_eq!(r.verdict, DiskVerdict::Failing);
        assert_eq!(r.reallocated_sectors, Some(304));
        assert_eq!(r.pending_sectors, Some(8));
        let words = problems(&r).join(", ");
        assert!(words.contains("8 sector(s) cannot be read now"), "{words}");
        assert!(words.contains("replaced 304"), "{words}");
    }

    #[test]
    fn an_nvme_with_a_critical_warning_is_failing() {
        let r = read("nvme0n1", include_str!("fixtures/smartctl-nvme-critical.json"));
        assert!(!r.passed);
        assert_eq!(r.verdict, DiskVerdict::Failing);
        assert_eq!(r.nvme_critical_warning, Some(4));
        assert_eq!(r.percentage_used, Some(97));
        let words = problems(&r).join(", ");
        assert!(words.contains("reliability degraded"), "{words}");
        assert!(words.contains("97 % of its rated endurance"), "{words}");
    }

    #[test]
    fn a_healthy_nvme_is_good_and_reallocations_alone_are_wear() {
        let r = read("nvme0n1", include_str!("fixtures/smartctl-nvme-healthy.json"));
        assert_eq!(r.verdict, DiskVerdict::Good);
        assert_eq!(r.nvme_media_errors, Some(0));
        let worn = SmartReport {
            reallocated_sectors: Some(2),
            ..r
        };
        assert_eq!(verdict(&worn), DiskVerdict::Worn);
    }

    #[test]
    fn no_permission_and_a_sleeping_disk_are_said_plainly() {
        let denied = r#"{"smartctl": {"exit_status": 2, "messages": [{"string": "Smartctl open device: /dev/sda failed: Permission denied", "severity": "error"}]}}"#;
        let Smart::Unavailable(why) = parse_smartctl("sda", denied, 0) else {
            panic!()
        };
        assert!(why.contains("CAP_SYS_RAWIO"), "{why}");
        assert!(blocked(&why));
        assert!(smart_fix(&why)
            .unwrap()
            .contains("systemctl status lbs-agent-smart.timer"));
        assert!(smart_fix(&hidden("sda")).is_some());
        assert!(smart_fix(SMARTCTL_MISSING)
            .unwrap()
            .contains("apt install smartmontools"));
        assert_eq!(smart_fix("/dev/vda does not report SMART"), None);
        let asleep = r#"{"smartctl": {"exit_status": 2, "messages": [{"string": "Device is in STANDBY mode, exit(2)", "severity": "information"}]}}"#;
        assert_eq!(parse_smartctl("sda", asleep, 0), Smart::Asleep);
        let old = "smartctl 6.6 2016-05-31 r4324\n\n=======> UNRECOGNIZED OPTION: json\n\nUse smartctl -h to get a usage summary\n";
        let Smart::Unavailable(why) = parse_smartctl("sda", old, 0) else {
            panic!()
        };
        assert!(why.contains("too old"), "{why}");
    }
}
