//! The `dns` takeover: an RFC 2136 dynamic update, signed with TSIG (RFC 8945), that points the
//! PBX's name at this box — what the original product did through its vendor's data center, done
//! here directly against the office's own DNS server. Then a plain query checks the server now
//! answers with this box's address.
//!
//! The wire format is written here rather than pulled in with a DNS library: an update is one
//! small message and the signature one HMAC, and this keeps the agent's dependencies few.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use ring::hmac;

use crate::config::DnsTakeover;

const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;
const TYPE_AAAA: u16 = 28;
const TYPE_TSIG: u16 = 250;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
const OPCODE_UPDATE: u16 = 5;
/// Seconds of clock difference the server may accept (the usual value).
const FUDGE: u16 = 300;

/// A name in wire form (lowercase, so it is also the canonical form TSIG signs).
fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.to_ascii_lowercase().as_bytes());
    }
    out.push(0);
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend(v.to_be_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend(v.to_be_bytes());
}

fn put48(out: &mut Vec<u8>, v: u64) {
    out.extend(&v.to_be_bytes()[2..]);
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    put16(&mut out, id);
    put16(&mut out, flags);
    for c in counts {
        put16(&mut out, c);
    }
    out
}

fn record_type(ip: IpAddr) -> (u16, Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
        IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
    }
}

/// The TSIG key: name, algorithm and secret.
pub struct Key {
    name: String,
    algorithm: String,
    key: hmac::Key,
}

impl Key {
    pub fn new(name: &str, algorithm: &str, secret_b64: &str) -> Result<Key, String> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|e| format!("the TSIG secret is not valid base64 ({e})"))?;
        let alg = match algorithm {
            "hmac-sha256" => hmac::HMAC_SHA256,
            "hmac-sha512" => hmac::HMAC_SHA512,
            other => return Err(format!("unsupported TSIG algorithm {other}")),
        };
        Ok(Key {
            name: name.to_owned(),
            algorithm: algorithm.to_owned(),
            key: hmac::Key::new(alg, &secret),
        })
    }

    /// The TSIG variables that are signed after the message.
    fn variables(&self, time: u64, error: u16, other: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_name(&mut v, &self.name);
        put16(&mut v, CLASS_ANY);
        put32(&mut v, 0);
        put_name(&mut v, &self.algorithm);
        put48(&mut v, time);
        put16(&mut v, FUDGE);
        put16(&mut v, error);
        put16(&mut v, other.len() as u16);
        v.extend(other);
        v
    }

    /// Appends a TSIG record to `msg` (whose ARCOUNT does not count it yet); returns the MAC.
    fn sign(&self, msg: &mut Vec<u8>, time: u64) -> Vec<u8> {
        let mut signed = msg.clone();
        signed.extend(self.variables(time, 0, &[]));
        let mac = hmac::sign(&self.key, &signed).as_ref().to_vec();
        let id = [msg[0], msg[1]];
        let mut rdata = Vec::new();
        put_name(&mut rdata, &self.algorithm);
        put48(&mut rdata, time);
        put16(&mut rdata, FUDGE);
        put16(&mut rdata, mac.len() as u16);
        rdata.extend(&mac);
        rdata.extend(id);
        put16(&mut rdata, 0);
        put16(&mut rdata, 0);
        put_name(msg, &self.name);
        put16(msg, TYPE_TSIG);
        put16(msg, CLASS_ANY);
        put32(msg, 0);
        put16(msg, rdata.len() as u16);
        msg.extend(rdata);
        let arcount = u16::from_be_bytes([msg[10], msg[11]]) + 1;
        msg[10..12].copy_from_slice(&arcount.to_be_bytes());
        mac
    }
}

/// The update that points `name` at `address` and nothing else: the RRset of that type is
/// deleted and the one record added, in one atomic update.
pub fn update_message(id: u16, zone: &str, name: &str, address: IpAddr, ttl: u32) -> Vec<u8> {
    let mut m = header(id, OPCODE_UPDATE << 11, [1, 0, 2, 0]);
    put_name(&mut m, zone);
    put16(&mut m, TYPE_SOA);
    put16(&mut m, CLASS_IN);
    let (rtype, rdata) = record_type(address);
    // Delete the RRset: class ANY, TTL 0, no data.
    put_name(&mut m, name);
    put16(&mut m, rtype);
    put16(&mut m, CLASS_ANY);
    put32(&mut m, 0);
    put16(&mut m, 0);
    // Add the record.
    put_name(&mut m, name);
    put16(&mut m, rtype);
    put16(&mut m, CLASS_IN);
    put32(&mut m, ttl);
    put16(&mut m, rdata.len() as u16);
    m.extend(rdata);
    m
}

/// A parsed record from an answer.
struct Record {
    name: String,
    rtype: u16,
    /// Where the record starts in the message (TSIG verification signs what comes before).
    start: usize,
    rdata: std::ops::Range<usize>,
}

/// Reads a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join(".") + ".", end.unwrap_or(pos + 1)));
        }
        if len & 0xC0 == 0xC0 {
            let ptr = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    None
}

fn get16(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// Header flags and every record after the question section.
fn parse(msg: &[u8]) -> Option<(u16, Vec<Record>)> {
    let flags = get16(msg, 2)?;
    let counts: Vec<u16> = (0..4).map(|i| get16(msg, 4 + 2 * i)).collect::<Option<_>>()?;
    let mut pos = 12;
    for _ in 0..counts[0] {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let total = counts[1] as usize + counts[2] as usize + counts[3] as usize;
    let mut records = Vec::with_capacity(total);
    for _ in 0..total {
        let start = pos;
        let (name, after) = read_name(msg, pos)?;
        let rtype = get16(msg, after)?;
        let rdlen = get16(msg, after + 8)? as usize;
        let rdata = after + 10..after + 10 + rdlen;
        if rdata.end > msg.len() {
            return None;
        }
        pos = rdata.end;
        records.push(Record {
            name,
            rtype,
            start,
            rdata,
        });
    }
    Some((flags, records))
}

fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        8 => "NOTZONE",
        9 => "NOTAUTH",
        _ => "an error",
    }
}

/// Checks the TSIG on an answer to a request signed with `request_mac`.
fn verify(key: &Key, answer: &[u8], request_mac: &[u8]) -> Result<(), String> {
    let (_, records) = parse(answer).ok_or("the DNS server's answer could not be read")?;
    let tsig = records
        .last()
        .filter(|r| r.rtype == TYPE_TSIG)
        .ok_or("the DNS server's answer is not signed (no TSIG); it cannot be trusted")?;
    let rd = &answer[tsig.rdata.clone()];
    let (alg, p) = read_name(answer, tsig.rdata.start).ok_or("damaged TSIG record")?;
    let p = p - tsig.rdata.start;
    let field = |o: usize| get16(rd, p + o).ok_or("damaged TSIG record");
    let time = rd.get(p..p + 6).ok_or("damaged TSIG record")?;
    let time = u64::from_be_bytes([0, 0, time[0], time[1], time[2], time[3], time[4], time[5]]);
    let mac_len = field(8)? as usize;
    let mac = rd.get(p + 10..p + 10 + mac_len).ok_or("damaged TSIG record")?;
    let error = field(12 + mac_len)?;
    let other_len = field(14 + mac_len)? as usize;
    let other = rd
        .get(p + 16 + mac_len..p + 16 + mac_len + other_len)
        .ok_or("damaged TSIG record")?;
    if error != 0 {
        return Err(format!(
            "the DNS server did not accept the signature ({}); check the key name, algorithm and secret",
            match error {
                16 => "BADSIG",
                17 => "BADKEY",
                18 => "BADTIME: the clocks of this box and the DNS server differ by more than 5 minutes",
                _ => "TSIG error",
            }
        ));
    }
    if tsig.name != key.name || alg != key.algorithm.to_ascii_lowercase() + "." {
        return Err("the DNS server's answer is signed with another key".into());
    }
    // What the server signed: the request MAC, the answer without its TSIG (and with ARCOUNT
    // one lower, the original ID), and the TSIG variables.
    let mut signed = Vec::new();
    put16(&mut signed, request_mac.len() as u16);
    signed.extend(request_mac);
    let mut body = answer[..tsig.start].to_vec();
    let arcount = get16(&body, 10).ok_or("damaged answer")?.saturating_sub(1);
    body[10..12].copy_from_slice(&arcount.to_be_bytes());
    let original_id = get16(rd, p + 10 + mac_len).ok_or("damaged TSIG record")?;
    body[0..2].copy_from_slice(&original_id.to_be_bytes());
    signed.extend(body);
    signed.extend(key.variables(time, error, other));
    hmac::verify(&key.key, &signed, mac).map_err(|_| "the DNS server's answer has a wrong signature".to_string())
}

/// Sends `msg` and waits for the answer with the same ID, resending twice.
async fn exchange(server: SocketAddr, msg: &[u8]) -> Result<Vec<u8>, String> {
    let socket = crate::failover::udp_to(server).await?;
    let mut buf = vec![0u8; 4096];
    let mut last = "no answer".to_string();
    for _ in 0..3 {
        if let Err(e) = socket.send(msg).await {
            last = e.to_string();
        }
        let wait = tokio::time::sleep(Duration::from_millis(700));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => break,
                r = socket.recv(&mut buf) => match r {
                    Ok(n) if n >= 12 && buf[..2] == msg[..2] => return Ok(buf[..n].to_vec()),
                    Ok(_) => continue,
                    Err(e) => { last = e.to_string(); break }
                }
            }
        }
    }
    Err(format!("the DNS server {server} does not answer ({last})"))
}

/// Points the configured name at this box.
pub async fn take(d: &DnsTakeover) -> Result<String, String> {
    let secret = std::fs::read_to_string(&d.key_secret_file).map_err(|e| {
        format!(
            "cannot read the TSIG secret from {} ({e}); it must hold the key's base64 secret",
            d.key_secret_file.display()
        )
    })?;
    let key = Key::new(&d.key_name, &d.key_algorithm, &secret)?;
    let id: u16 = rand::random();
    let mut msg = update_message(id, &d.zone, &d.name, d.address, d.ttl);
    let now = crate::clock::now_unix().max(0) as u64;
    let mac = key.sign(&mut msg, now);
    let answer = exchange(d.server, &msg).await?;
    let rcode = get16(&answer, 2).ok_or("the DNS server's answer is too short")? & 0x000F;
    if rcode != 0 {
        // A refused signature comes back as NOTAUTH with the TSIG error inside.
        verify(&key, &answer, &mac)?;
        return Err(format!(
            "the DNS server {} refused the update of {} ({}); check that it allows key {} to update zone {}",
            d.server,
            d.name,
            rcode_name(rcode),
            d.key_name,
            d.zone
        ));
    }
    verify(&key, &answer, &mac)?;
    let seen = lookup(d.server, &d.name).await?;
    if !seen.contains(&d.address) {
        return Err(format!(
            "the DNS server accepted the update but still answers {} for {}",
            seen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
            d.name
        ));
    }
    Ok(format!("{} now points to {} (TTL {} s)", d.name, d.address, d.ttl))
}

/// The A and AAAA addresses `server` gives for `name` (an A query, and AAAA if none).
pub async fn lookup(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for qtype in [TYPE_A, TYPE_AAAA] {
        let id: u16 = rand::random();
        let mut q = header(id, 0, [1, 0, 0, 0]);
        put_name(&mut q, name);
        put16(&mut q, qtype);
        put16(&mut q, CLASS_IN);
        let answer = exchange(server, &q).await?;
        let (flags, records) = parse(&answer).ok_or("the DNS server's answer could not be read")?;
        let rcode = flags & 0x000F;
        if rcode != 0 && rcode != 3 {
            return Err(format!("the DNS server answered {} for {name}", rcode_name(rcode)));
        }
        for r in records {
            let data = &answer[r.rdata.clone()];
            match (r.rtype, data.len()) {
                (TYPE_A, 4) => out.push(IpAddr::from([data[0], data[1], data[2], data[3]])),
                (TYPE_AAAA, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(data);
                    out.push(IpAddr::from(b));
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_written_lowercase_and_read_back_through_pointers() {
        let mut m = header(1, 0, [0, 0, 0, 0]);
        put_name(&mut m, "PBX.Office.lan.");
        assert_eq!(&m[12..], b"\x03pbx\x06office\x03lan\x00");
        // A pointer to "office.lan." after a new label.
        m.extend(b"\x03www\xC0\x10");
        let (name, end) = read_name(&m, 12 + 16).unwrap();
        assert_eq!((name.as_str(), end), ("www.office.lan.", m.len()));
        assert!(read_name(b"\xC0\x00", 0).is_none(), "a pointer loop ends");
    }

    #[test]
    fn a_signed_update_verifies_with_the_same_key_only() {
        let key = Key::new("lbs-update.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
        let mut msg = update_message(7, "office.lan.", "pbx.office.lan.", "10.0.0.12".parse().unwrap(), 10);
        let unsigned_len = msg.len();
        let mac = key.sign(&mut msg, 1_700_000_000);
        assert_eq!(get16(&msg, 10), Some(1), "ARCOUNT counts the TSIG");
        let (flags, records) = parse(&msg).unwrap();
        assert_eq!(flags >> 11, OPCODE_UPDATE);
        assert_eq!(records.len(), 3, "two updates and the TSIG");
        assert_eq!(records[2].start, unsigned_len);
        // The MAC is the HMAC of the message and the variables.
        let mut signed = msg[..unsigned_len].to_vec();
        signed[10..12].copy_from_slice(&0u16.to_be_bytes());
        signed.extend(key.variables(1_700_000_000, 0, &[]));
        assert!(hmac::verify(&key.key, &signed, &mac).is_ok());
        let other = Key::new("lbs-update.", "hmac-sha256", "b3RoZXI=").unwrap();
        assert!(hmac::verify(&other.key, &signed, &mac).is_err());
    }

    #[test]
    fn bad_secrets_are_explained() {
        assert!(Key::new("k.", "hmac-sha256", "not base64!")
            .err()
            .unwrap()
            .contains("base64"));
    }
}
