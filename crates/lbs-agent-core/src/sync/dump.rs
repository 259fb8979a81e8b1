//! Database categories: a live database is never copied as a raw file (it may be mid-write).
//! Its dump command prints a consistent dump; the agent writes it into the category's first root
//! (atomically, and only when it changed, so an idle database causes no traffic). On promotion
//! the restore command loads it back. A command that fails is an error with its output — never a
//! silent success.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tokio::process::Command;

use crate::config::CategoryConfig;
use crate::role::RoleReader;

#[derive(Debug, Error)]
pub enum DumpError {
    /// The dump received from the old primary has not been loaded here yet.
    #[error(
        "the database copy of \"{category}\" received from the old primary has not been loaded on this box yet (its \
         restore failed or was cut short): it is kept, and this box's own database is not dumped over it. Fix what \
         the restore's error said, then restart the agent (systemctl restart lbs-agent) to load it again"
    )]
    RestorePending { category: String },
    #[error(
        "the {what} command of \"{category}\" could not be started ({program}: {reason}); check that it is installed and its path is right"
    )]
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
    #[error("the {what} command of \"{category}\" failed ({status}): {output}{advice}")]
    Failed {
        what: &'static str,
        category: String,
        status: String,
        output: String,
        /// What to do, for a failure the output names (". MariaDB does not answer…"), or "".
        advice: String,
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

/// What to do about a database tool's usual failures, read from its output (mysqldump's and
/// mysql's, sqlite3's): the output says what happened in the tool's words, this says what to
/// check in the contractor's.
fn advice(output: &str) -> Option<&'static str> {
    let o = output.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| o.contains(n));
    if any(&[
        "can't connect to local server",
        "can't connect to local mysql server",
        "can't connect to server",
        "can't connect to mysql server",
        "lost connection to",
        "server has gone away",
    ]) {
        Some(
            "MariaDB does not answer on this box: is it running (`systemctl status mariadb`), and is its socket \
             the one the command uses?",
        )
    } else if o.contains("access denied") {
        Some(
            "MariaDB refused the agent's login. The agent runs as root, and Debian lets root in over MariaDB's \
             local socket without a password unless root was given one; otherwise give the login in an option \
             file (--defaults-extra-file: see \"FreePBX\" in the agent's manual)",
        )
    } else if o.contains("unknown database") {
        Some(
            "The database the command names does not exist on this box: check its name (FreePBX's is \
             `asterisk`) against `mysql -e 'SHOW DATABASES'`",
        )
    } else if o.contains("unable to open database") {
        Some("SQLite cannot open the database file: check the path in the command and that its folder exists")
    } else if o.contains("database is locked") {
        Some("Another program held the database for the whole dump; the next dump tries again")
    } else {
        None
    }
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
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // A group of its own: at its time limit the whole command goes, not only a `sh -c` whose
    // `mysql` would go on loading a database after the PBX has started on it.
    crate::platform::own_process_group(&mut cmd);
    if let Some(p) = env_dump {
        cmd.env("LBS_DUMP_FILE", p);
    }
    let spawn_error = |e: std::io::Error| DumpError::Spawn {
        what,
        category: c.name.clone(),
        program: program.clone(),
        reason: e.to_string(),
    };
    let child = cmd.spawn().map_err(spawn_error)?;
    let group = child.id();
    let output = match tokio::time::timeout(Duration::from_secs(c.command_timeout), child.wait_with_output()).await {
        Ok(output) => output.map_err(spawn_error)?,
        Err(_) => {
            if let Some(pid) = group {
                crate::platform::kill_group(pid);
            }
            return Err(DumpError::Timeout {
                what,
                category: c.name.clone(),
                secs: c.command_timeout,
            });
        }
    };
    if !output.status.success() {
        let mut both = output.stderr.clone();
        // A dump's own output is the database (secrets, password hashes): never shown.
        if both.is_empty() && what != "dump" {
            both = output.stdout.clone();
        }
        let output_tail = tail(&both);
        let advice = advice(&output_tail).map_or_else(String::new, |a| {
            let stop = if output_tail.ends_with(['.', '!', '?']) {
                " "
            } else {
                ". "
            };
            format!("{stop}{a}")
        });
        return Err(DumpError::Failed {
            what,
            category: c.name.clone(),
            status: output.status.to_string(),
            output: output_tail,
            advice,
        });
    }
    Ok(output.stdout)
}

/// Runs the dump command and stores its output. Returns whether the stored dump changed. With
/// `role`, the new dump is put in place only while this box is still the primary (checked at
/// the rename, the role held still): a dump that was running when the box became the backup is
/// dropped, never written over what the new primary sends.
pub async fn dump(c: &CategoryConfig, role: Option<&RoleReader>) -> Result<bool, DumpError> {
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
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    // Written aside and flushed first, so the rename is the only step taken under the role.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(e));
    }
    let rename = || std::fs::rename(&tmp, &path);
    let placed = match role {
        Some(r) => r.while_primary(rename),
        None => Some(rename()),
    };
    match placed {
        None => {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!(category = %c.name, "sync: dump not written: this box is no longer the primary");
            Ok(false)
        }
        Some(Err(e)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(write_error(e))
        }
        Some(Ok(())) => {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(write_error)?;
            Ok(true)
        }
    }
}

/// Runs the dump with the category's lock held: one dump of a category at a time (the primary's
/// passes, its watch and a switchover's final dump may ask at once), so an older snapshot that
/// took longer can never be written over a newer one.
pub(crate) async fn dump_locked(e: &super::SyncEngine, c: &CategoryConfig) -> Result<bool, DumpError> {
    let _one = match e.dump_locks.get(&c.name) {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    if e.restore_pending(&c.name) {
        return Err(DumpError::RestorePending {
            category: c.name.clone(),
        });
    }
    dump(c, Some(&e.role)).await
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
            watch: vec![],
            watch_min_gap: None,
            command_timeout: 5,
        }
    }

    #[tokio::test]
    async fn a_dump_is_written_once_and_rewritten_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let c = category(dir.path(), &["echo", "CREATE TABLE x;"], &[]);
        assert!(dump(&c, None).await.unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("astdb.sql")).unwrap(),
            "CREATE TABLE x;\n"
        );
        assert!(!dump(&c, None).await.unwrap(), "same output: no change");
    }

    #[tokio::test]
    async fn a_box_that_is_no_longer_the_primary_does_not_write_its_dump() {
        use lbs_protocol::{Role, RoleStanding};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("astdb.sql"), b"from the new primary").unwrap();
        let (role_tx, role_rx) = tokio::sync::watch::channel(crate::role::RoleState::initial(Role::Backup));
        let (_standing_tx, standing_rx) = tokio::sync::watch::channel(RoleStanding::Settled);
        let reader = RoleReader::new(role_rx, standing_rx);
        let c = category(dir.path(), &["echo", "this box's own old database"], &[]);
        assert!(!dump(&c, Some(&reader)).await.unwrap(), "not written");
        assert_eq!(
            std::fs::read(dir.path().join("astdb.sql")).unwrap(),
            b"from the new primary"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        role_tx.send_replace(crate::role::RoleState::initial(Role::Primary));
        assert!(dump(&c, Some(&reader)).await.unwrap(), "written while primary");
    }

    #[tokio::test]
    async fn a_failing_or_empty_dump_is_an_error_with_its_output_and_keeps_the_old_dump() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("astdb.sql"), b"good").unwrap();
        let c = category(dir.path(), &["sh", "-c", "echo 'database is locked' >&2; exit 3"], &[]);
        let msg = dump(&c, None).await.unwrap_err().to_string();
        assert!(
            msg.contains("database is locked") && msg.contains("exit status: 3"),
            "{msg}"
        );
        // Killed half-way with nothing on stderr: what it had printed is the database itself
        // (secrets), never shown.
        let c = category(
            dir.path(),
            &["sh", "-c", "echo \"INSERT INTO sip VALUES ('secret-Hunter2')\"; exit 9"],
            &[],
        );
        let msg = dump(&c, None).await.unwrap_err().to_string();
        assert!(!msg.contains("Hunter2") && msg.contains("no output"), "{msg}");
        let c = category(dir.path(), &["true"], &[]);
        assert!(matches!(dump(&c, None).await, Err(DumpError::Empty { .. })));
        let c = category(dir.path(), &["/nonexistent/sqlite3"], &[]);
        assert!(matches!(dump(&c, None).await, Err(DumpError::Spawn { .. })));
        assert_eq!(std::fs::read(dir.path().join("astdb.sql")).unwrap(), b"good");
    }

    #[test]
    fn the_usual_database_failures_say_what_to_check() {
        // As mysqldump, mysql and sqlite3 print them (Debian 12, MariaDB 10.11).
        for (output, expected) in [
            (
                r#"mysqldump: Got error: 2002: "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)" when trying to connect"#,
                "MariaDB does not answer on this box",
            ),
            (
                "ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (111)",
                "systemctl status mariadb",
            ),
            (
                r#"mysqldump: Got error: 1698: "Access denied for user 'root'@'localhost'" when trying to connect"#,
                "refused the agent's login",
            ),
            (
                r#"mysqldump: Got error: 1049: "Unknown database 'asterix'" when selecting the database"#,
                "check its name (FreePBX's is `asterisk`)",
            ),
            (
                "Error: unable to open database \"/var/lib/asterisk/astdb.sqlite3\": unable to open database file",
                "check the path",
            ),
            ("Error: database is locked", "the next dump tries again"),
        ] {
            assert!(advice(output).is_some_and(|a| a.contains(expected)), "{output}");
        }
        assert_eq!(advice("segmentation fault"), None);
    }

    #[tokio::test]
    async fn a_failure_the_output_names_gets_its_advice_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"echo 'mysqldump: Got error: 1049: "Unknown database '"'"'asterix'"'"'" when selecting the database' >&2; exit 2"#;
        let msg = dump(&category(dir.path(), &["sh", "-c", script], &[]), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(r#"failed (exit status: 2): mysqldump: Got error: 1049: "Unknown database 'asterix'" when selecting the database. The database the command names does not exist"#),
            "{msg}"
        );
        let msg = dump(&category(dir.path(), &["/nonexistent/mysqldump"], &[]), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("check that it is installed"), "{msg}");
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
    async fn a_command_out_of_time_is_stopped_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        // A restore through `sh -c` whose real work is a child of the shell.
        let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
        let mut c = category(dir.path(), &[], &["sh", "-c", &script]);
        c.command_timeout = 1;
        assert!(matches!(restore(&c).await, Err(DumpError::Timeout { .. })));
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // Gone (or a zombie about to be reaped by init), not sleeping on.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = state.split_whitespace().nth(2).is_some_and(|s| s != "Z");
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the shell's child still runs: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = category(dir.path(), &["sleep", "30"], &[]);
        c.command_timeout = 1;
        assert!(matches!(dump(&c, None).await, Err(DumpError::Timeout { .. })));
    }
}
