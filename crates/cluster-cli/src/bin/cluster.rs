//! `cluster`: the four commands in one executable, chosen by the name it
//! is called by (`cluster-coordinator`, `cluster-worker`, `cluster-submit`,
//! `cluster-health`, e.g. through symbolic links), as busybox does. The
//! container image ships this one file and four links: the commands share
//! most of their code, so one static binary is a third of four.

use std::process::ExitCode;

#[path = "cluster-coordinator.rs"]
mod coordinator;
#[path = "cluster-health.rs"]
mod health;
#[path = "cluster-submit/main.rs"]
mod submit;

const COMMANDS: &str = "cluster-coordinator, cluster-worker, cluster-submit or cluster-health";

fn main() -> ExitCode {
    let called = std::env::args_os().next().map(std::path::PathBuf::from);
    let name = called.as_deref().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
    let failed = |err: anyhow::Error| {
        eprintln!("Error: {err:?}");
        ExitCode::FAILURE
    };
    match name {
        "cluster-coordinator" => coordinator::main().map_or_else(failed, |()| ExitCode::SUCCESS),
        "cluster-worker" => {
            cluster_cli::worker::WorkerMain::new().run_from_args().map_or_else(failed, |()| ExitCode::SUCCESS)
        }
        "cluster-submit" => submit::main(),
        "cluster-health" => health::main(),
        _ => {
            eprintln!("cluster: call me as {COMMANDS} (a link to this file by that name)");
            ExitCode::from(2)
        }
    }
}
