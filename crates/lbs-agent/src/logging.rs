//! Where the agent's log lines go, and at which priority.
//!
//! Under systemd, stderr is a stream into the journal (`JOURNAL_STREAM` names it). Each line
//! then starts with its syslog priority, `<3>` for an error (sd-daemon(3)), so that
//! `journalctl -p err` shows the errors; the journal stamps the time itself. Elsewhere (a
//! terminal, a test's log file) the lines are the usual timestamped text.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Starts logging at `level` (from the config), unless `RUST_LOG` says otherwise. An empty
/// `RUST_LOG` counts as unset: it would otherwise mean "no directives" and hide every line.
pub fn init(level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("{level},sqlx=warn,hyper=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = if stderr_is_journal() {
        builder
            .with_ansi(false)
            .event_format(Journal(
                tracing_subscriber::fmt::format().without_time().with_target(false),
            ))
            .try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// The syslog priority journald reads from a `<N>` line prefix.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Whether stderr is the journal stream systemd gave us: `JOURNAL_STREAM` is `device:inode` of
/// that stream, so a child whose stderr was redirected elsewhere does not prefix its lines.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match lbs_agent_core::platform::fd_device_inode(2) {
        Some((d, i)) => dev.parse() == Ok(d) && ino.parse() == Ok(i),
        None => false,
    }
}

/// The compact text format, behind the priority prefix.
struct Journal<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journal<Format<F, ()>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    Format<F, ()>: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&prefixed(priority(event.metadata().level()), &line))
    }
}

/// Every line of an event with its priority: journald starts an entry at each newline, and text
/// from outside (a partner's label, a reason) must not choose the priority of the lines it adds.
fn prefixed(priority: u8, text: &str) -> String {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut out = String::with_capacity(body.len() + 8);
    for line in body.split('\n') {
        out.push_str(&format!("<{priority}>{line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_carries_the_event_priority() {
        assert_eq!(prefixed(6, "started\n"), "<6>started\n");
        assert_eq!(prefixed(6, "a label\n<0>PANIC\n"), "<6>a label\n<6><0>PANIC\n");
    }

    #[test]
    fn errors_and_warnings_keep_their_syslog_priority() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }
}
