//! Builders for the built-in task kinds.

use cluster_proto::{task, ExecInput, NoopInput, SpinInput, SumPrimesInput, Task};

/// A `sum-primes` task: the sum of primes below `n`.
pub fn sum_primes(id: u64, n: u64) -> Task {
    Task { id, kind: "sum-primes".into(), input: Some(task::Input::SumPrimes(SumPrimesInput { n })) }
}

/// A `spin` task: `millis` milliseconds of busy CPU.
pub fn spin(id: u64, millis: u64) -> Task {
    Task { id, kind: "spin".into(), input: Some(task::Input::Spin(SpinInput { millis })) }
}

/// An `exec` task: run `argv` on a worker started with `--allow-exec`
/// (see [`ExecInput`] for stdin, environment and output bounds).
pub fn exec(id: u64, input: ExecInput) -> Task {
    Task { id, kind: "exec".into(), input: Some(task::Input::Exec(input)) }
}

/// A `noop` task.
pub fn noop(id: u64) -> Task {
    Task { id, kind: "noop".into(), input: Some(task::Input::Noop(NoopInput {})) }
}
