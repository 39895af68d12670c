//! Task kinds for tests.

use cluster_tasks::{CancelToken, Input, Output, TaskError, TaskKind};
use tokio::sync::mpsc;

/// A task kind that reports each task it starts, then runs the wrapped
/// kind: a test learns that a task is *running* on a worker (not merely
/// sent there) from the task itself.
pub struct Announced<K> {
    inner: K,
    started: mpsc::UnboundedSender<Input>,
}

/// Wraps `inner`; the receiver gets the input of every task as it starts.
pub fn announced<K: TaskKind>(inner: K) -> (Announced<K>, mpsc::UnboundedReceiver<Input>) {
    let (started, rx) = mpsc::unbounded_channel();
    (Announced { inner, started }, rx)
}

impl<K: TaskKind> TaskKind for Announced<K> {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let _ = self.started.send(input.clone());
        self.inner.run(input, cancel)
    }
}
