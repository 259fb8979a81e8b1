//! The connection link, as an office manager pastes it into the console (and the CLI reads it).
//! Property: a link that parses prints as a link that parses to the same thing.
#![no_main]

use lbs_protocol::ConnectionLink;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(link) = ConnectionLink::parse(text) else {
        return;
    };
    assert_eq!(link.fingerprint.len(), 64, "{link:?}");
    assert!(!link.token.is_empty(), "{link:?}");
    let shown = link.to_string();
    let again = ConnectionLink::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not parse again: {e}"));
    assert_eq!(again, link, "{shown:?}");
    assert_eq!(again.to_string(), shown);
});
