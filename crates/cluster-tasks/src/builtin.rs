//! The built-in kinds.
use std::time::{Duration, Instant};

use crate::{CancelToken, Input, Output, TaskError, TaskKind};

/// Largest `n` `sum-primes` accepts. Trial division makes larger inputs take
/// minutes; the sum below it (~6.2e12) fits easily in a u64.
pub const MAX_SUM_PRIMES_N: u64 = 20_000_000;

/// Longest `spin` accepted, in milliseconds (one hour).
pub const MAX_SPIN_MILLIS: u64 = 3_600_000;

/// `sum-primes`: the sum of all primes strictly below n, by trial division up
/// to ceil(sqrt(x)) exactly as Parallel Python's demo computed it.
pub struct SumPrimes;

/// `noop`: succeeds at once.
pub struct Noop;

/// `spin`: keeps one core busy for the given milliseconds.
pub struct Spin;

fn wrong_input(kind: &str, expected: &str, got: &Input) -> TaskError {
    TaskError::invalid_input(format!("{kind} expects {expected}, got {}", got.describe()))
}

impl TaskKind for SumPrimes {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let Input::SumPrimes { n } = *input else {
            return Err(wrong_input("sum-primes", "a sum-primes input", input));
        };
        if n > MAX_SUM_PRIMES_N {
            return Err(TaskError::invalid_input(format!(
                "sum-primes: n = {n} is above the maximum {MAX_SUM_PRIMES_N}"
            )));
        }
        sum_primes_cancellable(n, cancel).map(Output::SumPrimes)
    }
}

impl TaskKind for Noop {
    fn run(&self, input: &Input, _: &CancelToken) -> Result<Output, TaskError> {
        match input {
            Input::Noop => Ok(Output::Noop),
            other => Err(wrong_input("noop", "a noop input", other)),
        }
    }

    fn inline(&self) -> bool {
        true
    }
}

impl TaskKind for Spin {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let Input::Spin { millis } = *input else {
            return Err(wrong_input("spin", "a spin input", input));
        };
        if millis > MAX_SPIN_MILLIS {
            return Err(TaskError::invalid_input(format!(
                "spin: {millis} ms is above the maximum {MAX_SPIN_MILLIS} ms"
            )));
        }
        let start = Instant::now();
        let deadline = start + Duration::from_millis(millis);
        let mut spins: u64 = 0;
        while Instant::now() < deadline {
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            // Real work between clock reads, so the core is busy, not parked.
            for i in 0..200u64 {
                spins = std::hint::black_box(spins.wrapping_add(i));
            }
        }
        Ok(Output::SpinMillis(start.elapsed().as_millis() as u64))
    }
}

fn cancelled() -> TaskError {
    TaskError { kind: crate::ErrorKind::Cancelled, message: "cancelled while running".into() }
}

fn is_prime(x: u64) -> bool {
    if x < 2 {
        return false;
    }
    if x < 4 {
        return true;
    }
    if x.is_multiple_of(2) {
        return false;
    }
    // ceil(sqrt(x)), as the seed's `int(math.ceil(math.sqrt(n)))`.
    let limit = (x as f64).sqrt().ceil() as u64;
    let mut d = 3;
    while d <= limit {
        if x.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// The sum of all primes strictly below `n`.
pub fn sum_primes(n: u64) -> u64 {
    (2..n).filter(|&x| is_prime(x)).sum()
}

fn sum_primes_cancellable(n: u64, cancel: &CancelToken) -> Result<u64, TaskError> {
    let mut sum = 0u64;
    let mut x = 2;
    while x < n {
        // Check for cancellation every 64k candidates: microseconds apart.
        let end = n.min(x + 65_536);
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        sum += (x..end).filter(|&v| is_prime(v)).sum::<u64>();
        x = end;
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_parallel_python_demo() {
        assert_eq!(sum_primes(100), 1060);
        let expected = [
            (500_000, 9_914_236_195),
            (500_100, 9_917_236_483),
            (500_200, 9_922_237_979),
            (500_300, 9_926_740_220),
            (500_400, 9_930_743_046),
            (500_500, 9_934_746_636),
            (500_600, 9_938_250_425),
            (500_700, 9_941_254_397),
        ];
        for (n, sum) in expected {
            let out = SumPrimes.run(&Input::SumPrimes { n }, &CancelToken::new()).unwrap();
            assert_eq!(out, Output::SumPrimes(sum), "n = {n}");
        }
    }

    #[test]
    fn small_inputs() {
        assert_eq!(sum_primes(0), 0);
        assert_eq!(sum_primes(2), 0);
        assert_eq!(sum_primes(3), 2);
        assert_eq!(sum_primes(10), 17);
    }

    #[test]
    fn too_large_n_names_the_limit() {
        let err =
            SumPrimes.run(&Input::SumPrimes { n: MAX_SUM_PRIMES_N + 1 }, &CancelToken::new()).unwrap_err();
        assert_eq!(err.message, "sum-primes: n = 20000001 is above the maximum 20000000");
    }

    #[test]
    fn wrong_input_is_named() {
        let err = SumPrimes.run(&Input::Noop, &CancelToken::new()).unwrap_err();
        assert_eq!(err.message, "sum-primes expects a sum-primes input, got a noop input");
    }

    #[test]
    fn spin_stops_when_cancelled() {
        let token = CancelToken::new();
        token.cancel();
        let err = Spin.run(&Input::Spin { millis: 60_000 }, &token).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Cancelled);
    }
}
