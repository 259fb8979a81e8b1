//! A bundle from the partner: one frame per requested file (status byte, 8-byte length,
//! content), possibly zstd-compressed, read as the backup does before lbs-sync's batch installs
//! the frames. Properties: exactly one frame per file, none longer than its file, every byte of
//! the body accounted for; a compressed body never unpacks past what the files can hold.
//! Input: a byte of flags (bit 0: compressed), a byte n (files, at most 16), n sizes of 2 bytes
//! (big-endian), then the body.
#![no_main]

use lbs_agent_core::sync::bundle::{decompress, max_len, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&[flags, n], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(n % 17);
    let Some(sizes) = rest.get(..2 * n) else {
        return;
    };
    let sizes: Vec<u64> = sizes
        .chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
        .collect();
    let body = &rest[2 * n..];
    let limit = max_len(&sizes);
    let unpacked;
    let body = if flags & 1 == 1 {
        match decompress(body, limit) {
            Ok(b) => {
                assert!(b.len() as u64 <= limit);
                unpacked = b;
                &unpacked[..]
            }
            Err(_) => return,
        }
    } else {
        body
    };
    let Some(frames) = split(body, &sizes) else {
        return;
    };
    assert_eq!(frames.len(), sizes.len());
    let mut total = 0;
    for ((_, content), max) in frames.iter().zip(&sizes) {
        assert!(content.len() as u64 <= *max);
        total += 9 + content.len();
    }
    assert_eq!(total, body.len(), "a padded bundle was accepted");
    assert!(body.len() as u64 <= limit);
});
