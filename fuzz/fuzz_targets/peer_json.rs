//! The peer protocol's messages as the agent reads them from its partner (and from the console):
//! request bodies and answers in JSON, query strings of the content and restore routes. Each
//! read as the agent does, then checked as the agent checks it: a page of changes goes through
//! `to_change` (path, checksum), a bundle's or content request's items through `serve::check`
//! (path inside the root, BLAKE3 hex).
//! Properties: what reads writes back to the same JSON (no field lost or renamed one way only);
//! an accepted change's path and checksum are canonical.
//! The first byte chooses the message; the rest is its body.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use lbs_agent_core::sync::to_change;
use lbs_protocol as p;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn root() -> &'static (tempfile::TempDir, PathBuf) {
    static ROOT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().join("voicemail");
        std::fs::create_dir_all(root.join("default/1001/INBOX")).expect("folders");
        std::fs::write(root.join("default/1001/INBOX/msg0000.txt"), b"[message]").expect("a file");
        std::os::unix::fs::symlink("/etc", root.join("out")).expect("a link");
        (dir, root)
    })
}

/// Reads `body` as a `T`; if it reads, its JSON written back reads back to the same JSON.
fn read<T: DeserializeOwned + Serialize>(body: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(body).ok()?;
    let json = serde_json::to_value(&value).expect("a read message writes back");
    let again: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{json} does not read back: {e}"));
    assert_eq!(serde_json::to_value(&again).expect("writes"), json);
    Some(value)
}

/// A query string, as axum's `Query` reads it.
fn query<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

fn check(path: &str, hash: &str) {
    if let Ok(asked) = lbs_sync::serve::check(&root().1, path, hash) {
        assert!(asked.path.starts_with(&root().1));
        assert_eq!(
            asked.rel.as_str(),
            lbs_sync::paths::RelPath::parse(path).expect("checked").as_str()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 20 {
        0 => {
            if let Some(page) = read::<p::PullResponse>(body) {
                for wire in page.changes {
                    let hash = wire.hash.clone();
                    let metadata_only = wire.deleted || wire.folder;
                    if let Ok(change) = to_change(wire) {
                        assert!(change.meta.mode <= 0o7777);
                        match (change.hash, hash) {
                            (Some(h), Some(text)) => {
                                assert!(!metadata_only);
                                let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
                                assert_eq!(hex, text.to_ascii_lowercase(), "one hash, one spelling");
                            }
                            (None, _) => assert!(metadata_only),
                            (Some(_), None) => panic!("a hash from nowhere"),
                        }
                    }
                }
            }
        }
        1 => drop(read::<p::PullRequest>(body)),
        2 => drop(read::<p::Heartbeat>(body)),
        3 => drop(read::<p::HandoverRequest>(body)),
        4 => drop(read::<p::HandoverResponse>(body)),
        5 => {
            if let Some(req) = read::<p::HashesRequest>(body) {
                for (_, path) in &req.files {
                    let _ = lbs_sync::paths::RelPath::parse(path);
                }
            }
        }
        6 => {
            if let Some(answer) = read::<p::HashesResponse>(body) {
                for h in answer.hashes.iter().flatten() {
                    let _ = lbs_agent_core::sync::decode_hash(h);
                }
            }
        }
        7 => {
            if let Some(req) = read::<p::BundleRequest>(body) {
                for item in req.items.iter().take(p::BUNDLE_MAX_ITEMS) {
                    check(&item.path, &item.hash);
                }
            }
        }
        8 => drop(read::<p::PairRequest>(body)),
        9 => drop(read::<p::PairResponse>(body)),
        10 => drop(read::<p::MachineInventory>(body)),
        11 => drop(read::<p::MaintenanceRecord>(body)),
        12 => drop(read::<p::WitnessEnrollment>(body)),
        13 => drop(read::<p::ForwardedSwitchover>(body)),
        14 => drop(read::<p::RoleChange>(body)),
        15 => drop(read::<p::PartnerTokenRequest>(body)),
        16 => {
            if let Some(q) = query::<p::ContentQuery>(body) {
                check(&q.path, &q.hash);
            }
        }
        17 => {
            if let Some(q) = query::<p::RestoreQuery>(body) {
                check(&q.path, &q.hash);
            }
        }
        18 => drop(read::<p::ApiError>(body)),
        _ => drop(read::<p::TokenCreated>(body)),
    }
});
