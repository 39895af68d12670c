//! The test kit of the workspace, shared by `tests/` and `benches/`:
//!
//! - [`Proc`]: a workspace binary as a child process, ready once it prints
//!   `NAME listening on ADDR`, its stderr captured, signalled, measured,
//!   killed on drop; [`ProcCluster`]: a coordinator and workers as
//!   processes; [`Cmd`] to run any binary to its exit under a deadline.
//! - [`TestCluster`]: a coordinator and workers in this process
//!   (`cluster_coordinator::start`, `cluster_worker::start`) on 127.0.0.1
//!   port 0, with a connected client.
//! - Waiting: [`wait_status`] polls the coordinator's status until a
//!   condition holds, [`Proc::wait_exit`] a process until it exits, each
//!   with a deadline; nothing here sleeps to synchronise. [`announced`]
//!   wraps a task kind so a test learns when a task starts running, and
//!   [`panics`] counts panics in the test process.
#![warn(missing_docs)]

mod cluster;
mod kinds;
mod proc;
mod wait;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

pub use cluster::{TestCluster, TestClusterBuilder, WorkerSpec};
pub use kinds::{announced, Announced};
pub use proc::{bin, submit, Cmd, Proc, ProcCluster, Signal};
pub use wait::{active_workers, connect, panics, wait_status};

/// How long any single wait may take before the test (or figure) fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The seed's batch: Parallel Python's eight inputs, each twice.
pub const SEED_INPUTS: [u64; 16] = [
    500000, 500100, 500200, 500300, 500400, 500500, 500600, 500700, 500000, 500100, 500200, 500300, 500400,
    500500, 500600, 500700,
];

/// The sum of primes below each of the seed's inputs, as Parallel Python printed them.
pub fn seed_sum(n: u64) -> u64 {
    match n {
        100 => 1060,
        500000 => 9914236195,
        500100 => 9917236483,
        500200 => 9922237979,
        500300 => 9926740220,
        500400 => 9930743046,
        500500 => 9934746636,
        500600 => 9938250425,
        500700 => 9941254397,
        _ => panic!("no known sum for {n}"),
    }
}

/// A fresh directory for one test's files (the process id keeps parallel
/// test processes apart).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cluster-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A finished command's stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses `cluster-submit --json` output into per-task lines and the final
/// stats object.
pub fn json_lines(text: &str) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    let stats = values.pop().expect("a stats line");
    assert!(stats.get("stats").is_some(), "last line is not stats: {stats}");
    (values, stats["stats"].clone())
}

/// Jobs per worker name from a stats object.
pub fn jobs_by_worker(stats: &serde_json::Value) -> BTreeMap<String, u64> {
    stats["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| (w["worker"].as_str().unwrap().to_string(), w["jobs"].as_u64().unwrap()))
        .collect()
}
