//! The connection link: one string that carries everything the console needs to reach an agent
//! safely — address, token and certificate fingerprint — so nobody compares fingerprints by eye.
//!
//! Format: `lbs://HOST:PORT/?fp=<sha256 hex>&token=<token>[&name=<server name>]`.

use std::fmt;

use thiserror::Error;
use url::Url;

/// Scheme of every connection link.
pub const LINK_SCHEME: &str = "lbs";

#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionLink {
    /// `host:port` of the agent's HTTPS API.
    pub address: String,
    /// SHA-256 of the agent's certificate, lowercase hex (64 characters).
    pub fingerprint: String,
    pub token: String,
    /// The server's name, shown before it is first reached.
    pub name: Option<String>,
}

/// Why a pasted link cannot be used. Messages are written for an office manager.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this is not an LBS connection link: it should start with \"lbs://\"")]
    NotALink,
    #[error("the connection link is damaged ({0}); copy it again from the server")]
    Malformed(String),
    #[error("the connection link has no server address; copy it again from the server")]
    NoAddress,
    #[error("the connection link has no {0}; copy it again from the server")]
    Missing(&'static str),
    #[error("the certificate fingerprint in the link is not valid; copy the link again from the server")]
    BadFingerprint,
}

impl ConnectionLink {
    /// Reads a link as pasted. A link never holds whitespace (the name's spaces are encoded), so
    /// every space, tab and line break is taken out first: a long link copied from a terminal or
    /// a mail arrives wrapped onto several lines, often with the indentation of the next line.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = unwrap(text);
        let text = text.as_str();
        if !text.to_ascii_lowercase().starts_with("lbs://") {
            return Err(LinkError::NotALink);
        }
        let url = Url::parse(text).map_err(|e| LinkError::Malformed(e.to_string()))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or(LinkError::NoAddress)?;
        let port = url.port().ok_or(LinkError::NoAddress)?;
        let mut fingerprint = None;
        let mut token = None;
        let mut name = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "fp" => fingerprint = Some(normalize_fingerprint(&value)?),
                "token" => token = Some(value.into_owned()),
                "name" => name = Some(value.into_owned()),
                _ => {} // Unknown keys are ignored so newer links still open in older consoles.
            }
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(LinkError::Missing("access token"))?;
        Ok(ConnectionLink {
            address: format!("{host}:{port}"),
            fingerprint: fingerprint.ok_or(LinkError::Missing("certificate fingerprint"))?,
            token,
            name: name.filter(|n| !n.is_empty()),
        })
    }
}

/// `text` without whitespace, nor the invisible characters a mail program may put where it wraps
/// a line (zero-width space and joiners, soft hyphen, byte-order mark).
fn unwrap(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200b}'..='\u{200d}' | '\u{00ad}' | '\u{feff}'))
        .collect()
}

/// Accepts hex with or without `:` separators, any case; returns 64 lowercase hex digits.
pub fn normalize_fingerprint(text: &str) -> Result<String, LinkError> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(LinkError::BadFingerprint)
    }
}

impl fmt::Display for ConnectionLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut url = Url::parse(&format!("{LINK_SCHEME}://{}/", self.address)).map_err(|_| fmt::Error)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("fp", &self.fingerprint);
            q.append_pair("token", &self.token);
            if let Some(name) = &self.name {
                q.append_pair("name", name);
            }
        }
        f.write_str(url.as_str())
    }
}

/// Debug output never shows the token.
impl fmt::Debug for ConnectionLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLink")
            .field("address", &self.address)
            .field("fingerprint", &self.fingerprint)
            .field("token", &"<redacted>")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn sample() -> ConnectionLink {
        ConnectionLink {
            address: "192.168.1.10:7443".into(),
            fingerprint: FP.into(),
            token: "lbs_abc-DEF_123".into(),
            name: Some("PBX A (main office)".into()),
        }
    }

    #[test]
    fn round_trips() {
        let link = sample();
        let text = link.to_string();
        assert!(text.starts_with("lbs://192.168.1.10:7443/?fp="));
        assert_eq!(ConnectionLink::parse(&text).unwrap(), link);
    }

    #[test]
    fn hostnames_and_ipv6_round_trip() {
        for address in ["pbx-a.office.lan:7443", "[::1]:7443"] {
            let link = ConnectionLink {
                address: address.into(),
                name: None,
                ..sample()
            };
            assert_eq!(ConnectionLink::parse(&link.to_string()).unwrap(), link);
        }
    }

    #[test]
    fn accepts_colon_separated_uppercase_fingerprint_and_whitespace() {
        let colons: Vec<String> = FP
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into())
            .collect();
        let text = format!("  lbs://h:1/?token=t&fp={}\n", colons.join(":"));
        assert_eq!(ConnectionLink::parse(&text).unwrap().fingerprint, FP);
    }

    /// Where a terminal or a mail program breaks a long line: at a width, or after `&`, with the
    /// next line indented or quoted-printable-like soft breaks.
    #[test]
    fn a_link_wrapped_onto_several_lines_still_opens() {
        let link = ConnectionLink {
            token: "lbs_".to_string() + &"x".repeat(43),
            ..sample()
        };
        let text = link.to_string();
        assert!(text.len() > 150, "{} characters: long enough to wrap", text.len());
        let (head, tail) = text.split_at(80);
        let fp_at = text.find("fp=").unwrap() + 20; // inside the fingerprint
        let (before_fp, in_fp) = text.split_at(fp_at);
        for wrapped in [
            format!("{head}\n{tail}"),
            format!("{head}\r\n{tail}\r\n"),
            format!("{head} {tail}"),
            format!("{head}\t{tail}"),
            format!("{before_fp}\n    {in_fp}"),
            format!("  {before_fp}\r\n\t{in_fp}  "),
            format!("{before_fp}\u{200b}\n{in_fp}"),
            text.replace('&', "&\n"),
            text.chars()
                .collect::<Vec<_>>()
                .chunks(40)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("\n"),
        ] {
            assert_eq!(ConnectionLink::parse(&wrapped), Ok(link.clone()), "{wrapped:?}");
        }
        // The name's spaces are encoded in the link, so they survive.
        assert_eq!(
            ConnectionLink::parse(&format!("{head}\n{tail}"))
                .unwrap()
                .name
                .as_deref(),
            Some("PBX A (main office)")
        );
    }

    #[test]
    fn refuses_what_is_not_a_link() {
        assert_eq!(ConnectionLink::parse("https://h:1/?fp=x"), Err(LinkError::NotALink));
        assert_eq!(
            ConnectionLink::parse("lbs://h/?token=t&fp=".to_string().as_str()),
            Err(LinkError::NoAddress)
        );
        assert_eq!(
            ConnectionLink::parse(&format!("lbs://h:1/?fp={FP}")),
            Err(LinkError::Missing("access token"))
        );
        assert_eq!(
            ConnectionLink::parse("lbs://h:1/?token=t"),
            Err(LinkError::Missing("certificate fingerprint"))
        );
        assert_eq!(
            ConnectionLink::parse("lbs://h:1/?token=t&fp=abc"),
            Err(LinkError::BadFingerprint)
        );
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", sample()).contains("lbs_abc"));
    }
}
