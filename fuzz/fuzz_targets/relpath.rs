//! Relative paths sent by the partner (changes, content and bundle requests, hashes).
//! Properties: an accepted path is normal (no empty, `.` or `..` part, not absolute) and
//! re-parses to itself; resolved inside a root holding a symlink out, a symlink in, a FIFO and a
//! file, it never names anything outside that root nor goes through a link.
#![no_main]

use std::path::{Component, PathBuf};
use std::sync::OnceLock;

use lbs_sync::paths::{resolve, RelPath};
use libfuzzer_sys::fuzz_target;

struct Root {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn root() -> &'static Root {
    static ROOT: OnceLock<Root> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("default/1001/INBOX")).expect("folders");
        std::fs::write(root.join("default/1001/INBOX/msg0000.wav"), b"RIFF").expect("a file");
        std::os::unix::fs::symlink("/etc", root.join("out")).expect("a link out");
        std::os::unix::fs::symlink("default", root.join("in")).expect("a link in");
        let fifo = std::ffi::CString::new(root.join("fifo").into_os_string().into_encoded_bytes()).expect("a path");
        // SAFETY: mkfifo on a path we own, with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        Root { _dir: dir, root }
    })
}

fuzz_target!(|text: &str| {
    let Ok(rel) = RelPath::parse(text) else {
        return;
    };
    let s = rel.as_str();
    assert!(!s.is_empty() && !s.starts_with('/'), "{s:?}");
    assert!(s.split('/').all(|p| !matches!(p, "" | "." | "..")), "{s:?}");
    assert_eq!(RelPath::parse(s).as_ref(), Ok(&rel));
    let r = root();
    if let Ok(path) = resolve(&r.root, &rel) {
        assert!(path.starts_with(&r.root), "{path:?}");
        let inside = path.strip_prefix(&r.root).expect("under the root");
        assert!(
            inside.components().all(|c| matches!(c, Component::Normal(_))),
            "{path:?}"
        );
        // No link on the way: the part that exists is where it says it is.
        let mut walked = r.root.clone();
        for part in inside.components() {
            walked.push(part);
            match std::fs::symlink_metadata(&walked) {
                Ok(m) => assert!(!m.file_type().is_symlink(), "{path:?} goes through {walked:?}"),
                Err(_) => break,
            }
        }
    }
});
