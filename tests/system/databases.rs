//! FreePBX's databases between two real agents, each box with its own real MariaDB server (a
//! private instance: `tests/support/mariadb.rs`) and its own real SQLite astdb. Both databases
//! are dumped on the primary when they are written — the interval is an hour, so only the watch
//! can bring a change over in seconds — the MariaDB dump is consistent while transactions go on
//! during it, and a promotion loads both into the backup's own servers. A dump that fails says
//! why in plain words and the last good one stays, on both boxes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lbs_protocol::{CategorySync, Role, RoleChange, SyncStatus};
use lbs_tests::mariadb::MariaDb;
use lbs_tests::{eventually, Agent};
use serde_json::json;

use crate::failover::{ask, box_config, pair_of, trail};

/// A FreePBX-like `asterisk` database: the tables an office's settings live in, and a key-value
/// table large enough (20,000 rows, a few MB) that a dump takes long enough for writes to land
/// during it.
const SCHEMA: &str = "CREATE DATABASE asterisk; USE asterisk;
CREATE TABLE freepbx_settings (keyword VARCHAR(50) PRIMARY KEY, value VARCHAR(255), name VARCHAR(80));
CREATE TABLE users (extension VARCHAR(20) PRIMARY KEY, name VARCHAR(50), voicemail VARCHAR(50), ringtimer INT);
CREATE TABLE devices (id VARCHAR(20) PRIMARY KEY, tech VARCHAR(10), dial VARCHAR(50), user VARCHAR(50), description VARCHAR(50));
CREATE TABLE findmefollow (grpnum VARCHAR(20) PRIMARY KEY, strategy VARCHAR(50), grptime SMALLINT, grplist VARCHAR(255));
CREATE TABLE queues_config (extension VARCHAR(20) PRIMARY KEY, descr VARCHAR(35), members INT NOT NULL);
CREATE TABLE kvstore_FreePBX (`key` VARCHAR(190) NOT NULL, val VARCHAR(4096), type CHAR(16), id VARCHAR(190), PRIMARY KEY (`key`, id));
INSERT INTO freepbx_settings VALUES ('RINGTIMER', '15', 'Ringtime Default'), ('VMX_TIMEOUT', '2', 'Voicemail timeout');
INSERT INTO users SELECT seq, CONCAT('User ', seq), 'default', 0 FROM seq_1000_to_1199;
INSERT INTO devices SELECT seq, 'pjsip', CONCAT('PJSIP/', seq), seq, CONCAT('Phone ', seq) FROM seq_1000_to_1199;
INSERT INTO findmefollow VALUES ('1001', 'ringallv2-prim', 20, '1001-5550100#');
INSERT INTO queues_config VALUES ('400', 'Sales', 50), ('401', 'Support', 0);
INSERT INTO kvstore_FreePBX SELECT CONCAT('setting', seq), REPEAT('v', 200), 'json-arr', 'FreePBX' FROM seq_1_to_20000;";

/// Every device has its user (one transaction inserts both) and the two queues hold 50 members
/// between them (one transaction moves one): `database` as a dump left it.
fn consistent(db: &MariaDb, database: &str) -> Result<u64, String> {
    let users: u64 = db
        .sql(&format!("SELECT COUNT(*) FROM {database}.users"))
        .parse()
        .map_err(|e| format!("{e}"))?;
    let orphans = db.sql(&format!(
        "SELECT COUNT(*) FROM {database}.devices d LEFT JOIN {database}.users u ON u.extension = d.user WHERE u.extension IS NULL"
    ));
    let devices = db.sql(&format!("SELECT COUNT(*) FROM {database}.devices"));
    let members = db.sql(&format!("SELECT SUM(members) FROM {database}.queues_config"));
    if devices != users.to_string() || orphans != "0" || members != "50" {
        return Err(format!(
            "{users} users, {devices} devices ({orphans} without a user), {members} queue members"
        ));
    }
    Ok(users)
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

/// The FreePBX database category, dumped as docs/agent.example.toml says (through this box's
/// socket, each run counted in `runs`), watched through the redo log and the database's folder.
fn freepbx_category(dir: &Path, db: &MariaDb) -> String {
    let root = dir.join("data").join("freepbx");
    format!(
        r#"
[[sync.category]]
name = "freepbx"
label = "FreePBX settings"
priority = 1
roots = ["{root}"]
dump = ["sh", "-c", "echo run >> {runs}; exec mysqldump --socket={sock} --single-transaction --routines --triggers --events --hex-blob --skip-dump-date --databases asterisk"]
dump_file = "asterisk.sql"
restore = ["sh", "-c", "mariadb --socket={sock} < \"$LBS_DUMP_FILE\""]
watch = ["{datadir}/ib_logfile0", "{datadir}/asterisk"]
watch_min_gap = "1s"
dump_interval = "1h"
"#,
        root = root.display(),
        runs = dir.join("freepbx-runs.log").display(),
        sock = db.socket.display(),
        datadir = db.datadir.display(),
    )
}

/// Asterisk's own database, a real SQLite file, dumped as docs/agent.example.toml says.
fn astdb_category(dir: &Path, astdb: &Path) -> String {
    format!(
        r#"
[[sync.category]]
name = "user-settings"
priority = 1
roots = ["{root}"]
dump = ["sh", "-c", "echo run >> {runs}; exec sqlite3 {db} .dump"]
dump_file = "astdb.sql"
restore = ["sh", "-c", "rm -f {db} && sqlite3 {db} < \"$LBS_DUMP_FILE\""]
watch = ["{db}"]
dump_interval = "1h"
"#,
        root = dir.join("data").join("user-settings").display(),
        runs = dir.join("astdb-runs.log").display(),
        db = astdb.display(),
    )
}

fn runs(agent: &Agent, name: &str) -> usize {
    std::fs::read_to_string(agent.dir.path().join(name))
        .unwrap_or_default()
        .lines()
        .count()
}

fn copy(agent: &Agent, category: &str, file: &str) -> PathBuf {
    agent.dir.path().join("data").join(category).join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

async fn sync_status(agent: &Agent) -> SyncStatus {
    let r = agent.get("/api/v1/sync", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn category(agent: &Agent, name: &str) -> CategorySync {
    sync_status(agent)
        .await
        .categories
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no category {name}"))
}

#[tokio::test]
async fn freepbx_settings_reach_the_backup_when_written_consistently_and_a_promotion_loads_them_into_its_mariadb() {
    let dbs = tempfile::tempdir().unwrap();
    let a_db = MariaDb::start(&dbs.path().join("a"));
    let b_db = MariaDb::start(&dbs.path().join("b"));
    a_db.sql(SCHEMA);
    // The backup's own database is months old, and holds a table the primary has not: the
    // restore replaces the tables the dump holds and nothing else.
    b_db.sql("CREATE DATABASE asterisk; CREATE TABLE asterisk.freepbx_settings (keyword VARCHAR(50) PRIMARY KEY, value VARCHAR(255), name VARCHAR(80));
              INSERT INTO asterisk.freepbx_settings VALUES ('RINGTIMER', '60', 'Ringtime Default');
              CREATE TABLE asterisk.b_only (k INT PRIMARY KEY); INSERT INTO asterisk.b_only VALUES (7);");
    let a_astdb = dbs.path().join("a-astdb.sqlite3");
    let b_astdb = dbs.path().join("b-astdb.sqlite3");
    sqlite(&a_astdb, "CREATE TABLE astdb(key VARCHAR(256) PRIMARY KEY, value VARCHAR(256)); INSERT INTO astdb VALUES('/AMPUSER/1001/cidname','Reception'), ('/CF/1001','');");
    sqlite(&b_astdb, "CREATE TABLE astdb(key VARCHAR(256) PRIMARY KEY, value VARCHAR(256)); INSERT INTO astdb VALUES('/CF/1001','stale');");
    let a_config = |d: &Path| {
        box_config(d, "1h", "dump_interval = \"1h\"\n") + &freepbx_category(d, &a_db) + &astdb_category(d, &a_astdb)
    };
    let b_config = |d: &Path| {
        box_config(d, "1h", "dump_interval = \"1h\"\n") + &freepbx_category(d, &b_db) + &astdb_category(d, &b_astdb)
    };
    let mut pair = pair_of(a_config, b_config);
    let (a_copy, b_copy) = (
        copy(&pair.a, "freepbx", "asterisk.sql"),
        copy(&pair.b, "freepbx", "asterisk.sql"),
    );
    eventually("the first dumps on the backup", Duration::from_secs(30), || async {
        (read(&b_copy).contains("INSERT INTO `kvstore_FreePBX`")
            && read(&copy(&pair.b, "user-settings", "astdb.sql")).contains("Reception"))
        .then_some(())
    })
    .await;
    let header = read(&a_copy);
    assert!(
        header.contains("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `asterisk`") && !header.contains("Dump completed on"),
        "a dump without its date, that makes its database: {}",
        &header[..header.len().min(600)]
    );

    // Transactions go on while the dumps run: each adds a user with its device and moves a
    // queue member. Every dump the backup receives meanwhile must hold whole transactions.
    let runs_before = runs(&pair.a, "freepbx-runs.log");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut session = a_db.session();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let (from, to) = if n.is_multiple_of(2) {
                    ("400", "401")
                } else {
                    ("401", "400")
                };
                let ext = 2000 + n;
                assert!(session.send(&format!(
                    "START TRANSACTION; INSERT INTO asterisk.devices VALUES ('{ext}', 'pjsip', 'PJSIP/{ext}', '{ext}', 'Phone {ext}');
                     UPDATE asterisk.queues_config SET members = members - 1 WHERE extension = '{from}';
                     INSERT INTO asterisk.users VALUES ('{ext}', 'User {ext}', 'default', 0);
                     UPDATE asterisk.queues_config SET members = members + 1 WHERE extension = '{to}'; COMMIT;"
                )));
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (n, session.finish())
        })
    };
    let mut versions: Vec<String> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let now = read(&b_copy);
        if versions.last() != Some(&now) {
            versions.push(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (written, errors) = writer.join().unwrap();
    assert!(errors.is_empty(), "the writer's transactions failed: {errors}");
    let runs_during = runs(&pair.a, "freepbx-runs.log") - runs_before;
    // Written all the time, dumped at most once a second (watch_min_gap) and at least twice.
    assert!(
        (2..=8).contains(&runs_during),
        "{runs_during} dumps in 6 s of continuous writes ({written} transactions)"
    );
    // The last writes reach the backup too: a write during a dump makes one more after it.
    let users_on_a = consistent(&a_db, "asterisk").unwrap();
    eventually(
        "the backup to hold the last transaction",
        Duration::from_secs(15),
        || async {
            read(&b_copy)
                .contains(&format!("'User {}'", 2000 + written - 1))
                .then_some(())
        },
    )
    .await;
    versions.push(read(&b_copy));
    versions.dedup();
    // Each version the backup received, loaded into a scratch database of its server.
    let mut counts = Vec::new();
    for (i, dump) in versions.iter().enumerate() {
        let scratch = format!("dumpcheck{i}");
        let file = dbs.path().join(format!("{scratch}.sql"));
        std::fs::write(&file, dump.replace("`asterisk`", &format!("`{scratch}`"))).unwrap();
        b_db.load(&file).unwrap();
        let users = consistent(&b_db, &scratch).unwrap_or_else(|e| panic!("dump {i} is not consistent: {e}"));
        counts.push(users);
        b_db.sql(&format!("DROP DATABASE {scratch}"));
    }
    println!("{written} transactions in 6 s, {runs_during} dumps; users in each dump the backup got: {counts:?}");
    assert_eq!(counts.last(), Some(&users_on_a), "{counts:?}");
    assert!(
        counts.windows(2).filter(|w| w[1] > w[0]).count() >= 2,
        "dumps ran while the writes went on: {counts:?}"
    );

    // Asterisk's database: reading it (a dump does) starts no dump; a write does.
    let astdb_runs = runs(&pair.a, "astdb-runs.log");
    for _ in 0..5 {
        sqlite(&a_astdb, ".dump");
        sqlite(&a_astdb, "SELECT * FROM astdb");
    }
    // A dump the reads had started would have run within QUIET (200 ms): give it 1.5 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(runs(&pair.a, "astdb-runs.log"), astdb_runs, "reads started a dump");
    let b_astdb_copy = copy(&pair.b, "user-settings", "astdb.sql");
    let t = Instant::now();
    sqlite(&a_astdb, "INSERT OR REPLACE INTO astdb VALUES('/CF/1001', '5551234')");
    eventually("the call forward on the backup", Duration::from_secs(10), || async {
        read(&b_astdb_copy).contains("5551234").then_some(())
    })
    .await;
    let astdb_secs = t.elapsed().as_secs_f64();

    // A settings change in FreePBX's database: over within seconds, with the interval an hour.
    let t = Instant::now();
    a_db.sql(
        "UPDATE asterisk.freepbx_settings SET value = '45' WHERE keyword = 'RINGTIMER';
              UPDATE asterisk.findmefollow SET grplist = '1001-5551234#' WHERE grpnum = '1001';",
    );
    eventually("the ring time on the backup", Duration::from_secs(10), || async {
        let text = read(&b_copy);
        (text.contains("('RINGTIMER','45',") && text.contains("'1001-5551234#'")).then_some(())
    })
    .await;
    let freepbx_secs = t.elapsed().as_secs_f64();
    println!("change to the backup's copy: astdb {astdb_secs:.2} s, MariaDB {freepbx_secs:.2} s");

    // The primary dies; the backup is promoted and loads both into its own servers.
    pair.a.kill9();
    let (code, body) = ask(&pair.b, "promote", json!({"force": true, "reason": "PBX A died"})).await;
    assert_eq!(code, 200, "{body}\n{}", trail(&pair.b));
    let change: RoleChange = serde_json::from_value(body).unwrap();
    assert!(change.ok, "{change:?}\n{}", trail(&pair.b));
    assert_eq!(change.role, Role::Primary);
    let restores = change.steps.iter().filter(|s| s.step == "restore").count();
    assert_eq!(restores, 3, "{change:?}");
    assert_eq!(
        b_db.sql("SELECT value FROM asterisk.freepbx_settings WHERE keyword = 'RINGTIMER'"),
        "45"
    );
    assert_eq!(
        b_db.sql("SELECT grplist FROM asterisk.findmefollow WHERE grpnum = '1001'"),
        "1001-5551234#"
    );
    assert_eq!(consistent(&b_db, "asterisk").unwrap(), users_on_a);
    assert_eq!(
        b_db.sql("SELECT k FROM asterisk.b_only"),
        "7",
        "a table the dump does not hold is kept"
    );
    assert_eq!(
        sqlite(&b_astdb, "SELECT value FROM astdb WHERE key = '/CF/1001'"),
        "5551234"
    );
    assert_eq!(
        sqlite(&b_astdb, "SELECT value FROM astdb WHERE key = '/AMPUSER/1001/cidname'"),
        "Reception"
    );
    // The new primary dumps its own server from now on, and watches it: a change there is
    // dumped on B within seconds too.
    b_db.sql("UPDATE asterisk.freepbx_settings SET value = '30' WHERE keyword = 'RINGTIMER'");
    eventually("B to dump its own database", Duration::from_secs(10), || async {
        read(&b_copy).contains("('RINGTIMER','30',").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_database_dump_that_fails_says_why_in_plain_words_and_the_last_good_one_stays_on_both_boxes() {
    let dbs = tempfile::tempdir().unwrap();
    let mut a_db = MariaDb::start(&dbs.path().join("a"));
    a_db.sql(SCHEMA);
    // FreePBX's own login, with a password, given to the dump in an option file.
    let password = "Hunter2-never-logged";
    a_db.sql(&format!(
        "CREATE USER freepbxuser@localhost IDENTIFIED BY '{password}'; GRANT ALL PRIVILEGES ON asterisk.* TO freepbxuser@localhost;"
    ));
    let cnf = dbs.path().join("mariadb.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[client]\nuser=freepbxuser\npassword={password}\nsocket={}\n",
            a_db.socket.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let sock = a_db.socket.display().to_string();
    let datadir = a_db.datadir.clone();
    let categories = move |d: &Path| {
        let root = |name: &str| d.join("data").join(name).display().to_string();
        let dump = |name: &str, args: &str, extra: &str| {
            format!(
                "\n[[sync.category]]\nname = \"{name}\"\nroots = [\"{}\"]\n\
                 dump = [\"sh\", \"-c\", \"exec mysqldump {args} --single-transaction --skip-dump-date --databases asterisk\"]\n\
                 dump_file = \"dump.sql\"\n{extra}",
                root(name)
            )
        };
        box_config(d, "1h", "dump_interval = \"1h\"\n")
            + &dump(
                "freepbx",
                &format!("--defaults-extra-file={}", cnf.display()),
                &format!(
                    "watch = [\"{}/ib_logfile0\"]\ndump_interval = \"2s\"\n",
                    datadir.display()
                ),
            )
            + &dump(
                "wrong-socket",
                "--socket=/nonexistent/mysql.sock",
                &format!("watch = [\"{}/later/ib_logfile0\"]\n", d.display()),
            )
            + &dump("wrong-login", &format!("--socket={sock} --user=nobody-here"), "")
            + &dump("wrong-database", &format!("--socket={sock}"), "").replace("asterisk\"]", "asterix\"]")
    };
    let pair = pair_of(categories.clone(), categories);
    let (a_copy, b_copy) = (
        copy(&pair.a, "freepbx", "dump.sql"),
        copy(&pair.b, "freepbx", "dump.sql"),
    );
    eventually("the good dump on the backup", Duration::from_secs(30), || async {
        read(&b_copy).contains("INSERT INTO `freepbx_settings`").then_some(())
    })
    .await;
    let good = read(&a_copy);

    // What each usual failure says, in the status, with mysqldump's own words.
    for (name, theirs, ours) in [
        (
            "wrong-socket",
            "Can't connect to local server through socket '/nonexistent/mysql.sock'",
            "MariaDB does not answer on this box: is it running (`systemctl status mariadb`)",
        ),
        (
            "wrong-login",
            "Access denied for user 'nobody-here'@'localhost'",
            "MariaDB refused the agent's login",
        ),
        (
            "wrong-database",
            "Unknown database 'asterix'",
            "The database the command names does not exist on this box",
        ),
    ] {
        let message = eventually(&format!("the error of {name}"), Duration::from_secs(20), || async {
            category(&pair.a, name).await.last_error.map(|e| e.message)
        })
        .await;
        assert!(
            message.contains(&format!("the dump command of \"{name}\" failed"))
                && message.contains(theirs)
                && message.contains(ours),
            "{message}"
        );
    }
    // A watched path that is not there yet stops nothing and is shown until it appears.
    let later = pair.a.dir.path().join("later");
    let problem = category(&pair.a, "wrong-socket")
        .await
        .watch_problem
        .unwrap_or_default();
    assert!(
        problem.contains(&format!(
            "{}/ib_logfile0 does not exist, nor its folder",
            later.display()
        )) && problem.contains("dumped every 1h only"),
        "{problem}"
    );
    let status = pair.a.cli(&["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("not watched: Not watched for writes"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    std::fs::create_dir(&later).unwrap();
    std::fs::write(later.join("ib_logfile0"), b"").unwrap();
    eventually(
        "the path to be watched once it appears",
        Duration::from_secs(15),
        || async {
            category(&pair.a, "wrong-socket")
                .await
                .watch_problem
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert!(category(&pair.a, "freepbx").await.last_error.is_none());

    // The server stops: the dump fails, says why, and neither box loses the last good dump.
    a_db.stop();
    let message = eventually("the dump to fail", Duration::from_secs(20), || async {
        category(&pair.a, "freepbx").await.last_error.map(|e| e.message)
    })
    .await;
    assert!(
        message.contains("Can't connect") && message.contains("MariaDB does not answer on this box"),
        "{message}"
    );
    assert_eq!(read(&a_copy), good, "the primary kept its last good dump");
    assert_eq!(read(&b_copy), good, "the backup kept its copy");
    // Back up: the next dump works and the error goes.
    a_db.run();
    a_db.sql("UPDATE asterisk.freepbx_settings SET value = '25' WHERE keyword = 'RINGTIMER'");
    eventually("the dump to work again", Duration::from_secs(20), || async {
        let c = category(&pair.a, "freepbx").await;
        (c.last_error.is_none() && read(&b_copy).contains("('RINGTIMER','25',")).then_some(())
    })
    .await;
    // The password is in the option file only: not in the log, nor in check-config's output.
    let check = pair.a.cli(&["check-config"]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(shown.contains("--defaults-extra-file="), "{shown}");
    assert!(!shown.contains(password) && !pair.a.log().contains(password), "{shown}");
}
