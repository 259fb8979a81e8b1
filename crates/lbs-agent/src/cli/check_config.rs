//! `lbs-agent check-config`: like `nginx -t`. Validates the file, prints the effective
//! configuration (every key, defaults filled in) and checks what the agent will need at run time:
//! the programs it runs, the TSIG secret, the state directory and the category roots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use lbs_agent_core::config::{Config, Takeover};

/// One finding: an error stops the agent from doing its job; a note is worth knowing.
#[derive(Debug, PartialEq)]
pub enum Finding {
    Error(String),
    Note(String),
}

/// Prints the effective configuration on stdout and the findings on stderr; fails when the file
/// is invalid or any finding is an error.
pub fn run(path: &Path, quiet: bool) -> Result<()> {
    let config = Config::load(path)?;
    if !quiet {
        let text = lbs_agent_core::config::effective(&config).context("cannot write the configuration back as TOML")?;
        println!(
            "# The effective configuration of {} (defaults filled in)\n",
            path.display()
        );
        println!("{text}");
    }
    let findings = findings(&config, path);
    let errors = findings.iter().filter(|f| matches!(f, Finding::Error(_))).count();
    for f in &findings {
        match f {
            Finding::Error(m) => eprintln!("error: {m}"),
            Finding::Note(m) => eprintln!("note: {m}"),
        }
    }
    if errors > 0 {
        anyhow::bail!(
            "{} has {errors} problem{} to fix (above)",
            path.display(),
            if errors == 1 { "" } else { "s" }
        );
    }
    eprintln!("{}: the configuration is valid.", path.display());
    Ok(())
}

/// What is worth knowing about `config`, read from `path`.
pub fn findings(config: &Config, path: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let pbx = &config.pbx;
    let mut commands: Vec<(String, &[String])> = vec![
        ("[pbx] probe".into(), &pbx.probe),
        ("[pbx] start".into(), &pbx.start),
        ("[pbx] stop".into(), &pbx.stop),
        ("[pbx] running".into(), &pbx.running),
        ("[pbx] health".into(), &pbx.health),
    ];
    for c in &config.sync.categories {
        commands.push((format!("category {} dump", c.name), &c.dump));
        commands.push((format!("category {} restore", c.name), &c.restore));
    }
    let ip = ["ip".to_owned()];
    let arping = ["arping".to_owned()];
    match &config.takeover {
        Takeover::Hook(h) => commands.push(("[takeover] command".into(), &h.command)),
        Takeover::Vip(_) => {
            commands.push(("[takeover] strategy \"vip\" (moves the address)".into(), &ip));
            commands.push(("[takeover] strategy \"vip\" (announces it)".into(), &arping));
        }
        Takeover::Dns(d) => {
            if let Err(e) = std::fs::read_to_string(&d.key_secret_file) {
                out.push(Finding::Error(format!(
                    "[takeover] key_secret_file {} cannot be read ({e}): the DNS update could not be signed",
                    d.key_secret_file.display()
                )));
            }
        }
        Takeover::None => {}
    }
    for (what, argv) in commands {
        if let Some(program) = argv.first() {
            if find_program(program).is_none() {
                out.push(Finding::Error(format!(
                    "{what}: the program \"{program}\" is not installed or not executable"
                )));
            }
        }
    }
    // A PBX started by the agent itself would live in the agent's service: its sandbox, and
    // stopped whenever the agent restarts or is upgraded.
    if let Some(program) = pbx.start.first() {
        let name = Path::new(program)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !matches!(name, "systemctl" | "service") {
            out.push(Finding::Note(format!(
                "[pbx] start runs \"{program}\" directly: the PBX then runs inside the agent's service (its sandbox) \
                 and stops whenever the agent restarts or is upgraded; start it as its own unit, e.g. \
                 [\"systemctl\", \"start\", \"asterisk\"]"
            )));
        }
    }
    for (key, path) in config.alerts.files() {
        match std::fs::read(path) {
            Err(e) => out.push(Finding::Error(format!(
                "{key} {} cannot be read ({e}): alerts through this channel would fail",
                path.display()
            ))),
            Ok(bytes) if key.ends_with("ca_file") && !bytes.windows(17).any(|w| w == b"BEGIN CERTIFICATE") => {
                out.push(Finding::Error(format!(
                    "{key} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )))
            }
            Ok(_) => {
                use std::os::unix::fs::PermissionsExt;
                let secret = key.ends_with("password_file") || key.ends_with("token_file");
                let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
                if secret && mode & 0o077 != 0 {
                    out.push(Finding::Note(format!(
                        "{key} {} can be read by other users of this box: `chmod 600 {}`",
                        path.display(),
                        path.display()
                    )));
                }
            }
        }
    }
    if let Some(note) = readable_secrets(config, path) {
        out.push(note);
    }
    for e in config.alerts.email.iter().filter(|e| e.password.is_some()) {
        out.push(Finding::Note(format!(
            "[alerts.email] {}: the password is written in the configuration file; keep it in a `password_file` \
             readable by the agent only (it is never printed either way)",
            e.id()
        )));
    }
    if config.alerts.channel_ids().is_empty() {
        out.push(Finding::Note(
            "no [alerts] channel is configured: this box sends no alert of its own when its partner or its PBX \
             fails (see [[alerts.email]] and [[alerts.webhook]] in docs/agent.md)"
                .into(),
        ));
    }
    let state = &config.server.state_dir;
    if !state.join("identity.json").is_file() {
        out.push(Finding::Note(format!(
            "{} holds no identity yet: run `lbs-agent setup` (or `lbs-agent init`) before starting the agent",
            state.display()
        )));
    }
    for c in &config.sync.categories {
        for w in c.watch.iter().filter(|w| !w.exists()) {
            out.push(Finding::Note(format!(
                "category {}: the watched path {} does not exist (yet): until it does, this database is dumped every \
                 {} only (the agent watches it once it appears)",
                c.name,
                w.display(),
                lbs_agent_core::units::human_secs(c.dump_every(config.sync.dump_interval))
            )));
        }
        for file in option_files(c.dump.iter().chain(&c.restore)) {
            use std::os::unix::fs::PermissionsExt;
            match std::fs::metadata(&file) {
                Err(e) => out.push(Finding::Error(format!(
                    "category {}: the option file {} cannot be read ({e}): the database login in it would fail",
                    c.name,
                    file.display()
                ))),
                Ok(m) if m.permissions().mode() & 0o077 != 0 => out.push(Finding::Note(format!(
                    "category {}: the option file {} can be read by other users of this box: `chmod 600 {}`",
                    c.name,
                    file.display(),
                    file.display()
                ))),
                Ok(_) => {}
            }
        }
        for (i, root) in c.roots.iter().enumerate() {
            if !root.is_dir() && !c.is_dump_root(i) {
                out.push(Finding::Note(format!(
                    "category {}: the folder {} does not exist: a backup installs nothing into a missing folder \
                     (create it, owned by the PBX's user, once the PBX is installed)",
                    c.name,
                    root.display()
                )));
            }
        }
    }
    out
}

/// The MariaDB/MySQL option files a command names (`--defaults-extra-file=…`,
/// `--defaults-file=…`), which hold a login: they must be there, and readable by root only.
fn option_files<'a>(args: impl Iterator<Item = &'a String>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = args
        .flat_map(|a| a.split_whitespace())
        .filter_map(|w| {
            w.strip_prefix("--defaults-extra-file=")
                .or_else(|| w.strip_prefix("--defaults-file="))
        })
        .map(|f| PathBuf::from(f.trim_matches(['"', '\''])))
        .collect();
    files.dedup();
    files
}

/// A note when the configuration file itself holds secrets (an inline password, header values,
/// a webhook's address) and other users of this box can read it, as for a secret file.
fn readable_secrets(config: &Config, path: &Path) -> Option<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let alerts = &config.alerts;
    let secrets: Vec<String> = alerts
        .email
        .iter()
        .filter(|e| e.password.is_some())
        .map(|e| format!("the password of {}", e.id()))
        .chain(alerts.webhook.iter().flat_map(|w| {
            let headers = (!w.headers.is_empty()).then(|| format!("the headers of {}", w.id()));
            let address = (w.url.shown() != w.url.origin()).then(|| format!("the address of {}", w.id()));
            headers.into_iter().chain(address)
        }))
        .collect();
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if secrets.is_empty() || mode & 0o077 == 0 {
        return None;
    }
    Some(Finding::Note(format!(
        "{} holds secrets ({}) and can be read by other users of this box: `chmod 600 {}`",
        path.display(),
        secrets.join(", "),
        path.display()
    )))
}

/// The program's path: as given when it has a slash, else the first match on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!("[server]\nname = \"a\"\nstate_dir = \"/nonexistent/state\"\n{extra}");
        Config::parse(&text, Path::new("/etc/lbs-agent/agent.toml")).unwrap()
    }

    #[test]
    fn missing_programs_and_secrets_are_errors_that_name_the_key() {
        let c = config(
            "[pbx]\nstart = [\"/bin/sh\", \"-c\", \"true\"]\nstop = [\"no-such-program-lbs\"]\n\
             [takeover]\nstrategy = \"dns\"\nserver = \"10.0.0.2:53\"\nzone = \"office.lan\"\nname = \"pbx.office.lan\"\n\
             address = \"10.0.0.11\"\nkey_name = \"k\"\nkey_secret_file = \"/nonexistent/tsig.secret\"\n",
        );
        let f = findings(&c, Path::new("/nonexistent/agent.toml"));
        let errors: Vec<&String> = f
            .iter()
            .filter_map(|f| match f {
                Finding::Error(m) => Some(m),
                Finding::Note(_) => None,
            })
            .collect();
        assert_eq!(errors.len(), 2, "{f:?}");
        assert!(errors[0].contains("/nonexistent/tsig.secret"), "{f:?}");
        assert!(
            errors[1].starts_with("[pbx] stop: the program \"no-such-program-lbs\""),
            "{f:?}"
        );
        assert!(f.contains(&Finding::Note(
            "/nonexistent/state holds no identity yet: run `lbs-agent setup` (or `lbs-agent init`) before starting the agent".into()
        )));
    }

    #[test]
    fn alert_files_must_be_there() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let c = config(&format!(
            "[[alerts.email]]\nserver = \"mail.example.com\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\nca_file = \"{}\"\n",
            not_pem.display()
        ));
        let errors: Vec<String> = findings(&c, Path::new("/nonexistent/agent.toml"))
            .into_iter()
            .filter_map(|f| match f {
                Finding::Error(m) => Some(m),
                Finding::Note(_) => None,
            })
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("password_file /nonexistent/pw cannot be read"),
            "{errors:?}"
        );
        assert!(errors[1].contains("holds no PEM certificate"), "{errors:?}");
    }

    #[test]
    fn a_config_file_holding_secrets_must_not_be_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        let chmod = |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let note = |c: &Config| {
            findings(c, &file).into_iter().find_map(|f| match f {
                Finding::Note(m) if m.starts_with(&file.display().to_string()) => Some(m),
                _ => None,
            })
        };
        let with_secrets = config(
            "[[alerts.email]]\nserver = \"mail.example.com\"\nusername = \"u\"\npassword = \"hunter2\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[alerts.webhook]]\nurl = \"https://ntfy.sh/office-topic\"\nformat = \"ntfy\"\n\
             [[alerts.webhook]]\nurl = \"https://hooks.example.com\"\nheaders = { \"X-Api-Key\" = \"k\" }\n",
        );
        std::fs::write(&file, "as installed").unwrap();
        chmod(0o644);
        let m = note(&with_secrets).expect("a note");
        assert_eq!(
            m,
            format!(
                "{0} holds secrets (the password of email:mail.example.com, the address of webhook:ntfy.sh, the \
                 headers of webhook:hooks.example.com) and can be read by other users of this box: `chmod 600 {0}`",
                file.display()
            )
        );
        assert!(!m.contains("hunter2") && !m.contains("office-topic"), "{m}");
        chmod(0o640);
        assert!(note(&with_secrets).is_some(), "the group is other users too");
        chmod(0o600);
        assert_eq!(note(&with_secrets), None);
        // Nothing secret in it: readable is fine.
        chmod(0o644);
        let plain = config("[[alerts.webhook]]\nurl = \"https://hooks.example.com\"\n");
        assert_eq!(note(&plain), None);
    }

    #[test]
    fn a_missing_watched_path_and_an_option_file_others_can_read_are_noted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cnf = dir.path().join("mariadb.cnf");
        std::fs::write(&cnf, "[client]\nuser=freepbxuser\npassword=Hunter2secret\n").unwrap();
        std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = config(&format!(
            "[[sync.category]]\nname = \"freepbx\"\nroots = [\"/nonexistent/dumps\"]\n\
             dump = [\"sh\", \"-c\", \"mysqldump --defaults-extra-file={0} asterisk\"]\ndump_file = \"a.sql\"\n\
             restore = [\"sh\", \"-c\", \"mysql --defaults-extra-file={0} < x\"]\n\
             watch = [\"/nonexistent/mysql/ib_logfile0\"]\ndump_interval = \"5m\"\n",
            cnf.display()
        ));
        let notes: Vec<String> = findings(&c, Path::new("/nonexistent/agent.toml"))
            .into_iter()
            .filter_map(|f| match f {
                Finding::Note(m) if m.starts_with("category freepbx") => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("/nonexistent/mysql/ib_logfile0 does not exist (yet)")
                && notes[0].contains("every 5m only"),
            "{notes:?}"
        );
        assert_eq!(
            notes[1],
            format!(
                "category freepbx: the option file {0} can be read by other users of this box: `chmod 600 {0}`",
                cnf.display()
            )
        );
        std::fs::set_permissions(&cnf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let again = findings(&c, Path::new("/nonexistent/agent.toml"));
        assert!(!format!("{again:?}").contains("option file"), "{again:?}");
        assert!(!format!("{again:?}").contains("Hunter2"));
    }

    #[test]
    fn programs_are_found_on_the_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("/etc/passwd").is_none(), "not executable");
        assert!(find_program("no-such-program-lbs").is_none());
    }
}
