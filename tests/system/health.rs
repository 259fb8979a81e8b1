//! The two machines compared (issue 17): a real agent reads this machine (checked against what
//! the kernel says, read here independently); pairing refuses categories that differ and says
//! how to fix them; a pair that differs in a way that breaks a failover is paired, but the
//! difference is said by `lbs-agent pair`, in `GET /api/v1/health` on both boxes, in the audit
//! log, and follows a change on the partner (the digest in the heartbeat); a backup whose disk
//! is too small for the primary's data is told so at pairing (root: a small tmpfs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lbs_protocol::{MachineInventory, PairHealth, Reading, Severity};
use lbs_tests::{eventually, has_command, noise, Agent};

/// The `[pbx] version` command: prints `text` as a PBX would its version.
fn pbx_version(text: &str) -> String {
    format!("version = [\"echo\", \"{text}\"]\n")
}

/// A config tail: `[pbx] version` printing `version`, and the categories `names` under `<dir>/data`.
fn setup(dir: &Path, version: &str, names: &[&str]) -> String {
    let mut text = pbx_version(version);
    for name in names {
        let r = dir.join("data").join(name);
        std::fs::create_dir_all(&r).unwrap();
        text += &format!("[[sync.category]]\nname = \"{name}\"\nroots = [\"{}\"]\n", r.display());
    }
    text
}

fn agent(name: &str, version: &str, categories: &[&str]) -> Agent {
    let (version, categories): (String, Vec<String>) =
        (version.to_owned(), categories.iter().map(|s| s.to_string()).collect());
    Agent::init_config(name, "1s", move |d| {
        let names: Vec<&str> = categories.iter().map(String::as_str).collect();
        setup(d, &version, &names)
    })
}

async fn server_id(agent: &Agent) -> String {
    let r = agent.get("/api/v1/status", &agent.link.token).await;
    r.json::<lbs_protocol::ServerStatus>().await.unwrap().server_id
}

async fn health(agent: &Agent) -> PairHealth {
    let r = agent.get("/api/v1/health", &agent.link.token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The CLI wraps long sentences: compare words, not lines.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn read<T: std::fmt::Debug>(r: &Reading<T>) -> &T {
    match r {
        Reading::Read { value } => value,
        other => panic!("not read: {other:?}"),
    }
}

/// `KEY=value` of /etc/os-release, unquoted.
fn os_release(key: &str) -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap()
        .trim_matches('"')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_box_reads_this_machine_for_real() {
    let mut a = agent("PBX A", "Asterisk 20.6.0", &["voicemail"]);
    let vm = a.dir.path().join("data/voicemail");
    std::fs::write(vm.join("msg0000.wav"), noise(1, 300_000)).unwrap();
    a.start();
    // Every token reads it; none does not.
    let r = a.http().get(a.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Once the journal holds the voicemail and the disks were asked for their health.
    let h = eventually(
        "the inventory with the data and SMART",
        Duration::from_secs(60),
        || async {
            let h = health(&a).await;
            let data: u64 = h.this.storage.value()?.iter().map(|r| r.data_bytes).sum();
            let smart_asked = h.this.disks.value()?.iter().all(|d| match &d.smart {
                Reading::Read { .. } => true,
                Reading::Unavailable { reason } => !reason.starts_with("not read yet"),
            });
            (data >= 300_000 && smart_asked).then_some(h)
        },
    )
    .await;
    let m: &MachineInventory = &h.this;
    assert_eq!((m.name.as_str(), m.role), ("PBX A", lbs_protocol::Role::Primary));

    // The processor and memory, as the kernel lists them.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let processors = cpuinfo.lines().filter(|l| l.starts_with("processor")).count() as u32;
    assert_eq!(read(&m.cpu).threads, processors);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(read(&m.memory).total_bytes, kb * 1024);

    // Each whole disk the kernel has (backed by a device, not empty), with its size.
    let disks = read(&m.disks);
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let sectors: u64 = std::fs::read_to_string(entry.path().join("size"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if !entry.path().join("device").exists() || sectors == 0 || name.starts_with("sr") {
            continue;
        }
        let d = disks
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing: {disks:?}"));
        assert_eq!(d.size_bytes, sectors * 512, "{name}");
        // SMART read, or why not in words (a virtual disk has none).
        if let Reading::Unavailable { reason } = &d.smart {
            assert!(
                reason.contains(&format!("/dev/{name}")) || reason.contains("smartctl"),
                "{reason}"
            );
        }
    }
    assert!(disks
        .iter()
        .all(|d| !d.name.starts_with("zram") && !d.name.starts_with("loop")));

    // The interfaces backed by a device.
    let nics: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("device").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut listed: Vec<String> = read(&m.network).iter().map(|i| i.name.clone()).collect();
    let mut expected = nics.clone();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);

    // The system, the PBX version command, the agent, the categories and their data.
    let system = read(&m.system);
    assert_eq!(system.os, os_release("PRETTY_NAME"));
    let uname = std::process::Command::new("uname").arg("-r").output().unwrap();
    assert_eq!(system.kernel, String::from_utf8_lossy(&uname.stdout).trim());
    let pbx = read(&m.pbx);
    assert_eq!((pbx.version.as_deref(), pbx.major), (Some("20.6.0"), Some(20)));
    assert_eq!(m.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(m.categories.categories.len(), 1);
    let root = &read(&m.storage)[0];
    assert_eq!((root.category.as_str(), root.files), ("voicemail", 1));
    let fs = root.filesystem.as_ref().unwrap();
    assert!(fs.total_bytes > fs.free_bytes && fs.free_bytes > 0, "{fs:?}");

    // Telephony: this machine has no card; without lspci, the reason says what to install.
    match &m.telephony.cards {
        Reading::Read { value } => {
            assert!(has_command("lspci"));
            assert!(value.is_empty(), "{value:?}");
        }
        Reading::Unavailable { reason } => assert!(reason.contains("pciutils"), "{reason}"),
    }
    assert_eq!(m.telephony.dahdi_loaded, Path::new("/proc/dahdi").exists());

    // Alone, it says so.
    assert!(h.partner.is_none());
    assert!(h.partner_note.as_deref().unwrap().contains("has no partner yet"));
    assert!(
        h.differences.iter().all(|d| d.severity != Severity::Critical),
        "{:?}",
        h.differences
    );

    // The command line shows the same; Prometheus counts the differences.
    let out = a.cli(&["health"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("PBX A (primary)") && shown.contains("Asterisk 20.6.0"),
        "{shown}"
    );
    let metrics = a.get("/api/v1/metrics", &a.link.token).await.text().await.unwrap();
    assert!(
        metrics.contains("lbs_health_differences{severity=\"critical\"} 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pairing_refuses_categories_that_differ_and_says_how_to_fix_them() {
    let mut a = agent("PBX A", "Asterisk 20.6.0", &["voicemail", "recordings"]);
    let mut b = agent("PBX B", "Asterisk 20.6.0", &["voicemail"]);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = words(&text(&out));
    assert!(
        said.contains(
            "the sync categories of PBX A and PBX B differ: PBX A has 2 sync categories (voicemail, recordings), \
             PBX B has 1 (voicemail)"
        ),
        "{said}"
    );
    assert!(
        said.contains("[[sync.category]] sections of the agent's configuration on PBX B (/etc/lbs-agent/agent.toml)"),
        "{said}"
    );
    // Neither box is paired; the primary's audit log has the refusal.
    for box_ in [&a, &b] {
        assert!(health(box_).await.partner_note.unwrap().contains("has no partner yet"));
    }
    let events = a.cli(&["events"]);
    assert!(
        text(&events).contains("pairing refused: the sync categories"),
        "{}",
        text(&events)
    );

    // The same order is needed, not only the same names.
    let mut c = agent("PBX C", "Asterisk 20.6.0", &["recordings", "voicemail"]);
    c.start();
    let out = c.cli(&["pair", &a.link.to_string()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("the sync categories are in another order"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_difference_that_breaks_a_failover_is_said_at_pairing_and_follows_the_partner() {
    let mut a = agent("PBX A", "Asterisk 20.6.0", &["voicemail"]);
    let mut b = agent("PBX B", "Asterisk 18.21.0", &["voicemail"]);
    a.start();
    b.start();
    let out = b.cli(&["pair", &a.link.to_string()]);
    let said = words(&text(&out));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("now its backup"), "{said}");
    assert!(said.contains("Differences (1 critical"), "{said}");
    assert!(
        said.contains("PBX A runs Asterisk 20.6.0, PBX B runs Asterisk 18.21.0"),
        "{said}"
    );
    assert!(said.contains("What to do: Install the same version"), "{said}");

    // Both boxes know it at once: each has the other's inventory from the pairing.
    let b_id = server_id(&b).await;
    for (box_, partner) in [(&b, "PBX A"), (&a, "PBX B")] {
        let h = health(box_).await;
        assert_eq!(h.partner.as_ref().unwrap().name, partner);
        let d = h
            .differences
            .iter()
            .find(|d| d.area == lbs_protocol::HealthArea::Pbx)
            .unwrap();
        assert_eq!((d.code.as_str(), d.severity), ("pbx_major_differs", Severity::Critical));
        assert_eq!(d.server_id.as_deref(), Some(b_id.as_str()));
        assert_eq!(h.differences[0].severity, Severity::Critical, "critical first");
    }
    let events = a.cli(&["events"]);
    assert!(
        text(&events).contains("differences between the boxes: [critical] PBX A runs Asterisk 20.6.0"),
        "{}",
        text(&events)
    );

    // PBX B gets the same version: after its restart, its heartbeat carries another digest and
    // PBX A fetches its inventory again.
    b.stop();
    let config = std::fs::read_to_string(&b.config).unwrap();
    std::fs::write(&b.config, config.replace("Asterisk 18.21.0", "Asterisk 20.6.0")).unwrap();
    b.start();
    let h = eventually("PBX A to see PBX B's new version", Duration::from_secs(30), || async {
        let h = health(&a).await;
        let pbx = h.partner.as_ref()?.pbx.value()?.text.clone();
        (pbx == "Asterisk 20.6.0").then_some(h)
    })
    .await;
    assert!(
        h.differences.iter().all(|d| d.area != lbs_protocol::HealthArea::Pbx),
        "the same version now: {:?}",
        h.differences
    );
    assert_eq!(h.partner_note, None);
}

/// Unmounts on drop, so a failed test leaves no mount behind.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: mounts a small tmpfs as the backup's voicemail disk"]
async fn a_backup_disk_smaller_than_the_primarys_data_is_said_at_pairing() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test mounts a tmpfs: run it as root (CI does)"
    );
    let mut a = agent("PBX A", "Asterisk 20.6.0", &["voicemail"]);
    let mut b = agent("PBX B", "Asterisk 20.6.0", &["voicemail"]);
    // 24 MB of voicemail on PBX A; PBX B's voicemail folder is a 16 MB disk.
    let va = a.dir.path().join("data/voicemail");
    for n in 0..3 {
        std::fs::write(va.join(format!("msg{n:04}.wav")), noise(n, 8_000_000)).unwrap();
    }
    let vb = b.dir.path().join("data/voicemail");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&vb)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount the tmpfs");
    let _guard = Unmount(vb.clone());
    a.start();
    b.start();
    // PBX A has journaled its voicemail.
    eventually("PBX A to hold its voicemail", Duration::from_secs(60), || async {
        let h = health(&a).await;
        let data: u64 = h.this.storage.value()?.iter().map(|r| r.data_bytes).sum();
        (data >= 24_000_000).then_some(())
    })
    .await;
    let out = b.cli(&["pair", &a.link.to_string()]);
    let said = words(&text(&out));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Differences (1 critical"), "{said}");
    let mount = vb.canonicalize().unwrap().display().to_string();
    assert!(
        said.contains(&format!(
            "PBX B's disk for voicemail (mounted on {mount}, 16.8 MB) is smaller than PBX A's data there (24.0 MB): \
             the copy stops when it is full"
        )),
        "{said}"
    );
    let h = health(&b).await;
    assert!(
        h.differences.iter().any(|d| d.code == "disk_too_small"),
        "{:?}",
        h.differences
    );
    let fs = read(&h.this.storage)[0].filesystem.clone().unwrap();
    assert_eq!(fs.mount, mount);
    assert_eq!(fs.total_bytes, 16 * 1024 * 1024);
}
