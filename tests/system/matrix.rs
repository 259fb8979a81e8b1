//! The fault matrix of automatic failover, each case once, at the agent's default timing, on a
//! fresh office on autopilot in the lab (`lbs_tests::faults`): the independent observer must see
//! no moment in which two boxes answered the phones; exactly the expected automatic failovers
//! happen; the phones call each other again (through the box that took over, or throughout when
//! nothing should move); no finished voicemail is lost. The cases run one after another in one
//! test: they time heartbeats and leases, and running eleven offices at once on a small machine
//! would test the machine. Needs root (namespaces): ignored unless run with `--include-ignored`.
//! The benchmark runs the same cases several times and prints the table (docs/benchmarks.md).

use lbs_tests::faults::{self, Fault, DEFAULTS};
use lbs_tests::lab::Strategy;

#[test]
#[ignore = "needs root: the office lab's network namespaces"]
fn no_fault_splits_the_office_and_only_a_lost_primary_moves_the_phones() {
    lbs_tests::lab::require();
    // LBS_MATRIX_ONLY="powered off" runs the cases whose label holds that text (for debugging).
    let only = std::env::var("LBS_MATRIX_ONLY").unwrap_or_default();
    let mut failures = Vec::new();
    for (i, fault) in Fault::ALL.into_iter().enumerate() {
        if !fault.label().contains(only.as_str()) {
            continue;
        }
        let r = faults::run(60 + i as u32, fault, Strategy::Vip, DEFAULTS);
        eprintln!(
            "matrix: {:<42} failovers {}/{} dual answers {} calls back {:?} ms, call during the fault {:?}, files lost {}, longest gap {} ms",
            fault.label(),
            r.taken,
            r.expected,
            r.dual_answers,
            r.calls_back_ms,
            r.call_during_fault,
            r.files_lost,
            r.longest_gap_ms
        );
        let mut wrong = Vec::new();
        if r.dual_answers > 0 {
            wrong.push(format!("{} samples with two boxes answering", r.dual_answers));
        }
        if r.taken != r.expected {
            wrong.push(format!("{} automatic failovers, expected {}", r.taken, r.expected));
        }
        if r.expected > 0 && r.calls_back_ms.is_none() {
            wrong.push("no call connected through the box that took over".into());
        }
        if r.call_during_fault == Some(false) {
            wrong.push("no call connected through the primary during the fault".into());
        }
        if r.callee_registered_again {
            wrong.push("phone 2 registered again: the calls do not show the restored registrations".into());
        }
        if r.files_lost > 0 {
            wrong.push(format!("{} voicemail files lost", r.files_lost));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}\n{}", fault.label(), wrong.join("; "), r.report));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
