//! The PBX's writing, as a PBX does it, into the category root of the box whose PBX runs:
//! - voicemail (`vm/INBOX/msg<N>.txt`): written in a few pieces, then closed; the oldest are
//!   deleted once the mailbox holds [`MAILBOX`] (listened to and removed);
//! - call recordings (`rec/call<N>.wav`): one is always open, growing by a chunk every tick
//!   until it reaches its length, then closed; the oldest are deleted beyond [`RECORDINGS`];
//! - configuration (`etc/<name>.conf`, a fixed set): rewritten to a temporary name and renamed
//!   over the old one.
//!
//! Every file closed and every deletion goes into the ledger (`Ledger`), kept outside both boxes
//! (in memory and appended to `ledger.jsonl`): the path, the box, the BLAKE3 of the content and
//! when. A write that fails (a full disk, a box going away) is not recorded: it never finished.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Rng;
use crate::lab::now_ms;

pub const MAILBOX: usize = 120;
pub const RECORDINGS: usize = 12;
const CONFIGS: [&str; 5] = ["extensions", "sip", "queues", "voicemail", "features"];
const TICK: Duration = Duration::from_millis(100);

/// One event the writer finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `path` closed on `host` with this content hash at `t_ms`.
    Wrote {
        path: String,
        host: String,
        hash: [u8; 32],
        t_ms: u64,
    },
    /// `path` deleted on `host` at `t_ms`.
    Deleted { path: String, host: String, t_ms: u64 },
    /// The recording at `path` on `host` ended unfinished at `t_ms` (its PBX stopped, its box
    /// went, its disk filled): the file there is one of these prefixes (hashes after each chunk).
    Abandoned {
        path: String,
        host: String,
        prefixes: Vec<[u8; 32]>,
        t_ms: u64,
    },
}

impl Event {
    pub fn path(&self) -> &str {
        match self {
            Event::Wrote { path, .. } | Event::Deleted { path, .. } | Event::Abandoned { path, .. } => path,
        }
    }
}

/// Everything the writer finished, per path in order.
#[derive(Debug, Default)]
pub struct Ledger {
    pub by_path: BTreeMap<String, Vec<Event>>,
    pub written: u64,
    pub deleted: u64,
    pub abandoned: u64,
    pub failed_writes: u64,
    file: Option<std::fs::File>,
}

impl Ledger {
    fn record(&mut self, e: Event) {
        if let Some(f) = self.file.as_mut() {
            let line = match &e {
                Event::Wrote { path, host, hash, t_ms } => format!(
                    "{{\"t_ms\":{t_ms},\"op\":\"wrote\",\"host\":\"{host}\",\"path\":\"{path}\",\"blake3\":\"{}\"}}\n",
                    hex(hash)
                ),
                Event::Deleted { path, host, t_ms } => {
                    format!("{{\"t_ms\":{t_ms},\"op\":\"deleted\",\"host\":\"{host}\",\"path\":\"{path}\"}}\n")
                }
                Event::Abandoned {
                    path,
                    host,
                    prefixes,
                    t_ms,
                } => format!(
                    "{{\"t_ms\":{t_ms},\"op\":\"abandoned\",\"host\":\"{host}\",\"path\":\"{path}\",\"chunks\":{}}}\n",
                    prefixes.len()
                ),
            };
            let _ = f.write_all(line.as_bytes());
        }
        match &e {
            Event::Wrote { .. } => self.written += 1,
            Event::Deleted { .. } => self.deleted += 1,
            Event::Abandoned { .. } => self.abandoned += 1,
        }
        self.by_path.entry(e.path().to_owned()).or_default().push(e);
    }

    /// Every content ever written at `path`.
    pub fn versions(&self, path: &str) -> Vec<[u8; 32]> {
        self.by_path
            .get(path)
            .map(|es| {
                es.iter()
                    .filter_map(|e| match e {
                        Event::Wrote { hash, .. } => Some(*hash),
                        Event::Deleted { .. } | Event::Abandoned { .. } => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the writer deleted `path` at or after `t_ms`.
    pub fn deleted_since(&self, path: &str, t_ms: u64) -> bool {
        self.by_path.get(path).is_some_and(|es| {
            es.iter()
                .any(|e| matches!(e, Event::Deleted { t_ms: t, .. } if *t >= t_ms))
        })
    }
}

pub fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Writer {
    pub ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The open recording: where, what is in it so far, how long it will be.
struct Recording {
    host: String,
    path: String,
    content: Vec<u8>,
    /// The hash of the content after each chunk.
    prefixes: Vec<[u8; 32]>,
    target: usize,
}

struct State {
    rng: Rng,
    lab_dir: PathBuf,
    roots: BTreeMap<String, PathBuf>,
    mailbox: VecDeque<String>,
    recordings: VecDeque<String>,
    open: Option<Recording>,
    next_vm: u64,
    next_rec: u64,
    next_cfg: u64,
}

impl Writer {
    /// Starts writing; `roots` maps each box to its category root.
    pub fn start(seed: u64, lab_dir: PathBuf, roots: BTreeMap<String, PathBuf>, ledger_file: &Path) -> Writer {
        let ledger = Arc::new(Mutex::new(Ledger {
            file: std::fs::File::create(ledger_file).ok(),
            ..Ledger::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let mut s = State {
            rng: Rng::new(seed ^ 0x5752_4954_4552),
            lab_dir,
            roots,
            mailbox: VecDeque::new(),
            recordings: VecDeque::new(),
            open: None,
            next_vm: 1,
            next_rec: 1,
            next_cfg: 1,
        };
        let (l, flag) = (ledger.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                s.tick(&l);
                std::thread::sleep(TICK);
            }
        });
        Writer {
            ledger,
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl State {
    /// The box whose PBX runs now (the one a PBX writes on); none while no PBX runs.
    fn host(&self) -> Option<String> {
        let running: Vec<&String> = self
            .roots
            .keys()
            .filter(|h| super::pbx_pid(&self.lab_dir, h).is_some())
            .collect();
        // Two running is the checker's to report; the writer then writes where it wrote last.
        match running.as_slice() {
            [one] => Some((*one).clone()),
            [] => None,
            _ => self.open.as_ref().map(|r| r.host.clone()).or(Some(running[0].clone())),
        }
    }

    fn tick(&mut self, ledger: &Mutex<Ledger>) {
        let Some(host) = self.host() else {
            // No PBX: the recording in progress ends with the call, unfinished.
            self.abandon(ledger);
            return;
        };
        let root = self.roots[&host].clone();
        self.record(&host, &root, ledger);
        if self.rng.chance(40) {
            let path = format!("vm/INBOX/msg{:06}.txt", self.next_vm);
            self.next_vm += 1;
            let len = self.rng.range(2_000, 24_000) as usize;
            let content = self.content(&path, len);
            if self.write_in_pieces(&root, &path, &content) {
                self.wrote(ledger, &host, &path, &content);
                self.mailbox.push_back(path);
            } else {
                ledger.lock().expect("ledger").failed_writes += 1;
            }
        }
        if self.rng.chance(15) {
            let name = CONFIGS[self.rng.range(0, CONFIGS.len() as u64) as usize];
            let path = format!("etc/{name}.conf");
            let len = self.rng.range(300, 4_000) as usize;
            let content = self.content(&format!("{path} #{}", self.next_cfg), len);
            self.next_cfg += 1;
            if self.replace(&root, &path, &content) {
                self.wrote(ledger, &host, &path, &content);
            } else {
                ledger.lock().expect("ledger").failed_writes += 1;
            }
        }
        while self.mailbox.len() > MAILBOX {
            let Some(old) = self.mailbox.pop_front() else { break };
            self.delete(ledger, &host, &root, &old);
        }
        while self.recordings.len() > RECORDINGS {
            let Some(old) = self.recordings.pop_front() else { break };
            self.delete(ledger, &host, &root, &old);
        }
    }

    /// The recording in progress grows by a chunk; a recording on another box (the PBX moved)
    /// ends unfinished.
    fn record(&mut self, host: &str, root: &Path, ledger: &Mutex<Ledger>) {
        if self.open.as_ref().is_some_and(|r| r.host != host) {
            self.abandon(ledger);
        }
        if self.open.is_none() {
            let path = format!("rec/call{:06}.wav", self.next_rec);
            self.next_rec += 1;
            let target = self.rng.range(64 << 10, 640 << 10) as usize;
            self.open = Some(Recording {
                host: host.to_owned(),
                path,
                content: Vec::new(),
                prefixes: Vec::new(),
                target,
            });
        }
        let Some(mut r) = self.open.take() else { return };
        let chunk = self.content(&r.path, 16 << 10);
        let file = root.join(&r.path);
        let appended = file.parent().is_some_and(|p| std::fs::create_dir_all(p).is_ok())
            && std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .and_then(|mut f| f.write_all(&chunk))
                .is_ok();
        if !appended {
            // A failed write ends the recording unfinished (what reached the disk is a prefix,
            // or a prefix and part of this chunk).
            let mut part = r.content.clone();
            part.extend_from_slice(&chunk);
            let len = std::fs::metadata(&file).map_or(0, |m| m.len() as usize).min(part.len());
            r.prefixes.push(*blake3::hash(&part[..len]).as_bytes());
            self.open = Some(r);
            self.abandon(ledger);
            ledger.lock().expect("ledger").failed_writes += 1;
            return;
        }
        r.content.extend_from_slice(&chunk);
        r.prefixes.push(*blake3::hash(&r.content).as_bytes());
        if r.content.len() >= r.target {
            self.wrote(ledger, host, &r.path, &r.content);
            self.recordings.push_back(r.path);
        } else {
            self.open = Some(r);
        }
    }

    /// The recording in progress ends unfinished; its file stays as it is (the PBX's way).
    fn abandon(&mut self, ledger: &Mutex<Ledger>) {
        if let Some(r) = self.open.take() {
            ledger.lock().expect("ledger").record(Event::Abandoned {
                path: r.path,
                host: r.host,
                prefixes: r.prefixes,
                t_ms: now_ms(),
            });
        }
    }

    fn content(&mut self, label: &str, len: usize) -> Vec<u8> {
        let mut out = format!("{label}\n").into_bytes();
        out.extend(crate::noise(self.rng.next_u64(), len));
        out
    }

    fn write_in_pieces(&self, root: &Path, path: &str, content: &[u8]) -> bool {
        let file = root.join(path);
        let Some(dir) = file.parent() else { return false };
        if std::fs::create_dir_all(dir).is_err() {
            return false;
        }
        let written = std::fs::File::create(&file).and_then(|mut f| {
            for piece in content.chunks(4096) {
                f.write_all(piece)?;
            }
            f.sync_data()
        });
        written.is_ok()
    }

    fn replace(&self, root: &Path, path: &str, content: &[u8]) -> bool {
        let file = root.join(path);
        let Some(dir) = file.parent() else { return false };
        let tmp = dir.join(format!(
            ".{}.new",
            file.file_name().and_then(|n| n.to_str()).unwrap_or("conf")
        ));
        std::fs::create_dir_all(dir).is_ok()
            && std::fs::write(&tmp, content).is_ok()
            && std::fs::rename(&tmp, &file).is_ok()
    }

    fn wrote(&self, ledger: &Mutex<Ledger>, host: &str, path: &str, content: &[u8]) {
        ledger.lock().expect("ledger").record(Event::Wrote {
            path: path.to_owned(),
            host: host.to_owned(),
            hash: *blake3::hash(content).as_bytes(),
            t_ms: now_ms(),
        });
    }

    fn delete(&self, ledger: &Mutex<Ledger>, host: &str, root: &Path, path: &str) {
        match std::fs::remove_file(root.join(path)) {
            Ok(()) => {}
            // Written on a box that is no longer the primary and never copied: gone with it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return,
        }
        ledger.lock().expect("ledger").record(Event::Deleted {
            path: path.to_owned(),
            host: host.to_owned(),
            t_ms: now_ms(),
        });
    }
}
