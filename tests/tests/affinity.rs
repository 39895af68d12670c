//! `--async-cpus`: the coordinator's threads and a worker's runtime held to
//! some CPUs while the worker's task slots keep every core, read back from
//! /proc; and the CPU lists a process cannot honour, refused by name.
#![cfg(target_os = "linux")]

use anyhow::Result;
use cluster_node::affinity::{current_cpus, CpuList};
use cluster_testkit::{stderr, stdout, Cmd, Proc, DEADLINE};

/// Each thread of process `pid`: its name and the CPUs it may run on, as
/// the kernel writes them (`0-1`).
fn threads(pid: u32) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?.path();
        let name = std::fs::read_to_string(task.join("comm"))?.trim().to_string();
        let status = std::fs::read_to_string(task.join("status"))?;
        let cpus = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .map(|cpus| cpus.trim().to_string())
            .unwrap_or_default();
        found.push((name, cpus));
    }
    Ok(found)
}

/// The CPUs this test may use, if there are two or more: with one, a pin
/// and its undoing look the same.
fn several_cpus() -> Result<Option<CpuList>> {
    let cpus = current_cpus()?;
    if cpus.len() < 2 {
        eprintln!("skipped: one CPU ({cpus}), so pinned and unpinned threads look alike");
        return Ok(None);
    }
    Ok(Some(cpus))
}

#[test]
fn the_runtimes_stay_on_their_core_and_the_task_slots_keep_every_core() -> Result<()> {
    let Some(cpus) = several_cpus()? else { return Ok(()) };
    let every = cpus.to_string();
    let first = cpus.cpus()[0].to_string();
    // No --cpus: the worker must count its cores before it pins itself.
    let worker = Proc::worker(["--async-cpus", &first])?;
    let coordinator = Proc::coordinator(["--worker", worker.addr(), "--async-cpus", &first])?;
    let run = Cmd::new("cluster-submit")?
        .args(["sum-primes", "--inputs", "100000,100100", "--coordinator", &coordinator.url()])
        .output(DEADLINE)?;
    assert!(run.status.success(), "{}", stderr(&run));
    let out = stdout(&run);
    assert!(out.contains("Sum of primes below 100000 is 454396537"), "{out}");
    assert!(out.contains("Sum of primes below 100100 is 454996777"), "{out}");

    // The worker advertised every core, not the one its runtime is held to.
    let status =
        Cmd::new("cluster-submit")?.args(["status", "--coordinator", &coordinator.url()]).output(DEADLINE)?;
    let table = stdout(&status);
    let row = table.lines().find(|line| line.starts_with(worker.addr())).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(row.split_whitespace().nth(2), Some(cpus.len().to_string().as_str()), "{table}");

    let worker_threads = threads(worker.pid())?;
    let slots: Vec<_> = worker_threads.iter().filter(|(name, _)| name.starts_with("cluster-slot")).collect();
    assert_eq!(slots.len(), cpus.len(), "a slot per core: {worker_threads:?}");
    for (name, cpus) in &slots {
        assert_eq!(cpus, &every, "task slot {name} lost cores");
    }
    for (name, cpus) in worker_threads.iter().filter(|(name, _)| !name.starts_with("cluster-slot")) {
        assert_eq!(cpus, &first, "worker thread {name} is not held to --async-cpus");
    }
    for (name, cpus) in threads(coordinator.pid())? {
        assert_eq!(cpus, first, "coordinator thread {name} is not held to --async-cpus");
    }
    Ok(())
}

#[test]
fn a_cpu_list_the_process_cannot_use_is_refused_by_name() -> Result<()> {
    let every = current_cpus()?.to_string();
    for program in ["cluster-worker", "cluster-coordinator"] {
        let outside =
            Cmd::new(program)?.args(["--listen", "127.0.0.1:0", "--async-cpus", "1023"]).output(DEADLINE)?;
        assert!(!outside.status.success(), "{program} started");
        let err = stderr(&outside);
        assert!(
            err.contains(&format!("CPU 1023 is not one this process may run on (it may use {every})")),
            "{err}"
        );

        let reversed =
            Cmd::new(program)?.args(["--listen", "127.0.0.1:0", "--async-cpus", "3-1"]).output(DEADLINE)?;
        assert!(!reversed.status.success(), "{program} started");
        let err = stderr(&reversed);
        assert!(err.contains("`3-1` is not a CPU range: its end is below its start"), "{err}");
    }
    Ok(())
}
