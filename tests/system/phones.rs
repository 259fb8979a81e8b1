//! Real phones across a failover: baresip phones in the office lab register with the primary's
//! kamailio, whose registrations (usrloc in SQLite) the agents sync as a database category and
//! restore on promotion; after the primary is cut off and the backup promoted, a call to a phone
//! connects through the new primary without that phone registering again. The independent
//! observer watches the whole time and must see no dual answer. The lab tests need root
//! (namespaces): ignored unless run with `--include-ignored`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lbs_tests::baresip::{Call, Outcome, SipPhone};
use lbs_tests::lab::{cli_ok, wait_for, Lab, Strategy};
use lbs_tests::observer::Observer;

/// The registration interval of the phones: baresip's default, an hour.
const HOUR: u32 = 3600;

fn contains(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(text))
}

/// Calls `ext` from `phone` until a call gets an answer, trying again after a call nobody
/// answered (the name may still point at the old box for its TTL). A refusal from the PBX of
/// `through` (a 404: the callee unknown there) ends it at once: the callee will not register
/// again for an hour, so waiting would only hide the failure.
fn call_through(lab: &Lab, phone: &mut SipPhone, ext: u32, through: &str, within: Duration) -> Call {
    let deadline = Instant::now() + within;
    loop {
        let call = phone.call(ext, Duration::from_secs(4));
        let seen = call.id.as_deref().and_then(|id| lab.call_seen_by(through, id));
        match (&call.outcome, seen) {
            (Outcome::Established, _) => return call,
            (Outcome::Failed(_), Some(_)) => return call,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "phone {} never got through to {ext} via box {through}; last: {call:?}\n{}",
            phone.ext,
            phone.log()
        );
        phone.hangup();
    }
}

/// Phones 1 and 2 register with A; 1 calls 2 through A. B's agent is stopped and phone 3
/// registers with A: its registration never reaches B (the negative control). A is cut off, B's
/// agent started again and B promoted by hand. Phone 1 calls phone 2 and the call connects
/// through B although phone 2 never registered again; a call to phone 3 gets 404 from B.
fn phones_survive_a_failover(n: u32, strategy: Strategy) {
    let lab = Lab::up(n);
    let (a, mut b) = lab.office(strategy, "1h");
    let observer = Observer::start(&lab, strategy, &[("a", &a), ("b", &b)]);
    let mut p1 = lab.sip_phone(1001, strategy);
    let mut p2 = lab.sip_phone(1002, strategy);
    p1.register(HOUR);
    p2.register(HOUR);
    assert!(p2.reginfo().contains("OK"), "{}", p2.reginfo());

    let mark = p2.events_len();
    let call = p1.call(1002, Duration::from_secs(10));
    assert_eq!(call.outcome, Outcome::Established, "{call:?}\n{}", p1.log());
    assert!(
        p2.answered_since(mark, Duration::from_secs(5)).is_some(),
        "{}",
        p2.log()
    );
    let id = call.id.clone().expect("the call's id");
    assert_eq!(lab.call_seen_by("a", &id).as_deref(), Some("relayed"));
    p1.hangup();

    // Both registrations reach B's copy of the registrations' dump within the dump interval.
    let on_b = b.dir.path().join("registrations/registrations.sql");
    let on_a = a.dir.path().join("registrations/registrations.sql");
    wait_for("both phones' registrations on B", Duration::from_secs(20), || {
        contains(&on_b, "'1001'") && contains(&on_b, "'1002'")
    });

    // The negative control: with B's agent stopped, phone 3's registration is dumped on A but
    // never reaches B.
    b.stop();
    let mut p3 = lab.sip_phone(1003, strategy);
    p3.register(HOUR);
    wait_for("A to dump phone 3's registration", Duration::from_secs(10), || {
        contains(&on_a, "'1003'")
    });
    assert!(!contains(&on_b, "'1003'"));
    let p2_registered = (p2.registrations(), lab.registers_seen_by("a", 1002));
    assert_eq!(p2_registered, (1, 1));

    // A is gone; B is promoted by hand, as the office manager would.
    lab.cut("a");
    b.start();
    let out = cli_ok(&b, &["promote", "--force", "--reason", "PBX A lost its network"]);
    assert!(out.contains("is now the primary"), "{out}");
    assert!(out.contains("Load the latest Phone registrations dump"), "{out}");
    let regs = lab.registered("b");
    assert_eq!(
        regs,
        ["1001", "1002"],
        "B loaded what it had received:\n{out}\n{}",
        b.log()
    );

    // Phone 1 calls phone 2: it connects through B, and phone 2 did not register again.
    let mark = p2.events_len();
    let call = call_through(&lab, &mut p1, 1002, "b", Duration::from_secs(30));
    assert_eq!(
        call.outcome,
        Outcome::Established,
        "{call:?}\n{}",
        lab.pbx_log("b", "LBS-").join("\n")
    );
    let id = call.id.clone().expect("the call's id");
    assert_eq!(lab.call_seen_by("b", &id).as_deref(), Some("relayed"));
    assert!(
        p2.answered_since(mark, Duration::from_secs(5)).is_some(),
        "{}",
        p2.log()
    );
    assert_eq!(p2.registrations(), p2_registered.0, "phone 2 registered again");
    assert_eq!(
        lab.registers_seen_by("b", 1002),
        0,
        "B's PBX saw a REGISTER from phone 2"
    );
    p1.hangup();
    eprintln!(
        "phones {strategy:?}: after the promotion, phone 1 reached phone 2 through B in {} ms",
        call.ended_ms - call.dialed_ms
    );

    // The negative control: phone 3, whose registration B never got, is unknown there.
    let call = call_through(&lab, &mut p1, 1003, "b", Duration::from_secs(30));
    assert_eq!(call.outcome, Outcome::Failed("404 Not Found".into()), "{call:?}");
    assert_eq!(
        lab.call_seen_by("b", call.id.as_deref().expect("id")).as_deref(),
        Some("404")
    );
    assert_eq!(p3.registrations(), 1);

    let report = observer.stop();
    eprintln!("{report}");
    assert!(report.dual_answers.is_empty(), "{report}");
    assert_eq!(report.changes.last().map(|c| c.to.as_str()), Some("b"), "{report}");
    drop((p1, p2, p3, a, b));
}

#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio, baresip)"]
fn phones_reach_each_other_after_a_failover_with_a_floating_address() {
    phones_survive_a_failover(51, Strategy::Vip);
}

#[test]
#[ignore = "needs root: builds the office lab (network namespaces, knot, kamailio, baresip)"]
fn phones_reach_each_other_after_a_failover_by_name() {
    phones_survive_a_failover(52, Strategy::Dns);
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/registrations.sh")
}

fn sql(db: &Path, query: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(query).output().expect("sqlite3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run(args: &[&str], dump: Option<&Path>) -> std::process::Output {
    let mut c = Command::new(script());
    c.args(args);
    if let Some(d) = dump {
        c.env("LBS_DUMP_FILE", d);
    }
    c.output().expect("run registrations.sh")
}

/// The lab's registrations dump and restore (`tests/lab/registrations.sh`) on real SQLite files
/// with kamailio's schema: the dump is the same bytes for the same registrations and never
/// empty; the restore brings back live phones, drops expired ones, and a broken dump leaves the
/// database as it was.
#[test]
fn registrations_are_dumped_and_restored_without_the_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    // A PBX that never ran: the dump creates the database and is still a valid, non-empty dump.
    let out = run(&["dump", a.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let empty = String::from_utf8(out.stdout).unwrap();
    assert!(
        empty.contains("DELETE FROM location;") && empty.contains("COMMIT;"),
        "{empty}"
    );
    assert_eq!(sql(&a, "PRAGMA journal_mode;"), "wal");
    // Live (in an hour), expired (a minute ago), permanent (time 0), as kamailio stores them:
    // Julian days (db_sqlite).
    sql(
        &a,
        "INSERT INTO location(ruid, username, contact, expires, socket) VALUES \
         ('r1', '1001', 'sip:1001@10.0.0.100:6010', julianday('now') + 1.0/24, 'udp:10.0.0.11:5060'), \
         ('r2', '1002', 'sip:1002@10.0.0.100:6020', julianday('now') - 1.0/1440, 'udp:10.0.0.10:5060'), \
         ('r3', '1003', 'sip:1003@10.0.0.100:6030', 2440587.5, NULL);",
    );
    let dump = dir.path().join("registrations.sql");
    let out = run(&["dump", a.to_str().unwrap()], None);
    assert!(out.status.success());
    std::fs::write(&dump, &out.stdout).unwrap();
    let again = run(&["dump", a.to_str().unwrap()], None);
    assert_eq!(again.stdout, out.stdout, "same registrations, same bytes");

    let out = run(&["restore", b.to_str().unwrap()], Some(&dump));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 registrations loaded"));
    assert_eq!(
        sql(
            &b,
            "SELECT username || ' ' || ifnull(socket, '-') FROM location ORDER BY username;"
        ),
        "1001 udp:10.0.0.11:5060\n1003 -",
        "the expired phone is not brought back; the others keep their socket"
    );
    assert_eq!(
        sql(&b, "SELECT table_version FROM version WHERE table_name = 'location';"),
        "9",
        "kamailio checks the table's version at start"
    );
    assert!(!dir.path().join("b.sqlite.restore").exists());

    // A dump that does not load: an error, and the database keeps what it had.
    let bad = dir.path().join("bad.sql");
    std::fs::write(&bad, "INSERT INTO nowhere VALUES (1);\n").unwrap();
    let out = run(&["restore", b.to_str().unwrap()], Some(&bad));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not load"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sql(&b, "SELECT count(*) FROM location;"), "2");
    // No dump yet (a new pair): the database stays as it is.
    let out = run(&["restore", b.to_str().unwrap()], Some(&dir.path().join("none.sql")));
    assert!(out.status.success());
    assert_eq!(sql(&b, "SELECT count(*) FROM location;"), "2");
    // No LBS_DUMP_FILE: refused, with the reason.
    let out = run(&["restore", b.to_str().unwrap()], None);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("LBS_DUMP_FILE"));
}
