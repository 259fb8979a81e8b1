//! A month in an hour (`lbs_tests::soak`): the lab office on an accelerated clock, a PBX-like
//! writer without pause, faults of every kind at random (seeded), an independent checker. The
//! run's length comes from the environment (`scripts/soak.sh` sets it): LBS_SOAK_MINUTES real
//! minutes (default 4), LBS_SOAK_DAYS simulated days (default 10), LBS_SOAK_SEED (default: from
//! the time, printed so a failure can be replayed). Prints the figures for docs/benchmarks.md.
//! Needs root (namespaces, tmpfs): ignored unless run with `--include-ignored`.

use lbs_tests::soak::{scheduler, Plan, SoakOffice};

fn env_f64(key: &str, default: f64) -> f64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore = "needs root: the office lab's network namespaces and tmpfs mounts"]
fn a_month_of_faults_loses_no_acknowledged_file_and_never_splits_the_office() {
    lbs_tests::lab::require();
    let seed = std::env::var("LBS_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(lbs_tests::lab::now_ms);
    let plan = Plan {
        seed,
        minutes: env_f64("LBS_SOAK_MINUTES", 4.0),
        days: env_f64("LBS_SOAK_DAYS", 10.0),
        // LBS_SOAK_LAB: another lab number, to run a second soak beside one running.
        lab: std::env::var("LBS_SOAK_LAB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(90),
        // LBS_SOAK_FROM_BIN: an older build to start from and upgrade (scripts/soak.sh --from).
        from: std::env::var_os("LBS_SOAK_FROM_BIN").map(std::path::PathBuf::from),
    };
    eprintln!(
        "soak: seed {seed} (replay with LBS_SOAK_SEED={seed}), {} min for {} simulated days (clock x{:.0})",
        plan.minutes,
        plan.days,
        plan.speed()
    );
    let out = std::env::var("LBS_SOAK_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("lbs-soak-{seed}")));
    std::fs::create_dir_all(&out).expect("the soak's output folder");
    let office = SoakOffice::up(&plan);
    let outcome = scheduler::run(office, plan, &out);
    let text = outcome.to_string();
    eprintln!("{text}");
    let _ = std::fs::write(out.join("figures.txt"), &text);
    assert!(outcome.failure.is_none(), "{text}");
    let c = &outcome.checker;
    assert!(
        c.losses.is_empty() && c.torn.is_empty() && c.undeleted.is_empty(),
        "{text}"
    );
    assert_eq!(outcome.roles.dual_primaries(), 0, "{text}");
    assert!(c.unaccounted.is_empty(), "{text}");
    assert!(
        outcome.faults.len() == scheduler::Kind::ALL.len(),
        "every kind of fault ran at least once:\n{text}"
    );
    // Bounded: every figure under a cap whatever the run's length (the trash and the journal's
    // deletions kept 2 simulated days, history's roll-ups and SQLite's checkpoints) ...
    let figures = lbs_tests::soak::growth::summary(&outcome.growth);
    for (name, unit, _, max) in &figures {
        let cap = match *name {
            // On a tree of a few files it is the empty database's size: its growth is the figure.
            "sync.db per file" => continue,
            "agent memory (RSS)" => 256 << 10,
            "open files" => 256,
            "trash" => 64 << 10,
            "files on the box" => 100_000,
            _ => 16 << 10,
        };
        assert!(*max <= cap, "{name} reached {max} {unit} (cap {cap}):\n{text}");
    }
    // ... and, over a long run (a month: long enough for a warm-up and thirds of several days),
    // flat after warm-up.
    if outcome.sim_days >= 20.0 {
        for (name, unit, per_day, max) in &figures {
            let bound = match *name {
                "agent memory (RSS)" => 1024.0,
                "open files" => 1.0,
                "trash" => 1024.0,
                // The writer's tree grows (abandoned recordings stay), and the journal with it:
                // what must stay flat is its size per file.
                "files on the box" | "sync.db" => continue,
                "sync.db per file" => 16.0,
                // History keeps its minute roll-ups 45 days (42 at the least): within a month it
                // grows by design, by how often it is sampled (the clock's speed); the cap above
                // bounds it, its retention (docs/agent.md) bounds it for good.
                "history.db" => continue,
                // A checkpoint empties them: their peak is the figure, capped above.
                "sync.db-wal" | "history.db-wal" => continue,
                _ => 64.0,
            };
            assert!(
                *per_day <= bound,
                "{name} grows {per_day:.1} {unit} per simulated day after warm-up (bound {bound}, max {max}):\n{text}"
            );
        }
    }
}
