use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{CancelToken, ErrorKind, Input, Output, TaskError};

/// A kind of task a worker can run. Called on a blocking thread: it may
/// compute for as long as it needs, and should poll `cancel` if that is long.
pub trait TaskKind: Send + Sync + 'static {
    /// Runs one task.
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError>;

    /// True for a kind that always finishes within microseconds and never
    /// blocks (`noop`): the worker then runs it on the thread that received
    /// it instead of waking a slot thread, which takes two thread switches
    /// off its round trip. Such a task cannot be cancelled or time out
    /// halfway. Leave it false for anything that computes or does I/O.
    fn inline(&self) -> bool {
        false
    }
}

/// The task kinds a worker knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<String, Arc<dyn TaskKind>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in kinds: `sum-primes`, `noop` and `spin`.
    pub fn builtin() -> Self {
        Self::new().with("sum-primes", crate::SumPrimes).with("noop", crate::Noop).with("spin", crate::Spin)
    }

    /// Adds (or replaces) a kind.
    pub fn with(mut self, name: impl Into<String>, kind: impl TaskKind) -> Self {
        self.kinds.insert(name.into(), Arc::new(kind));
        self
    }

    /// Adds (or replaces) a kind with typed input and output, under its
    /// own name.
    pub fn with_typed<K: crate::TypedKind>(self, kind: K) -> Self {
        self.with(K::NAME, crate::Typed(kind))
    }

    /// The registered kind names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// True if the kind `name` is known and declared [`TaskKind::inline`].
    pub fn is_inline(&self, name: &str) -> bool {
        self.kinds.get(name).is_some_and(|kind| kind.inline())
    }

    /// Runs a task of kind `name`; an unknown kind is an error naming the
    /// kinds this registry knows.
    pub fn run(&self, name: &str, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        match self.kinds.get(name) {
            Some(kind) => kind.run(input, cancel),
            None => Err(TaskError {
                kind: ErrorKind::UnknownKind,
                message: format!(
                    "unknown task kind `{name}`; this worker knows: {}",
                    self.names().collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_names_the_known_ones() {
        let err = Registry::builtin().run("fib", &Input::Noop, &CancelToken::new()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnknownKind);
        assert_eq!(err.message, "unknown task kind `fib`; this worker knows: noop, spin, sum-primes");
    }

    #[test]
    fn only_kinds_declared_inline_are() {
        let reg = Registry::builtin();
        assert!(reg.is_inline("noop"));
        assert!(!reg.is_inline("spin"));
        assert!(!reg.is_inline("sum-primes"));
        assert!(!reg.is_inline("fib"));
    }

    #[test]
    fn custom_kinds_can_be_added() {
        struct Echo;
        impl TaskKind for Echo {
            fn run(&self, input: &Input, _: &CancelToken) -> Result<Output, TaskError> {
                match input {
                    Input::Custom(b) => Ok(Output::Custom(b.clone())),
                    other => {
                        Err(TaskError::invalid_input(format!("echo wants bytes, got {}", other.describe())))
                    }
                }
            }
        }
        let reg = Registry::builtin().with("echo", Echo);
        let out = reg.run("echo", &Input::Custom("hi".into()), &CancelToken::new()).unwrap();
        assert_eq!(out, Output::Custom("hi".into()));
    }
}
