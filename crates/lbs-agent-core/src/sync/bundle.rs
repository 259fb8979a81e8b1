//! The bundle framing, both directions in one place: one frame per requested file, in order — a
//! status byte (`lbs_protocol::BUNDLE_OK`, `BUNDLE_SUPERSEDED`, `BUNDLE_REFUSED`), the content's
//! length as 8 bytes big-endian, then the content.

// The serving side (lbs-sync) and the wire agree on what a bundle carries.
const _: () = assert!(lbs_protocol::BUNDLE_MAX_FILE == lbs_sync::serve::BUNDLE_MAX_FILE);

/// Appends one frame; `content` is empty unless the status is `BUNDLE_OK`.
pub fn push(out: &mut Vec<u8>, status: u8, content: &[u8]) {
    out.push(status);
    out.extend_from_slice(&(content.len() as u64).to_be_bytes());
    out.extend_from_slice(content);
}

/// The most a bundle for files of `sizes` can hold: each frame's 9-byte header and its content.
pub fn max_len(sizes: &[u64]) -> u64 {
    sizes.iter().map(|s| s.saturating_add(9)).fold(0, u64::saturating_add)
}

/// Unpacks a zstd-compressed bundle that may hold at most `limit` bytes. A body that unpacks to
/// more is refused as soon as it passes the limit, so a small body cannot fill the memory (a
/// frame of zeros compresses a thousandfold).
pub fn decompress(body: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(body)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it unpacks to more than the {limit} bytes the files asked for"
        )));
    }
    Ok(out)
}

/// Splits a bundle into exactly one frame per expected file, none longer than that file's size.
/// `None` when anything does not fit: a short, long or padded body is refused whole.
pub fn split<'a>(mut body: &'a [u8], max_sizes: &[u64]) -> Option<Vec<(u8, &'a [u8])>> {
    let mut frames = Vec::with_capacity(max_sizes.len());
    for &max in max_sizes {
        let (&status, rest) = body.split_first()?;
        let (len, rest) = rest.split_first_chunk::<8>()?;
        let len = u64::from_be_bytes(*len);
        if len > max || len > rest.len() as u64 {
            return None;
        }
        let (content, rest) = rest.split_at(len as usize);
        frames.push((status, content));
        body = rest;
    }
    body.is_empty().then_some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lbs_protocol::{BUNDLE_OK, BUNDLE_SUPERSEDED};

    fn two() -> Vec<u8> {
        let mut out = Vec::new();
        push(&mut out, BUNDLE_OK, b"voicemail");
        push(&mut out, BUNDLE_SUPERSEDED, b"");
        out
    }

    #[test]
    fn frames_come_back_as_written() {
        let body = two();
        let frames = split(&body, &[9, 100]).unwrap();
        assert_eq!(
            frames,
            vec![(BUNDLE_OK, &b"voicemail"[..]), (BUNDLE_SUPERSEDED, &b""[..])]
        );
    }

    #[test]
    fn a_damaged_bundle_is_refused_whole() {
        let body = two();
        assert!(split(&body[..body.len() - 1], &[9, 100]).is_none(), "truncated");
        assert!(split(&body, &[8, 100]).is_none(), "longer than the file announced");
        assert!(split(&body, &[9]).is_none(), "a frame more than asked for");
        assert!(split(&body, &[9, 100, 100]).is_none(), "a frame fewer");
        let mut huge = Vec::new();
        huge.push(BUNDLE_OK);
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(split(&huge, &[u64::MAX]).is_none(), "a length past the body");
    }

    /// Found by the fuzzer's review: a bundle was unpacked whole before its size was checked, so
    /// 16 KB from the partner could become gigabytes in memory.
    #[test]
    fn a_compressed_bundle_is_refused_once_it_unpacks_past_what_was_asked() {
        let body = two();
        let limit = max_len(&[9, 100]);
        assert_eq!(limit, 9 + 9 + 100 + 9);
        let packed = zstd::bulk::compress(&body, 3).unwrap();
        assert_eq!(
            decompress(&packed, body.len() as u64).unwrap(),
            body,
            "exactly the limit is fine"
        );
        assert_eq!(decompress(&packed, limit).unwrap(), body);
        assert!(decompress(&packed, body.len() as u64 - 1).is_err());

        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
        assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
        let err = decompress(&bomb, limit).unwrap_err();
        assert!(err.to_string().contains("more than the 127 bytes"), "{err}");
        assert!(decompress(b"not zstd", limit).is_err());
        assert_eq!(max_len(&[u64::MAX, 1]), u64::MAX, "no overflow");
    }
}
