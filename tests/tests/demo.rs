//! Parallel Python's sum-primes demo through `cluster-submit`, in embedded
//! mode and in cluster mode.

use anyhow::Result;
use cluster_testkit::{
    jobs_by_worker, json_lines, seed_sum, stderr, stdout, submit, Proc, ProcCluster, SEED_INPUTS,
};

fn seed_arg() -> String {
    SEED_INPUTS.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn expected_lines() -> Vec<String> {
    SEED_INPUTS.iter().map(|&n| format!("Sum of primes below {n} is {}", seed_sum(n))).collect()
}

#[test]
fn embedded_seed_batch_prints_exact_sums_in_input_order() -> Result<()> {
    let out = submit(["sum-primes", "--inputs", &seed_arg()])?;
    assert!(out.status.success(), "exit {:?}: {}", out.status, stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().take(16).collect();
    assert_eq!(lines, expected_lines());
    assert!(text.contains("Job execution statistics:"), "{text}");
    assert!(text.contains("| local\n"), "{text}");
    assert!(text.contains("Time elapsed since server creation"), "{text}");
    Ok(())
}

#[test]
fn below_100_is_1060() -> Result<()> {
    let out = submit(["sum-primes", "--inputs", "100", "--local-cpus", "1"])?;
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("Sum of primes below 100 is 1060\n"), "{}", stdout(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_node_cluster_runs_the_seed_batch_about_two_to_one() -> Result<()> {
    let cluster = ProcCluster::start(&[vec!["--cpus", "4"], vec!["--cpus", "2"]], &[]).await?;
    let (big, small) = (cluster.workers[0].addr(), cluster.workers[1].addr());
    let url = cluster.url();
    let args = ["sum-primes", "--inputs", &seed_arg(), "--coordinator", &url, "--json"];
    let out = tokio::task::block_in_place(|| submit(args))?;
    assert!(out.status.success(), "{}", stderr(&out));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert_eq!(tasks.len(), 16);
    for (i, task) in tasks.iter().enumerate() {
        assert_eq!(task["index"], i);
        assert_eq!(task["input"], SEED_INPUTS[i]);
        assert_eq!(task["output"], seed_sum(SEED_INPUTS[i]), "{task}");
    }
    let jobs = jobs_by_worker(&stats);
    // Parallel Python split its 17 jobs 11:6 over a 4-core and a 2-core node.
    let on_big = jobs[big];
    assert_eq!(on_big + jobs[small], 16);
    assert!((9..=13).contains(&on_big), "4-core node ran {on_big} of 16: {stats}");
    Ok(())
}

#[test]
fn embedded_with_remote_workers_uses_both() -> Result<()> {
    let remote = Proc::worker(["--cpus", "1"])?;
    let args =
        ["sum-primes", "--inputs", &seed_arg(), "--workers", remote.addr(), "--local-cpus", "1", "--json"];
    let out = submit(args)?;
    assert!(out.status.success(), "{}", stderr(&out));
    let (tasks, stats) = json_lines(&stdout(&out));
    assert!(tasks.iter().enumerate().all(|(i, t)| t["output"] == seed_sum(SEED_INPUTS[i])));
    let jobs = jobs_by_worker(&stats);
    assert_eq!(
        jobs.keys().cloned().collect::<Vec<_>>(),
        vec![remote.addr().to_string(), "local".to_string()]
    );
    Ok(())
}
