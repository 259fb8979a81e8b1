//! Database categories: a live database is never copied as a raw file (it may be mid-write).
//! Its dump command prints a consistent dump; the agent writes it into the category's first root
//! (atomically, and only when it changed, so an idle database causes no traffic). On promotion
//! the restore command loads it back. A command that fails is an error with its output — never a
//! silent success.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tokio::process::Command;

use crate::config::CategoryConfig;

#[derive(Debug, Error)]
pub enum DumpError {
    #[error("the {what} command of \"{category}\" could not be started ({program}: {reason})")]
    Spawn {
        what: &'static str,
        category: String,
        program: String,
        reason: String,
    },
    #[error("the {what} command of \"{category}\" did not finish within {secs} s and was stopped")]
    Timeout {
        what: &'static str,
        category: String,
        secs: u64,
    },
    #[error("the {what} command of \"{category}\" failed ({status}): {output}")]
    Failed {
        what: &'static str,
        category: String,
        status: String,
        output: String,
    },
    #[error("the {what} command of \"{category}\" printed nothing; an empty dump is refused so it cannot replace a good one")]
    Empty { what: &'static str, category: String },
    #[error("cannot write the dump of \"{category}\" to {path}: {reason}")]
    Write {
        category: String,
        path: PathBuf,
        reason: String,
    },
}

/// Where a category's dump lives, if it has one.
pub fn dump_path(c: &CategoryConfig) -> Option<PathBuf> {
    Some(c.roots.first()?.join(c.dump_file.as_ref()?))
}

/// The last part of a command's output, for an error message: enough to see why, never a flood.
fn tail(bytes: &[u8]) -> String {
    let text = crate::command::tail(&String::from_utf8_lossy(bytes), 500);
    if text.is_empty() {
        "no output".into()
    } else {
        text
    }
}

async fn run(
    what: &'static str,
    c: &CategoryConfig,
    command: &[String],
    env_dump: Option<&Path>,
) -> Result<Vec<u8>, DumpError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(Vec::new());
    };
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
    if let Some(p) = env_dump {
        cmd.env("LBS_DUMP_FILE", p);
    }
    let output = tokio::time::timeout(Duration::from_secs(c.command_timeout), cmd.output())
        .await
        .map_err(|_| DumpError::Timeout {
            what,
            category: c.name.clone(),
            secs: c.command_timeout,
        })?
        .map_err(|e| DumpError::Spawn {
            what,
            category: c.name.clone(),
            program: program.clone(),
            reason: e.to_string(),
        })?;
    if !output.status.success() {
        let mut both = output.stderr.clone();
        if both.is_empty() {
            both = output.stdout.clone();
        }
        return Err(DumpError::Failed {
            what,
            category: c.name.clone(),
            status: output.status.to_string(),
            output: tail(&both),
        });
    }
    Ok(output.stdout)
}

/// Runs the dump command and stores its output. Returns whether the stored dump changed.
pub async fn dump(c: &CategoryConfig) -> Result<bool, DumpError> {
    let Some(path) = dump_path(c) else {
        return Ok(false);
    };
    if c.dump.is_empty() {
        return Ok(false);
    }
    let out = run("dump", c, &c.dump, None).await?;
    if out.is_empty() {
        return Err(DumpError::Empty {
            what: "dump",
            category: c.name.clone(),
        });
    }
    if std::fs::read(&path).is_ok_and(|old| old == out) {
        return Ok(false);
    }
    let write_error = |e: std::io::Error| DumpError::Write {
        category: c.name.clone(),
        path: path.clone(),
        reason: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    crate::fsutil::write_atomic(&path, &out, true).map_err(write_error)?;
    Ok(true)
}

/// Runs the restore command with `LBS_DUMP_FILE` set to the dump (on promotion).
pub async fn restore(c: &CategoryConfig) -> Result<(), DumpError> {
    let path = dump_path(c);
    run("restore", c, &c.restore, path.as_deref()).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(dir: &Path, dump: &[&str], restore: &[&str]) -> CategoryConfig {
        CategoryConfig {
            name: "astdb".into(),
            label: None,
            priority: 1,
            roots: vec![dir.to_owned()],
            include: vec![],
            exclude: vec![],
            select: lbs_sync::select::Selector::all(),
            dump: dump.iter().map(|s| s.to_string()).collect(),
            dump_file: Some("astdb.sql".into()),
            restore: restore.iter().map(|s| s.to_string()).collect(),
            dump_interval: None,
            command_timeout: 5,
        }
    }

    #[tokio::test]
    async fn a_dump_is_written_once_and_rewritten_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let c = category(dir.path(), &["echo", "CREATE TABLE x;"], &[]);
        assert!(dump(&c).await.unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("astdb.sql")).unwrap(),
            "CREATE TABLE x;\n"
        );
        assert!(!dump(&c).await.unwrap(), "same output: no change");
    }

    #[tokio::test]
    async fn a_failing_or_empty_dump_is_an_error_with_its_output_and_keeps_the_old_dump() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("astdb.sql"), b"good").unwrap();
        let c = category(dir.path(), &["sh", "-c", "echo 'database is locked' >&2; exit 3"], &[]);
        let msg = dump(&c).await.unwrap_err().to_string();
        assert!(
            msg.contains("database is locked") && msg.contains("exit status: 3"),
            "{msg}"
        );
        let c = category(dir.path(), &["true"], &[]);
        assert!(matches!(dump(&c).await, Err(DumpError::Empty { .. })));
        let c = category(dir.path(), &["/nonexistent/sqlite3"], &[]);
        assert!(matches!(dump(&c).await, Err(DumpError::Spawn { .. })));
        assert_eq!(std::fs::read(dir.path().join("astdb.sql")).unwrap(), b"good");
    }

    #[tokio::test]
    async fn restore_gets_the_dump_path_and_reports_failure() {
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        let script = format!("cp \"$LBS_DUMP_FILE\" {}", seen.display());
        std::fs::write(dir.path().join("astdb.sql"), b"dump").unwrap();
        restore(&category(dir.path(), &[], &["sh", "-c", &script]))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&seen).unwrap(), b"dump");
        let err = restore(&category(dir.path(), &[], &["false"])).await.unwrap_err();
        assert!(err.to_string().contains("restore command"), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = category(dir.path(), &["sleep", "30"], &[]);
        c.command_timeout = 1;
        assert!(matches!(dump(&c).await, Err(DumpError::Timeout { .. })));
    }
}
