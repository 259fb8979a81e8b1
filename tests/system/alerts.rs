//! The alerts the agents send themselves, received by real servers: a mail server (aiosmtpd,
//! STARTTLS or TLS, AUTH LOGIN) and an HTTP server recording webhooks. Each condition's alert
//! and its end; a mail server down, then up, with the agent killed between: each alert arrives
//! once; an untrusted certificate refused and reported; `lbs-agent alert test`.

use std::path::Path;
use std::time::Duration;

use lbs_protocol::{AlertsStatus, Role};
use lbs_tests::alerts::{HookServer, Mail, MailServer, Tls};
use lbs_tests::{eventually, Agent};
use serde_json::json;

use crate::failover::{ask, box_config, events, failover, pair_of, voicemail};

async fn alerts_status(agent: &Agent) -> AlertsStatus {
    let r = agent.get("/api/v1/alerts", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn subjects(mails: &[Mail]) -> Vec<String> {
    mails.iter().map(Mail::subject).collect()
}

/// Waits for a mail whose subject contains `what`; returns it. On a timeout, says what came and
/// what the agent logged about its alerts.
async fn mail_about(server: &MailServer, what: &str, agent: &Agent) -> Mail {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(m) = server.mails().into_iter().find(|m| m.subject().contains(what)) {
            assert!(!agent.log().contains(&server.password), "the password reached the log");
            return m;
        }
        if std::time::Instant::now() > deadline {
            let log: Vec<String> = agent
                .log()
                .lines()
                .filter(|l| l.contains("alert"))
                .map(String::from)
                .collect();
            panic!(
                "no mail about \"{what}\"; received {:#?}\nthe agent's alert lines:\n{}",
                subjects(&server.mails()),
                log[log.len().saturating_sub(30)..].join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a webhook whose title contains `what`.
async fn hook_about(hooks: &HookServer, what: &str) -> lbs_tests::alerts::Hook {
    eventually(
        &format!("a webhook about \"{what}\""),
        Duration::from_secs(60),
        || async {
            hooks.hooks().into_iter().find(|h| {
                let json_title = h.json()["title"].as_str().map(str::to_owned);
                let ntfy_title = h.header("title").map(lbs_tests::alerts::decode_words);
                json_title.or(ntfy_title).is_some_and(|t| t.contains(what))
            })
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_wait_for_a_mail_server_that_is_down_survive_sigkill_and_arrive_once() {
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::make(&dir.path().join("tls"));
    let mut mail = MailServer::new(dir.path(), "starttls", Some(&tls)).login_only();
    let hooks = HookServer::start().await;
    let section = format!(
        "[alerts]\ndisk_used_above = 1\nmemory_used_above = 1\n{}{}",
        mail.config(dir.path(), &format!("ca_file = \"{}\"", tls.ca.display())),
        hooks.config("/lbs", "json")
    );
    let mut a = Agent::init_config("PBX A", "1s", |_| section.clone());
    a.start();
    let token = a.link.token.clone();

    // The mail server is down: the webhook gets both alerts at once, the mail waits.
    let firing = eventually(
        "the disk and memory alerts by webhook",
        Duration::from_secs(30),
        || async {
            let h: Vec<_> = hooks
                .hooks()
                .into_iter()
                .filter(|h| h.json()["state"] == "firing")
                .collect();
            (h.len() >= 2).then_some(h)
        },
    )
    .await;
    let body = firing[0].json();
    for key in [
        "id",
        "server",
        "server_id",
        "role",
        "condition",
        "state",
        "title",
        "message",
        "what_to_do",
        "time",
    ] {
        assert!(!body[key].is_null(), "{key} missing from {body}");
    }
    assert_eq!(body["server"], "PBX A");
    assert_eq!(firing[0].path, "/lbs");
    assert_eq!(firing[0].header("x-lbs-alert-id"), body["id"].as_str());
    let mut conditions: Vec<String> = firing
        .iter()
        .filter_map(|h| h.json()["condition"].as_str().map(str::to_owned))
        .collect();
    conditions.sort();
    assert_eq!(conditions, ["disk:/", "memory"]);
    let failing = eventually(
        "the mail channel to be failing with 2 alerts waiting",
        Duration::from_secs(30),
        || async {
            let s = alerts_status(&a).await;
            s.channels
                .into_iter()
                .find(|c| c.kind == "email" && c.failing && c.queued == 2)
        },
    )
    .await;
    let problem = failing.last_error.clone().unwrap();
    assert!(problem.contains("nothing answers at 127.0.0.1"), "{problem}");
    let metrics = a.get("/api/v1/metrics", &token).await.text().await.unwrap();
    let channel = format!("channel=\"{}\"", failing.channel);
    assert!(
        metrics.contains(&format!("lbs_alert_channel_failing{{{channel}}} 1"))
            && metrics.contains(&format!("lbs_alerts_queued{{{channel}}} 2")),
        "{metrics}"
    );
    // A retry fails too, and the audit log still has one entry for the problem (the alert tried
    // first; the other waits behind it), not one per retry.
    let first = failing.next_attempt_unix.unwrap();
    eventually("a second attempt to fail", Duration::from_secs(30), || async {
        let s = alerts_status(&a).await;
        s.channels
            .into_iter()
            .find(|c| c.kind == "email" && c.next_attempt_unix.is_some_and(|t| t > first))
    })
    .await;
    let log = events(&a).await;
    let failed: Vec<&String> = log.iter().filter(|e| e.starts_with("alert_failed")).collect();
    assert_eq!(failed.len(), 1, "{log:#?}");
    assert!(failed[0].contains("(2 waiting, retried until delivered)"), "{log:#?}");
    assert!(
        log.iter()
            .any(|e| e.starts_with("alert_sent") && e.contains("webhook:127.0.0.1")),
        "{log:#?}"
    );

    // Killed with the mails still queued; the mail server comes back; the agent restarts.
    a.kill9();
    mail.start();
    a.start();
    eventually("both mails delivered", Duration::from_secs(60), || async {
        let s = alerts_status(&a).await;
        let email = s.channels.iter().find(|c| c.kind == "email")?;
        (email.queued == 0 && mail.mails().len() >= 2).then_some(())
    })
    .await;
    let mails = mail.mails();
    assert_eq!(mails.len(), 2, "each alert once: {:?}", subjects(&mails));
    let subjects = subjects(&mails);
    assert!(
        subjects.iter().any(|s| s.starts_with("The disk / on PBX A is")),
        "{subjects:?}"
    );
    assert!(subjects.iter().any(|s| s.starts_with("PBX A is using")), "{subjects:?}");
    let ids: std::collections::BTreeSet<String> = mails.iter().filter_map(|m| m.header("Message-ID")).collect();
    assert_eq!(ids.len(), 2, "each its own Message-ID");
    assert!(ids.iter().all(|id| id.ends_with(".lbs-agent>")), "{ids:?}");
    let m = &mails[0];
    assert_eq!(
        m.header("X-Envelope-To").as_deref(),
        Some("office@example.com, it@example.com")
    );
    assert!(m.body().contains("What to do:"), "{}", m.body());
    // The restart sent no webhook again and no problem twice.
    let firing_hooks = hooks.hooks().iter().filter(|h| h.json()["state"] == "firing").count();
    assert_eq!(firing_hooks, 2);

    // Thresholds raised: both problems are over, said once each, by mail and webhook.
    a.stop();
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace("disk_used_above = 1\n", "disk_used_above = 100\n")
        .replace("memory_used_above = 1\n", "memory_used_above = 100\n");
    std::fs::write(&a.config, text).unwrap();
    a.start();
    mail_about(&mail, "Resolved: The disk / on PBX A has room again", &a).await;
    let over = mail_about(&mail, "Resolved: PBX A's memory use is normal again", &a).await;
    assert!(over.body().contains("The problem lasted"), "{}", over.body());
    hook_about(&hooks, "Resolved: PBX A's memory use is normal again").await;

    // `alert test` through both channels: each server's answer.
    let out = a.cli(&["alert", "test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("250 2.0.0 Ok: queued as"), "{stdout}");
    assert!(stdout.contains("HTTP 200 OK"), "{stdout}");
    mail_about(&mail, "Test alert from PBX A", &a).await;
    // The mail server gone: a plain reason and a non-zero exit.
    mail.stop();
    let out = a.cli(&["alert", "test"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("nothing answers at 127.0.0.1"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 of 2 channels did not take the test alert"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_with_an_untrusted_certificate_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::make(&dir.path().join("tls"));
    let mut mail = MailServer::new(dir.path(), "tls", Some(&tls));
    mail.start();
    // No ca_file: the office's own CA is not trusted.
    let section = format!("[alerts]\ndisk_used_above = 1\n{}", mail.config(dir.path(), ""));
    let mut a = Agent::init_config("PBX A", "1s", |_| section.clone());
    a.start();
    let entry = eventually("the refusal in the audit log", Duration::from_secs(30), || async {
        events(&a).await.into_iter().find(|e| e.starts_with("alert_failed"))
    })
    .await;
    assert!(entry.contains("certificate is not trusted by this box"), "{entry}");
    let s = alerts_status(&a).await;
    assert!(s.channels[0].failing && s.channels[0].queued >= 1, "{s:?}");
    let out = a.cli(&["alert", "test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("ca_file"), "{stdout}");
    assert!(
        mail.mails().is_empty(),
        "nothing went over a connection that was not trusted"
    );

    // With its CA as ca_file, the same server is trusted and the waiting alert goes.
    a.stop();
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace("to = [", &format!("ca_file = \"{}\"\nto = [", tls.ca.display()));
    std::fs::write(&a.config, text).unwrap();
    a.start();
    mail_about(&mail, "The disk / on PBX A is", &a).await;
}

/// A webhook's address is often its secret (an ntfy topic, a Slack or Discord path, a
/// `?token=`, a `user:pass@`): a receiver that is gone is named by its scheme, host and port
/// wherever a person or a view-only token may read about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhooks_secret_address_never_leaves_the_config_file() {
    let port = lbs_tests::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let secrets = ["hook-user", "hook-pass", "topic-s3cret", "tok-s3cret"];
    let url = format!("http://hook-user:hook-pass@127.0.0.1:{port}/topic-s3cret?token=tok-s3cret");
    let section = format!("[alerts]\nmemory_used_above = 1\n[[alerts.webhook]]\nurl = \"{url}\"\nformat = \"ntfy\"\n");
    let mut a = Agent::init_config("PBX A", "1s", |_| section.clone());
    a.start();
    let hidden = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{s} in {what}: {text}");
        }
    };
    // Nothing listens there: the channel fails, as a viewer sees it.
    let viewer = a.cli(&["token", "create", "--role", "viewer", "--label", "wallboard"]);
    assert!(viewer.status.success());
    let viewer = lbs_tests::parse_link(&String::from_utf8_lossy(&viewer.stdout)).token;
    let status = eventually("the webhook to be failing", Duration::from_secs(30), || async {
        let body = a.get("/api/v1/alerts", &viewer).await.text().await.unwrap();
        let s: AlertsStatus = serde_json::from_str(&body).unwrap();
        s.channels.iter().any(|c| c.failing).then_some((body, s))
    })
    .await;
    hidden("GET /api/v1/alerts", &status.0);
    let problem = status.1.channels[0].last_error.clone().unwrap();
    assert!(
        problem.starts_with(&format!("{origin}: nothing answers there")),
        "{problem}"
    );
    // The audit log (the console's Events).
    let entry = eventually("the failure in the audit log", Duration::from_secs(30), || async {
        events(&a).await.into_iter().find(|e| e.starts_with("alert_failed"))
    })
    .await;
    assert!(entry.contains(&origin), "{entry}");
    let log = a.get("/api/v1/events", &viewer).await.text().await.unwrap();
    hidden("the audit log", &log);
    // `alert test`, and `check-config` (which says the file holds a secret).
    let test = a.cli(&["alert", "test"]);
    assert!(!test.status.success());
    let out = String::from_utf8_lossy(&test.stdout).into_owned() + &String::from_utf8_lossy(&test.stderr);
    assert!(out.contains(&format!("{origin}: nothing answers there")), "{out}");
    hidden("alert test", &out);
    let check = a.cli(&["check-config"]);
    let out = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(out.contains(&format!("url = \"{origin}/…\"")), "{out}");
    assert!(
        out.contains("holds secrets (the address of webhook:127.0.0.1) and can be read by other users"),
        "{out}"
    );
    hidden("check-config", &out);
    // The agent's own log (the journal).
    a.stop();
    let journal = a.log();
    assert!(journal.contains("alert not delivered"), "{journal}");
    hidden("the agent's log", &journal);
}

/// The `[alerts]` of a box of the pair: thresholds short enough for a test.
fn pair_alerts(dir: &Path, mail: &MailServer, hooks: &HookServer, format: &str, extra: &str) -> String {
    format!(
        "\n[alerts]\npartner_silent_after = \"3s\"\n{extra}{}{}",
        mail.config(dir, ""),
        hooks.config("/hook", format)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pair_says_what_goes_wrong_and_when_it_is_over() {
    let shared = tempfile::tempdir().unwrap();
    let mut mail = MailServer::new(shared.path(), "plain", None);
    mail.start();
    let hooks = HookServer::start().await;
    let mut pair = pair_of(
        |d| box_config(d, "4s", "") + &pair_alerts(d, &mail, &hooks, "json", ""),
        |d| box_config(d, "4s", "") + &pair_alerts(d, &mail, &hooks, "ntfy", ""),
    );
    eventually("B to be the backup", Duration::from_secs(20), || async {
        (failover(&pair.b).await.role == Role::Backup).then_some(())
    })
    .await;

    // The PBX stops on the primary; then it runs again.
    let pbx_a = pair.a.dir.path().join("pbx.sh");
    assert!(std::process::Command::new(&pbx_a)
        .arg("stop")
        .status()
        .unwrap()
        .success());
    let m = mail_about(&mail, "The PBX is not running on PBX A (the primary)", &pair.a).await;
    assert!(m.body().contains("fail over to PBX B"), "{}", m.body());
    hook_about(&hooks, "The PBX is not running on PBX A").await;
    assert!(std::process::Command::new(&pbx_a)
        .arg("start")
        .status()
        .unwrap()
        .success());
    mail_about(&mail, "Resolved: The PBX runs again on PBX A", &pair.a).await;

    // The PBX found running on the backup: stopped, and said.
    let pbx_b = pair.b.dir.path().join("pbx.sh");
    assert!(std::process::Command::new(&pbx_b)
        .arg("start")
        .status()
        .unwrap()
        .success());
    mail_about(&mail, "The PBX was running on the backup PBX B", &pair.b).await;
    let ntfy = hook_about(&hooks, "The PBX was running on the backup PBX B").await;
    assert_eq!(ntfy.header("priority"), Some("high"));
    assert!(ntfy.body.contains("What to do:"), "{}", ntfy.body);
    mail_about(&mail, "Resolved: The PBX no longer runs on the backup PBX B", &pair.b).await;

    // The primary dies: the backup says so.
    pair.a.kill9();
    let m = mail_about(
        &mail,
        "PBX A (the primary) does not answer — the phones may be down",
        &pair.b,
    )
    .await;
    assert!(
        m.body().contains("the failover wizard makes PBX B the primary"),
        "{}",
        m.body()
    );
    hook_about(&hooks, "PBX A (the primary) does not answer").await;

    // While it was away, A wrote a file B never got. B is promoted, with a reason.
    std::fs::write(voicemail(&pair.a).join("split.txt"), "left on A after the cut").unwrap();
    let (code, body) = ask(
        &pair.b,
        "promote",
        json!({"force": true, "reason": "PBX A's power supply died"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let m = mail_about(
        &mail,
        "Failover: PBX B is now the primary — it runs the phones",
        &pair.b,
    )
    .await;
    assert!(m.body().contains("\"PBX A's power supply died\""), "{}", m.body());
    assert!(m.body().contains("asked by"), "{}", m.body());
    // B's webhook is ntfy: the subject in the Title header, the words as the body.
    let hook = hook_about(&hooks, "Failover: PBX B is now the primary").await;
    assert_eq!(hook.header("priority"), Some("high"));
    assert!(hook.body.contains("\"PBX A's power supply died\""), "{}", hook.body);

    // A comes back: it steps down with its file set aside; B hears it again; the hold ends.
    pair.a.start();
    let m = mail_about(&mail, "PBX A stepped down — 1 files set aside", &pair.a).await;
    assert!(m.body().contains("quarantine"), "{}", m.body());
    hook_about(&hooks, "PBX A stepped down").await;
    let back = mail_about(&mail, "Resolved: PBX A answers again", &pair.b).await;
    assert!(back.body().contains("It is the backup."), "{}", back.body());
    let m = mail_about(&mail, "the office may switch back now", &pair.b).await;
    assert!(
        m.subject().starts_with("PBX B has run the phones for"),
        "{}",
        m.subject()
    );

    // Each of these once: no problem said twice by one box, nor by both.
    let all = subjects(&mail.mails());
    for once in [
        "The PBX is not running on PBX A (the primary) — phones cannot call",
        "PBX A (the primary) does not answer — the phones may be down",
        "Failover: PBX B is now the primary — it runs the phones",
        "PBX A stepped down — 1 files set aside",
    ] {
        assert_eq!(all.iter().filter(|s| s.as_str() == once).count(), 1, "{once}: {all:#?}");
    }
    // A reading of the PBX from before a role change is no news about the role after it.
    assert!(
        !all.iter()
            .any(|s| s.contains("not running on PBX B") || s.contains("running on the backup PBX A")),
        "{all:#?}"
    );
    let b_log = events(&pair.b).await.join("\n");
    assert!(
        b_log.contains("alert_sent: alert sent to email:127.0.0.1 (250"),
        "{b_log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_cannot_copy_says_the_office_is_not_protected() {
    let shared = tempfile::tempdir().unwrap();
    let mut mail = MailServer::new(shared.path(), "plain", None);
    mail.start();
    let hooks = HookServer::start().await;
    let thresholds = "sync_failing_for = \"2s\"\n";
    // A bearer token for the JSON receiver, Gotify's own header for Gotify; both from files.
    let with_token = |d: &Path, format: &str| {
        let token = d.join("hook.token");
        std::fs::write(&token, format!("token-of-{format}\n")).unwrap();
        pair_alerts(d, &mail, &hooks, format, thresholds) + &format!("token_file = \"{}\"\n", token.display())
    };
    let pair = pair_of(
        |d| box_config(d, "1h", "") + &with_token(d, "json"),
        |d| box_config(d, "1h", "") + &with_token(d, "gotify"),
    );
    // B's voicemail folder replaced by a file: nothing can be installed there.
    let root = voicemail(&pair.b);
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, "not a folder").unwrap();
    std::fs::write(voicemail(&pair.a).join("msg0001.txt"), "hello from 1001").unwrap();
    let m = mail_about(&mail, "Not protected", &pair.b).await;
    assert!(m.subject().contains("PBX B"), "{}", m.subject());
    assert!(
        m.body().contains("has failed with the same error since"),
        "{}",
        m.body()
    );
    let hook = hook_about(&hooks, "Not protected").await;
    // B's webhook is Gotify: title, message (with what to do) and a priority, the token as its key.
    assert_eq!(hook.header("x-gotify-key"), Some("token-of-gotify"));
    assert_eq!(hook.json()["priority"], 8);
    assert!(
        hook.json()["message"].as_str().unwrap().contains("What to do: "),
        "{}",
        hook.body
    );
    // A's JSON webhook carries its token as a bearer token.
    let test = pair.a.cli(&["alert", "test"]);
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
    let from_a = hook_about(&hooks, "Test alert from PBX A").await;
    assert_eq!(from_a.header("authorization"), Some("Bearer token-of-json"));
    assert_eq!(from_a.json()["state"], "test");
    // Fixed: the copy catches up and B says so.
    std::fs::remove_file(&root).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    mail_about(&mail, "Resolved: Protected again", &pair.b).await;
    let said_by_a = mail
        .mails()
        .iter()
        .filter(|m| m.subject().contains("Not protected") && m.body().contains("PBX A ("))
        .count();
    assert_eq!(said_by_a, 0, "the primary does not say it too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_falls_behind_says_so_and_when_it_has_caught_up() {
    let shared = tempfile::tempdir().unwrap();
    let mut mail = MailServer::new(shared.path(), "plain", None);
    mail.start();
    let hooks = HookServer::start().await;
    let thresholds = "sync_behind = \"3s\"\n";
    // B copies at 64 KB/s: a 1 MB recording takes it about 16 s.
    let pair = pair_of(
        |d| box_config(d, "1h", "") + &pair_alerts(d, &mail, &hooks, "json", thresholds),
        |d| box_config(d, "1h", "bandwidth_limit = \"64 KB/s\"\n") + &pair_alerts(d, &mail, &hooks, "json", thresholds),
    );
    std::fs::write(voicemail(&pair.a).join("long-call.wav"), lbs_tests::noise(7, 1_000_000)).unwrap();
    let m = mail_about(&mail, "Not protected: the backup PBX B is", &pair.b).await;
    assert!(m.subject().ends_with(" behind"), "{}", m.subject());
    assert!(m.body().contains("are not on PBX B yet"), "{}", m.body());
    let over = mail_about(
        &mail,
        "Resolved: Protected again: the backup PBX B is up to date",
        &pair.b,
    )
    .await;
    assert!(over.body().contains("The problem lasted"), "{}", over.body());
    assert_eq!(
        std::fs::read(voicemail(&pair.b).join("long-call.wav")).unwrap().len(),
        1_000_000
    );
}

/// On the simulated office network (`tests/lab/office.sh`): the office's mail server and webhook
/// receiver live on the office LAN (the DNS host's namespace); the primary's cable is pulled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio)"]
async fn the_backup_mails_when_the_primarys_cable_is_pulled_and_again_when_it_is_back() {
    use lbs_tests::lab::{cli_ok, wait_for, Lab, Strategy};
    let lab = Lab::up(44);
    let office_ip = lab.ip("dns");
    let tls = Tls::make_for(&lab.dir.path().join("mail-tls"), &[&office_ip]);
    let mut mail = MailServer::new(lab.dir.path(), "starttls", Some(&tls)).in_netns(&lab.ns("dns"), &office_ip);
    mail.start();
    let hooks = HookServer::start_in_netns(&lab.ns("dns"), &format!("{office_ip}:8080")).await;
    let mut a = lab.agent("a", "PBX A", "primary", Strategy::Vip, "1h");
    let mut b = lab.agent("b", "PBX B", "backup", Strategy::Vip, "1h");
    for agent in [&a, &b] {
        let section = format!(
            "\n[alerts]\npartner_silent_after = \"3s\"\n{}{}",
            mail.config(agent.dir.path(), &format!("ca_file = \"{}\"", tls.ca.display())),
            hooks.config("/office", "json")
        );
        let text = std::fs::read_to_string(&agent.config).unwrap() + &section;
        std::fs::write(&agent.config, text).unwrap();
    }
    a.start();
    b.start();
    cli_ok(&b, &["pair", &a.link.to_string()]);
    wait_for("A's PBX to run", Duration::from_secs(15), || lab.pbx_running("a"));
    wait_for("the heartbeat", Duration::from_secs(10), || {
        lbs_tests::lab::failover_status(&b).partner.reachable
    });

    lab.cut("a");
    let m = mail_about(
        &mail,
        "PBX A (the primary) does not answer — the phones may be down",
        &b,
    )
    .await;
    assert!(m.body().contains("PBX B, the backup"), "{}", m.body());
    let hook = hook_about(&hooks, "PBX A (the primary) does not answer").await;
    assert_eq!(hook.json()["server"], "PBX B");
    assert_eq!(hook.json()["state"], "firing");

    // Plugged back: B says it is over; what A wrote while cut off (B silent, it thought) reaches
    // the office from its outbox.
    lab.heal("a");
    mail_about(&mail, "Resolved: PBX A answers again", &b).await;
    hook_about(&hooks, "Resolved: PBX A answers again").await;
    let late = mail_about(&mail, "PBX B does not answer — the phones run on PBX A", &a).await;
    assert!(late.body().contains("nothing is being copied"), "{}", late.body());
    let once = subjects(&mail.mails())
        .iter()
        .filter(|s| s.as_str() == "PBX A (the primary) does not answer — the phones may be down")
        .count();
    assert_eq!(once, 1);
}

/// Maintenance holds what the work causes: the backup switched off for its repair raises nothing
/// on the primary while maintenance is on; if it is still off when maintenance ends, the alert goes
/// out then, and its end when the backup is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_holds_the_alerts_the_work_causes_and_sends_what_is_still_wrong_when_it_ends() {
    let shared = tempfile::tempdir().unwrap();
    let mut mail = MailServer::new(shared.path(), "plain", None);
    mail.start();
    let hooks = HookServer::start().await;
    let mut pair = pair_of(
        |d| box_config(d, "1h", "") + &pair_alerts(d, &mail, &hooks, "json", ""),
        |d| box_config(d, "1h", "") + &pair_alerts(d, &mail, &hooks, "json", ""),
    );
    eventually("B to be the backup", Duration::from_secs(20), || async {
        (failover(&pair.b).await.role == Role::Backup).then_some(())
    })
    .await;

    // The technician starts maintenance on the box they will work on; the pair holds it.
    let out = pair.b.cli(&[
        "maintenance",
        "on",
        "--for",
        "1h",
        "--reason",
        "replacing the disk of PBX B",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("A to know of the maintenance", Duration::from_secs(20), || async {
        let r = pair.a.get("/api/v1/status", &pair.a.link.token).await;
        let s: lbs_protocol::ServerStatus = r.json().await.unwrap();
        s.maintenance
    })
    .await;

    // The backup is switched off: A sees it and holds the alert.
    pair.b.kill9();
    eventually(
        "A to hold the alert that B does not answer",
        Duration::from_secs(60),
        || async {
            let s = alerts_status(&pair.a).await;
            s.open.into_iter().find(|o| o.condition == "partner_silent" && !o.sent)
        },
    )
    .await;
    let said = |what: &str| {
        subjects(&mail.mails()).iter().any(|s| s.contains(what))
            || hooks
                .hooks()
                .iter()
                .any(|h| h.json()["title"].as_str().is_some_and(|t| t.contains(what)))
    };
    assert!(!said("does not answer"), "sent during maintenance");

    // Maintenance ends (from the other box) with B still off: now the office is told.
    let out = pair.a.cli(&["maintenance", "off"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = mail_about(&mail, "PBX B does not answer — the phones run on PBX A", &pair.a).await;
    assert!(m.body().contains("nothing is being copied"), "{}", m.body());
    hook_about(&hooks, "PBX B does not answer").await;

    // B is back: the end of it.
    pair.b.start();
    mail_about(&mail, "PBX B answers again", &pair.a).await;
    let sent = subjects(&mail.mails())
        .into_iter()
        .filter(|s| s.contains("PBX B does not answer"))
        .count();
    assert_eq!(sent, 1, "one alert for the one incident: {:?}", subjects(&mail.mails()));
}
