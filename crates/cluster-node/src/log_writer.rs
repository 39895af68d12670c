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
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Longest an INFO line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Past this many bytes waiting, the line's own writer flushes them.
const MAX_WAITING: usize = 64 * 1024;

/// Where the lines go, and what waits for it.
struct Shared {
    waiting: Mutex<Vec<u8>>,
    first_line: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    fn waiting(&self) -> MutexGuard<'_, Vec<u8>> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `waiting` (taken out of its lock) and then `line`.
    fn write_out(&self, waiting: Vec<u8>, line: &[u8]) {
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Nowhere to report a failed write to stderr.
        let _ = sink.write_all(&waiting).and_then(|()| sink.write_all(line)).and_then(|()| sink.flush());
    }

    fn flush(&self) {
        let waiting = std::mem::take(&mut *self.waiting());
        if !waiting.is_empty() {
            self.write_out(waiting, &[]);
        }
    }
}

/// A [`MakeWriter`] for the fmt subscriber: batches INFO and below.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
    /// False if the flushing thread could not start: every line goes out
    /// at once.
    batched: bool,
}

impl BatchedWriter {
    /// Batches lines for `sink` (stderr in the binaries); the returned
    /// [`LogFlush`] writes what is waiting when it is dropped.
    pub fn new(sink: impl Write + Send + 'static) -> (Self, LogFlush) {
        let shared = Arc::new(Shared {
            waiting: Mutex::new(Vec::new()),
            first_line: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
        });
        let flusher = shared.clone();
        // If the thread cannot start, every line's writer flushes instead.
        let started =
            std::thread::Builder::new().name("cluster-log".into()).spawn(move || flush_loop(&flusher));
        (Self { shared: shared.clone(), batched: started.is_ok() }, LogFlush { shared })
    }
}

/// Sleeps until a line waits, lets [`FLUSH_EVERY`] pass so that others
/// join it, writes them all; a wake-up per batch, not per line.
fn flush_loop(shared: &Shared) {
    loop {
        let mut waiting = shared.waiting();
        while waiting.is_empty() {
            waiting = shared.first_line.wait(waiting).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        drop(waiting);
        std::thread::sleep(FLUSH_EVERY);
        shared.flush();
    }
}

/// Writes what is waiting when dropped: hold it for the program's life.
#[must_use = "dropping it at once writes nothing later; hold it until the program ends"]
pub struct LogFlush {
    shared: Arc<Shared>,
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.shared.flush();
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
        let mut waiting = self.shared.waiting();
        if self.at_once || waiting.len() + line.len() > MAX_WAITING {
            let earlier = std::mem::take(&mut *waiting);
            drop(waiting);
            self.shared.write_out(earlier, line);
        } else {
            let was_empty = waiting.is_empty();
            waiting.extend_from_slice(line);
            drop(waiting);
            if was_empty {
                self.shared.first_line.notify_one();
            }
        }
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
        LineWriter { shared: &self.shared, at_once: !self.batched || *meta.level() <= Level::WARN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn line(writer: &BatchedWriter, level: Level, text: &str) {
        let mut out = LineWriter { shared: &writer.shared, at_once: level <= Level::WARN };
        out.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn info_lines_wait_for_the_batch_and_a_warning_takes_them_out_in_order() {
        let seen = Seen::default();
        let (writer, _flush) = BatchedWriter::new(seen.clone());
        line(&writer, Level::INFO, "one\n");
        line(&writer, Level::INFO, "two\n");
        assert_eq!(seen.text(), "", "INFO lines wait for their batch");
        line(&writer, Level::WARN, "careful\n");
        assert_eq!(seen.text(), "one\ntwo\ncareful\n");
        line(&writer, Level::INFO, "three\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.text() != "one\ntwo\ncareful\nthree\n" {
            assert!(Instant::now() < deadline, "the batch never went out: {:?}", seen.text());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn dropping_the_guard_writes_what_waits_and_a_full_buffer_goes_out_at_once() {
        let seen = Seen::default();
        let (writer, flush) = BatchedWriter::new(seen.clone());
        let long = "x".repeat(MAX_WAITING);
        line(&writer, Level::INFO, "first\n");
        line(&writer, Level::DEBUG, &long);
        assert_eq!(seen.text(), format!("first\n{long}"), "past MAX_WAITING the writer flushes");
        line(&writer, Level::INFO, "last\n");
        drop(flush);
        assert!(seen.text().ends_with("last\n"), "the guard flushed");
    }
}
