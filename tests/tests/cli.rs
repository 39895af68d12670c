//! What `cluster-submit` tells a person: the waiting notice and exit codes,
//! `status` and its live view in a terminal, error texts that say each
//! cause once, and the flag syntax (durations, switches, variables). Real
//! binaries on 127.0.0.1, port 0.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use cluster_auth::test_util::generate;
use cluster_testkit::{stderr, stdout, temp_dir, Cmd, Proc, DEADLINE};

fn submit(args: &[&str]) -> Result<std::process::Output> {
    Cmd::new("cluster-submit")?.args(args).output(DEADLINE)
}

fn exit_code(output: &std::process::Output) -> Option<i32> {
    output.status.code()
}

/// Polls `done` until it holds; fails after [`DEADLINE`].
fn wait_until(what: &str, done: impl Fn() -> bool) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    while !done() {
        if Instant::now() > until {
            bail!("timed out after {DEADLINE:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn a_job_with_no_active_worker_is_told_at_once_then_fails_with_exit_3() -> Result<()> {
    let coordinator = Proc::coordinator(Vec::<&str>::new())?;
    let url = coordinator.url();
    let started = Instant::now();
    let mut job = Cmd::new("cluster-submit")?
        .args(["spin", "--ms", "1", "--count", "3", "--coordinator", &url, "--wait-for-workers-ms", "2s"])
        .spawn()?;
    wait_until("the waiting notice", || job.log().contains("waiting: no active worker"))?;
    let noticed = started.elapsed();
    // The notice came while the job still waited, before its tasks failed.
    job.check_alive()?;
    let output = job.into_output(DEADLINE)?;
    let failed = started.elapsed();
    println!("notice after {noticed:?}, exit after {failed:?}");
    let err = stderr(&output);
    assert_eq!(exit_code(&output), Some(3), "{err}");
    assert!(failed >= Duration::from_secs(2), "the wait is bounded by the flag, not shorter: {failed:?}");
    assert!(err.contains("3 tasks failed because no active worker could run them"), "{err}");
    assert_eq!(err.matches("waiting: no active worker").count(), 1, "{err}");
    Ok(())
}

/// Worker rows of `status --watch` frames: (address, running, completed).
fn rows(screen: &str, address: &str) -> Vec<(u64, u64)> {
    screen
        .lines()
        .filter_map(|line| {
            let line = line.rsplit("\x1b[2J").next()?;
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.first() != Some(&address) || cols.len() < 9 {
                return None;
            }
            Some((cols[5].parse().ok()?, cols[7].parse().ok()?))
        })
        .collect()
}

#[test]
fn status_watch_in_a_terminal_shows_worker_rows_change_during_a_batch() -> Result<()> {
    let worker = Proc::worker(["--cpus", "2"])?;
    let coordinator = Proc::coordinator(["--worker", worker.addr()])?;
    let url = coordinator.url();
    let submit_bin = cluster_testkit::bin("cluster-submit")?;
    let command = format!("{} status --watch --coordinator {url}", submit_bin.display());
    // `script` gives the command a pseudo-terminal: the live view redraws.
    let watch = Cmd::at("script").args(["-q", "-e", "-c", &command, "/dev/null"]).spawn()?;
    let address = worker.addr().to_string();
    wait_until("a frame with the worker active", || watch.out().contains("active"))?;
    assert!(watch.out().contains("\x1b[2J"), "a terminal gets redrawn frames: {:?}", watch.out());
    let batch = Cmd::new("cluster-submit")?
        .args(["spin", "--ms", "400", "--count", "12", "--coordinator", &url])
        .spawn()?;
    wait_until("a frame with tasks running", || rows(&watch.out(), &address).iter().any(|r| r.0 > 0))?;
    let output = batch.into_output(DEADLINE)?;
    assert!(output.status.success(), "{}", stderr(&output));
    wait_until("a frame with the batch completed", || {
        rows(&watch.out(), &address).iter().any(|&(running, completed)| running == 0 && completed == 12)
    })?;
    let screen = watch.out();
    assert!(screen.contains("tasks/s:"), "{screen}");
    assert!(screen.contains("12 succeeded, 0 failed"), "the finished job is listed: {screen}");
    Ok(())
}

#[test]
fn status_lists_finished_jobs_and_exits_3_with_no_active_worker() -> Result<()> {
    let coordinator = Proc::coordinator(Vec::<&str>::new())?;
    let url = coordinator.url();
    // CLUSTER_JSON=1: switches take 1/0/yes/no in their variables.
    let alone = Cmd::new("cluster-submit")?
        .args(["status", "--coordinator", &url])
        .env("CLUSTER_JSON", "1")
        .output(DEADLINE)?;
    assert_eq!(exit_code(&alone), Some(3), "{}", stderr(&alone));
    let json: serde_json::Value = serde_json::from_str(stdout(&alone).trim())?;
    assert_eq!(json["workers"], serde_json::json!([]));
    assert!(stderr(&alone).contains("no worker is active"), "{}", stderr(&alone));

    let _worker = Proc::worker(["--cpus", "1", "--coordinator", &url, "--advertise", "127.0.0.1"])?;
    let run = submit(&["sum-primes", "--inputs", "100,20000001", "--coordinator", &url])?;
    assert_eq!(exit_code(&run), Some(1), "one task fails (input over the maximum): {}", stderr(&run));
    let status = submit(&["status", "--coordinator", &url])?;
    assert_eq!(exit_code(&status), Some(0), "{}", stderr(&status));
    let table = stdout(&status);
    assert!(table.contains("2 tasks: 1 succeeded, 1 failed"), "{table}");
    Ok(())
}

#[test]
fn errors_say_each_cause_once_and_what_to_do() -> Result<()> {
    // Nothing listens (port 1: below the ephemeral range port 0 picks
    // from, so no parallel test's server takes it): exit 3, the cause once.
    let refused = submit(&["status", "--coordinator", "http://127.0.0.1:1"])?;
    let err = stderr(&refused);
    assert_eq!(exit_code(&refused), Some(3), "{err}");
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    assert_eq!(err.matches("cannot connect").count(), 1, "{err}");

    // A CA file that is not there: the cause once, a usage error.
    let missing =
        submit(&["status", "--coordinator", "https://127.0.0.1:1", "--tls-ca", "/nonexistent/ca.pem"])?;
    let err = stderr(&missing);
    assert_eq!(exit_code(&missing), Some(2), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    // A worker's address where the coordinator's belongs.
    let worker = Proc::worker(["--cpus", "1"])?;
    let wrong = submit(&["status", "--coordinator", &worker.url()])?;
    let err = stderr(&wrong);
    assert!(err.contains("this address serves a worker, not a coordinator"), "{err}");
    assert!(!err.contains("refused"), "{err}");

    // http:// to a coordinator that serves TLS.
    let pki = generate(&temp_dir("cli-errors"))?;
    let cert = pki.server_cert.to_str().unwrap_or_default();
    let key = pki.server_key.to_str().unwrap_or_default();
    let tls = Proc::coordinator(["--tls-cert", cert, "--tls-key", key])?;
    let plain = submit(&["status", "--coordinator", &tls.url()])?;
    let err = stderr(&plain);
    assert!(err.contains("https://") && err.contains("--tls-ca"), "{err}");
    assert!(!err.contains("refused"), "{err}");
    Ok(())
}

#[test]
fn flags_take_durations_and_the_worker_ignores_the_clients_variable() -> Result<()> {
    // CLUSTER_COORDINATOR is where clients submit; the worker has its own.
    let worker = Cmd::new("cluster-worker")?
        .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--heartbeat-ms", "250ms", "--drain-grace-ms", "2s"])
        .env("CLUSTER_COORDINATOR", "http://127.0.0.1:1")
        .start()?;
    let coordinator = Proc::coordinator(["--worker", worker.addr(), "--heartbeat-timeout-ms", "3s"])?;
    let run = submit(&["noop", "--count", "5", "--coordinator", &coordinator.url(), "--timeout-ms", "1m"])?;
    assert!(run.status.success(), "{}", stderr(&run));
    let bad = submit(&["noop", "--count", "1", "--timeout-ms", "5 parsecs"])?;
    assert_eq!(exit_code(&bad), Some(2));
    assert!(stderr(&bad).contains("is not a duration"), "{}", stderr(&bad));
    let help = Cmd::new("cluster-worker")?.args(["--help"]).output(DEADLINE)?;
    let help = stdout(&help);
    for text in ["Connection:", "Security:", "Tuning:", "Logging:", "CLUSTER_SECRET", "RUST_LOG"] {
        assert!(help.contains(text), "no {text} in --help:\n{help}");
    }
    assert!(help.contains("CLUSTER_WORKER_COORDINATOR"), "{help}");
    Ok(())
}
