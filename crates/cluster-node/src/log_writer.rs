//! Log lines to stderr in small batches.
//!
//! A line per finished job is one `write` per job to a pipe whose reader (a
//! terminal, Docker, journald, a test harness) is another process, usually
//! woken on another core: on a virtual machine that wake-up cost a one-task
//! job's round trip tens of microseconds. So INFO and more verbose lines
//! wait in a buffer for at most [`FLUSH_EVERY`] and go out together, as
//! nginx's buffered access log does; WARN and ERROR lines go out at once,
//! after whatever was waiting, so the order is kept. [`LogFlush`] writes
//! what is left when the program ends.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Longest an INFO line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Past this many bytes waiting, the line's own writer writes them: one
/// pipe buffer (`PIPE_BUF`), which a single `write` to a pipe that other
/// processes share keeps whole.
const MAX_WAITING: usize = 4096;

/// Where the lines go, and what waits for it. Lock order: `sink`, then
/// `waiting`, so that a batch taken out of `waiting` is written before any
/// line that comes after it.
struct Shared {
    waiting: Mutex<Vec<u8>>,
    first_line: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
    /// Set when the guard has dropped, or the flushing thread could not
    /// start: every line goes out at once.
    unbatched: AtomicBool,
    every: Duration,
}

fn relock<T>(result: std::sync::LockResult<MutexGuard<'_, T>>) -> MutexGuard<'_, T> {
    result.unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Writes what waits, then `line`.
    fn write_out(&self, line: &[u8]) {
        let mut sink = relock(self.sink.lock());
        let waiting = std::mem::take(&mut *relock(self.waiting.lock()));
        if waiting.is_empty() && line.is_empty() {
            return;
        }
        // Nowhere to report a failed write to stderr.
        let _ = sink.write_all(&waiting).and_then(|()| sink.write_all(line)).and_then(|()| sink.flush());
    }
}

/// A [`MakeWriter`] for the fmt subscriber: batches INFO and below.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

impl BatchedWriter {
    /// Batches lines for `sink` (stderr in the binaries); the returned
    /// [`LogFlush`] writes what is waiting when it is dropped, and every
    /// line after it at once.
    pub fn new(sink: impl Write + Send + 'static) -> (Self, LogFlush) {
        Self::every(sink, FLUSH_EVERY)
    }

    fn every(sink: impl Write + Send + 'static, every: Duration) -> (Self, LogFlush) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Vec::new()),
            first_line: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
            unbatched: AtomicBool::new(false),
            every,
        });
        let flusher = shared.clone();
        let started =
            std::thread::Builder::new().name("cluster-log".into()).spawn(move || flush_loop(&flusher));
        shared.unbatched.store(started.is_err(), Ordering::Relaxed);
        (Self { shared: shared.clone() }, LogFlush { shared })
    }
}

/// Sleeps until a line waits, lets the batch interval pass so that others
/// join it, writes them all: a wake-up per batch, not per line.
fn flush_loop(shared: &Shared) {
    loop {
        let mut waiting = relock(shared.waiting.lock());
        while waiting.is_empty() {
            waiting = relock(shared.first_line.wait(waiting));
        }
        drop(waiting);
        std::thread::sleep(shared.every);
        shared.write_out(&[]);
    }
}

/// Writes what is waiting when dropped, and from then on every line at
/// once: hold it until the program ends.
#[must_use = "dropping it at once turns batching off; hold it until the program ends"]
pub struct LogFlush {
    shared: Arc<Shared>,
}

impl LogFlush {
    /// Writes what is waiting now (before text printed without the
    /// logger, such as a panic message or a command's last error).
    pub fn flush(&self) {
        self.shared.write_out(&[]);
    }

    /// A panic hook that writes what is waiting, then runs the hook that
    /// was installed before, so the panic message comes after the lines
    /// that led to it.
    pub fn flush_on_panic(&self) {
        let shared = self.shared.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            shared.write_out(&[]);
            previous(info);
        }));
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        let waiting = relock(self.shared.waiting.lock());
        self.shared.unbatched.store(true, Ordering::Relaxed);
        drop(waiting);
        self.shared.write_out(&[]);
    }
}

/// One event's writer: the fmt layer writes each formatted line with one
/// `write_all`.
pub struct LineWriter<'a> {
    shared: &'a Shared,
    at_once: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if !self.at_once {
            let mut waiting = relock(self.shared.waiting.lock());
            // Read under the lock the guard sets it under: a line is either
            // in the guard's last batch or written here.
            let unbatched = self.shared.unbatched.load(Ordering::Relaxed);
            if !unbatched && waiting.len() + line.len() <= MAX_WAITING {
                let was_empty = waiting.is_empty();
                waiting.extend_from_slice(line);
                drop(waiting);
                if was_empty {
                    self.shared.first_line.notify_one();
                }
                return Ok(line.len());
            }
        }
        self.shared.write_out(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared, at_once: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter { shared: &self.shared, at_once: *meta.level() <= Level::WARN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tracing::Dispatch;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<u8>>>);

    impl Write for Seen {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seen {
        /// The messages written so far, one per line, in order.
        fn messages(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|line| line.rsplit(": ").next().unwrap_or_default().to_string()).collect()
        }
    }

    /// The binaries' subscriber (every level) over a batched writer whose
    /// batches go out every `every`.
    fn logger(every: Duration) -> (Dispatch, Seen, LogFlush) {
        let seen = Seen::default();
        let (writer, flush) = BatchedWriter::every(seen.clone(), every);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_ansi(false)
            .with_writer(writer)
            .finish();
        (Dispatch::new(subscriber), seen, flush)
    }

    const NEVER: Duration = Duration::from_secs(3600);

    #[test]
    fn info_lines_wait_and_a_warning_writes_them_out_before_itself() {
        let (logger, seen, _flush) = logger(NEVER);
        tracing::dispatcher::with_default(&logger, || {
            tracing::info!("one");
            tracing::debug!("two");
            assert!(seen.messages().is_empty(), "INFO and DEBUG wait for their batch");
            tracing::warn!("careful");
            assert_eq!(seen.messages(), ["one", "two", "careful"]);
            tracing::error!("broken");
            assert_eq!(seen.messages(), ["one", "two", "careful", "broken"]);
        });
    }

    #[test]
    fn a_batch_goes_out_by_itself_after_the_interval() {
        let (logger, seen, _flush) = logger(Duration::from_millis(5));
        tracing::dispatcher::with_default(&logger, || tracing::info!("later"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.messages() != ["later"] {
            assert!(Instant::now() < deadline, "the batch never went out: {:?}", seen.messages());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_full_buffer_goes_out_at_once_and_the_guard_writes_the_rest_then_stops_batching() {
        let (logger, seen, flush) = logger(NEVER);
        tracing::dispatcher::with_default(&logger, || {
            let mut lines = 0;
            while seen.messages().is_empty() {
                tracing::info!("line {lines}");
                lines += 1;
                assert!(lines < 1000, "{MAX_WAITING} bytes never went out");
            }
            tracing::info!("last");
            assert_ne!(seen.messages().last().map(String::as_str), Some("last"));
            drop(flush);
            assert_eq!(seen.messages().last().map(String::as_str), Some("last"), "the guard wrote it");
            assert_eq!(seen.messages().len(), lines + 1);
            tracing::info!("after");
            assert_eq!(
                seen.messages().last().map(String::as_str),
                Some("after"),
                "no batching after the guard"
            );
        });
    }

    #[test]
    fn lines_from_many_threads_keep_each_threads_order() {
        let (logger, seen, flush) = logger(Duration::from_millis(1));
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let logger = logger.clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&logger, || {
                        for n in 0..5000 {
                            match n % 7 {
                                0 => tracing::warn!("t{thread} {n}"),
                                _ => tracing::info!("t{thread} {n}"),
                            }
                        }
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let mut next = [0u32; 4];
        for message in seen.messages() {
            let (thread, n) = message.split_once(' ').unwrap();
            let thread: usize = thread.trim_start_matches('t').parse().unwrap();
            let n: u32 = n.parse().unwrap();
            assert_eq!(n, next[thread], "thread {thread}: line {n} came out of order");
            next[thread] += 1;
        }
        assert_eq!(next, [5000; 4], "every line written once");
    }
}
