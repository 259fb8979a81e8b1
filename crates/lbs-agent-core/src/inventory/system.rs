//! The operating system and kernel: `/etc/os-release` and `/proc/sys/kernel/osrelease`.

use lbs_protocol::SystemInfo;

use super::Unreadable;

/// `/etc/os-release` in its own words: (PRETTY_NAME, ID, VERSION_ID).
pub fn parse_os_release(text: &str) -> Result<(String, String, Option<String>), Unreadable> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let value = l.strip_prefix(key)?.strip_prefix('=')?.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some(unquoted.to_owned()).filter(|v| !v.is_empty())
        })
    };
    let id = field("ID").unwrap_or_else(|| "linux".into());
    let pretty = field("PRETTY_NAME")
        .or_else(|| field("NAME"))
        .ok_or("/etc/os-release names no system")?;
    Ok((pretty, id, field("VERSION_ID")))
}

/// Reads this machine's system (the files are tiny; a missing one is a reason, not an error).
pub fn read() -> Result<SystemInfo, Unreadable> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .map_err(|e| Unreadable(format!("cannot read /etc/os-release: {e}")))?;
    let (os, os_id, os_version) = parse_os_release(&text)?;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    Ok(SystemInfo {
        os,
        os_id,
        os_version,
        kernel,
        arch: std::env::consts::ARCH.to_owned(),
        hostname: crate::platform::hostname(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_12_says_its_name_and_version() {
        let (pretty, id, version) = parse_os_release(include_str!("fixtures/os-release-debian12.txt")).unwrap();
        assert_eq!(pretty, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!((id.as_str(), version.as_deref()), ("debian", Some("12")));
        let (_, id, version) = parse_os_release("NAME='Arch Linux'\nID=arch\n").unwrap();
        assert_eq!((id.as_str(), version), ("arch", None));
        assert!(parse_os_release("").is_err());
    }
}
