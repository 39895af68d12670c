//! What running a command costs, piece by piece, against the `exec` kind:
//! `/bin/true` spawned and waited for 1,000 times each way, one at a time.
//!
//! ```text
//! cargo run --release -p cluster-tasks --example spawn_cost
//! ```

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use cluster_tasks::{Allow, CancelToken, Exec, ExecInput, Input, TaskKind};

const ROUNDS: usize = 1_000;

/// Prints the mean time of `f` in microseconds, after a warm-up.
fn time(name: &str, mut f: impl FnMut() -> std::io::Result<()>) -> std::io::Result<()> {
    for _ in 0..50 {
        f()?;
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        f()?;
    }
    println!("{name:40} {:.0} us", start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64);
    Ok(())
}

/// The same as [`time`] on two threads at once (what two 1-cpu workers do):
/// the mean wall time of one run on each thread.
fn time_two(name: &str, f: impl Fn() -> std::io::Result<()> + Sync) -> std::io::Result<()> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2).map(|_| scope.spawn(|| (0..ROUNDS).try_for_each(|_| f()))).collect();
        runs.into_iter().try_for_each(|run| run.join().expect("a timing thread panicked"))
    })?;
    println!("{name:40} {:.0} us", start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64);
    Ok(())
}

fn main() -> std::io::Result<()> {
    let bare = || Command::new("/bin/true");
    time("status()", || bare().status().map(drop))?;
    time("output() (stdout and stderr piped)", || bare().output().map(drop))?;
    time("status(), own process group", || bare().process_group(0).status().map(drop))?;
    time("status(), cleared environment", || bare().env_clear().env("PATH", "/bin").status().map(drop))?;
    time("status(), in /tmp", || bare().current_dir("/tmp").status().map(drop))?;
    time("a temporary directory made and removed", || {
        tempfile::Builder::new().prefix("spawn-cost-").tempdir().map(drop)
    })?;
    time("all of the above", || {
        let dir = tempfile::Builder::new().prefix("spawn-cost-").tempdir()?;
        let mut command = bare();
        command.env_clear().env("PATH", "/bin").current_dir(dir.path()).stdin(Stdio::null());
        command.process_group(0).output().map(drop)
    })?;
    let exec = Exec::new(Allow::Any);
    let input = Input::Exec(Box::new(ExecInput { argv: vec!["/bin/true".into()], ..ExecInput::default() }));
    let run_exec =
        || exec.run(&input, &CancelToken::new()).map(drop).map_err(|e| std::io::Error::other(e.message));
    time("the exec kind", run_exec)?;
    time_two("status(), two threads at once", || bare().status().map(drop))?;
    time_two("the exec kind, two threads at once", run_exec)
}
