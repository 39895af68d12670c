//! Runs the quick benchmark end to end: real coordinator and worker
//! processes (built next to cluster-bench by `cargo build --bins`), every
//! figure. Asserts that it succeeds and reports each figure; never asserts
//! on a timing.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Only a guard against a hang; the quick run takes seconds.
const HANG: Duration = Duration::from_secs(1200);

#[test]
fn quick_run_reports_every_figure() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args(["--quick", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cluster-bench");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cluster-bench --quick hung; stderr:\n{}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "cluster-bench --quick failed ({status}); stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    for row in [
        "| throughput |",
        "| latency p50 |",
        "| latency p99 |",
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
    for figure in ["throughput", "latency", "efficiency", "seed", "memory", "dispatch"] {
        let value = &json["figures"][figure];
        assert!(value["met"].is_boolean(), "figure {figure}: {value}");
    }
    assert_eq!(json["figures"]["throughput"]["tasks"], 10_000);
    assert_eq!(json["figures"]["memory"]["tasks"], 100_000);
}

#[test]
fn only_runs_one_figure() {
    let output = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args(["--quick", "--only", "dispatch"])
        .stdin(Stdio::null())
        .output()
        .expect("run cluster-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("| dispatch W=10 |"), "{stdout}");
    assert!(!stdout.contains("| throughput |"), "{stdout}");

    let output = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args(["--only", "nonsense"])
        .stdin(Stdio::null())
        .output()
        .expect("run cluster-bench");
    assert!(!output.status.success(), "an unknown figure is refused");
}
