//! `cluster-submit`: run tasks on a cluster, or on an embedded one.

mod attach;
mod cli;
mod exec;
mod outcome;
mod progress;
mod report;
mod run;
mod status;
mod target;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;
use outcome::{exit_code_of, Outcome};
use run::run;
use target::Connection;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = cli.log.init("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(outcome) => ExitCode::from(outcome as u8),
        Err(err) => {
            log.flush();
            // Each cause once, though some errors print their sources too.
            eprintln!("error: {}", cluster_auth::error_chain(err.as_ref()));
            ExitCode::from(exit_code_of(&err) as u8)
        }
    }
}
