//! Maintenance mode between two real paired agents: set on one box it holds for both at once; a
//! box that was away learns it (and its end) from the heartbeat; it ends by itself on time, on
//! both boxes, even on one that was stopped when its time came; an old setting running out on a
//! box that comes back leaves a newer one on; it survives a restart; every change is in both
//! audit logs; the status, the CLI and the metrics show it (and each box's view of the other's
//! clock); the sync keeps running; and refused input says why and changes nothing.

use std::time::Duration;

use lbs_protocol::{
    Event, EventKind, EventList, FailoverStatus, Maintenance, MaintenanceAnswer, PartnerNotice, ServerStatus,
    TokenCreated,
};
use lbs_tests::{eventually, Agent};
use serde_json::json;

use crate::failover::{box_config, events, pair_of, voicemail, Pair};

fn paired() -> Pair {
    pair_of(|d| box_config(d, "0s", ""), |d| box_config(d, "0s", ""))
}

async fn status(agent: &Agent) -> ServerStatus {
    let r = agent.get("/api/v1/status", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The maintenance a box reports in its status.
async fn on(agent: &Agent) -> Option<Maintenance> {
    status(agent).await.maintenance
}

/// `POST /api/v1/maintenance` with the box's admin token: (status, body).
async fn start(agent: &Agent, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = agent.post("/api/v1/maintenance", &agent.link.token, body).await;
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

async fn end(agent: &Agent, token: &str) -> (u16, serde_json::Value) {
    let r = agent
        .http()
        .delete(agent.url("/api/v1/maintenance"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

fn answer(body: serde_json::Value) -> MaintenanceAnswer {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn metrics(agent: &Agent) -> String {
    let r = agent.get("/api/v1/metrics", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The maintenance entries of a box's audit log, oldest first.
async fn trail(agent: &Agent) -> Vec<String> {
    let mut list: Vec<String> = events(agent)
        .await
        .into_iter()
        .filter(|e| e.starts_with("maintenance_"))
        .collect();
    list.reverse();
    list
}

/// The box's audit entry for a maintenance whose time ran out, once it is written.
async fn ran_out(agent: &Agent) -> Option<Event> {
    let list: EventList = agent
        .get("/api/v1/events", &agent.link.token)
        .await
        .json()
        .await
        .unwrap();
    list.events
        .into_iter()
        .find(|e| e.kind == EventKind::MaintenanceEnded && e.message.contains("its time ran out"))
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn maintenance_set_on_one_box_holds_for_both_keeps_the_copy_running_and_ends_from_either() {
    let mut pair = paired();
    let (code, body) = start(
        &pair.a,
        json!({ "for_secs": 7200, "reason": "replacing the disk of PBX A", "by": "Sam" }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let told = answer(body);
    assert_eq!(told.partner, PartnerNotice::Told { name: "PBX B".into() });
    let m = told.maintenance.expect("on");
    assert_eq!(
        (m.set_by.as_str(), m.reason.as_str()),
        ("Sam", "replacing the disk of PBX A")
    );
    assert_eq!(m.until_unix - m.set_at_unix, 7200);
    // B was told before A answered.
    assert_eq!(on(&pair.b).await, Some(m.clone()));
    assert_eq!(on(&pair.a).await, Some(m.clone()));

    // Shown everywhere: the metrics, the CLI's status and its own command, on both boxes.
    for agent in [&pair.a, &pair.b] {
        let text = metrics(agent).await;
        assert!(text.contains("lbs_maintenance_active 1\n"), "{text}");
        assert!(
            text.contains(&format!("lbs_maintenance_end_timestamp_seconds {}\n", m.until_unix)),
            "{text}"
        );
    }
    // Each box measures the other's clock at every heartbeat answered: the same machine here.
    for agent in [&pair.a, &pair.b] {
        let offset = eventually("the partner's clock measured", Duration::from_secs(10), || async {
            let f: FailoverStatus = agent
                .get("/api/v1/failover", &agent.link.token)
                .await
                .json()
                .await
                .ok()?;
            assert_eq!(f.partner.clock_problem, None);
            f.partner.clock_offset_secs
        })
        .await;
        assert!(offset.abs() <= 1, "{offset}");
        let text = metrics(agent).await;
        let gauge = text
            .lines()
            .find_map(|l| l.strip_prefix("lbs_partner_clock_skew_seconds "))
            .unwrap_or_else(|| panic!("no clock gauge: {text}"));
        assert!(gauge.parse::<i64>().is_ok_and(|s| s.abs() <= 1), "{gauge}");
    }
    let shown = stdout(&pair.b.cli(&["status"]));
    assert!(
        shown.contains("Maintenance:  until ") && shown.contains("(set by Sam: replacing the disk of PBX A)"),
        "{shown}"
    );
    let shown = stdout(&pair.b.cli(&["maintenance"]));
    assert!(
        shown.starts_with("Maintenance for the pair: until ") && shown.contains("set by Sam: replacing the disk"),
        "{shown}"
    );
    assert!(shown.contains("the copy keeps running"), "{shown}");
    assert!(
        shown.contains("A PBX started on the backup is still stopped: two running PBXs would split the phones"),
        "{shown}"
    );
    assert!(!shown.contains("Clock:"), "the clocks agree: {shown}");

    // The copy keeps running meanwhile.
    std::fs::write(voicemail(&pair.a).join("msg-during-work.txt"), b"left during the work").unwrap();
    eventually("the new voicemail on B", Duration::from_secs(20), || async {
        std::fs::read(voicemail(&pair.b).join("msg-during-work.txt")).ok()
    })
    .await;

    // Survives a restart of both boxes.
    pair.a.stop();
    pair.b.stop();
    pair.a.start();
    pair.b.start();
    assert_eq!(on(&pair.a).await, Some(m.clone()));
    assert_eq!(on(&pair.b).await, Some(m.clone()));

    // Ended from the other box, with the command line: both boxes end it at once.
    let out = stdout(&pair.b.cli(&["maintenance", "off"]));
    assert!(out.contains("Maintenance ended for the pair."), "{out}");
    assert!(out.contains("PBX A was told"), "{out}");
    assert_eq!(on(&pair.a).await, None);
    assert_eq!(on(&pair.b).await, None);
    assert!(metrics(&pair.a).await.contains("lbs_maintenance_active 0\n"));
    let again = stdout(&pair.b.cli(&["maintenance", "off"]));
    assert!(again.contains("No maintenance was on"), "{again}");

    // Both audit logs: who, why, until when; who ended it.
    let a = trail(&pair.a).await;
    let b = trail(&pair.b).await;
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(b.len(), 2, "{b:#?}");
    assert!(
        a[0].starts_with("maintenance_started: maintenance for the pair: set by Sam until ")
            && a[0].ends_with(&format!(
                "[token {} (first admin (from init))]",
                pair.a.link.token.split('_').nth(1).unwrap()
            )),
        "{a:#?}"
    );
    assert!(
        b[0].contains("set on PBX A by Sam") && b[0].ends_with("[PBX A (the partner)]"),
        "{b:#?}"
    );
    assert!(
        b[1].starts_with("maintenance_ended: maintenance ended by ") && b[1].contains("command line on PBX B"),
        "{b:#?}"
    );
    assert!(
        a[1].starts_with("maintenance_ended: maintenance ended on PBX B by "),
        "{a:#?}"
    );
}

#[tokio::test]
async fn a_box_that_was_away_learns_the_maintenance_and_its_end_from_the_heartbeat() {
    let mut pair = paired();
    pair.a.stop();
    let out = stdout(&pair.b.cli(&[
        "maintenance",
        "on",
        "--for",
        "2h",
        "--reason",
        "moving PBX A to the new rack",
        "--by",
        "Kim",
    ]));
    assert!(out.starts_with("Maintenance on for the pair: until "), "{out}");
    assert!(
        out.contains("Set on this box; PBX A did not answer and will learn it when it does"),
        "{out}"
    );
    let set = on(&pair.b).await.expect("on at B");
    pair.a.start();
    let learned = eventually("A learns the maintenance", Duration::from_secs(20), || async {
        on(&pair.a).await
    })
    .await;
    assert_eq!(learned, set);
    let a = trail(&pair.a).await;
    assert!(
        a.len() == 1 && a[0].contains("set on PBX B by Kim") && a[0].ends_with("[PBX B (the partner)]"),
        "{a:#?}"
    );

    // Ended on B while A is away again: A learns the end when it is back.
    pair.a.stop();
    let (code, body) = end(&pair.b, &pair.b.link.token).await;
    assert_eq!(code, 200, "{body}");
    let ended = answer(body);
    assert!(ended.changed && ended.maintenance.is_none());
    assert!(
        matches!(&ended.partner, PartnerNotice::NotTold { name, message } if name == "PBX A" && message.contains("does not answer")),
        "{:?}",
        ended.partner
    );
    pair.a.start();
    // A starts from its file, which still says on; the heartbeat brings the end.
    eventually("A learns the end", Duration::from_secs(20), || async {
        on(&pair.a).await.is_none().then_some(())
    })
    .await;
    let a = trail(&pair.a).await;
    assert!(
        a.len() == 2 && a[1].starts_with("maintenance_ended: maintenance ended on PBX B by "),
        "{a:#?}"
    );
}

#[tokio::test]
async fn maintenance_ends_by_itself_on_time_even_on_a_box_stopped_when_its_time_came() {
    let mut pair = paired();
    let (code, body) = start(&pair.a, json!({ "for_secs": 60, "reason": "reboot after updates" })).await;
    assert_eq!(code, 200, "{body}");
    let m = answer(body).maintenance.expect("on");
    assert_eq!(on(&pair.b).await, Some(m.clone()));
    // B is stopped while it runs, and starts again only after its end.
    pair.b.stop();
    // The status turns off at `until_unix` whether or not the timer fires: what proves the timer
    // is its audit entry, written when it ends the maintenance, on time.
    let ended = eventually("A's timer records the end", Duration::from_secs(90), || {
        ran_out(&pair.a)
    })
    .await;
    assert!(
        ended.at_unix >= m.until_unix,
        "not before its time: {} < {}",
        ended.at_unix,
        m.until_unix
    );
    assert!(
        ended.at_unix <= m.until_unix + 5,
        "on time: {} vs {}",
        ended.at_unix,
        m.until_unix
    );
    assert_eq!(ended.actor, "the agent");
    assert!(
        ended.message.starts_with("maintenance ended: its time ran out at "),
        "{ended:?}"
    );
    assert_eq!(on(&pair.a).await, None);
    assert_eq!(trail(&pair.a).await.len(), 2, "started, ended: once");
    pair.b.start();
    assert_eq!(on(&pair.b).await, None, "past its time at start");
    let ended = eventually("B records the end as it starts", Duration::from_secs(20), || {
        ran_out(&pair.b)
    })
    .await;
    assert!(ended.at_unix >= m.until_unix, "{ended:?}");
    assert_eq!(trail(&pair.b).await.len(), 2, "started, ended: once");
    assert!(metrics(&pair.b).await.contains("lbs_maintenance_active 0\n"));
}

#[tokio::test]
async fn an_old_maintenance_running_out_on_a_box_that_comes_back_leaves_a_newer_one_on() {
    let mut pair = paired();
    // M1, a minute, set through A; B holds it.
    let (code, body) = start(
        &pair.a,
        json!({ "for_secs": 60, "reason": "a first look at the disk", "by": "Sam" }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let m1 = answer(body).maintenance.expect("on");
    assert_eq!(on(&pair.b).await, Some(m1.clone()));
    // A is switched off; the work takes longer: M2, two hours, set through B.
    pair.a.stop();
    let (code, body) = start(
        &pair.b,
        json!({ "for_secs": 7200, "reason": "replacing the disk", "by": "Kim" }),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let m2 = answer(body).maintenance.expect("on");
    // A comes back after M1's time: its timer ends M1 as it starts, before any heartbeat.
    eventually("M1's time to pass", Duration::from_secs(90), || async {
        (lbs_agent_core::clock::now_unix() > m1.until_unix).then_some(())
    })
    .await;
    pair.a.start();
    let learned = eventually("A to take M2 from B", Duration::from_secs(20), || async {
        on(&pair.a).await.filter(|m| m.set_by == "Kim")
    })
    .await;
    assert_eq!(learned, m2);
    // B never took M1's end for its own: M2 stayed on there throughout.
    assert_eq!(on(&pair.b).await, Some(m2.clone()));
    let b = trail(&pair.b).await;
    assert!(!b.iter().any(|e| e.starts_with("maintenance_ended")), "{b:#?}");
    let a = trail(&pair.a).await;
    assert!(
        a.last()
            .is_some_and(|e| e.starts_with("maintenance_started: ") && e.contains("set on PBX B by Kim")),
        "{a:#?}"
    );
}

pub(crate) async fn viewer(agent: &Agent) -> String {
    let r = agent
        .post(
            "/api/v1/tokens",
            &agent.link.token,
            json!({ "role": "viewer", "label": "wallboard" }),
        )
        .await;
    let created: TokenCreated = r.json().await.unwrap();
    created.token
}

#[tokio::test]
async fn refused_maintenance_says_why_and_changes_nothing() {
    let mut agent = Agent::init("PBX A");
    agent.start();
    let refused = [
        (json!({ "for_secs": 0, "reason": "disk" }), "0 seconds is too short"),
        (json!({ "for_secs": 59, "reason": "disk" }), "at least 1 minute"),
        (
            json!({ "for_secs": 25 * 3600, "reason": "disk" }),
            "25 hours is too long",
        ),
        (json!({ "for_secs": 3600, "reason": "   " }), "reason is required"),
        (json!({ "for_secs": 3600, "reason": "disk\nand more" }), "one line"),
        (json!({ "for_secs": 3600 }), "missing field `reason`"),
        (json!({ "for_secs": -5, "reason": "disk" }), "the request is not valid"),
    ];
    for (body, why) in refused {
        let (code, answer) = start(&agent, body.clone()).await;
        assert_eq!(code, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "bad_request");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{body}: {message}");
    }
    assert_eq!(on(&agent).await, None);

    // Tokens: none or a wrong one is 401; a viewer may look, not change.
    let viewer = viewer(&agent).await;
    let body = json!({ "for_secs": 3600, "reason": "disk" });
    let client = agent.http();
    let url = agent.url("/api/v1/maintenance");
    let no_token = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let wrong = agent
        .post("/api/v1/maintenance", "lbs_deadbeef_wrong", body.clone())
        .await;
    assert_eq!(wrong.status(), 401);
    let as_viewer = agent.post("/api/v1/maintenance", &viewer, body.clone()).await;
    assert_eq!(as_viewer.status(), 403);
    assert_eq!(end(&agent, &viewer).await.0, 403);
    assert_eq!(end(&agent, "lbs_deadbeef_wrong").await.0, 401);
    let look = agent.get("/api/v1/maintenance", &viewer).await;
    assert_eq!(look.status(), 200);
    let look: MaintenanceAnswer = look.json().await.unwrap();
    assert_eq!(look.maintenance, None);
    assert_eq!(on(&agent).await, None);

    // The command line says the same, and what to type.
    let out = agent.cli(&["maintenance", "on", "--for", "25h", "--reason", "disk"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("25 hours is too long: a maintenance lasts at most 24 hours"),
        "{err}"
    );
    let out = agent.cli(&["maintenance", "on", "--for", "soon", "--reason", "disk"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("like 30m, 2h or 1h30m"));
    let out = agent.cli(&["maintenance", "on", "--reason", "disk"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--for"));

    // Without a partner it holds for this box alone, and says so.
    let out = stdout(&agent.cli(&["maintenance", "on", "--for", "30m", "--reason", "new disk"]));
    assert!(
        out.contains("This box has no partner: it holds for this box alone."),
        "{out}"
    );
    let m = on(&agent).await.expect("on");
    assert_eq!(m.until_unix - m.set_at_unix, 1800);
    assert!(m.set_by.contains("command line on PBX A"), "{m:?}");
}
