//! `exec` tasks end to end: real binaries, real commands, and the process
//! table checked for anything left behind.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use cluster_auth::{Secret, Security};
use cluster_testkit::{
    active_workers, connect, jobs_by_worker, json_lines, stderr, stdout, wait_status, Cmd, Proc, DEADLINE,
};

const SECRET: &str = "exec test secret";

fn security() -> Security {
    Security { secret: Some(Secret::new(SECRET).unwrap()), ..Security::default() }
}

fn coordinator(args: &[&str]) -> Result<Proc> {
    Cmd::new("cluster-coordinator")?
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("CLUSTER_SECRET", SECRET)
        .start()
}

/// A worker that registers with `coordinator`, with these extra flags.
fn worker(coordinator: &Proc, args: &[&str]) -> Result<Proc> {
    Cmd::new("cluster-worker")?
        .args(["--listen", "127.0.0.1:0", "--cpus", "1", "--coordinator", &coordinator.url()])
        .args(["--advertise", "127.0.0.1"])
        .args(args)
        .env("CLUSTER_SECRET", SECRET)
        .start()
}

async fn wait_active(coordinator: &Proc, n: usize) -> Result<()> {
    let mut client = connect(&coordinator.url(), &security()).await?;
    wait_status(&mut client, &format!("{n} active workers"), |s| active_workers(s) == n).await.map(drop)
}

fn submit_exec(coordinator: &Proc, args: &[&str]) -> Result<std::process::Output> {
    Cmd::new("cluster-submit")?
        .args(["exec", "--coordinator", &coordinator.url()])
        .args(args)
        .env("CLUSTER_SECRET", SECRET)
        .output(Duration::from_secs(120))
}

/// Processes whose command line contains `marker`, other than ours.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("cluster-submit") {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Waits until no process carries `marker` (a deadline, not a sleep).
fn wait_no_process(marker: &str) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("still running after {DEADLINE:?}: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `sleep` argument nobody else uses: seconds with this test's tag.
fn unique_sleep(tag: u32) -> String {
    format!("{}.{:06}", 500 + tag, std::process::id())
}

#[tokio::test]
async fn two_hundred_commands_come_back_right_and_in_input_order() -> Result<()> {
    let coordinator = coordinator(&[])?;
    let _workers = [worker(&coordinator, &["--allow-exec"])?, worker(&coordinator, &["--allow-exec", "sh"])?];
    wait_active(&coordinator, 2).await?;
    let output = submit_exec(
        &coordinator,
        &["--array", "1-200", "--", "sh", "-c", "echo $(( $1 * $1 ))", "sh", "{}"],
    )?;
    assert!(output.status.success(), "{}", stderr(&output));
    let expected: String = (1..=200u64).map(|n| format!("{}\n", n * n)).collect();
    assert_eq!(stdout(&output), expected);
    assert!(stderr(&output).contains("Job execution statistics"), "{}", stderr(&output));
    Ok(())
}

#[tokio::test]
async fn a_failing_command_reports_its_status_and_the_others_complete() -> Result<()> {
    let coordinator = coordinator(&[])?;
    let _worker = worker(&coordinator, &["--allow-exec"])?;
    wait_active(&coordinator, 1).await?;
    let script = "if [ $1 = 3 ]; then echo bad input $1 >&2; exit 7; fi; echo ok $1";
    let output = submit_exec(&coordinator, &["--inputs", "1,2,3,4", "--", "sh", "-c", script, "sh", "{}"])?;
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "ok 1\nok 2\nok 4\n");
    let err = stderr(&output);
    assert!(err.contains("[2] bad input 3"), "{err}");
    assert!(
        err.contains("[2] failed (input \"3\"): the command ended with exit status 7; stderr: bad input 3"),
        "{err}"
    );
    // The same as JSON: one line per task with its status, then the stats.
    let output =
        submit_exec(&coordinator, &["--json", "--inputs", "1,2,3,4", "--", "sh", "-c", script, "sh", "{}"])?;
    assert!(!output.status.success());
    let (lines, stats) = json_lines(&stdout(&output));
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["exit_code"], 7);
    assert_eq!(lines[2]["stderr"], "bad input 3\n");
    assert_eq!(lines[2]["code"], "ERROR_CODE_TASK_FAILED");
    assert_eq!(lines[2]["attempts"], 1, "a failed command is not retried");
    assert_eq!(lines[3]["stdout"], "ok 4\n");
    assert_eq!((stats["succeeded"].as_u64(), stats["failed"].as_u64()), (Some(3), Some(1)));
    Ok(())
}

#[tokio::test]
async fn a_timeout_kills_the_command_with_its_children() -> Result<()> {
    let coordinator = coordinator(&["--max-attempts", "1"])?;
    let _worker = worker(&coordinator, &["--allow-exec"])?;
    wait_active(&coordinator, 1).await?;
    let sleep = unique_sleep(1);
    let script = format!("sleep {sleep} & sleep {sleep}");
    let output =
        submit_exec(&coordinator, &["--timeout-ms", "500", "--inputs", "x", "--", "sh", "-c", &script])?;
    assert!(!output.status.success());
    assert!(stderr(&output).contains("timed out after 500 ms"), "{}", stderr(&output));
    wait_no_process(&format!("sleep {sleep}"))
}

#[tokio::test]
async fn ctrl_c_and_a_coordinator_kill_leave_no_command_running() -> Result<()> {
    let mut coordinator = coordinator(&[])?;
    let _worker = worker(&coordinator, &["--allow-exec"])?;
    wait_active(&coordinator, 1).await?;
    // Ctrl-C on the client: the job is cancelled, its command killed.
    let sleep = unique_sleep(2);
    let client = Cmd::new("cluster-submit")?
        .args(["exec", "--coordinator", &coordinator.url(), "--inputs", "x", "--", "sleep", &sleep])
        .env("CLUSTER_SECRET", SECRET)
        .spawn()?;
    wait_for_process(&format!("sleep {sleep}"))?;
    client.signal(cluster_testkit::Signal::Int);
    wait_no_process(&format!("sleep {sleep}"))?;
    // SIGKILL of the coordinator: the session ends, the command dies.
    let sleep = unique_sleep(3);
    let _client = Cmd::new("cluster-submit")?
        .args(["exec", "--coordinator", &coordinator.url(), "--inputs", "x", "--", "sleep", &sleep])
        .env("CLUSTER_SECRET", SECRET)
        .spawn()?;
    wait_for_process(&format!("sleep {sleep}"))?;
    coordinator.signal(cluster_testkit::Signal::Kill);
    coordinator.wait_exit(DEADLINE)?;
    wait_no_process(&format!("sleep {sleep}"))
}

fn wait_for_process(marker: &str) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    while processes_with(marker).is_empty() {
        if Instant::now() > until {
            bail!("`{marker}` did not start within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[tokio::test]
async fn exec_tasks_go_only_to_workers_that_allow_them_and_wait_visibly_for_one() -> Result<()> {
    let coordinator = coordinator(&[])?;
    let plain = worker(&coordinator, &[])?;
    wait_active(&coordinator, 1).await?;
    // Only a worker without --allow-exec: the client is told, and with a
    // short wait the tasks fail naming what is offered.
    let output = submit_exec(
        &coordinator,
        &["--unroutable-timeout-ms", "300", "--json", "--inputs", "a,b", "--", "echo", "{}"],
    )?;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("waiting: no worker runs kind 'exec' (1 workers connected)"),
        "{}",
        stderr(&output)
    );
    let (lines, _) = json_lines(&stdout(&output));
    assert_eq!(lines[0]["code"], "ERROR_CODE_UNKNOWN_KIND");
    assert_eq!(
        lines[0]["error"],
        "no worker runs kind 'exec' after waiting 300 ms; the workers offer noop, spin, sum-primes"
    );
    // A worker that joins while tasks wait runs them; the plain one, idle,
    // gets none.
    let submit = {
        let url = coordinator.url();
        tokio::task::spawn_blocking(move || {
            Cmd::new("cluster-submit")?
                .args(["exec", "--coordinator", &url, "--json", "--array", "1-20", "--", "echo", "{}"])
                .env("CLUSTER_SECRET", SECRET)
                .output(Duration::from_secs(120))
        })
    };
    let mut client = connect(&coordinator.url(), &security()).await?;
    wait_status(&mut client, "a blocked job", |s| s.jobs.iter().any(|j| !j.blocked.is_empty())).await?;
    let exec_worker = worker(&coordinator, &["--allow-exec"])?;
    let output = submit.await??;
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, _) = json_lines(&stdout(&output));
    let outputs: Vec<String> =
        lines.iter().map(|l| l["stdout"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(outputs, (1..=20).map(|n| format!("{n}\n")).collect::<Vec<_>>());
    assert!(lines.iter().all(|l| l["worker"] == exec_worker.addr()), "{lines:?}");
    assert!(!plain.log().contains("task started"));
    Ok(())
}

#[tokio::test]
async fn required_labels_choose_the_workers() -> Result<()> {
    let coordinator = coordinator(&[])?;
    let a = worker(&coordinator, &["--label", "zone=a"])?;
    let b = worker(&coordinator, &["--label", "zone=b"])?;
    wait_active(&coordinator, 2).await?;
    let output = Cmd::new("cluster-submit")?
        .args(["noop", "--coordinator", &coordinator.url(), "--count", "40", "--json", "--require", "zone=b"])
        .env("CLUSTER_SECRET", SECRET)
        .output(Duration::from_secs(120))?;
    assert!(output.status.success(), "{}", stderr(&output));
    let (_, stats) = json_lines(&stdout(&output));
    assert_eq!(jobs_by_worker(&stats), [(b.addr().to_string(), 40)].into(), "nothing on {}", a.addr());
    Ok(())
}

#[tokio::test]
async fn bad_commands_fail_alone_with_clear_messages() -> Result<()> {
    let coordinator = coordinator(&[])?;
    let w = worker(
        &coordinator,
        &["--allow-exec", "printf,head,nonexistent-program-xyz", "--max-output-bytes", "1000"],
    )?;
    wait_active(&coordinator, 1).await?;
    let run = |args: &[&str]| -> Result<Vec<serde_json::Value>> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = submit_exec(&coordinator, &all)?;
        Ok(json_lines(&stdout(&output)).0)
    };
    let line = &run(&["--inputs", "x", "--", ""])?[0];
    assert_eq!(line["error"], "an exec task needs a command: its argv is empty");
    let line = &run(&["--inputs", "x", "--", "nonexistent-program-xyz"])?[0];
    assert_eq!(
        line["error"],
        format!("cannot run `nonexistent-program-xyz` on worker {}: not found", w.addr())
    );
    let line = &run(&["--inputs", "x", "--", "rm", "{}"])?[0];
    assert_eq!(
        line["error"],
        format!(
            "program `rm` is not allowed on worker {}: its --allow-exec list is printf,head,nonexistent-program-xyz",
            w.addr()
        )
    );
    // Over the bound: cut, marked, and still a success.
    let line = &run(&["--inputs", "5000", "--", "head", "-c", "{}", "/dev/zero"])?[0];
    assert_eq!((line["exit_code"].as_i64(), line["truncated"].as_bool()), (Some(0), Some(true)));
    assert_eq!(line["stdout"].as_str().map(str::len), Some(1000));
    // Binary output comes as base64.
    let line = &run(&["--inputs", "x", "--", "printf", "\\377\\376"])?[0];
    assert_eq!(line["stdout_b64"], "//4=");
    // Spaces, quotes, `$` and `;` stay one argument, never seen by a shell.
    let tricky = "a b 'c' \"d\" $HOME; echo pwned";
    let line = &run(&["--inputs", tricky, "--", "printf", "[%s]", "{}"])?[0];
    assert_eq!(line["stdout"], format!("[{tricky}]"));
    Ok(())
}

#[test]
fn a_worker_refuses_to_run_commands_without_authentication() -> Result<()> {
    let output =
        Cmd::new("cluster-worker")?.args(["--listen", "127.0.0.1:0", "--allow-exec"]).output(DEADLINE)?;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("--allow-exec runs the commands callers send: it needs the cluster secret"),
        "{}",
        stderr(&output)
    );
    Ok(())
}
