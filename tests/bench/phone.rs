//! `lbs-lab-phone`: the phone of the simulated office. Every 20 ms it finds the PBX (by asking
//! the DNS server for its name, or at a fixed address) and sends it SIP OPTIONS, printing one
//! line per probe: `<unix ms when sent> <X-LBS-Box of the answer, or -> <address asked, or ->
//! <unix ms when it ended>` (an answer may come to a resent request, so it can end well after it
//! was sent). Run it inside the
//! phone's namespace; the tests read its output.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use lbs_agent_core::failover::address::dns;
use lbs_agent_core::failover::sip;

enum Target {
    Dns { server: SocketAddr, name: String },
    Fixed(SocketAddr),
}

fn parse() -> Result<Target, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(server), Some(name)) = (value("--dns"), value("--name")) {
        let server = server.parse().map_err(|e| format!("--dns {server}: {e}"))?;
        return Ok(Target::Dns { server, name });
    }
    if let Some(t) = value("--target") {
        return Ok(Target::Fixed(t.parse().map_err(|e| format!("--target {t}: {e}"))?));
    }
    Err("usage: lbs-lab-phone --dns <ip:port> --name <name> | --target <ip:port>".into())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let target = match parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout();
    loop {
        let sent = lbs_tests::lab::now_ms();
        let addr = match &target {
            Target::Fixed(a) => Some(*a),
            Target::Dns { server, name } => dns::lookup(*server, name)
                .await
                .ok()
                .and_then(|ips| ips.first().map(|ip| SocketAddr::new(*ip, 5060))),
        };
        let who = match addr {
            Some(a) => sip::options_ping(a, Duration::from_millis(300))
                .await
                .ok()
                .and_then(|answer| answer.header("X-LBS-Box").map(str::to_owned)),
            None => None,
        };
        let done = lbs_tests::lab::now_ms();
        let at = addr.map_or("-".to_string(), |a| a.ip().to_string());
        if writeln!(out, "{sent} {} {at} {done}", who.as_deref().unwrap_or("-"))
            .and_then(|_| out.flush())
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
