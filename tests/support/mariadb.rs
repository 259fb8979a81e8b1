//! A private MariaDB server for a test: its own data folder and socket in a directory of the
//! test's, made by `mariadb-install-db` and run as the test's user (`--user=root` when that is
//! root, as mariadbd asks), never the system's service. Debian's `mariadb-server` (10.11), which
//! `scripts/setup.sh` installs. Logins are MariaDB's `unix_socket` ones, as on a Debian box: the
//! user running the client (root on a real box, the test's user here) needs no password.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Small, so that two servers and two agents fit beside the other tests.
const SERVER_OPTIONS: &[&str] = &[
    "--skip-networking",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M",
    "--skip-log-bin",
    "--max-connections=20",
];

pub struct MariaDb {
    /// Holds the data folder, the socket, the server's log.
    pub dir: PathBuf,
    pub datadir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

/// The server's program: on the PATH, else where Debian puts it (/usr/sbin is not on a
/// normal user's PATH).
fn server_program() -> PathBuf {
    if crate::has_command("mariadbd") {
        PathBuf::from("mariadbd")
    } else {
        PathBuf::from("/usr/sbin/mariadbd")
    }
}

/// The `--user` mariadbd needs when run as root (it refuses to otherwise).
fn user_option() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    (unsafe { libc::geteuid() } == 0).then_some("--user=root")
}

impl MariaDb {
    /// Makes a data folder in `dir` (created if missing) and starts the server on it.
    pub fn start(dir: &Path) -> MariaDb {
        assert!(
            crate::has_command(&server_program().to_string_lossy()) && crate::has_command("mariadb-install-db"),
            "MariaDB is not installed: run scripts/setup.sh (Debian package mariadb-server)"
        );
        std::fs::create_dir_all(dir).expect("mariadb dir");
        let datadir = dir.join("data");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
            // Its own temporary files: two tests installing at once never meet in /tmp.
            .arg(format!("--tmpdir={}", dir.display()))
            .args(SERVER_OPTIONS)
            .args(user_option());
        let out = install.output().expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut db = MariaDb {
            socket: dir.join("mysql.sock"),
            dir: dir.to_owned(),
            datadir,
            child: None,
        };
        db.run();
        db
    }

    /// Starts the server (again) on its data folder and waits until it answers.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let log = self.dir.join("server.log");
        let child = Command::new(server_program())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--pid-file={}", self.dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--tmpdir={}", self.dir.display()))
            .args(SERVER_OPTIONS)
            .args(user_option())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.try_sql("SELECT 1").is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "mariadbd ended ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not answer within 60 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server as its service would (a clean shutdown), and waits for it to end.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: a signal to our own child process, whose pid we hold.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client's command line for this server (`mariadb --socket=…`), as a config would name it.
    pub fn client_args(&self) -> Vec<String> {
        vec!["mariadb".into(), format!("--socket={}", self.socket.display())]
    }

    /// Runs SQL with the client; the rows, tab-separated, without headers.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["--batch", "--skip-column-names", "-e", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// As [`try_sql`](Self::try_sql), failing the test on an error.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
    }

    /// Loads a dump (or any SQL file) with the client, as a restore command does.
    pub fn load(&self, file: &Path) -> Result<(), String> {
        let out = Command::new("mariadb")
            .arg(format!("--socket={}", self.socket.display()))
            .stdin(std::fs::File::open(file).map_err(|e| e.to_string())?)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A client reading statements from a pipe: one connection for a stream of transactions.
    pub fn session(&self) -> Session {
        let child = Command::new("mariadb")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the mariadb client");
        Session { child }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One client connection fed statements through its standard input.
pub struct Session {
    child: Child,
}

impl Session {
    fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("piped stdin")
    }

    /// Sends statements (each ending with `;`); false once the client has gone.
    pub fn send(&mut self, sql: &str) -> bool {
        writeln!(self.stdin(), "{sql}")
            .and_then(|_| self.stdin().flush())
            .is_ok()
    }

    /// Ends the session once every statement sent ran; its errors, if any.
    pub fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let out = self.child.wait_with_output().expect("client output");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
