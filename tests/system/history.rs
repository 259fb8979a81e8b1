//! Resource history end to end: the sampler records, the API answers bounded queries at the
//! right resolution, and the Prometheus endpoint exposes the latest values.

use std::time::Duration;

use lbs_protocol::{HistoryResponse, Resolution, SeriesList};
use lbs_tests::{eventually, Agent};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn get<T: serde::de::DeserializeOwned>(agent: &Agent, path: &str) -> Result<T, (u16, String)> {
    let resp = agent.get(path, &agent.link.token).await;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err((status, resp.text().await.unwrap_or_default()));
    }
    Ok(resp.json().await.unwrap())
}

#[tokio::test]
async fn the_sampler_records_every_kind_of_series() {
    let mut agent = Agent::init("sampler");
    agent.start();
    let list: SeriesList = eventually("series with two samples", Duration::from_secs(20), || async {
        let list: SeriesList = get(&agent, "/api/v1/metrics/series").await.ok()?;
        let cpu = list.series.iter().find(|s| s.name == "cpu.usage")?;
        (cpu.last_unix? > cpu.first_unix?).then_some(list)
    })
    .await;
    for name in [
        "cpu.usage",
        "load.1",
        "memory.used",
        "swap.used",
        "processes",
        "disk./.used_percent",
        "pbx.calls",
        "pbx.phones",
    ] {
        assert!(
            list.series.iter().any(|s| s.name == name),
            "{name} missing from {:?}",
            list.series
        );
    }
    let q = format!(
        "/api/v1/metrics/history?series=pbx.phones&from={}&to={}&points=100",
        now() - 600,
        now() + 1
    );
    let h: HistoryResponse = get(&agent, &q).await.unwrap();
    assert_eq!(h.resolution, Resolution::Raw);
    assert!(
        !h.points.is_empty() && h.points.iter().all(|p| p.min == 17.0 && p.max == 17.0),
        "{:?}",
        h.points
    );

    let text = agent
        .get("/api/v1/metrics", &agent.link.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("lbs_pbx_registered_phones 17"), "{text}");
    assert!(text.contains("lbs_cpu_usage_ratio "), "{text}");
    assert!(text.contains("lbs_role_primary 1\n"), "{text}");
    assert!(text.contains("lbs_partner_paired 0\n"), "{text}");
    assert!(text.contains("# TYPE lbs_memory_used_bytes gauge"), "{text}");

    // Prometheus's own linter accepts the exposition as it is (promtool from Debian's prometheus).
    let out = run_with_stdin("promtool", &["check", "metrics"], text.as_bytes());
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a program with `input` on its standard input and collects its output.
fn run_with_stdin(program: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup.sh installs it): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[tokio::test]
async fn long_ranges_come_from_roll_ups_and_never_exceed_the_points_asked() {
    let mut agent = Agent::init("rollups");
    let out = agent.cli(&["demo", "seed-history", "--days", "32"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    agent.start();
    for (days, points, expected) in [
        (30, 1000, Resolution::TenMinute),
        (32, 200, Resolution::Hour),
        (1, 500, Resolution::Minute),
    ] {
        let q = format!(
            "/api/v1/metrics/history?series=cpu.usage&from={}&to={}&points={points}",
            now() - days * 86_400,
            now()
        );
        let h: HistoryResponse = get(&agent, &q).await.unwrap();
        assert_eq!(h.resolution, expected, "{days} days / {points} points");
        assert!(
            h.points.len() <= points as usize && h.points.len() > points as usize / 2,
            "{} points",
            h.points.len()
        );
        assert!(h.points.iter().all(|p| p.min <= p.avg && p.avg <= p.max));
    }
    // History is kept across restarts: it belongs to the machine.
    agent.stop();
    agent.start();
    let q = format!(
        "/api/v1/metrics/history?series=pbx.calls&from={}&to={}&points=100",
        now() - 30 * 86_400,
        now()
    );
    let h: HistoryResponse = get(&agent, &q).await.unwrap();
    assert!(h.points.len() > 50);
}

#[tokio::test]
async fn bad_history_queries_get_clear_errors() {
    let mut agent = Agent::init("queries");
    agent.start();
    let t = now();
    let cases = [
        (
            format!("series=cpu.usage&from={t}&to={}&points=10", t - 10),
            400,
            "after",
        ),
        (
            format!("series=cpu.usage&from={}&to={t}&points=0", t - 10),
            400,
            "points",
        ),
        (
            format!("series=cpu.usage&from=yesterday&to={t}&points=10"),
            400,
            "query string is not valid",
        ),
        (
            format!("series=no.such&from={}&to={t}&points=10", t - 10),
            404,
            "no series named `no.such`",
        ),
        ("series=cpu.usage".to_owned(), 400, "missing field"),
    ];
    for (query, status, needle) in cases {
        let err = get::<HistoryResponse>(&agent, &format!("/api/v1/metrics/history?{query}"))
            .await
            .unwrap_err();
        assert_eq!(err.0, status, "{query}: {}", err.1);
        assert!(err.1.contains(needle), "{query}: {}", err.1);
    }
}
