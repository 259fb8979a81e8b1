//! Compressed content from the partner: a bundle's zstd body, unpacked with the limit the
//! requested files' sizes give. Properties: never more than the limit comes out, and what comes
//! out is what zstd itself unpacks whenever that fits.
//! Input: 4 bytes of limit (big-endian, at most 16 MiB), then the compressed body.
#![no_main]

use lbs_agent_core::sync::bundle::decompress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((limit, body)) = data.split_first_chunk::<4>() else {
        return;
    };
    let limit = u64::from(u32::from_be_bytes(*limit) & 0x00ff_ffff);
    match decompress(body, limit) {
        Ok(out) => {
            assert!(out.len() as u64 <= limit);
            // zstd's own answer, bounded the same way (decode_all would follow a bomb).
            let mut reference = Vec::new();
            let whole = zstd::stream::read::Decoder::new(body)
                .and_then(|d| std::io::Read::read_to_end(&mut std::io::Read::take(d, limit + 1), &mut reference));
            assert!(whole.is_ok());
            assert_eq!(reference, out);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
