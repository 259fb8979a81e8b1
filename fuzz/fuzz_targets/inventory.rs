//! What the inventory reads from the machine: `/proc/cpuinfo`, `/proc/meminfo`, `lsblk --json`,
//! `smartctl --json`, `/etc/os-release`, `/proc/self/mounts`, `lspci -nn`, `/proc/dahdi/<n>` and
//! the PBX's version output. Another tool's version may write any of them differently.
//! The first byte chooses the parser; the rest is its input.
#![no_main]

use lbs_agent_core::inventory::{cpu, disks, memory, pbx, storage, system, telephony};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 9 {
        0 => drop(cpu::parse(text)),
        1 => drop(memory::parse(text)),
        2 => {
            if let Ok(list) = disks::parse_lsblk(text) {
                for d in &list {
                    let _ = disks::smartctl_command(&d.name);
                }
            }
        }
        3 => {
            let smart = disks::parse_smartctl("sda", text, 1_700_000_000);
            drop(smart);
        }
        4 => drop(system::parse_os_release(text)),
        5 => {
            let mounts = storage::parse_mounts(text);
            for m in &mounts {
                assert!(m.len() <= text.len(), "{m:?}");
            }
            let _ = storage::mount_of(std::path::Path::new("/var/spool/asterisk"), &mounts);
        }
        6 => {
            for card in telephony::parse_lspci(text) {
                let _ = telephony::kind_words(card.kind);
            }
        }
        7 => drop(telephony::parse_span(text)),
        _ => drop(pbx::parse(text)),
    }
});
