//! The coordinator's own crash: with `--state-dir` a job survives SIGKILL
//! and restart, its client reconnects and gets every result once; without
//! it the client is told at once that the job was lost.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use cluster_auth::Security;
use cluster_testkit::{
    active_workers, connect, json_lines, stderr, stdout, temp_dir, wait_status, Cmd, Proc, Signal, DEADLINE,
};

/// Inputs heavy enough (in a debug build) that the job is still running
/// when the coordinator is killed.
fn inputs(count: u64) -> Vec<u64> {
    (0..count).map(|i| 1_000_000 + i).collect()
}

/// The sum of the primes below each of `inputs`, from one sieve.
fn expected(inputs: &[u64]) -> BTreeMap<u64, u64> {
    let max = *inputs.iter().max().unwrap() as usize;
    let mut composite = vec![false; max];
    let mut below = vec![0u64; max + 1];
    for n in 2..max {
        below[n + 1] = below[n];
        if !composite[n] {
            below[n + 1] += n as u64;
            (n * n..max).step_by(n).for_each(|m| composite[m] = true);
        }
    }
    inputs.iter().map(|&n| (n, below[n as usize])).collect()
}

fn coordinator(listen: &str, state: Option<&std::path::Path>) -> Result<Proc> {
    let mut cmd = Cmd::new("cluster-coordinator")?.args(["--listen", listen]);
    if let Some(dir) = state {
        cmd = cmd.args([std::ffi::OsStr::new("--state-dir"), dir.as_os_str()]);
    }
    cmd.start()
}

fn worker(coordinator: &str) -> Result<Proc> {
    Cmd::new("cluster-worker")?
        .args([
            "--listen",
            "127.0.0.1:0",
            "--cpus",
            "1",
            "--coordinator",
            coordinator,
            "--advertise",
            "127.0.0.1",
        ])
        .start()
}

/// Waits until the coordinator reports at least `n` results of its job.
async fn wait_finished(url: &str, n: u64) -> Result<()> {
    let mut client = connect(url, &Security::default()).await?;
    wait_status(&mut client, &format!("{n} results"), |s| s.jobs.iter().any(|j| j.finished >= n))
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_survives_coordinator_kills_and_its_client_gets_every_result_once() -> Result<()> {
    let state = temp_dir("durable-kills");
    let mut coord = coordinator("127.0.0.1:0", Some(&state))?;
    let listen = coord.addr().to_string();
    let url = coord.url();
    let _workers = [worker(&url)?, worker(&url)?];
    wait_status(&mut connect(&url, &Security::default()).await?, "2 workers", |s| active_workers(s) == 2)
        .await?;
    // CLUSTER_TEST_DURABLE=2000,3,100000 is the size: tasks, kills,
    // first input.
    let size = std::env::var("CLUSTER_TEST_DURABLE").unwrap_or_else(|_| "240,2,1000000".into());
    let size: Vec<u64> = size.split(',').map(|n| n.parse().unwrap()).collect();
    let (count, kills) = (size[0], size[1]);
    let inputs: Vec<u64> = (0..count).map(|i| size[2] + i).collect();
    let list = inputs.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let submit = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--coordinator", &url, "--json", "--inputs", &list])
        .spawn()?;
    for at in (1..=kills).map(|k| count * k / (kills + 2)) {
        wait_finished(&url, at).await?;
        coord.signal(Signal::Kill);
        tokio::task::block_in_place(|| coord.wait_exit(DEADLINE))?;
        coord = coordinator(&listen, Some(&state))?;
        coord.wait_log("state directory open"); // restart `kill` came back with its state
    }
    let output = tokio::task::block_in_place(|| submit.into_output(Duration::from_secs(120)))?;
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("coordinator lost") && err.contains("reconnecting..."), "{err}");
    assert!(err.contains("resumed job 1: "), "{err}");
    let (lines, stats) = json_lines(&stdout(&output));
    assert_eq!(lines.len(), inputs.len());
    let sums = expected(&inputs);
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], index, "{line}");
        let n = inputs[index];
        assert_eq!(line["output"], sums[&n], "input {n}: {line}");
    }
    assert_eq!(stats["succeeded"], inputs.len() as u64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn another_process_attaches_to_a_job_whose_client_died() -> Result<()> {
    let state = temp_dir("durable-attach");
    let coord = coordinator("127.0.0.1:0", Some(&state))?;
    let url = coord.url();
    let _worker = worker(&url)?;
    wait_status(&mut connect(&url, &Security::default()).await?, "a worker", |s| active_workers(s) == 1)
        .await?;
    let inputs = inputs(40);
    let list = inputs.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let first =
        Cmd::new("cluster-submit")?.args(["sum-primes", "--coordinator", &url, "--inputs", &list]).spawn()?;
    wait_finished(&url, 5).await?;
    first.signal(Signal::Kill);
    let output = Cmd::new("cluster-submit")?
        .args(["attach", "--coordinator", &url, "--job", "1", "--json"])
        .output(Duration::from_secs(120))?;
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, stats) = json_lines(&stdout(&output));
    let sums = expected(&inputs);
    let mut got: BTreeMap<u64, u64> = BTreeMap::new();
    for line in &lines {
        let index = line["index"].as_u64().unwrap();
        assert!(got.insert(index, line["output"].as_u64().unwrap()).is_none(), "index {index} twice");
    }
    assert_eq!(got.len(), inputs.len(), "every task once");
    for (index, sum) in got {
        assert_eq!(sum, sums[&inputs[index as usize]]);
    }
    assert_eq!(stats["succeeded"], inputs.len() as u64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_state_dir_a_killed_coordinator_loses_the_job_and_the_client_says_so() -> Result<()> {
    let coord = coordinator("127.0.0.1:0", None)?;
    let url = coord.url();
    let _worker = worker(&url)?;
    wait_status(&mut connect(&url, &Security::default()).await?, "a worker", |s| active_workers(s) == 1)
        .await?;
    let inputs = inputs(60);
    let list = inputs.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let submit = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--coordinator", &url, "--json", "--inputs", &list])
        .spawn()?;
    wait_finished(&url, 5).await?;
    coord.signal(Signal::Kill);
    let output = tokio::task::block_in_place(|| submit.into_output(DEADLINE))?;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("was lost and must be submitted again"), "{err}");
    // What it had is printed, each exact.
    let printed: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(printed.len() >= 5, "{printed:?}");
    let sums = expected(&inputs);
    for line in printed {
        let n = inputs[line["index"].as_u64().unwrap() as usize];
        assert_eq!(line["output"], sums[&n]);
    }
    Ok(())
}

#[test]
fn a_second_coordinator_on_the_same_directory_is_refused_naming_the_holder() -> Result<()> {
    let state = temp_dir("durable-holder");
    let first = coordinator("127.0.0.1:0", Some(&state))?;
    let output = Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--state-dir", state.to_str().unwrap()])
        .output(DEADLINE)?;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("is in use by another coordinator"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    Ok(())
}

#[test]
fn damaged_state_is_refused_with_the_directory_named_never_a_panic() -> Result<()> {
    let state = temp_dir("durable-damaged");
    drop(coordinator("127.0.0.1:0", Some(&state))?);
    let file = state.join("state.redb");
    let mut bytes = std::fs::read(&file)?;
    // Flip bytes all through the file, header included.
    for i in (0..bytes.len()).step_by(61) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(&file, bytes)?;
    // Either it refuses, naming the directory, or the store's own checks
    // let it recover and it serves; it never panics.
    let started = Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0", "--state-dir", state.to_str().unwrap()])
        .start();
    match started {
        Ok(coordinator) => {
            assert!(!coordinator.log().contains("panicked"), "{}", coordinator.log());
        }
        Err(refused) => {
            let err = refused.to_string();
            assert!(!err.contains("panicked"), "{err}");
            assert!(err.contains(&format!("state directory {} cannot be used", state.display())), "{err}");
        }
    }
    Ok(())
}

/// Lines of a worker's log that say a task started.
fn starts(worker: &Proc) -> usize {
    worker.log().lines().filter(|line| line.contains("task started")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_running_through_a_coordinator_restart_are_adopted_not_run_again() -> Result<()> {
    // CLUSTER_TEST_READOPT=10,3000 is the full size.
    let size = std::env::var("CLUSTER_TEST_READOPT").unwrap_or_else(|_| "6,1500".into());
    let (count, ms): (usize, u64) =
        size.split_once(',').map(|(c, m)| (c.parse().unwrap(), m.parse().unwrap())).unwrap();
    let state = temp_dir("durable-readopt");
    let mut coord = coordinator("127.0.0.1:0", Some(&state))?;
    let (listen, url) = (coord.addr().to_string(), coord.url());
    let join = || {
        Cmd::new("cluster-worker")?
            .args([
                "--listen",
                "127.0.0.1:0",
                "--cpus",
                "1",
                "--coordinator",
                &url,
                "--advertise",
                "127.0.0.1",
            ])
            .env("RUST_LOG", "info,cluster_worker=debug")
            .start()
    };
    let workers = [join()?, join()?];
    let mut client = connect(&url, &Security::default()).await?;
    wait_status(&mut client, "2 workers", |s| active_workers(s) == 2).await?;
    let started = std::time::Instant::now();
    let submit = Cmd::new("cluster-submit")?
        .args([
            "spin",
            "--coordinator",
            &url,
            "--json",
            "--ms",
            &ms.to_string(),
            "--count",
            &count.to_string(),
        ])
        .spawn()?;
    // Both workers are running a task: kill the coordinator under them.
    wait_status(&mut client, "a task on each worker", |s| s.workers.iter().all(|w| w.in_flight > 0)).await?;
    let until = std::time::Instant::now() + DEADLINE;
    while workers.iter().map(starts).sum::<usize>() < 2 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    coord.signal(Signal::Kill);
    tokio::task::block_in_place(|| coord.wait_exit(DEADLINE))?;
    coord = coordinator(&listen, Some(&state))?;
    let output = tokio::task::block_in_place(|| submit.into_output(Duration::from_secs(120)))?;
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, _) = json_lines(&stdout(&output));
    assert_eq!(lines.len(), count);
    assert!(lines.iter().all(|l| l["attempts"] == 1), "{lines:?}");
    // Each task started once over both workers: none ran twice.
    let total: usize = workers.iter().map(starts).sum();
    assert_eq!(total, count, "task starts: {:?}", workers.iter().map(starts).collect::<Vec<_>>());
    coord.wait_log("tasks a worker kept running were adopted");
    // A figure for the record, never a threshold.
    println!("{count} spin tasks of {ms} ms on 2 workers, coordinator killed and restarted: {elapsed:?}");
    Ok(())
}
