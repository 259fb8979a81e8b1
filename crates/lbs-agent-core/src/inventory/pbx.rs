//! The PBX's version, from the command `[pbx] version` names (`asterisk -V` by default).

use lbs_protocol::PbxVersion;

use super::Unreadable;

/// The first line of the version command's output, and the version number in it:
/// "Asterisk 20.6.0", "FreeSWITCH version: 1.10.9-release+git~20230105", "version: kamailio 5.6.3".
pub fn parse(output: &str) -> Result<PbxVersion, Unreadable> {
    let line = output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or("the version command printed nothing")?;
    // The first word that starts with a digit and holds a dot, cut at what is not a digit or a dot.
    let version = line.split_whitespace().find_map(|word| {
        let start = word.find(|c: char| c.is_ascii_digit())?;
        let number: String = word[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let number = number.trim_end_matches('.').to_owned();
        number.contains('.').then_some(number)
    });
    let major = version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    Ok(PbxVersion {
        text: line.chars().take(200).collect(),
        version,
        major,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_the_usual_pbxs() {
        let a = parse("Asterisk 20.6.0\n").unwrap();
        assert_eq!(
            (a.text.as_str(), a.version.as_deref(), a.major),
            ("Asterisk 20.6.0", Some("20.6.0"), Some(20))
        );
        let c = parse("Asterisk certified/18.9-cert5").unwrap();
        assert_eq!((c.version.as_deref(), c.major), (Some("18.9"), Some(18)));
        let f = parse("FreeSWITCH version: 1.10.9-release+git~20230105T145230Z~22a9df0c37~64bit (git 22a9df0 2023-01-05 14:52:30Z 64bit)").unwrap();
        assert_eq!(f.version.as_deref(), Some("1.10.9"));
        let k = parse("version: kamailio 5.6.3 (x86_64/linux) 6a4f7d\nflags: USE_TCP").unwrap();
        assert_eq!((k.version.as_deref(), k.major), (Some("5.6.3"), Some(5)));
        let odd = parse("3CX Phone System").unwrap();
        assert_eq!((odd.version, odd.major), (None, None));
        assert!(parse("\n \n").is_err());
    }
}
