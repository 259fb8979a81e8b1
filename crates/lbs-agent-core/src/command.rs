//! Running the admin's commands (PBX start/stop/check, takeover hooks, `ip`, `arping`; the sync's
//! dump commands capture their own output but share [`tail`]): with a
//! time limit, and with the output kept for the error message. The output goes to an unnamed
//! temporary file, not a pipe: a start command that leaves a daemon behind (which inherits the
//! descriptors) must not make the agent wait for that daemon to exit.

use std::io::{Read, Seek, SeekFrom};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error("no command is configured")]
    NotConfigured,
    #[error("cannot capture the output of `{program}`: {source}")]
    Capture { program: String, source: std::io::Error },
    #[error("`{program}` could not be started: {source}")]
    Start { program: String, source: std::io::Error },
    #[error("`{program}` could not be waited for: {source}")]
    Wait { program: String, source: std::io::Error },
    #[error("`{program}` did not finish within {secs} s and was stopped")]
    TimedOut { program: String, secs: u64 },
    /// `run_ok`: the command could not run at all.
    #[error("{what}: {source}")]
    Run {
        what: String,
        #[source]
        source: Box<CommandError>,
    },
    /// `run_ok`: the command ran and exited non-zero.
    #[error("{what} failed ({status}){}", if output.is_empty() { String::new() } else { format!(": {output}") })]
    Failed {
        what: String,
        status: String,
        output: String,
    },
}

impl From<CommandError> for crate::refusal::Refusal {
    fn from(e: CommandError) -> Self {
        crate::refusal::Refusal::internal(e)
    }
}

/// The last `chars` characters of a command's output: enough to see why, never a flood.
pub fn tail(text: &str, chars: usize) -> String {
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(chars.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    text[start..].to_string()
}

/// What a command did: whether it exited 0, and its output (stdout and stderr together).
pub struct Outcome {
    pub success: bool,
    pub status: String,
    pub output: String,
}

/// Waits for `child` for at most `timeout`; past it, kills it.
async fn wait_within(
    child: &mut tokio::process::Child,
    program: &str,
    timeout: Duration,
) -> Result<std::process::ExitStatus, CommandError> {
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(source)) => Err(CommandError::Wait {
            program: program.to_owned(),
            source,
        }),
        Err(_) => {
            let _ = child.kill().await;
            Err(CommandError::TimedOut {
                program: program.to_owned(),
                secs: timeout.as_secs(),
            })
        }
    }
}

/// Runs `command` (program and arguments) with `env`, for at most `timeout`.
pub async fn run(command: &[String], env: &[(&str, String)], timeout: Duration) -> Result<Outcome, CommandError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CommandError::NotConfigured);
    };
    let capture_error = |source| CommandError::Capture {
        program: program.clone(),
        source,
    };
    let out = tempfile::tempfile().map_err(capture_error)?;
    let err = out.try_clone().map_err(capture_error)?;
    let mut capture = out.try_clone().map_err(capture_error)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The agent runs at low priority; the PBX it starts must not inherit that.
    crate::platform::normal_priority_for(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| CommandError::Start {
        program: program.clone(),
        source,
    })?;
    let status = wait_within(&mut child, program, timeout).await?;
    let mut output = String::new();
    let _ = capture.seek(SeekFrom::Start(0));
    let _ = (&mut capture).take(64 * 1024).read_to_string(&mut output);
    Ok(Outcome {
        success: status.success(),
        status: status.to_string(),
        output: tail(&output, 400),
    })
}

/// What a command printed, kept whole (up to `MAX_OUTPUT`) for a parser: its standard output
/// apart from its errors, which may be written between the lines of a JSON document.
pub struct Output {
    pub success: bool,
    pub status: String,
    pub stdout: String,
    /// The end of its standard error, for a message.
    pub stderr: String,
}

/// The most of a command's standard output [`output`] keeps.
pub const MAX_OUTPUT: u64 = 4 * 1024 * 1024;

/// Runs `command` for at most `timeout` and returns its standard output whole (see [`Output`]).
/// A program that is not installed is `CommandError::Start` with `io::ErrorKind::NotFound`.
pub async fn output(command: &[String], timeout: Duration) -> Result<Output, CommandError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CommandError::NotConfigured);
    };
    let capture_error = |source| CommandError::Capture {
        program: program.clone(),
        source,
    };
    let out = tempfile::tempfile().map_err(capture_error)?;
    let err = tempfile::tempfile().map_err(capture_error)?;
    let mut out_read = out.try_clone().map_err(capture_error)?;
    let mut err_read = err.try_clone().map_err(capture_error)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| CommandError::Start {
        program: program.clone(),
        source,
    })?;
    let status = wait_within(&mut child, program, timeout).await?;
    let read = |file: &mut std::fs::File, max: u64| {
        let mut bytes = Vec::new();
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.take(max).read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Output {
        success: status.success(),
        status: status.to_string(),
        stdout: read(&mut out_read, MAX_OUTPUT),
        stderr: tail(&read(&mut err_read, 64 * 1024), 400),
    })
}

/// Runs `command` and turns a non-zero exit into an error naming what `what` is.
pub async fn run_ok(
    what: &str,
    command: &[String],
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<String, CommandError> {
    let o = run(command, env, timeout).await.map_err(|e| CommandError::Run {
        what: what.to_owned(),
        source: Box::new(e),
    })?;
    if o.success {
        Ok(o.output)
    } else {
        Err(CommandError::Failed {
            what: what.to_owned(),
            status: o.status,
            output: o.output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn output_and_status_are_kept() {
        let o = run(&sh("echo out; echo err >&2; exit 3"), &[], Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!o.success);
        assert!(o.output.contains("out") && o.output.contains("err"), "{}", o.output);
        let e = run_ok("the PBX start", &sh("echo nope; exit 1"), &[], Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the PBX start failed") && e.contains("nope"), "{e}");
    }

    #[tokio::test]
    async fn a_daemon_left_behind_does_not_hold_the_agent() {
        let started = std::time::Instant::now();
        let o = run(&sh("sleep 30 & echo started"), &[], Duration::from_secs(10))
            .await
            .unwrap();
        assert!(o.success && o.output.contains("started"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited for the background child"
        );
    }

    #[tokio::test]
    async fn output_keeps_standard_output_whole_and_apart_from_errors() {
        let o = output(&sh("seq 1 20000; echo oops >&2; exit 2"), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!o.success);
        assert_eq!(o.stdout.lines().count(), 20_000);
        assert!(!o.stdout.contains("oops"));
        assert_eq!(o.stderr, "oops");
        let missing = output(&["/nonexistent/lspci".to_string()], Duration::from_secs(1)).await;
        assert!(matches!(
            missing,
            Err(CommandError::Start { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped() {
        let e = run(&sh("sleep 30"), &[], Duration::from_millis(300))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("did not finish within"), "{e}");
        let e = run(&["/nonexistent/program".to_string()], &[], Duration::from_secs(1))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("could not be started"), "{e}");
    }
}
