//! The layers of `docs/ARCHITECTURE.md`, checked: each module of the domain (`lbs-agent-core`)
//! imports only what its layer may, the domain never reaches for an edge's crates, the edge's
//! HTTP and CLI layers (this crate) never import each other, the role file is written in one
//! place, and no domain function returns `Result<_, String>`. A failure names the file, the
//! import and the rule it breaks. (That the domain cannot import the edges at all, the compiler
//! keeps: they are another crate.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each module of the library may import from the rest of it (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    // Foundation: nothing of ours.
    ("clock", &[]),
    ("fsutil", &[]),
    ("platform", &[]),
    ("refusal", &[]),
    ("units", &[]),
    ("compat", &[]),
    ("db", &[]),
    ("command", &["platform", "refusal"]),
    // Records: what the box is and keeps.
    ("config", &["platform", "refusal"]),
    ("identity", &["clock", "fsutil", "refusal"]),
    ("tokens", &["clock", "db", "refusal"]),
    ("role", &["clock", "fsutil", "refusal"]),
    ("maintenance", &["clock", "fsutil", "refusal"]),
    ("peer", &["identity", "refusal", "clock"]),
    // The vote (etcd): knows the witness's settings, nothing of roles.
    ("vote", &["clock", "command", "config", "peer"]),
    // Setting up the vote: its certificates, etcd's files, the partner's part, the witness's script.
    (
        "witness",
        &["config", "fsutil", "identity", "peer", "platform", "refusal"],
    ),
    // Engines: the sync never looks at failover or the sampler; failover drives the sync.
    (
        "sync",
        &[
            "clock", "command", "config", "fsutil", "identity", "peer", "platform", "refusal", "role", "units",
        ],
    ),
    ("sampler", &["clock", "config", "platform", "refusal", "sync"]),
    // What the box is made of: reads the sync's data sizes; failover exchanges it with the partner;
    // `smart snapshot` writes the disks' health for it (fsutil).
    (
        "inventory",
        &[
            "clock", "command", "config", "fsutil", "platform", "role", "sync", "units",
        ],
    ),
    (
        "failover",
        &[
            "clock",
            "command",
            "compat",
            "config",
            "db",
            "fsutil",
            "identity",
            "inventory",
            "maintenance",
            "peer",
            "platform",
            "refusal",
            "role",
            "sync",
            "vote",
            "units",
        ],
    ),
    // The alerts look at the engines and the sampler; nothing looks at them but the agent.
    (
        "alerts",
        &[
            "clock",
            "config",
            "db",
            "failover",
            "inventory",
            "refusal",
            "role",
            "sampler",
            "sync",
            "units",
        ],
    ),
    // The running agent as the edges see it.
    (
        "agent",
        &[
            "alerts",
            "config",
            "failover",
            "identity",
            "inventory",
            "peer",
            "platform",
            "refusal",
            "role",
            "sync",
            "tokens",
        ],
    ),
];

/// Crates only the edges (the binary: HTTP, CLI, systemd) may use.
const EDGE_CRATES: &[&str] = &[
    "axum",
    "clap",
    "hyper",
    "hyper_util",
    "tower",
    "sd_notify",
    "tokio_rustls",
    "anyhow",
];

/// The domain crate's sources.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lbs-agent-core/src")
}

/// This crate's (the edge's) sources.
fn edge_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of top-level module `name` under `root` (`name.rs` and `name/**`).
fn module_files(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let file = root.join(format!("{name}.rs"));
    if file.exists() {
        files.push(file);
    }
    let dir = root.join(name);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    files
}

/// The modules a file's text names as `crate::x…` (also inside `use crate::{a, b::c}`).
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        // `lbs_agent::crate::` cannot happen; skip `$crate::` in macros.
        if text[..i].ends_with('$') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let head: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    found.insert(head);
                }
            }
        } else {
            let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !head.is_empty() {
                found.insert(head);
            }
        }
    }
    found
}

/// The code of a file without its `#[cfg(test)] mod tests` (tests may unwrap and use strings).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests").map_or(text, |i| &text[..i])
}

fn lib_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect()
}

fn relative(path: &Path) -> String {
    let core = Path::new("crates/lbs-agent-core/src");
    let edge = Path::new("crates/lbs-agent/src");
    match (path.strip_prefix(src()), path.strip_prefix(edge_src())) {
        (Ok(p), _) => core.join(p).display().to_string(),
        (_, Ok(p)) => edge.join(p).display().to_string(),
        _ => path.display().to_string(),
    }
}

#[test]
fn every_library_module_has_a_layer_and_imports_only_what_it_may() {
    let mut broken = Vec::new();
    for module in lib_modules() {
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            broken.push(format!(
                "the module `{module}` has no layer: add it to ALLOWED here and to docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for file in module_files(&src(), &module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for import in crate_imports(&text) {
                if import != module && !allowed.contains(&import.as_str()) && import != "self" {
                    broken.push(format!(
                        "{}: `{module}` imports `crate::{import}`, which its layer may not (allowed: {allowed:?})",
                        relative(&file)
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layer rules broken:\n{}", broken.join("\n"));
}

#[test]
fn the_library_never_uses_an_edges_crates() {
    let mut broken = Vec::new();
    for module in lib_modules() {
        for file in module_files(&src(), &module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for krate in EDGE_CRATES {
                if text.contains(&format!("{krate}::")) {
                    broken.push(format!(
                        "{}: uses `{krate}`, which only the binary may",
                        relative(&file)
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn http_and_cli_do_not_import_each_other() {
    let mut broken = Vec::new();
    for (layer, other) in [("http", "cli"), ("cli", "http")] {
        let files = module_files(&edge_src(), layer);
        assert!(!files.is_empty(), "no {layer} layer in {}", edge_src().display());
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            if crate_imports(&text).contains(other) {
                broken.push(format!(
                    "{}: the {layer} layer imports `crate::{other}`",
                    relative(&file)
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_role_file_is_written_only_by_the_failover_writer() {
    // `role.rs` names the file and creates the first record at `init`; a running box's role is
    // written by `failover/writer.rs` alone.
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let naming: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let code = without_tests(&text);
            code.contains("role::path(") || code.contains("\"role.json\"")
        })
        .map(|f| relative(f))
        .collect();
    let (writer, record) = (
        "crates/lbs-agent-core/src/failover/writer.rs",
        "crates/lbs-agent-core/src/role.rs",
    );
    assert!(naming.iter().any(|w| w == writer), "{naming:?}");
    assert!(
        naming.iter().all(|w| w == writer || w == record),
        "the role file is named outside role.rs and failover/writer.rs: {naming:?}"
    );
}

/// The `Result<…, String>` in `code`, even split over lines: each `Result<` up to its closing `>`.
fn string_errors(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in code.match_indices("Result<") {
        let mut depth = 0;
        let rest = &code[i + "Result".len()..];
        let end = rest.char_indices().find_map(|(j, c)| {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(j + 1)
        });
        let Some(end) = end else { continue };
        let inside: String = rest[1..end - 1].chars().filter(|c| !c.is_whitespace()).collect();
        let inside = inside.trim_end_matches(',').to_owned();
        // The error type is what follows the last top-level comma.
        let mut depth = 0;
        let mut last = None;
        for (j, c) in inside.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => last = Some(j),
                _ => {}
            }
        }
        if last.is_some_and(|j| &inside[j + 1..] == "String") {
            found.push(format!("Result<{inside}>"));
        }
    }
    found
}

#[test]
fn no_domain_function_returns_a_bare_string_error() {
    let mut broken = Vec::new();
    for module in lib_modules() {
        for file in module_files(&src(), &module) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code: String = without_tests(&text)
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for hit in string_errors(&code) {
                broken.push(format!("{}: {hit}", relative(&file)));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "return a Refusal or a thiserror enum instead:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_check_itself_sees_imports() {
    let text = "use crate::{config::Config, sync};\nlet x = crate::failover::human();\n$crate::ignored";
    let found: Vec<String> = crate_imports(text).into_iter().collect();
    assert_eq!(found, ["config", "failover", "sync"]);
    let errors = string_errors("fn a() -> Result<\n    Vec<u8>,\n    String,\n> {}\nfn b() -> Result<(), Refusal> {}");
    assert_eq!(errors, ["Result<Vec<u8>,String>"]);
}
