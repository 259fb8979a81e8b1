//! The processor, from `/proc/cpuinfo`.

use std::collections::BTreeSet;

use lbs_protocol::CpuInfo;

use super::Unreadable;

/// Parses `/proc/cpuinfo`: the model, the logical processors, and the physical cores and
/// sockets where the kernel says (x86 does; many ARM boards do not, and then each logical
/// processor counts as a core).
pub fn parse(text: &str) -> Result<CpuInfo, Unreadable> {
    let mut model: Option<String> = None;
    let mut board: Option<String> = None;
    let mut threads = 0u32;
    let mut cores: BTreeSet<(String, String)> = BTreeSet::new();
    let mut sockets: BTreeSet<String> = BTreeSet::new();
    let mut physical = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => {
                threads += 1;
                physical.clear();
            }
            "model name" | "cpu model" if model.is_none() && !value.is_empty() => model = Some(value.to_owned()),
            // A Raspberry Pi names the board, not the processor.
            "Model" | "Hardware" if board.is_none() && !value.is_empty() => board = Some(value.to_owned()),
            "physical id" => {
                physical = value.to_owned();
                sockets.insert(value.to_owned());
            }
            "core id" => {
                cores.insert((physical.clone(), value.to_owned()));
            }
            _ => {}
        }
    }
    if threads == 0 {
        return Err(Unreadable::from("/proc/cpuinfo lists no processor"));
    }
    Ok(CpuInfo {
        model: model.or(board).unwrap_or_else(|| "unknown processor".into()),
        cores: if cores.is_empty() { threads } else { cores.len() as u32 },
        threads,
        sockets: sockets.len().max(1) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_vm_has_two_threads_on_two_cores_of_one_socket() {
        let cpu = parse(include_str!("fixtures/cpuinfo-vm-2cpu.txt")).unwrap();
        assert_eq!(cpu.model, "Intel(R) Xeon(R) Processor");
        assert_eq!((cpu.threads, cpu.cores, cpu.sockets), (2, 2, 1));
    }

    #[test]
    fn hyperthreads_count_once_as_cores() {
        let block = |n: u32, core: u32| {
            format!(
                "processor\t: {n}\nmodel name\t: Intel(R) Xeon(R) E-2224G\nphysical id\t: 0\ncore id\t\t: {core}\n\n"
            )
        };
        let text: String = (0..4).map(|n| block(n, n % 2)).collect();
        let cpu = parse(&text).unwrap();
        assert_eq!((cpu.threads, cpu.cores, cpu.sockets), (4, 2, 1));
    }

    #[test]
    fn an_arm_board_without_core_ids_counts_each_processor() {
        let text = "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        let cpu = parse(text).unwrap();
        assert_eq!(cpu.model, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!((cpu.threads, cpu.cores, cpu.sockets), (2, 2, 1));
        assert!(parse("").is_err());
    }
}
