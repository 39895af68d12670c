//! Runs the quick benchmark end to end: real coordinator and worker
//! processes (built next to cluster-bench by `cargo build --bins`), every
//! figure. Asserts that it succeeds and reports each figure; never asserts
//! on a timing.

use std::time::Duration;

use cluster_testkit::{stderr, stdout, Cmd};

/// Only a guard against a hang; the quick run takes seconds.
const HANG: Duration = Duration::from_secs(1200);

fn bench() -> Cmd {
    Cmd::at(env!("CARGO_BIN_EXE_cluster-bench"))
}

#[test]
fn quick_run_reports_every_figure() {
    let output = bench().args(["--quick", "--json"]).output(HANG).expect("cluster-bench --quick");
    let (stdout, stderr) = (stdout(&output), stderr(&output));
    assert!(
        output.status.success(),
        "cluster-bench --quick failed ({}); stdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );

    for row in [
        "| throughput |",
        "| latency p50 |",
        "| latency p99 |",
        "| embedded latency p50 |",
        "| workers=20 throughput |",
        "| workers=2 throughput |",
        "| memory per idle worker (W=20) |",
        "| efficiency |",
        "| seed speed-up |",
        "| memory per queued task |",
        "| dispatch W=10 |",
        "| dispatch W=1,000 |",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(row));
        let line = line.unwrap_or_else(|| panic!("no row `{row}` in:\n{stdout}"));
        assert!(!line.contains("FAILED"), "{line}");
    }
    assert!(stdout.starts_with("machine: "), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("the last line is JSON");
    assert_eq!(json["quick"], true);
    assert_eq!(json["failed"].as_array().map(Vec::len), Some(0), "{json}");
    for figure in [
        "throughput",
        "durable",
        "latency",
        "embedded",
        "efficiency",
        "seed",
        "exec",
        "memory",
        "workers",
        "dispatch",
    ] {
        let value = &json["figures"][figure];
        assert!(value["met"].is_boolean(), "figure {figure}: {value}");
    }
    assert_eq!(json["figures"]["throughput"]["tasks"], 10_000);
    assert_eq!(json["figures"]["memory"]["tasks"], 100_000);
    assert_eq!(json["figures"]["workers"]["many"]["workers"], 20);
}

#[test]
fn only_runs_one_figure() {
    let output = bench().args(["--quick", "--only", "dispatch"]).output(HANG).expect("cluster-bench");
    let stdout = stdout(&output);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    assert!(stdout.contains("| dispatch W=10 |"), "{stdout}");
    assert!(!stdout.contains("| throughput |"), "{stdout}");

    let output = bench().args(["--only", "nonsense"]).output(HANG).expect("cluster-bench");
    assert!(!output.status.success(), "an unknown figure is refused");
}
