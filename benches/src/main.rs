//! `cluster-bench`: the cluster's figures, measured with the real binaries
//! on 127.0.0.1 (coordinator and workers as separate processes) and the
//! scheduling core in-process.
//!
//! The coordinator and worker binaries must sit next to this executable:
//! `cargo build --release --bins && cargo run --release -p cluster-bench`.

mod figures;
mod machine;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde_json::json;

use figures::{Figure, Plan, Row, NAMES};
use machine::Machine;

/// Benchmarks of the cluster task mesh. Prints a markdown table of each
/// figure beside its target. Fails only if a run fails or its results are
/// wrong, never because a target was missed (unless --strict).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Reduced sizes: a smoke run for CI.
    #[arg(long)]
    quick: bool,
    /// Run only this figure.
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(NAMES))]
    only: Option<String>,
    /// Also print the figures as one JSON object (last line of stdout).
    #[arg(long)]
    json: bool,
    /// Exit with status 2 if a figure misses its target.
    #[arg(long)]
    strict: bool,
    /// An extra flag for every coordinator started, e.g.
    /// `--coordinator-arg=--prefetch=8` (repeatable).
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    coordinator_arg: Vec<String>,
    /// An extra flag for every worker started (repeatable).
    #[arg(long, value_name = "FLAG", allow_hyphen_values = true)]
    worker_arg: Vec<String>,
    /// Sequential jobs in the latency figures (2,000 by default), e.g. a
    /// longer run to profile.
    #[arg(long, value_name = "N")]
    latency_jobs: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sizes = if args.quick { Plan::quick() } else { Plan::full() };
    let plan = Plan {
        coordinator_args: args.coordinator_arg.clone(),
        worker_args: args.worker_arg.clone(),
        latency_jobs: args.latency_jobs.unwrap_or(sizes.latency_jobs).max(1),
        ..sizes
    };
    let machine = Machine::detect();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let names: Vec<&str> = match &args.only {
        Some(name) => vec![name.as_str()],
        None => NAMES.to_vec(),
    };
    let mut rows = Vec::new();
    let mut json_figures = serde_json::Map::new();
    let mut failed = Vec::new();
    let started = Instant::now();
    for name in names {
        eprintln!("running {name}{}...", if plan.quick { " (quick)" } else { "" });
        let t = Instant::now();
        match figures::run(name, &plan, &rt) {
            Ok(Figure { rows: r, json }) => {
                eprintln!("  {name} done in {:.1} s", t.elapsed().as_secs_f64());
                rows.extend(r);
                json_figures.insert(name.to_string(), json);
            }
            Err(e) => {
                eprintln!("error: figure {name} failed: {e:#}");
                rows.push(Row::new(name, "FAILED").detail(first_line(&format!("{e:#}"))));
                json_figures.insert(name.to_string(), json!({ "error": format!("{e:#}") }));
                failed.push(name);
            }
        }
    }
    drop(rt);

    println!("{}", machine.line());
    println!("sizes: {}", if plan.quick { "quick (--quick)" } else { "full" });
    for (who, extra) in [("coordinator", &plan.coordinator_args), ("worker", &plan.worker_args)] {
        if !extra.is_empty() {
            println!("extra {who} flags: {}", extra.join(" "));
        }
    }
    println!();
    print_table(&rows);
    let missed: Vec<&str> = rows.iter().filter(|r| r.met == Some(false)).map(|r| r.label.as_str()).collect();
    let with_target = rows.iter().filter(|r| r.met.is_some()).count();
    println!();
    println!(
        "{} of {with_target} targets met{}; {} figure(s) failed; {:.1} s in all",
        with_target - missed.len(),
        if missed.is_empty() { String::new() } else { format!(" (missed: {})", missed.join(", ")) },
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if args.json {
        let all = json!({
            "machine": machine.json(),
            "quick": plan.quick,
            "coordinator_args": plan.coordinator_args,
            "worker_args": plan.worker_args,
            "figures": json_figures,
            "failed": failed,
        });
        println!("{all}");
    }
    if !failed.is_empty() {
        ExitCode::FAILURE
    } else if args.strict && !missed.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_table(rows: &[Row]) {
    println!("| figure | measured | target | met | detail |");
    println!("|---|---|---|---|---|");
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "| {} | {} | {} | {met} | {} |",
            row.label,
            row.measured,
            row.target,
            row.detail.replace('|', "\\|")
        );
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}
