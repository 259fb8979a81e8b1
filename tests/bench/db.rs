//! `lbs-db-bench`: how long a settings change takes from the primary's database to the backup's
//! copy of its dump, with the dumps started by the watch (the interval is an hour, so it plays
//! no part). Not a test: nothing here passes or fails; it prints p50, p99 and max (aim: 2 s).
//!
//! Two real agents paired on loopback; a real MariaDB server (a private instance, as in the
//! system tests) holding a FreePBX-like `asterisk` database of about 5 MB, and a real SQLite
//! astdb. Each change is timed from the moment its command returns (committed) until the
//! backup's copy holds it:
//! - astdb: `sqlite3 astdb.sqlite3 "INSERT OR REPLACE …"` (a call forward set);
//! - MariaDB: `UPDATE freepbx_settings …` with the database otherwise quiet;
//! - MariaDB while call records are written every 100 ms (they share InnoDB's redo log with the
//!   settings, so the watch wakes all the time): the cost of the rate bound. This phase also
//!   counts the dumps and the CPU the agent and its dump commands used.
//!
//! Run with `scripts/bench-db.sh`. `LBS_BENCH_CHANGES` (default 30) changes per case.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lbs_tests::mariadb::MariaDb;
use lbs_tests::{percentile, Agent};

const SCHEMA: &str = "CREATE DATABASE asterisk; USE asterisk;
CREATE TABLE freepbx_settings (keyword VARCHAR(50) PRIMARY KEY, value VARCHAR(255), name VARCHAR(80));
CREATE TABLE users (extension VARCHAR(20) PRIMARY KEY, name VARCHAR(50), voicemail VARCHAR(50), ringtimer INT);
CREATE TABLE devices (id VARCHAR(20) PRIMARY KEY, tech VARCHAR(10), dial VARCHAR(50), user VARCHAR(50), description VARCHAR(50));
CREATE TABLE findmefollow (grpnum VARCHAR(20) PRIMARY KEY, strategy VARCHAR(50), grptime SMALLINT, grplist VARCHAR(255));
CREATE TABLE kvstore_FreePBX (`key` VARCHAR(190) NOT NULL, val VARCHAR(4096), type CHAR(16), id VARCHAR(190), PRIMARY KEY (`key`, id));
INSERT INTO freepbx_settings VALUES ('RINGTIMER', '15', 'Ringtime Default');
INSERT INTO users SELECT seq, CONCAT('User ', seq), 'default', 0 FROM seq_1000_to_1199;
INSERT INTO devices SELECT seq, 'pjsip', CONCAT('PJSIP/', seq), seq, CONCAT('Phone ', seq) FROM seq_1000_to_1199;
INSERT INTO findmefollow SELECT seq, 'ringallv2-prim', 20, CONCAT(seq, '-5550100#') FROM seq_1000_to_1199;
INSERT INTO kvstore_FreePBX SELECT CONCAT('setting', seq), REPEAT('v', 200), 'json-arr', 'FreePBX' FROM seq_1_to_20000;
CREATE DATABASE asteriskcdrdb;
CREATE TABLE asteriskcdrdb.cdr (calldate DATETIME, src VARCHAR(80), dst VARCHAR(80), duration INT, uniqueid VARCHAR(150), KEY (calldate));";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sqlite(db: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn config(dir: &Path, db: &MariaDb, astdb: &Path) -> String {
    format!(
        r#"
[sync]
dump_interval = "1h"

[[sync.category]]
name = "freepbx"
priority = 1
roots = ["{freepbx}"]
dump = ["sh", "-c", "echo run >> {runs}; exec mysqldump --socket={sock} --single-transaction --routines --triggers --events --hex-blob --skip-dump-date --databases asterisk"]
dump_file = "asterisk.sql"
watch = ["{datadir}/ib_logfile0", "{datadir}/asterisk"]
dump_interval = "1h"

[[sync.category]]
name = "user-settings"
priority = 1
roots = ["{userdb}"]
dump = ["sqlite3", "{astdb}", ".dump"]
dump_file = "astdb.sql"
watch = ["{astdb}"]
dump_interval = "1h"
"#,
        freepbx = dir.join("data/freepbx").display(),
        userdb = dir.join("data/user-settings").display(),
        runs = dir.join("freepbx-runs.log").display(),
        sock = db.socket.display(),
        datadir = db.datadir.display(),
        astdb = astdb.display(),
    )
}

/// Waits until `file` holds `marker`, reading it only when its size or time changed; the time
/// it took, or `None` after 30 s.
fn until_holds(file: &Path, marker: &str) -> Option<Duration> {
    let start = Instant::now();
    let mut seen: Option<(u64, SystemTime)> = None;
    while start.elapsed() < Duration::from_secs(30) {
        let meta = std::fs::metadata(file)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        if meta.is_some() && meta != seen {
            seen = meta;
            if std::fs::read_to_string(file).is_ok_and(|t| t.contains(marker)) {
                return Some(start.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// Makes `n` changes with `change(i)` (which returns the marker to look for), spaced so each
/// meets a rested watch, and prints the latencies.
fn measure(what: &str, n: usize, copy: &Path, mut change: impl FnMut(usize) -> String) -> Vec<f64> {
    let mut ms = Vec::new();
    for i in 0..n {
        // Past the last dump's rest (1 s, or nine times a dump), with a varying phase.
        std::thread::sleep(Duration::from_millis(2000 + (i as u64 * 137) % 700));
        let marker = change(i);
        match until_holds(copy, &marker) {
            Some(d) => ms.push(d.as_secs_f64() * 1000.0),
            None => println!("{what}: change {i} did not reach the backup within 30 s"),
        }
    }
    ms.sort_by(f64::total_cmp);
    if !ms.is_empty() {
        println!(
            "{what}, {} changes: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (aim < 2000 ms)",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1]
        );
    }
    ms
}

/// CPU seconds of a process and of the children it has waited for (its dump commands).
fn cpu_with_children(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // Fields after the name: state is not numeric, so utime..cstime are f[10..14].
    let ticks: f64 = f.get(10..14).map_or(0.0, |s| s.iter().sum());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks / if hz > 0 { hz as f64 } else { 100.0 }
}

fn main() {
    let n = env("LBS_BENCH_CHANGES", 30);
    println!("lbs-db-bench: agent {}", lbs_tests::agent_bin().display());
    let dbs = tempfile::tempdir().expect("tempdir");
    let a_db = MariaDb::start(&dbs.path().join("a"));
    let b_db = MariaDb::start(&dbs.path().join("b"));
    a_db.sql(SCHEMA);
    let astdb: PathBuf = dbs.path().join("astdb.sqlite3");
    sqlite(
        &astdb,
        "CREATE TABLE astdb(key VARCHAR(256) PRIMARY KEY, value VARCHAR(256));",
    );
    let mut a = Agent::init_config("bench A", "5s", |d| config(d, &a_db, &astdb));
    let b_astdb = dbs.path().join("b-astdb.sqlite3");
    let mut b = Agent::init_config("bench B", "5s", |d| config(d, &b_db, &b_astdb));
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(out.status.success(), "pair: {}", String::from_utf8_lossy(&out.stderr));
    let freepbx_copy = b.dir.path().join("data/freepbx/asterisk.sql");
    let astdb_copy = b.dir.path().join("data/user-settings/astdb.sql");
    until_holds(&freepbx_copy, "kvstore_FreePBX").expect("the first dump on the backup");
    let size = std::fs::metadata(&freepbx_copy).map(|m| m.len()).unwrap_or(0);
    println!("the asterisk database's dump: {:.1} MB", size as f64 / 1e6);

    measure("astdb (SQLite), a call forward set", n, &astdb_copy, |i| {
        let value = format!("55501{i:04}");
        sqlite(
            &astdb,
            &format!("INSERT OR REPLACE INTO astdb VALUES('/CF/1001', '{value}')"),
        );
        value
    });
    measure("MariaDB (asterisk), a setting changed", n, &freepbx_copy, |i| {
        let value = format!("bench-{i}");
        a_db.sql(&format!(
            "UPDATE asterisk.freepbx_settings SET value = '{value}' WHERE keyword = 'RINGTIMER'"
        ));
        value
    });

    // Call records every 100 ms, written through one connection, while the settings change.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut session = a_db.session();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                session.send(&format!(
                    "INSERT INTO asteriskcdrdb.cdr VALUES (NOW(), '1001', '5550{i:03}', 42, 'call-{i}');"
                ));
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            session.finish()
        })
    };
    let pid = a.pid().expect("agent pid");
    let runs = |agent: &Agent| {
        std::fs::read_to_string(agent.dir.path().join("freepbx-runs.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let (runs0, cpu0, t0) = (runs(&a), cpu_with_children(pid), Instant::now());
    measure(
        "MariaDB (asterisk), a setting changed while call records are written every 100 ms",
        n,
        &freepbx_copy,
        |i| {
            let value = format!("busy-{i}");
            a_db.sql(&format!(
                "UPDATE asterisk.freepbx_settings SET value = '{value}' WHERE keyword = 'RINGTIMER'"
            ));
            value
        },
    );
    let secs = t0.elapsed().as_secs_f64();
    let (dumps, cpu) = (runs(&a) - runs0, cpu_with_children(pid) - cpu0);
    stop.store(true, Ordering::SeqCst);
    let errors = writer.join().expect("writer");
    assert!(errors.is_empty(), "the call records failed: {errors}");
    println!(
        "while call records were written: {dumps} dumps in {secs:.0} s ({:.1} a minute), the agent and its dumps used {:.1} % of one core",
        dumps as f64 * 60.0 / secs,
        100.0 * cpu / secs
    );
    a.stop();
    b.stop();
}
