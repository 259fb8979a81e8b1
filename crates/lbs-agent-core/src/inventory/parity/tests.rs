//! One test per rule: two inventories alike but for the one thing the rule is about.

use lbs_protocol::*;

use super::*;
use crate::inventory::{categories, disks, telephony};

const GB: u64 = 1_000_000_000;

fn categories_of(toml: &str) -> CategoriesDigest {
    let full = format!("[server]\nname = \"x\"\nstate_dir = \"/tmp/x\"\n{toml}");
    categories::digest(
        &crate::config::Config::parse(&full, std::path::Path::new("t.toml"))
            .unwrap()
            .sync,
    )
}

const VOICEMAIL: &str = "[[sync.category]]\nname = \"voicemail\"\nroots = [\"/var/spool/asterisk/voicemail\"]\n";

fn root(data: u64, total: u64, free: u64) -> RootStorage {
    RootStorage {
        category: "voicemail".into(),
        index: 0,
        path: "/var/spool/asterisk/voicemail".into(),
        data_bytes: data,
        files: 10,
        filesystem: Some(Filesystem {
            mount: "/var".into(),
            total_bytes: total,
            free_bytes: free,
        }),
    }
}

fn read<T>(value: T) -> Reading<T> {
    Reading::Read { value }
}

/// A box like every other: one healthy disk, a gigabit link, Debian 12, Asterisk 20.
fn machine(name: &str, role: Role) -> MachineInventory {
    MachineInventory {
        server_id: format!("id-{name}"),
        name: name.into(),
        role,
        collected_unix: 1_700_000_000,
        agent_version: "0.5.0".into(),
        api_version: 1,
        cpu: read(CpuInfo {
            model: "Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz".into(),
            cores: 4,
            threads: 4,
            sockets: 1,
        }),
        memory: read(MemoryInfo {
            total_bytes: 16 * GB,
            swap_bytes: 0,
        }),
        disks: read(vec![DiskInfo {
            name: "sda".into(),
            model: Some("WDC WD20EFRX-68EUZN0".into()),
            serial: Some("WD-1".into()),
            size_bytes: 2_000 * GB,
            rotational: true,
            transport: Some("sata".into()),
            smart: read(SmartReport {
                passed: true,
                verdict: DiskVerdict::Good,
                reallocated_sectors: Some(0),
                pending_sectors: Some(0),
                uncorrectable_sectors: Some(0),
                nvme_critical_warning: None,
                nvme_media_errors: None,
                percentage_used: None,
                temperature_celsius: Some(31),
                power_on_hours: Some(100),
                checked_unix: 1_700_000_000,
            }),
        }]),
        network: read(vec![NetInterface {
            name: "eno1".into(),
            mac: None,
            state: "up".into(),
            speed_mbps: Some(1000),
        }]),
        telephony: TelephonyInfo {
            cards: read(Vec::new()),
            spans: read(Vec::new()),
            dahdi_loaded: false,
        },
        system: read(SystemInfo {
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            os_id: "debian".into(),
            os_version: Some("12".into()),
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            hostname: name.to_lowercase(),
        }),
        pbx: read(PbxVersion {
            text: "Asterisk 20.6.0".into(),
            version: Some("20.6.0".into()),
            major: Some(20),
        }),
        categories: categories_of(VOICEMAIL),
        storage: read(vec![root(100 * GB, 2_000 * GB, 1_800 * GB)]),
    }
}

fn pair() -> (MachineInventory, MachineInventory) {
    (machine("PBX A", Role::Primary), machine("PBX B", Role::Backup))
}

fn codes(list: &[Difference]) -> Vec<&str> {
    list.iter().map(|d| d.code.as_str()).collect()
}

fn te420() -> TelephonyCard {
    telephony::parse_lspci(include_str!("../fixtures/lspci-pri-te420.txt")).remove(0)
}

#[test]
fn twins_have_no_differences() {
    let (a, b) = pair();
    assert_eq!(differences(&a, &b), []);
}

#[test]
fn a_backup_without_the_primarys_pri_card_breaks_the_pri_lines() {
    let (mut a, b) = pair();
    a.telephony.cards = read(vec![te420()]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["telephony_card_missing"]);
    let d = &found[0];
    assert_eq!(d.severity, Severity::Critical);
    assert_eq!(d.server_id.as_deref(), Some("id-PBX B"));
    assert_eq!(d.subject, "No PRI card on PBX B");
    assert!(
        d.message
            .starts_with("PBX B has no PRI card (PBX A has a PRI card: Digium, Inc. Wildcard TE420")
            && d.message.ends_with("calls on the PRI lines stop after a failover."),
        "{}",
        d.message
    );
    assert!(d.fix.contains("Fit the same card in PBX B"), "{}", d.fix);
}

#[test]
fn a_card_only_the_backup_has_is_a_note_and_unreadable_cards_a_warning() {
    let (a, mut b) = pair();
    b.telephony.cards = read(vec![te420()]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["telephony_card_extra"]);
    assert_eq!(found[0].severity, Severity::Info);

    let (mut a, mut b) = pair();
    a.telephony.cards = read(vec![te420()]);
    b.telephony.cards = Reading::unavailable("lspci is not installed");
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["telephony_unknown"]);
    assert!(found[0].fix.contains("apt install pciutils"));
}

#[test]
fn missing_dahdi_spans_break_their_lines() {
    let span = |n| DahdiSpan {
        number: n,
        name: format!("TE4/0/{n}"),
        description: String::new(),
        alarms: Vec::new(),
    };
    let (mut a, mut b) = pair();
    a.telephony.spans = read(vec![span(1), span(2), span(3), span(4)]);
    b.telephony.spans = read(vec![span(1)]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["dahdi_spans_missing"]);
    assert!(found[0]
        .message
        .contains("DAHDI shows 1 span(s) on PBX B and 4 on PBX A"));
}

#[test]
fn a_backup_disk_smaller_than_the_primarys_data() {
    let (mut a, mut b) = pair();
    a.storage = read(vec![root(310 * GB, 2_000 * GB, 1_600 * GB)]);
    b.storage = read(vec![root(0, 250 * GB, 240 * GB)]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["disk_too_small"]);
    assert_eq!(found[0].severity, Severity::Critical);
    assert!(
        found[0].message.starts_with(
            "PBX B's disk for voicemail (mounted on /var, 250.0 GB) is smaller than PBX A's data there (310.0 GB)"
        ),
        "{}",
        found[0].message
    );
}

#[test]
fn too_little_free_space_or_nearly_full_after_the_copy() {
    let (mut a, mut b) = pair();
    a.storage = read(vec![root(300 * GB, 2_000 * GB, 1_600 * GB)]);
    // 500 GB disk, 100 GB of other files kept, 40 GB of the copy there: 100 + 40 < 300.
    b.storage = read(vec![root(40 * GB, 500 * GB, 100 * GB)]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["disk_space_short"]);
    assert!(
        found[0]
            .message
            .contains("has 100.0 GB free, and PBX A's data needs 260.0 GB more"),
        "{}",
        found[0].message
    );

    b.storage = read(vec![root(250 * GB, 500 * GB, 70 * GB)]);
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["disk_space_low"]);
    assert_eq!(found[0].severity, Severity::Warning);
}

#[test]
fn a_failing_disk_on_either_box_is_critical_and_names_the_box() {
    let (mut a, b) = pair();
    let failing = disks::parse_smartctl("sdb", include_str!("../fixtures/smartctl-sata-failing-sectors.json"), 1);
    let disks::Smart::Read(report) = failing else { panic!() };
    if let Reading::Read { value } = &mut a.disks {
        value[0].smart = read(report);
    }
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["disk_failing"]);
    let d = &found[0];
    assert_eq!(d.server_id.as_deref(), Some("id-PBX A"));
    assert!(
        d.message
            .starts_with("A disk of PBX A (sda, WDC WD20EFRX-68EUZN0) reports failing sectors"),
        "{}",
        d.message
    );
    assert!(
        d.message
            .contains("if it stops, the phones stop until PBX B takes over"),
        "{}",
        d.message
    );
    assert!(d.fix.contains("serial number WD-1"), "{}", d.fix);
}

#[test]
fn a_worn_disk_is_a_warning_and_smartctl_missing_a_note() {
    let (a, mut b) = pair();
    if let Reading::Read { value } = &mut b.disks {
        if let Reading::Read { value: r } = &mut value[0].smart {
            r.reallocated_sectors = Some(3);
            r.verdict = disks::verdict(r);
        }
    }
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["disk_worn"]);
    assert!(found[0].message.contains("it has replaced 3 failing sector(s)"));

    let (a, mut b) = pair();
    if let Reading::Read { value } = &mut b.disks {
        value[0].smart = Reading::unavailable(disks::SMARTCTL_MISSING);
    }
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["smart_unavailable"]);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(
        found[0].fix,
        "On PBX B, install smartmontools (apt install smartmontools)."
    );
    if let Reading::Read { value } = &mut b.disks {
        value[0].smart = Reading::unavailable("/dev/vda does not report SMART (a virtual disk)");
    }
    assert_eq!(differences(&a, &b), [], "a virtual disk without SMART is no news");
}

#[test]
fn the_disks_kept_from_the_agent_without_the_timers_reading_are_a_note_on_the_timer() {
    let (a, mut b) = pair();
    let location = crate::inventory::smart::Location::new(std::path::Path::new("/var/lib/lbs-agent"));
    let view = crate::inventory::smart::View::of(crate::inventory::smart::Loaded::Missing, &location, 1_700_000_000);
    if let Reading::Read { value } = &mut b.disks {
        let own = disks::hidden(&value[0].name);
        value[0].smart = view.instead(&value[0], &own);
    }
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["smart_unavailable"]);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(found[0].server_id.as_deref(), Some("id-PBX B"));
    assert!(
        found[0]
            .message
            .contains("lbs-agent-smart.timer, which reads the disks' health for the agent, has left no reading"),
        "{}",
        found[0].message
    );
    assert!(
        found[0].fix.starts_with("On PBX B, check the timer that reads the disks' health for the agent: systemctl status lbs-agent-smart.timer"),
        "{}",
        found[0].fix
    );
}

#[test]
fn less_memory_is_a_warning_but_a_few_percent_is_none() {
    let (a, mut b) = pair();
    b.memory = read(MemoryInfo {
        total_bytes: 15 * GB,
        swap_bytes: 0,
    });
    assert_eq!(differences(&a, &b), []);
    b.memory = read(MemoryInfo {
        total_bytes: 4 * GB,
        swap_bytes: 0,
    });
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["memory_less"]);
    assert!(found[0]
        .message
        .starts_with("PBX B has 4.0 GB of memory, PBX A has 16.0 GB"));
}

#[test]
fn fewer_processor_threads() {
    let (a, mut b) = pair();
    if let Reading::Read { value } = &mut b.cpu {
        value.threads = 2;
    }
    assert_eq!(codes(&differences(&a, &b)), ["cpu_fewer"]);
}

#[test]
fn a_slower_link() {
    let (a, mut b) = pair();
    if let Reading::Read { value } = &mut b.network {
        value[0].speed_mbps = Some(100);
    }
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["link_slower"]);
    assert!(found[0].message.contains("runs at 100 Mbit/s, PBX A's at 1000 Mbit/s"));
}

#[test]
fn another_pbx_major_version_is_critical_a_release_a_note_none_a_warning() {
    let (a, mut b) = pair();
    b.pbx = read(PbxVersion {
        text: "Asterisk 18.21.0".into(),
        version: Some("18.21.0".into()),
        major: Some(18),
    });
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["pbx_major_differs"]);
    assert_eq!(found[0].severity, Severity::Critical);
    b.pbx = read(PbxVersion {
        text: "Asterisk 20.5.1".into(),
        version: Some("20.5.1".into()),
        major: Some(20),
    });
    assert_eq!(codes(&differences(&a, &b)), ["pbx_version_differs"]);
    b.pbx = Reading::unavailable("`asterisk -V` could not be started: No such file or directory");
    assert_eq!(codes(&differences(&a, &b)), ["pbx_unknown"]);
    // A version without a number on one side: not "the same major version", a warning.
    b.pbx = read(PbxVersion {
        text: "Asterisk GIT-master-abc123".into(),
        version: None,
        major: None,
    });
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["pbx_versions_not_comparable"]);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(!found[0].message.contains("the same major version"));
}

#[test]
fn another_agent_version_names_the_older_box() {
    let (a, mut b) = pair();
    b.agent_version = "0.4.9".into();
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["agent_version_differs"]);
    assert_eq!(found[0].server_id.as_deref(), Some("id-PBX B"));
    assert_eq!(found[0].fix, "Upgrade lbs-agent on PBX B to 0.5.0.");
}

#[test]
fn another_os_release_is_a_warning_another_kernel_a_note() {
    let (a, mut b) = pair();
    if let Reading::Read { value } = &mut b.system {
        value.kernel = "6.1.0-21-amd64".into();
    }
    assert_eq!(codes(&differences(&a, &b)), ["kernel_differs"]);
    if let Reading::Read { value } = &mut b.system {
        value.os = "Debian GNU/Linux 11 (bullseye)".into();
        value.os_version = Some("11".into());
    }
    assert_eq!(codes(&differences(&a, &b)), ["os_differs"]);
}

#[test]
fn categories_that_differ_are_critical_with_the_file_to_fix() {
    let (a, mut b) = pair();
    b.categories = categories_of(&format!(
        "{VOICEMAIL}[[sync.category]]\nname = \"recordings\"\nroots = [\"/var/spool/asterisk/monitor\"]\n"
    ));
    let found = differences(&a, &b);
    assert_eq!(codes(&found), ["categories_differ"]);
    assert!(found[0]
        .message
        .starts_with("PBX A has 1 sync categories (voicemail), PBX B has 2"));
    assert!(found[0].fix.contains("/etc/lbs-agent/agent.toml"));
    b.categories = categories_of(&format!("{VOICEMAIL}exclude = [\"*.tmp\"]\n"));
    assert_eq!(codes(&differences(&a, &b)), ["category_settings_differ"]);
}

#[test]
fn critical_comes_first() {
    let (mut a, mut b) = pair();
    b.agent_version = "0.4.0".into();
    a.telephony.cards = read(vec![te420()]);
    if let Reading::Read { value } = &mut b.system {
        value.kernel = "other".into();
    }
    let severities: Vec<Severity> = differences(&a, &b).iter().map(|d| d.severity).collect();
    assert_eq!(severities, [Severity::Critical, Severity::Warning, Severity::Info]);
}

#[test]
fn a_box_alone_reports_its_own_failing_disk() {
    let (mut a, _) = pair();
    let disks::Smart::Read(report) =
        disks::parse_smartctl("nvme0n1", include_str!("../fixtures/smartctl-nvme-critical.json"), 1)
    else {
        panic!()
    };
    if let Reading::Read { value } = &mut a.disks {
        value[0].smart = read(report);
    }
    let found = alone(&a);
    assert_eq!(codes(&found), ["disk_failing"]);
    assert!(
        found[0].message.contains("if it stops, the phones stop."),
        "{}",
        found[0].message
    );
}
