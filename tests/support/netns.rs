//! Running code inside a lab's network namespace from the test process: a thread enters the
//! namespace (`setns`, which moves only the calling thread) and every socket it opens lives
//! there, while the rest of the test stays in the root namespace. A socket keeps its namespace
//! after it is handed to another thread.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;

/// Moves the calling thread into the named network namespace (`/run/netns/<ns>`, as `ip netns`
/// makes them). Needs root.
pub fn enter(ns: &str) -> std::io::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns takes a valid namespace file descriptor, kept open for the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `f` on a new thread inside namespace `ns` and waits for its result.
pub fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in(ns, f)
        .join()
        .expect("the thread in the lab namespace panicked")
}

/// Starts `f` on a new thread inside namespace `ns`.
pub fn spawn_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let ns = ns.to_owned();
    std::thread::Builder::new()
        .name(format!("in-{ns}"))
        .spawn(move || {
            enter(&ns).unwrap_or_else(|e| panic!("cannot enter network namespace {ns}: {e}"));
            f()
        })
        .expect("spawn a thread")
}
