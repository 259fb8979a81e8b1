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
use thiserror::Error;

use crate::config::DnsTakeover;
use crate::refusal::Refusal;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
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

/// A resource record: owner, type, class, TTL, then its data with the data's length.
fn put_record(out: &mut Vec<u8>, owner: &str, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    put_name(out, owner);
    put16(out, rtype);
    put16(out, class);
    put32(out, ttl);
    put16(out, rdata.len() as u16);
    out.extend(rdata);
}

/// A name as `read_name` gives it and TSIG signs it: lowercase, ending in one dot.
fn absolute_lowercase(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase() + "."
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
    /// Canonical: lowercase, with the final dot (as it is compared with the name in an answer).
    name: String,
    algorithm: String,
    key: hmac::Key,
}

/// Why a DNS server's answer to a signed update is not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TsigError {
    #[error("the DNS server's answer could not be read")]
    Unreadable,
    #[error("the DNS server's answer is not signed (no TSIG); it cannot be trusted")]
    Unsigned,
    #[error("the DNS server's answer has a damaged signature record")]
    Damaged,
    #[error("the DNS server did not accept the signature ({0}); check the key name, algorithm and secret")]
    Refused(&'static str),
    #[error("the DNS server's answer is signed with another key than {0}; check the key name and algorithm")]
    OtherKey(String),
    #[error(
        "the DNS server's answer has a wrong signature: it was changed on the way, or the DNS server \
         has another secret for the key; check that the TSIG secret is the DNS server's"
    )]
    BadSignature,
    #[error(
        "the DNS server's answer was signed {skew} s away from this box's clock (at most {fudge} s \
         allowed); set the clocks of this box and the DNS server right (NTP)"
    )]
    BadTime { skew: u64, fudge: u16 },
}

impl Key {
    pub fn new(name: &str, algorithm: &str, secret_b64: &str) -> Result<Key, Refusal> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|e| Refusal::internal(format!("the TSIG secret is not valid base64 ({e})")))?;
        let alg = match algorithm {
            "hmac-sha256" => hmac::HMAC_SHA256,
            "hmac-sha512" => hmac::HMAC_SHA512,
            other => return Err(Refusal::internal(format!("unsupported TSIG algorithm {other}"))),
        };
        Ok(Key {
            name: absolute_lowercase(name),
            algorithm: algorithm.to_owned(),
            key: hmac::Key::new(alg, &secret),
        })
    }

    /// The TSIG variables that are signed after the message (RFC 8945 §4.3.3).
    fn variables(&self, time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_name(&mut v, &self.name);
        put16(&mut v, CLASS_ANY);
        put32(&mut v, 0);
        put_name(&mut v, &self.algorithm);
        put48(&mut v, time);
        put16(&mut v, fudge);
        put16(&mut v, error);
        put16(&mut v, other.len() as u16);
        v.extend(other);
        v
    }

    /// Appends a TSIG record to `msg` (whose ARCOUNT does not count it yet); returns the MAC.
    fn sign(&self, msg: &mut Vec<u8>, time: u64) -> Vec<u8> {
        let mut signed = msg.clone();
        signed.extend(self.variables(time, FUDGE, 0, &[]));
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
        put_record(msg, &self.name, TYPE_TSIG, CLASS_ANY, 0, &rdata);
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
    put_record(&mut m, name, rtype, CLASS_ANY, 0, &[]);
    // Add the record.
    put_record(&mut m, name, rtype, CLASS_IN, ttl, &rdata);
    m
}

/// A parsed record from an answer.
struct Record {
    name: String,
    rtype: u16,
    /// Where the record starts in the message (TSIG verification signs what comes before).
    start: usize,
    rdata: std::ops::Range<usize>,
    /// In the answer section (not authority or additional).
    answer: bool,
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
    for i in 0..total {
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
            answer: i < counts[1] as usize,
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

/// Checks the TSIG on an answer to a request signed with `request_mac`, received at `now` (Unix
/// seconds), in RFC 8945's order: the key, then the MAC, then the time.
pub fn verify(key: &Key, answer: &[u8], request_mac: &[u8], now: u64) -> Result<(), TsigError> {
    let (_, records) = parse(answer).ok_or(TsigError::Unreadable)?;
    let tsig = records
        .last()
        .filter(|r| r.rtype == TYPE_TSIG)
        .ok_or(TsigError::Unsigned)?;
    let rd = &answer[tsig.rdata.clone()];
    let (alg, p) = read_name(answer, tsig.rdata.start).ok_or(TsigError::Damaged)?;
    let p = p - tsig.rdata.start;
    let field = |o: usize| get16(rd, p + o).ok_or(TsigError::Damaged);
    let time = rd.get(p..p + 6).ok_or(TsigError::Damaged)?;
    let time = u64::from_be_bytes([0, 0, time[0], time[1], time[2], time[3], time[4], time[5]]);
    let fudge = field(6)?;
    let mac_len = field(8)? as usize;
    let mac = rd.get(p + 10..p + 10 + mac_len).ok_or(TsigError::Damaged)?;
    let original_id = field(10 + mac_len)?;
    let error = field(12 + mac_len)?;
    let other_len = field(14 + mac_len)? as usize;
    let other = rd
        .get(p + 16 + mac_len..p + 16 + mac_len + other_len)
        .ok_or(TsigError::Damaged)?;
    if error != 0 {
        return Err(TsigError::Refused(match error {
            16 => "BADSIG",
            17 => "BADKEY",
            18 => "BADTIME: the clocks of this box and the DNS server differ by more than 5 minutes",
            _ => "TSIG error",
        }));
    }
    if tsig.name != key.name || alg != key.algorithm.to_ascii_lowercase() + "." {
        return Err(TsigError::OtherKey(key.name.clone()));
    }
    // What the server signed: the request MAC, the answer without its TSIG (and with ARCOUNT
    // one lower, the original ID), and the TSIG variables as they are in the answer.
    let mut signed = Vec::new();
    put16(&mut signed, request_mac.len() as u16);
    signed.extend(request_mac);
    let mut body = answer[..tsig.start].to_vec();
    let arcount = get16(&body, 10).ok_or(TsigError::Unreadable)?.saturating_sub(1);
    body[10..12].copy_from_slice(&arcount.to_be_bytes());
    body[0..2].copy_from_slice(&original_id.to_be_bytes());
    signed.extend(body);
    signed.extend(key.variables(time, fudge, error, other));
    hmac::verify(&key.key, &signed, mac).map_err(|_| TsigError::BadSignature)?;
    // Only a genuine answer's time is worth a complaint about the clocks.
    let skew = now.abs_diff(time);
    if skew > u64::from(fudge) {
        return Err(TsigError::BadTime { skew, fudge });
    }
    Ok(())
}

/// Sends `msg` and waits for the answer with the same ID, resending twice.
async fn exchange(server: SocketAddr, msg: &[u8]) -> Result<Vec<u8>, Refusal> {
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
    Err(Refusal::internal(format!(
        "the DNS server {server} does not answer ({last})"
    )))
}

fn unix_now() -> u64 {
    crate::clock::now_unix().max(0) as u64
}

/// Points the configured name at this box.
pub async fn take(d: &DnsTakeover) -> Result<String, Refusal> {
    let secret = std::fs::read_to_string(&d.key_secret_file).map_err(|e| {
        Refusal::internal(format!(
            "cannot read the TSIG secret from {} ({e}); it must hold the key's base64 secret",
            d.key_secret_file.display()
        ))
    })?;
    let key = Key::new(&d.key_name, &d.key_algorithm, &secret)?;
    let id: u16 = rand::random();
    let mut msg = update_message(id, &d.zone, &d.name, d.address, d.ttl);
    let mac = key.sign(&mut msg, unix_now());
    let answer = exchange(d.server, &msg).await?;
    let rcode = get16(&answer, 2).ok_or_else(|| Refusal::internal("the DNS server's answer is too short"))? & 0x000F;
    if rcode != 0 {
        // A refused signature comes back as NOTAUTH with the TSIG error inside.
        verify(&key, &answer, &mac, unix_now()).map_err(Refusal::internal)?;
        return Err(Refusal::internal(format!(
            "the DNS server {} refused the update of {} ({}); check that it allows key {} to update zone {}",
            d.server,
            d.name,
            rcode_name(rcode),
            d.key_name,
            d.zone
        )));
    }
    verify(&key, &answer, &mac, unix_now()).map_err(Refusal::internal)?;
    let seen = lookup(d.server, &d.name).await?;
    if !seen.contains(&d.address) {
        return Err(Refusal::internal(format!(
            "the DNS server accepted the update but still answers {} for {}",
            seen.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
            d.name
        )));
    }
    Ok(format!("{} now points to {} (TTL {} s)", d.name, d.address, d.ttl))
}

/// The A and AAAA addresses `server` gives for `name` (an A query, and AAAA if none).
pub async fn lookup(server: SocketAddr, name: &str) -> Result<Vec<IpAddr>, Refusal> {
    let mut out = Vec::new();
    for qtype in [TYPE_A, TYPE_AAAA] {
        let id: u16 = rand::random();
        let mut q = header(id, 0, [1, 0, 0, 0]);
        put_name(&mut q, name);
        put16(&mut q, qtype);
        put16(&mut q, CLASS_IN);
        let answer = exchange(server, &q).await?;
        out = addresses(&answer, name)?;
        if !out.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The A and AAAA addresses in a DNS server's answer about `name`; none for NXDOMAIN.
pub fn addresses(answer: &[u8], name: &str) -> Result<Vec<IpAddr>, Refusal> {
    let (flags, records) =
        parse(answer).ok_or_else(|| Refusal::internal("the DNS server's answer could not be read"))?;
    let rcode = flags & 0x000F;
    if rcode != 0 && rcode != 3 {
        return Err(Refusal::internal(format!(
            "the DNS server answered {} for {name}",
            rcode_name(rcode)
        )));
    }
    // Only the answer section speaks for `name`, and only through records owned by the name or
    // by an alias of it (a CNAME chain): glue and other names' records in the same message are
    // not its addresses.
    let records: Vec<Record> = records.into_iter().filter(|r| r.answer).collect();
    let mut owners = vec![absolute_lowercase(name)];
    // Each round adds at least one alias or ends: a chain is no longer than the records.
    for _ in 0..records.len() {
        let targets: Vec<String> = records
            .iter()
            .filter(|r| r.rtype == TYPE_CNAME && owners.contains(&r.name))
            .filter_map(|r| read_name(answer, r.rdata.start).map(|(target, _)| target))
            .filter(|target| !owners.contains(target))
            .collect();
        if targets.is_empty() {
            break;
        }
        owners.extend(targets);
    }
    let mut out = Vec::new();
    for r in records.iter().filter(|r| owners.contains(&r.name)) {
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

    /// Known answers from dnspython, an independent implementation (`tsig_vectors.py` has the
    /// inputs and makes this module): a signed update and the server's signed answer to it.
    #[rustfmt::skip]
    mod dnspython {
        // Made by tsig_vectors.py with dnspython 2.3.0 - do not edit by hand.
        pub const SHA256_REQUEST: &str = "123428000001000000020001066f6666696365036c616e000006000103706278066f6666696365036c616e00000100ff00000000000003706278066f6666696365036c616e00000100010000000a00040a00000c0a6c62732d7570646174650000fa00ff00000000003d0b686d61632d7368613235360000006553f100012c002041e9444452ad51560d4cf421d8f5909a87c5bc2a84ad3db06e05a3ffb6365841123400000000";
        pub const SHA256_REQUEST_MAC: &str = "41e9444452ad51560d4cf421d8f5909a87c5bc2a84ad3db06e05a3ffb6365841";
        pub const SHA256_ANSWER: &str = "1234a8000001000000000001066f6666696365036c616e00000600010a6c62732d7570646174650000fa00ff00000000003d0b686d61632d7368613235360000006553f1020258002014eeb27da8ac844e8ab728937343aa706cae89784276b91acc8d2a2ff74a4c81123400000000";
        pub const SHA512_REQUEST: &str = "beef2800000100000002000104766f6970076578616d706c65036f726700000600010373697004766f6970076578616d706c65036f726700001c00ff0000000000000373697004766f6970076578616d706c65036f726700001c00010000003c001020010db800000000000000000000000506747369672d6204766f6970076578616d706c65036f72670000fa00ff00000000005d0b686d61632d736861353132000000684ee1fb012c0040cedd7308a6fbf867c7888665f32fc3b911331fc1f32067aa5489ffb30e2cb36ab0bc847215a430b0cd3c788f0bc8f785c21a93d418dc32face475469ffa5e825beef00000000";
        pub const SHA512_REQUEST_MAC: &str = "cedd7308a6fbf867c7888665f32fc3b911331fc1f32067aa5489ffb30e2cb36ab0bc847215a430b0cd3c788f0bc8f785c21a93d418dc32face475469ffa5e825";
        pub const SHA512_ANSWER: &str = "beefa800000100000000000104766f6970076578616d706c65036f7267000006000106747369672d62c00c00fa00ff00000000005d0b686d61632d736861353132000000684ee1fb02580040fa6687bf949fb1f05e28204982958d3bbd35deb239ce34d82c581bc426fecb2c59cf2cd367f1c0e7a1488aa8ea1f0699b6bd620e38d772b518f064baca8bf153beef00000000";
    }

    /// One dnspython vector: the inputs of `tsig_vectors.py` and its outputs, decoded.
    struct Vector {
        key: Key,
        id: u16,
        zone: &'static str,
        name: &'static str,
        address: &'static str,
        ttl: u32,
        time: u64,
        answered: u64,
        request: Vec<u8>,
        request_mac: Vec<u8>,
        answer: Vec<u8>,
    }

    fn sha256() -> Vector {
        Vector {
            key: Key::new("lbs-update.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap(),
            id: 0x1234,
            zone: "office.lan.",
            name: "pbx.office.lan.",
            address: "10.0.0.12",
            ttl: 10,
            time: 1_700_000_000,
            answered: 1_700_000_002,
            request: hex::decode(dnspython::SHA256_REQUEST).unwrap(),
            request_mac: hex::decode(dnspython::SHA256_REQUEST_MAC).unwrap(),
            answer: hex::decode(dnspython::SHA256_ANSWER).unwrap(),
        }
    }

    fn sha512() -> Vector {
        let secret: Vec<u8> = (0..64).collect();
        Vector {
            // Written without the final dot and in capitals: the key is the same one.
            key: Key::new(
                "TSIG-B.voip.example.org",
                "hmac-sha512",
                &base64::engine::general_purpose::STANDARD.encode(secret),
            )
            .unwrap(),
            id: 0xBEEF,
            zone: "voip.example.org.",
            name: "sip.voip.example.org.",
            address: "2001:db8::5",
            ttl: 60,
            time: 1_750_000_123,
            answered: 1_750_000_123,
            request: hex::decode(dnspython::SHA512_REQUEST).unwrap(),
            request_mac: hex::decode(dnspython::SHA512_REQUEST_MAC).unwrap(),
            answer: hex::decode(dnspython::SHA512_ANSWER).unwrap(),
        }
    }

    #[test]
    fn signed_updates_are_byte_for_byte_those_of_dnspython() {
        for v in [sha256(), sha512()] {
            let mut msg = update_message(v.id, v.zone, v.name, v.address.parse().unwrap(), v.ttl);
            let mac = v.key.sign(&mut msg, v.time);
            assert_eq!(hex::encode(&mac), hex::encode(&v.request_mac), "the MAC for {}", v.zone);
            assert_eq!(
                hex::encode(&msg),
                hex::encode(&v.request),
                "the signed update for {}",
                v.zone
            );
        }
    }

    #[test]
    fn answers_signed_by_dnspython_verify() {
        for v in [sha256(), sha512()] {
            assert_eq!(
                verify(&v.key, &v.answer, &v.request_mac, v.answered),
                Ok(()),
                "{}",
                v.zone
            );
        }
    }

    /// Where the TSIG record of an answer starts, and where its MAC is.
    fn tsig_layout(answer: &[u8]) -> (usize, std::ops::Range<usize>) {
        let (_, records) = parse(answer).unwrap();
        let tsig = records.last().unwrap();
        let (_, p) = read_name(answer, tsig.rdata.start).unwrap();
        let mac_len = get16(answer, p + 8).unwrap() as usize;
        (tsig.start, p + 10..p + 10 + mac_len)
    }

    #[test]
    fn a_changed_answer_is_refused() {
        for v in [sha256(), sha512()] {
            let (tsig_start, mac) = tsig_layout(&v.answer);
            let check = |i: usize| {
                let mut changed = v.answer.clone();
                changed[i] ^= 0x01;
                verify(&v.key, &changed, &v.request_mac, v.answered)
            };
            // Every signed byte of the message (the ID aside: the MAC covers the original ID in
            // the TSIG record instead), whatever else the change breaks on the way.
            for i in 2..tsig_start {
                assert!(check(i).is_err(), "{}: byte {i} changed and still accepted", v.zone);
            }
            // The rcode: NOERROR made FORMERR, the answer still reads.
            assert_eq!(check(3), Err(TsigError::BadSignature), "{}", v.zone);
            // The zone's class (IN made 0), the last byte before the TSIG record. (Its name
            // would do too, but the second answer's key name points into it: another key.)
            assert_eq!(check(tsig_start - 1), Err(TsigError::BadSignature), "{}", v.zone);
            // The time signed (its last byte, just before the fudge) and the MAC itself.
            assert_eq!(check(mac.start - 5), Err(TsigError::BadSignature), "{}", v.zone);
            for i in mac {
                assert_eq!(check(i), Err(TsigError::BadSignature), "{}: MAC byte {i}", v.zone);
            }
        }
    }

    #[test]
    fn an_answer_to_another_request_is_refused() {
        let v = sha256();
        let mut other_mac = v.request_mac.clone();
        other_mac[0] ^= 0x80;
        assert_eq!(
            verify(&v.key, &v.answer, &other_mac, v.answered),
            Err(TsigError::BadSignature)
        );
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let v = sha256();
        let other_secret = Key::new("lbs-update.", "hmac-sha256", "b3RoZXI=").unwrap();
        assert_eq!(
            verify(&other_secret, &v.answer, &v.request_mac, v.answered),
            Err(TsigError::BadSignature)
        );
        let other_name = Key::new("other-key.", "hmac-sha256", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
        assert_eq!(
            verify(&other_name, &v.answer, &v.request_mac, v.answered),
            Err(TsigError::OtherKey("other-key.".into()))
        );
        let other_algorithm = Key::new("lbs-update.", "hmac-sha512", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
        let err = verify(&other_algorithm, &v.answer, &v.request_mac, v.answered).unwrap_err();
        assert_eq!(err, TsigError::OtherKey("lbs-update.".into()));
        assert!(err.to_string().contains("check the key name and algorithm"), "{err}");
    }

    #[test]
    fn an_answer_signed_outside_the_fudge_is_refused() {
        // dnspython signed the answers with a fudge of 600 s, not the update's 300 s: the
        // answer's own fudge counts, both ways of the clock.
        for v in [sha256(), sha512()] {
            let signed = v.answered;
            for now in [signed - 600, signed + 600] {
                assert_eq!(verify(&v.key, &v.answer, &v.request_mac, now), Ok(()), "{}", v.zone);
            }
            assert_eq!(
                verify(&v.key, &v.answer, &v.request_mac, signed + 601),
                Err(TsigError::BadTime { skew: 601, fudge: 600 })
            );
            let err = verify(&v.key, &v.answer, &v.request_mac, signed - 3600).unwrap_err();
            assert_eq!(err, TsigError::BadTime { skew: 3600, fudge: 600 });
            assert!(
                err.to_string().contains("3600 s") && err.to_string().contains("NTP"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_unsigned_answer_is_refused() {
        let v = sha256();
        let (tsig_start, _) = tsig_layout(&v.answer);
        let mut unsigned = v.answer[..tsig_start].to_vec();
        unsigned[11] = 0;
        assert_eq!(
            verify(&v.key, &unsigned, &v.request_mac, v.answered),
            Err(TsigError::Unsigned)
        );
    }

    #[test]
    fn bad_secrets_are_explained() {
        assert!(Key::new("k.", "hmac-sha256", "not base64!")
            .err()
            .unwrap()
            .message
            .contains("base64"));
    }

    /// An answer to `pbx.office.lan. A` with these answer and additional records.
    fn answer_with(answers: &[(&str, u16, Vec<u8>)], additional: &[(&str, u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = header(7, 0x8580, [1, answers.len() as u16, 0, additional.len() as u16]);
        put_name(&mut m, "pbx.office.lan.");
        put16(&mut m, TYPE_A);
        put16(&mut m, CLASS_IN);
        for (owner, rtype, rdata) in answers.iter().chain(additional) {
            put_record(&mut m, owner, *rtype, CLASS_IN, 10, rdata);
        }
        m
    }

    fn name_bytes(name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        put_name(&mut b, name);
        b
    }

    #[test]
    fn only_the_names_own_records_in_the_answer_section_are_its_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let m = answer_with(
            &[
                ("other.office.lan.", TYPE_A, vec![10, 0, 0, 9]),
                ("PBX.Office.LAN.", TYPE_A, vec![10, 0, 0, 12]),
            ],
            // Glue for the name in the additional section is not an answer.
            &[("pbx.office.lan.", TYPE_A, vec![10, 0, 0, 66])],
        );
        assert_eq!(addresses(&m, "pbx.office.lan").unwrap(), vec![ip("10.0.0.12")]);

        // Through a CNAME chain, in any order, to an AAAA record.
        let m = answer_with(
            &[
                (
                    "host.office.lan.",
                    TYPE_AAAA,
                    "fd00::12".parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec(),
                ),
                ("alias.office.lan.", TYPE_CNAME, name_bytes("host.office.lan.")),
                ("pbx.office.lan.", TYPE_CNAME, name_bytes("alias.office.lan.")),
                ("stranger.office.lan.", TYPE_A, vec![10, 0, 0, 9]),
            ],
            &[],
        );
        assert_eq!(addresses(&m, "pbx.office.lan.").unwrap(), vec![ip("fd00::12")]);

        // A CNAME loop ends with no address; so does a record owned by the root (found by the
        // `dns` fuzz target: `fuzz/corpus/dns/crash-root-owned-address`).
        let m = answer_with(
            &[
                ("pbx.office.lan.", TYPE_CNAME, name_bytes("b.office.lan.")),
                ("b.office.lan.", TYPE_CNAME, name_bytes("pbx.office.lan.")),
            ],
            &[],
        );
        assert!(addresses(&m, "pbx.office.lan.").unwrap().is_empty());
        let crash =
            b"BB\x85\x80\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00\x00\x00\x0a\x00\x04\x0a\x00\x00\x0c";
        assert!(addresses(crash, "pbx.office.lan.").unwrap().is_empty());
    }
}
