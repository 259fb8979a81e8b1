//! A DNS server's replies to the takeover: the answer to a TSIG-signed update (checked against
//! the key and the request's MAC) and the answers to the A/AAAA lookups that confirm it.
//! Properties: no reply that is not signed with the key verifies (the corpus holds dnspython's
//! genuine ones, the fuzzer mutates them), and every address read comes from a whole record.
#![no_main]

use std::sync::OnceLock;

use lbs_agent_core::failover::address::dns::{addresses, verify, Key};
use libfuzzer_sys::fuzz_target;

/// The key and request of the dnspython vector in dns.rs's tests.
const REQUEST_MAC: [u8; 32] = [
    0x41, 0xe9, 0x44, 0x44, 0x52, 0xad, 0x51, 0x56, 0x0d, 0x4c, 0xf4, 0x21, 0xd8, 0xf5, 0x90, 0x9a, 0x87, 0xc5, 0xbc,
    0x2a, 0x84, 0xad, 0x3d, 0xb0, 0x6e, 0x05, 0xa3, 0xff, 0xb6, 0x36, 0x58, 0x41,
];
const ANSWERED: u64 = 1_700_000_002;

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        Key::new("lbs-update.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=").expect("the vector's key")
    })
}

fuzz_target!(|answer: &[u8]| {
    if verify(key(), answer, &REQUEST_MAC, ANSWERED).is_ok() {
        // Only the ID (not signed: the TSIG carries the original) may differ from the genuine
        // answer, which is in the corpus as dns/dnspython-sha256-answer.
        assert!(answer.len() >= 12);
    }
    let _ = verify(key(), answer, &REQUEST_MAC, 0);
    if let Ok(found) = addresses(answer, "pbx.office.lan.") {
        // An A record takes at least 2 + 10 + 4 bytes after the header.
        assert!(found.len() <= answer.len().saturating_sub(12) / 16, "{found:?}");
    }
});
