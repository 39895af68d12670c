//! `cluster-submit`'s command line: the subcommands and their flags.

use clap::{Parser, Subcommand};

use super::exec;
use super::target::{Connection, Target};

/// Submit tasks to a cluster and print their results.
///
/// With no address it runs an embedded coordinator and a local worker on all
/// cores; with --workers it drives those workers (plus --local-cpus local
/// cores); with --coordinator it uses a running cluster.
#[derive(Parser, Debug)]
// Name and short about as when this binary lived in the `cluster-client`
// package (clap took them from the package); `--version` still says
// `cluster-client`.
#[command(
    name = "cluster-client",
    version,
    about = "Client library for the cluster task mesh, and the cluster-submit command",
    after_help = cluster_cli::logging::LOGGING_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) log: cluster_cli::logging::LogArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Sum the primes below each input (Parallel Python's demo).
    SumPrimes {
        /// Comma-separated inputs, e.g. 500000,500100.
        #[arg(long, env = "CLUSTER_INPUTS", value_delimiter = ',', required = true, num_args = 1..)]
        inputs: Vec<u64>,
        #[command(flatten)]
        target: Target,
    },
    /// Busy-loop tasks, for trying a cluster's balance.
    Spin {
        /// Milliseconds each task keeps a core busy.
        #[arg(long, env = "CLUSTER_SPIN_MS")]
        ms: u64,
        /// Number of tasks.
        #[arg(long, env = "CLUSTER_COUNT")]
        count: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Empty tasks, for measuring the mesh's overhead.
    Noop {
        /// Number of tasks.
        #[arg(long, env = "CLUSTER_COUNT")]
        count: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Run a command per input on workers started with --allow-exec; each
    /// command's stdout is printed in input order, its stderr lines on
    /// stderr prefixed by the input's index.
    Exec {
        #[command(flatten)]
        inputs: exec::Inputs,
        #[command(flatten)]
        template: exec::Template,
        #[command(flatten)]
        target: Target,
    },
    /// Reattach to a running job (submitted by another process, or by one
    /// that died) on a coordinator with --state-dir, and print its results.
    Attach {
        #[command(flatten)]
        to: Connection,
        /// The job's id.
        #[arg(long, env = "CLUSTER_JOB")]
        job: u64,
        /// Print one JSON object per line instead of text.
        #[arg(long, env = "CLUSTER_JSON")]
        json: bool,
    },
    /// Cancel a running job by id (see `status` for the ids).
    Cancel {
        /// The job's id.
        #[arg(long, env = "CLUSTER_JOB")]
        job: u64,
        #[command(flatten)]
        to: Connection,
    },
    /// Show a running cluster's workers, jobs and last finished jobs;
    /// exits 3 when no worker is active.
    Status {
        /// Print JSON instead of a table.
        #[arg(long, env = "CLUSTER_JSON", value_parser = clap::builder::BoolishValueParser::new(), conflicts_with = "watch")]
        json: bool,
        /// Redraw every second (workers' running, prefetched, completed and
        /// failed tasks, the cluster's tasks/s, jobs' progress) until Ctrl-C.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        to: Connection,
    },
}
