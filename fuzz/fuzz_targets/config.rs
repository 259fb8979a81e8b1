//! The agent's TOML configuration file, as an IT contractor writes it.
//! Property: `check-config`'s effective configuration is itself a valid file that reads back to
//! the same effective configuration.
#![no_main]

use std::path::Path;

use lbs_agent_core::config::{effective, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = Path::new("/etc/lbs-agent/agent.toml");
    let Ok(config) = Config::parse(text, path) else {
        return;
    };
    let Ok(shown) = effective(&config) else {
        return;
    };
    let again =
        Config::parse(&shown, path).unwrap_or_else(|e| panic!("the effective config does not read back: {e}\n{shown}"));
    let twice = effective(&again).expect("an effective config prints");
    assert_eq!(twice, shown);
});
