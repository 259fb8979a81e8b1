//! Facts about the host that the agent reads from the OS: name, addresses, uptime.

use std::net::IpAddr;

use sysinfo::{Networks, System};

pub fn hostname() -> String {
    System::host_name().unwrap_or_else(|| "localhost".into())
}

/// Seconds since the machine booted.
pub fn host_uptime_secs() -> u64 {
    System::uptime()
}

/// The first non-loopback, non-link-local IPv4 address, for connection links.
pub fn first_lan_address() -> Option<IpAddr> {
    let networks = Networks::new_with_refreshed_list();
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| networks.get(n))
        .flat_map(|data| data.ip_networks())
        .map(|net| net.addr)
        .find(|ip| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified()))
}

/// (device, inode) of an open file descriptor, e.g. to tell whether stderr is the journal stream.
#[cfg(unix)]
pub fn fd_device_inode(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into the zeroed struct we own; a bad descriptor only makes it fail.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

#[cfg(not(unix))]
pub fn fd_device_inode(_fd: i32) -> Option<(u64, u64)> {
    None
}

/// Space on the filesystem holding `path`: (total bytes, available bytes).
#[cfg(unix)]
pub fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// Number of processes, counted from /proc (far cheaper than a full process refresh).
#[cfg(target_os = "linux")]
pub fn process_count() -> Option<u64> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
            .count() as u64,
    )
}

/// Holds an exclusive lock on `path` for as long as the returned file lives, so two agents never
/// run on one state directory.
#[cfg(unix)]
pub fn lock_exclusive(path: &std::path::Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(None);
    }
    Ok(Some(file))
}

/// Lowers the CPU and I/O priority of every thread of the agent (nice 10, best-effort I/O class
/// at its lowest level), so hashing and transfers yield to the PBX. Threads started later inherit
/// it. Failures are logged, never fatal: a box that refuses only loses the courtesy.
#[cfg(target_os = "linux")]
pub fn lower_priority() {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_BE: libc::c_int = 2;
    let ioprio = (IOPRIO_CLASS_BE << 13) | 7;
    let tids: Vec<libc::c_int> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for tid in tids {
        // SAFETY: plain syscalls on our own threads with integer arguments.
        let nice = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) };
        let io = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, ioprio) };
        if nice != 0 || io != 0 {
            tracing::warn!(tid, "could not lower the agent's CPU or I/O priority");
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority() {}

/// Gives a command the agent starts (the PBX above all) normal CPU and I/O priority again,
/// undoing [`lower_priority`] for it. Runs in the child between fork and exec, so it only makes
/// async-signal-safe syscalls.
#[cfg(target_os = "linux")]
pub fn normal_priority_for(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure only makes two syscalls with integer arguments.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, 0);
            // Class 0 ("none"): I/O priority follows the CPU priority again.
            libc::syscall(libc::SYS_ioprio_set, 1, 0, 0);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub fn normal_priority_for(_cmd: &mut tokio::process::Command) {}

/// Makes `cmd` the leader of a process group of its own, so [`kill_group`] reaches whatever it
/// starts too (a restore run through `sh -c` whose `mysql` or `sqlite3` is a child of the shell).
#[cfg(unix)]
pub fn own_process_group(cmd: &mut tokio::process::Command) {
    cmd.process_group(0);
}

#[cfg(not(unix))]
pub fn own_process_group(_cmd: &mut tokio::process::Command) {}

/// Kills the process group `pid` leads (see [`own_process_group`]); gone already is fine.
#[cfg(unix)]
pub fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill has no memory preconditions; a negative pid names the process group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
pub fn kill_group(_pid: u32) {}

/// Whether this process runs as root (effective user 0).
#[cfg(unix)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
pub fn is_root() -> bool {
    false
}

/// The user and group IDs of the system user `name` (e.g. "etcd"), if it exists.
#[cfg(unix)]
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam_r writes into the zeroed struct and the buffer we own, sized as passed;
    // the result pointer is only read when it points at our struct.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    (rc == 0 && !result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

#[cfg(not(unix))]
pub fn user_ids(_name: &str) -> Option<(u32, u32)> {
    None
}

/// Hands the memory freed since the last call back to the system, every `every`. glibc's
/// allocator keeps what a burst freed (a full scan of 200,000 files, an initial copy) in its
/// arenas for reuse, so the agent would otherwise keep the size of its largest burst for good.
pub async fn give_back_memory(every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Off the runtime's threads: trimming walks every arena under its lock, which may take a
        // moment with a large heap, and must not hold up the tasks that serve the partner.
        let _ = tokio::task::spawn_blocking(trim_memory).await;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_memory() {
    // SAFETY: malloc_trim takes no pointer and only walks the allocator's own arenas.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_memory() {}
