//! Real phones for the office lab: baresip user agents (Debian's `baresip-core` 1.0.0) in the
//! phone namespace, each with its own config folder and ports, driven through baresip's
//! `ctrl_tcp` module: netstring-framed JSON commands (`{"command": "dial", "params": …,
//! "token": …}` → `{"response": true, "ok": …, "data": …, "token": …}`) and events
//! (`{"event": true, "type": "CALL_ESTABLISHED", "class": "call", "id": <Call-ID>, …}`).
//!
//! A phone registers by name (`Strategy::Dns`: `sip:<ext>@pbx.office.lan`, resolved by baresip
//! through the lab's knot: its process sees the lab's `phone-resolv.conf` as /etc/resolv.conf,
//! bind-mounted in a mount namespace of its own) or at the floating address (`Strategy::Vip`). It
//! answers every call at once (`answermode=auto`). Calls need no sound card: the audio source is
//! a sine (`ausine`, with the 48 kHz opus codec it needs), the player writes to /dev/null
//! (`aufile`).
//!
//! Commands used (baresip 1.0.0's `menu` module, checked with `help` over ctrl_tcp): `uanew`
//! (create the account and register it), `dial`, `hangup`, `reginfo`. There is no "register
//! again" command: a phone registers once when created and then at its own refresh interval, which
//! is what the failover tests rely on.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::lab::{now_ms, Lab, Strategy};

/// One event baresip reported, with when it arrived here.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub accountaor: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub peeruri: String,
    /// The call's SIP Call-ID (call events only).
    #[serde(default)]
    pub id: Option<String>,
    /// For CALL_CLOSED the reason, e.g. "404 Not Found"; for REGISTER_OK the status.
    #[serde(default)]
    pub param: String,
    #[serde(skip)]
    pub at_ms: u64,
}

#[derive(Debug, Deserialize)]
struct Response {
    ok: bool,
    #[serde(default)]
    data: String,
    #[serde(default)]
    token: String,
}

#[derive(Default)]
struct State {
    events: Vec<Event>,
    responses: VecDeque<Response>,
    closed: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// How a call the phone placed ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered: the callee's phone rang and picked up.
    Established,
    /// Refused or failed, with the SIP status or reason baresip gives ("404 Not Found").
    Failed(String),
    /// Neither within the time given (the phone then hung up).
    NoAnswer,
}

#[derive(Debug, Clone)]
pub struct Call {
    /// The SIP Call-ID, as the PBX logs it (`LBS-CALL … callid=`).
    pub id: Option<String>,
    pub outcome: Outcome,
    /// When the phone was told to dial, and when the outcome arrived (unix ms).
    pub dialed_ms: u64,
    pub ended_ms: u64,
}

pub struct SipPhone {
    pub ext: u32,
    /// `sip:<ext>@<domain>`.
    pub aor: String,
    domain: String,
    pub dir: PathBuf,
    child: Child,
    stream: TcpStream,
    shared: Shared,
    token: u64,
}

/// The phone's SIP port (its TLS and TCP ports are the next ones: baresip opens them too).
fn sip_port(ext: u32) -> u16 {
    6000 + 10 * (ext % 500) as u16
}

fn config(lab: &Lab, ext: u32) -> String {
    let port = sip_port(ext);
    format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t{}:{port}\n\
         audio_player\t\taufile,/dev/null\n\
         audio_alert\t\taufile,/dev/null\n\
         audio_source\t\tausine,440\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\topus.so\n\
         module\t\t\tg711.so\n\
         module\t\t\tausine.so\n\
         module\t\t\taufile.so\n\
         module_app\t\taccount.so\n\
         module_app\t\tmenu.so\n\
         module_app\t\tctrl_tcp.so\n\
         ctrl_tcp_listen\t\t127.0.0.1:{}\n",
        lab.ip("phone"),
        port + 5
    )
}

impl SipPhone {
    /// Starts extension `ext`'s phone in the lab's phone namespace (not registered yet: see
    /// `register`), reaching the PBX as `strategy` says.
    pub fn start(lab: &Lab, ext: u32, strategy: Strategy) -> SipPhone {
        let domain = match strategy {
            Strategy::Vip => lab.var("LAB_VIP"),
            Strategy::Dns => lab.var("LAB_NAME").trim_end_matches('.').to_owned(),
        };
        let dir = lab.dir.path().join("phones").join(ext.to_string());
        std::fs::create_dir_all(&dir).expect("phone dir");
        std::fs::write(dir.join("config"), config(lab, ext)).expect("baresip config");
        // Accounts are created over ctrl_tcp (`uanew`), once the test listens to the events.
        std::fs::write(dir.join("accounts"), "").expect("baresip accounts");
        std::fs::write(dir.join("contacts"), "").expect("baresip contacts");
        let log = std::fs::File::create(dir.join("baresip.log")).expect("phone log");
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.ns("phone"), "unshare", "-m", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/resolv.conf && exec baresip -f \"$1\"")
            .arg(lab.var("LAB_RESOLV_CONF"))
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start baresip (package baresip-core)");
        let ctrl = format!("127.0.0.1:{}", sip_port(ext) + 5);
        let connect = crate::netns::run_in(&lab.ns("phone"), move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match TcpStream::connect(&ctrl) {
                    Ok(s) => return Ok(s),
                    Err(e) if Instant::now() > deadline => return Err(e),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        let mut phone = SipPhone {
            ext,
            aor: format!("sip:{ext}@{domain}"),
            domain,
            dir,
            child,
            stream: match connect {
                Ok(s) => s,
                Err(e) => panic!("phone {ext}: baresip's ctrl_tcp never answered ({e})"),
            },
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
            token: 0,
        };
        if phone.child.try_wait().ok().flatten().is_some() {
            panic!("phone {ext}: baresip exited at start:\n{}", phone.log());
        }
        let reader = phone.stream.try_clone().expect("clone ctrl stream");
        let shared = phone.shared.clone();
        std::thread::spawn(move || read_messages(reader, shared));
        phone
    }

    /// Creates the account and registers it with `interval` seconds between refreshes; returns
    /// once the PBX accepted it. Panics (with baresip's log) if it refuses.
    pub fn register(&mut self, interval: u32) {
        let from = self.events_len();
        let account = format!(
            "<sip:{}@{};transport=udp>;regint={interval};answermode=auto",
            self.ext, self.domain
        );
        self.command("uanew", Some(&account));
        let ev = self
            .wait_event(from, Duration::from_secs(15), |e| {
                e.class == "register" && (e.kind == "REGISTER_OK" || e.kind == "REGISTER_FAIL")
            })
            .unwrap_or_else(|| panic!("phone {}: no answer to its REGISTER:\n{}", self.ext, self.log()));
        assert_eq!(
            ev.kind,
            "REGISTER_OK",
            "phone {} could not register ({}):\n{}",
            self.ext,
            ev.param,
            self.log()
        );
    }

    /// How many times the PBX accepted a REGISTER from this phone.
    pub fn registrations(&self) -> usize {
        self.with_events(|events| events.iter().filter(|e| e.kind == "REGISTER_OK").count())
    }

    /// baresip's own account of its registration (`reginfo`), e.g. "… OK … Expires 3600s".
    pub fn reginfo(&mut self) -> String {
        self.command("reginfo", None)
    }

    /// Calls extension `ext` and waits up to `timeout` for the outcome; hangs up if there is
    /// none. An established call stays up until `hangup`.
    pub fn call(&mut self, ext: u32, timeout: Duration) -> Call {
        let from = self.events_len();
        let dialed_ms = now_ms();
        let target = format!("sip:{ext}@{}", self.domain);
        self.command("dial", Some(&target));
        let peer = format!("sip:{ext}@");
        let mine = |e: &Event| e.class == "call" && e.direction == "outgoing" && e.peeruri.starts_with(&peer);
        let mut id: Option<String> = None;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let want = id.clone();
            let ev = self.wait_event(from, left, |e| {
                mine(e)
                    && (e.kind == "CALL_ESTABLISHED" || e.kind == "CALL_CLOSED")
                    && want.as_ref().is_none_or(|w| e.id.as_ref() == Some(w))
            });
            // The call's id, from any of its events, so a late event of an earlier call is not
            // taken for this one's.
            if id.is_none() {
                id = self.with_events(|events| events[from..].iter().find(|e| mine(e)).and_then(|e| e.id.clone()));
            }
            match ev {
                Some(e) if id.is_none() || e.id == id => {
                    let outcome = if e.kind == "CALL_ESTABLISHED" {
                        Outcome::Established
                    } else {
                        Outcome::Failed(e.param.clone())
                    };
                    return Call {
                        id: e.id.clone(),
                        outcome,
                        dialed_ms,
                        ended_ms: e.at_ms,
                    };
                }
                Some(_) => continue,
                None => {
                    let ended_ms = now_ms();
                    self.hangup();
                    return Call {
                        id,
                        outcome: Outcome::NoAnswer,
                        dialed_ms,
                        ended_ms,
                    };
                }
            }
        }
    }

    /// Hangs up the current call (if any) and waits until baresip reports it closed.
    pub fn hangup(&mut self) {
        let from = self.events_len();
        let open = self.with_events(|events| {
            let mut open: Vec<String> = Vec::new();
            for e in events.iter().filter(|e| e.class == "call") {
                let Some(id) = &e.id else { continue };
                if e.kind == "CALL_CLOSED" {
                    open.retain(|o| o != id);
                } else if !open.contains(id) {
                    open.push(id.clone());
                }
            }
            open
        });
        self.command("hangup", None);
        if !open.is_empty() {
            self.wait_event(from, Duration::from_secs(5), |e| {
                e.kind == "CALL_CLOSED" && e.id.as_ref().is_some_and(|id| open.contains(id))
            });
        }
    }

    /// The first incoming call answered (established) at or after event `from`.
    pub fn answered_since(&self, from: usize, timeout: Duration) -> Option<Event> {
        self.wait_event(from, timeout, |e| {
            e.kind == "CALL_ESTABLISHED" && e.direction == "incoming"
        })
    }

    /// How many events have arrived so far (a mark for `answered_since` and friends).
    pub fn events_len(&self) -> usize {
        self.with_events(Vec::len)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    fn with_events<T>(&self, f: impl FnOnce(&Vec<Event>) -> T) -> T {
        let state = self.shared.0.lock().expect("phone state");
        f(&state.events)
    }

    /// Waits for an event at index `from` or later matching `want`.
    fn wait_event(&self, from: usize, timeout: Duration, want: impl Fn(&Event) -> bool) -> Option<Event> {
        let (lock, cond) = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().expect("phone state");
        loop {
            if let Some(e) = state.events.iter().skip(from).find(|e| want(e)) {
                return Some(e.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.closed {
                return None;
            }
            state = cond.wait_timeout(state, left).expect("phone state").0;
        }
    }

    /// Sends one command and returns its answer's data; panics if baresip refuses it.
    fn command(&mut self, command: &str, params: Option<&str>) -> String {
        self.token += 1;
        let token = format!("t{}", self.token);
        let mut msg = serde_json::json!({ "command": command, "token": token });
        if let Some(p) = params {
            msg["params"] = p.into();
        }
        let body = msg.to_string();
        let frame = format!("{}:{body},", body.len());
        self.stream
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("phone {}: cannot send {command}: {e}\n{}", self.ext, self.log()));
        let (lock, cond) = &*self.shared;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut state = lock.lock().expect("phone state");
        loop {
            if let Some(i) = state.responses.iter().position(|r| r.token == token) {
                let r = state.responses.remove(i).expect("found above");
                assert!(r.ok, "phone {}: baresip refused `{command}`: {}", self.ext, r.data);
                return r.data;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !state.closed,
                "phone {}: no answer to `{command}`:\n{}",
                self.ext,
                self.log()
            );
            state = cond.wait_timeout(state, left).expect("phone state").0;
        }
    }
}

/// Reads netstrings (`<length>:<json>,`) until the connection closes.
fn read_messages(stream: TcpStream, shared: Shared) {
    let mut r = BufReader::new(stream);
    while let Some(body) = read_netstring(&mut r) {
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let (lock, cond) = &*shared;
        let mut state = lock.lock().expect("phone state");
        if value.get("event").and_then(|v| v.as_bool()) == Some(true) {
            if let Ok(mut e) = serde_json::from_value::<Event>(value) {
                e.at_ms = now_ms();
                state.events.push(e);
            }
        } else if value.get("response").and_then(|v| v.as_bool()) == Some(true) {
            if let Ok(resp) = serde_json::from_value::<Response>(value) {
                state.responses.push_back(resp);
            }
        }
        cond.notify_all();
    }
    let (lock, cond) = &*shared;
    if let Ok(mut state) = lock.lock() {
        state.closed = true;
    }
    cond.notify_all();
}

fn read_netstring(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut byte = [0u8; 1];
    loop {
        r.read_exact(&mut byte).ok()?;
        match byte[0] {
            b'0'..=b'9' => len = len.checked_mul(10)?.checked_add(usize::from(byte[0] - b'0'))?,
            b':' => break,
            _ => return None,
        }
        if len > 1 << 20 {
            return None;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    r.read_exact(&mut byte).ok()?;
    (byte[0] == b',').then_some(body)
}

impl Drop for SipPhone {
    fn drop(&mut self) {
        // SIGKILL: a phone that vanishes does not unregister (as a phone losing power).
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings_are_read_one_by_one_and_garbage_ends_the_stream() {
        let mut input: &[u8] = b"5:hello,0:,3:abc;";
        assert_eq!(read_netstring(&mut input).as_deref(), Some(&b"hello"[..]));
        assert_eq!(read_netstring(&mut input).as_deref(), Some(&b""[..]));
        assert_eq!(read_netstring(&mut input), None, "no comma after the body");
        assert_eq!(read_netstring(&mut &b"x:"[..]), None);
        assert_eq!(read_netstring(&mut &b"99999999:"[..]), None, "too long");
    }
}
