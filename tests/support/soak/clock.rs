//! One accelerated wall clock for both agents (and the PBXs they start): libfaketime reads an
//! offset from a file at every call (`faults::fake_clock_in`), and a thread here moves that
//! offset forward every 20 ms so that simulated time runs `speed` times faster than real time.
//! Both boxes read the same file, so they agree on the time as real boxes with NTP do; the
//! monotonic clock is not faked, so heartbeats, leases and timers keep real time. (libfaketime's
//! own `x<speed>` counts from each process's start: an agent restarted by a fault would go back
//! in time.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct SimClock {
    file: PathBuf,
    speed: f64,
    started: Instant,
    started_unix: f64,
    stop: Arc<AtomicBool>,
}

const STEP: Duration = Duration::from_millis(20);

impl SimClock {
    pub fn start(file: PathBuf, speed: f64) -> SimClock {
        std::fs::write(&file, "+0\n").expect("the simulated clock's file");
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let started_unix = crate::lab::now_ms() as f64 / 1000.0;
        let (f, flag) = (file.clone(), stop.clone());
        std::thread::spawn(move || {
            let tmp = f.with_extension("tmp");
            while !flag.load(Ordering::SeqCst) {
                let ahead = started.elapsed().as_secs_f64() * (speed - 1.0);
                // Whole seconds: libfaketime reads "+N" as seconds; written whole, then renamed,
                // so a reader never sees half a number.
                if std::fs::write(&tmp, format!("+{}\n", ahead as u64)).is_ok() {
                    let _ = std::fs::rename(&tmp, &f);
                }
                std::thread::sleep(STEP);
            }
        });
        SimClock {
            file,
            speed,
            started,
            started_unix,
            stop,
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Simulated seconds since the clock started.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.speed
    }

    /// Simulated days since the clock started.
    pub fn days(&self) -> f64 {
        self.elapsed_secs() / 86_400.0
    }

    /// The agents' wall clock now (unix seconds).
    pub fn now_unix(&self) -> f64 {
        self.started_unix + self.elapsed_secs()
    }
}

impl Drop for SimClock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
