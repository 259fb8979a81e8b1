//! The effective configuration written back as TOML (`lbs-agent check-config`): every key, the
//! defaults filled in, durations and sizes in the units a person writes, so the output is itself
//! a valid configuration file.

use serde::Serializer;

use super::Config;

/// The whole configuration as TOML, defaults included.
pub fn effective(config: &Config) -> Result<String, toml::ser::Error> {
    toml::to_string(config)
}

/// Seconds as the largest whole unit: `30m`, `730d`, `90s`.
pub(super) fn secs<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&whole(*value, &[(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")]))
}

/// An optional number of seconds, as `secs` (only called when set: `skip_serializing_if`).
pub(super) fn opt_secs<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => secs(v, s),
        None => s.serialize_none(),
    }
}

/// Milliseconds as the largest whole unit: `1s`, `300ms`.
pub(super) fn millis<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&whole(*value, &[(60_000, "m"), (1000, "s"), (1, "ms")]))
}

fn whole(value: u64, units: &[(u64, &str)]) -> String {
    let (size, unit) = units
        .iter()
        .find(|(size, _)| value.is_multiple_of(*size) && value > 0)
        .copied()
        .unwrap_or_else(|| units[units.len() - 1]);
    format!("{}{unit}", value / size)
}

/// Bytes per second, `"0"` for no cap.
pub(super) fn bandwidth<S: Serializer>(value: &u64, s: S) -> Result<S::Ok, S::Error> {
    match *value {
        0 => s.serialize_str("0"),
        v => s.serialize_str(&format!("{v} B/s")),
    }
}

pub(super) fn cidr<S: Serializer>(value: &(std::net::IpAddr, u8), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}/{}", value.0, value.1))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn units_are_whole_and_read_back() {
        assert_eq!(whole(1800, &[(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")]), "30m");
        assert_eq!(
            whole(730 * 86_400, &[(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")]),
            "730d"
        );
        assert_eq!(whole(90, &[(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")]), "90s");
        assert_eq!(whole(0, &[(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")]), "0s");
        assert_eq!(whole(300, &[(60_000, "m"), (1000, "s"), (1, "ms")]), "300ms");
    }

    #[test]
    fn the_effective_configuration_is_a_configuration_that_means_the_same() {
        let path = Path::new("/etc/lbs-agent/agent.toml");
        let mut texts = vec![include_str!("../../../../docs/agent.example.toml").to_owned()];
        for takeover in [
            "[takeover]\nstrategy = \"vip\"\naddress = \"10.0.0.10/24\"\ninterface = \"eth0\"\n",
            "[takeover]\nstrategy = \"hook\"\ncommand = [\"/x\"]\n",
            "[takeover]\nstrategy = \"dns\"\nserver = \"10.0.0.2:53\"\nzone = \"office.lan\"\nname = \"pbx.office.lan\"\n\
             address = \"10.0.0.11\"\nkey_name = \"k\"\nkey_secret_file = \"/etc/lbs-agent/tsig.secret\"\n",
        ] {
            texts.push(format!(
                "[server]\nname = \"b\"\nstate_dir = \"/s\"\n[sync]\nbandwidth_limit = \"50 Mbit/s\"\n\
                 [failover]\nheartbeat_interval = \"300ms\"\n{takeover}"
            ));
        }
        texts.push(
            "[server]\nname = \"b\"\nstate_dir = \"/s\"\n[alerts]\nrepeat = \"1h\"\n\
             [[alerts.email]]\nserver = \"127.0.0.1\"\nsecurity = \"none\"\nusername = \"u\"\npassword = \"p\"\n\
             from = \"A <a@example.com>\"\nto = [\"b@example.com\"]\n\
             [[alerts.webhook]]\nname = \"ntfy\"\nurl = \"https://ntfy.sh/x\"\nformat = \"ntfy\"\n\
             token_file = \"/etc/lbs-agent/ntfy.token\"\nheaders = { \"X-A\" = \"b\" }\n"
                .into(),
        );
        for text in texts {
            let config = Config::parse(&text, path).unwrap();
            let shown = effective(&config).unwrap();
            let again = Config::parse(&shown, path).unwrap_or_else(|e| panic!("{e}\n{shown}"));
            assert_eq!(format!("{config:?}"), format!("{again:?}"), "{shown}");
        }
    }
}
