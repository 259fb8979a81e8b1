//! Datagrams arriving at the SIP OPTIONS probe's socket: the PBX's answer, or anything else
//! anyone on the LAN sends there. Property: only a final answer (not 1xx) to this call is taken,
//! and its headers can be read.
#![no_main]

use lbs_agent_core::failover::sip::read_answer;
use libfuzzer_sys::fuzz_target;

const CALL_ID: &str = "0123456789abcdef@lbs-agent";

fuzz_target!(|datagram: &[u8]| {
    let from = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
    let Some(answer) = read_answer(datagram, CALL_ID, from) else {
        return;
    };
    assert!(answer.status_line.starts_with("SIP/2.0 "), "{answer:?}");
    let code = answer
        .status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    assert!(code.is_some_and(|c| (200..700).contains(&c)), "{answer:?}");
    assert!(answer.message.lines().any(|l| l.contains(CALL_ID)));
    for name in ["call-id", "i", "via", "x-lbs-box", "content-length"] {
        let _ = answer.header(name);
    }
});
