//! Reads the machine through `sysinfo` (CPU, memory, network, disk I/O) and the platform module
//! (disk space, process count). Rates are computed over the time since the previous read.

use std::path::PathBuf;
use std::time::Instant;

use lbs_history::SeriesKind;
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};

use super::Reading;
use crate::config::MetricsConfig;

pub struct SystemReader {
    sys: System,
    networks: Networks,
    disks: Disks,
    mounts: Vec<PathBuf>,
    interfaces: Vec<String>,
    last: Instant,
}

impl SystemReader {
    pub fn new(config: &MetricsConfig) -> Self {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::everything()),
        );
        SystemReader {
            sys,
            networks: Networks::new_with_refreshed_list(),
            disks: Disks::new_with_refreshed_list(),
            mounts: config.mounts.clone(),
            interfaces: config.interfaces.clone(),
            last: Instant::now(),
        }
    }

    pub fn read(&mut self) -> Vec<Reading> {
        let elapsed = self.last.elapsed().as_secs_f64().max(0.001);
        self.last = Instant::now();
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.networks.refresh(true);
        self.disks.refresh(true);

        let r = SeriesKind::Resources;
        let mut out = vec![
            Reading::new(
                "cpu.usage",
                "CPU use",
                "percent",
                r,
                f64::from(self.sys.global_cpu_usage()),
            ),
            Reading::new("memory.used", "Memory used", "bytes", r, self.sys.used_memory() as f64),
            Reading::new(
                "memory.total",
                "Memory installed",
                "bytes",
                r,
                self.sys.total_memory() as f64,
            ),
            Reading::new("swap.used", "Swap used", "bytes", r, self.sys.used_swap() as f64),
        ];
        let load = System::load_average();
        for (period, value) in [("1", load.one), ("5", load.five), ("15", load.fifteen)] {
            out.push(Reading::new(
                format!("load.{period}"),
                format!("Load ({period} min)"),
                "load",
                r,
                value,
            ));
        }
        #[cfg(target_os = "linux")]
        if let Some(n) = crate::platform::process_count() {
            out.push(Reading::new("processes", "Processes", "count", r, n as f64));
        }
        for mount in &self.mounts {
            let shown = mount.display();
            if let Some((total, avail)) = crate::platform::disk_space(mount).filter(|(t, _)| *t > 0) {
                let used = 100.0 * (total - avail.min(total)) as f64 / total as f64;
                out.push(Reading::new(
                    format!("disk.{shown}.used_percent"),
                    format!("Disk used ({shown})"),
                    "percent",
                    r,
                    used,
                ));
            }
            // The disk whose mount point is the longest prefix of the configured path.
            let disk = self
                .disks
                .iter()
                .filter(|d| mount.starts_with(d.mount_point()))
                .max_by_key(|d| d.mount_point().as_os_str().len());
            if let Some(disk) = disk {
                let usage = disk.usage();
                out.push(Reading::new(
                    format!("disk.{shown}.read"),
                    format!("Disk reads ({shown})"),
                    "bytes_per_sec",
                    r,
                    usage.read_bytes as f64 / elapsed,
                ));
                out.push(Reading::new(
                    format!("disk.{shown}.write"),
                    format!("Disk writes ({shown})"),
                    "bytes_per_sec",
                    r,
                    usage.written_bytes as f64 / elapsed,
                ));
            }
        }
        let n = SeriesKind::Network;
        let mut names: Vec<&String> = self.networks.keys().collect();
        names.sort();
        for name in names {
            let wanted = if self.interfaces.is_empty() {
                name != "lo"
            } else {
                self.interfaces.contains(name)
            };
            let Some(data) = self.networks.get(name).filter(|_| wanted) else {
                continue;
            };
            out.push(Reading::new(
                format!("net.{name}.rx"),
                format!("Received ({name})"),
                "bytes_per_sec",
                n,
                data.received() as f64 / elapsed,
            ));
            out.push(Reading::new(
                format!("net.{name}.tx"),
                format!("Sent ({name})"),
                "bytes_per_sec",
                n,
                data.transmitted() as f64 / elapsed,
            ));
        }
        out
    }
}
