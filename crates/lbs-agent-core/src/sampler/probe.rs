//! The PBX activity probe: a configured command that prints `{"calls": N, "phones": M}`.
//! A probe that fails, hangs or prints nonsense costs one sample, never the agent.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tokio::process::Command;

#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct PbxActivity {
    pub calls: Option<f64>,
    pub phones: Option<f64>,
}

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error("could not start the PBX probe `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("the PBX probe did not answer within {0} s")]
    Timeout(u64),
    #[error("the PBX probe failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("the PBX probe printed something that is not {{\"calls\": N, \"phones\": M}}: {0}")]
    Output(String),
}

pub async fn run(command: &[String], timeout_secs: u64) -> Result<PbxActivity, ProbeError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(PbxActivity::default());
    };
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(timeout_secs), child)
        .await
        .map_err(|_| ProbeError::Timeout(timeout_secs))?
        .map_err(|source| ProbeError::Spawn {
            program: program.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).chars().take(300).collect();
        return Err(ProbeError::Failed {
            status: output.status.to_string(),
            stderr,
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

fn parse(text: &str) -> Result<PbxActivity, ProbeError> {
    let activity: PbxActivity = serde_json::from_str(text.trim()).map_err(|e| ProbeError::Output(format!("{e}")))?;
    let valid = |v: Option<f64>| v.is_none_or(|v| v.is_finite() && v >= 0.0);
    if !valid(activity.calls) || !valid(activity.phones) {
        return Err(ProbeError::Output("counts must be non-negative numbers".into()));
    }
    Ok(activity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn reads_calls_and_phones() {
        let a = run(&sh(r#"echo '{"calls": 3, "phones": 42}'"#), 3).await.unwrap();
        assert_eq!(
            a,
            PbxActivity {
                calls: Some(3.0),
                phones: Some(42.0)
            }
        );
    }

    #[tokio::test]
    async fn failures_are_errors_with_reasons() {
        assert!(
            matches!(run(&sh("echo boom >&2; exit 2"), 3).await, Err(ProbeError::Failed { stderr, .. }) if stderr.contains("boom"))
        );
        assert!(matches!(run(&sh("echo hello"), 3).await, Err(ProbeError::Output(_))));
        assert!(matches!(
            run(&sh(r#"echo '{"calls": -1}'"#), 3).await,
            Err(ProbeError::Output(_))
        ));
        assert!(matches!(run(&sh("sleep 5"), 1).await, Err(ProbeError::Timeout(1))));
        assert!(matches!(
            run(&["/nonexistent/probe".into()], 1).await,
            Err(ProbeError::Spawn { .. })
        ));
    }

    #[tokio::test]
    async fn no_probe_configured_means_no_values() {
        assert_eq!(run(&[], 3).await.unwrap(), PbxActivity::default());
    }
}
