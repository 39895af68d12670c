use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Tells a running task to stop: because its job was cancelled, or because
/// it ran past its deadline. Long-running kinds poll
/// [`CancelToken::is_cancelled`]; clones share the cancellation.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl CancelToken {
    /// A token that is not cancelled and has no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that counts as cancelled from `deadline` on.
    pub fn with_deadline(deadline: Instant) -> Self {
        Self { flag: Arc::default(), deadline: Some(deadline) }
    }

    /// Asks the task to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether the task should stop now.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.timed_out()
    }

    /// Whether the deadline has passed.
    pub fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clones_share_cancellation_and_deadlines_expire() {
        let token = CancelToken::new();
        let clone = token.clone();
        assert!(!clone.is_cancelled());
        token.cancel();
        assert!(clone.is_cancelled() && !clone.timed_out());
        let past = CancelToken::with_deadline(Instant::now() - Duration::from_millis(1));
        assert!(past.is_cancelled() && past.timed_out());
        let future = CancelToken::with_deadline(Instant::now() + Duration::from_secs(60));
        assert!(!future.is_cancelled());
    }
}
