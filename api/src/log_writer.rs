//! Where log lines go: to stderr, gathered in memory and written a batch at a time.
//!
//! Each request logs one line, and writing each on its own cost a `write` system call per
//! request, about 3 % of the server's CPU for one `order(id)`. Lines now wait in a buffer that
//! is written out when it holds [`FLUSH_AT`] bytes, every [`FLUSH_EVERY`], at once for a
//! warning or an error, and when the process ends or panics ([`LogWriter::flush`]). Like an
//! access log with a buffer (nginx's `buffer=`/`flush=`), a process killed outright loses at
//! most the last [`FLUSH_EVERY`] of information lines; never a warning or an error.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// A buffer this full is written out at once.
pub const FLUSH_AT: usize = 32 * 1024;
/// Lines wait at most this long.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The buffered log destination; cloning shares it.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    buffer: Mutex<Vec<u8>>,
    out: Mutex<Box<dyn Write + Send>>,
    /// No flusher thread: every line is written at once.
    write_through: bool,
}

impl LogWriter {
    /// Lines to stderr, flushed by a background thread every [`FLUSH_EVERY`].
    pub fn stderr() -> Self {
        let writer = Self::new(Box::new(std::io::stderr()), false);
        let flusher = writer.clone();
        // A thread, not a task: logs are written before the runtime starts and after it ends.
        let spawned = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flusher.flush();
                }
            });
        match spawned {
            Ok(_) => writer,
            Err(err) => {
                eprintln!("cannot start the log flusher ({err}): each line is written at once");
                Self::new(Box::new(std::io::stderr()), true)
            }
        }
    }

    /// Lines to `out`, written when [`flush`](Self::flush) is called or the buffer fills.
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        Self::new(out, false)
    }

    fn new(out: Box<dyn Write + Send>, write_through: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                buffer: Mutex::new(Vec::with_capacity(FLUSH_AT)),
                out: Mutex::new(out),
                write_through,
            }),
        }
    }

    /// Writes out what the buffer holds.
    pub fn flush(&self) {
        // The output's lock first, the buffer's only while taking its lines: batches leave in
        // the order they were taken, and lines keep gathering while the system call runs.
        let mut out = self
            .shared
            .out
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lines = {
            let mut buffer = self.buffer();
            if buffer.is_empty() {
                return;
            }
            std::mem::replace(&mut *buffer, Vec::with_capacity(FLUSH_AT))
        };
        // Nowhere to report a failing log: the lines are dropped, as tracing's own writers do.
        let _ = out.write_all(&lines).and_then(|()| out.flush());
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.shared
            .buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn line(&self, urgent: bool) -> Line<'_> {
        Line {
            writer: self,
            urgent,
        }
    }
}

/// One log line's writer (tracing writes each formatted line with one `write_all`).
pub struct Line<'a> {
    writer: &'a LogWriter,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buffer = self.writer.buffer();
            buffer.extend_from_slice(bytes);
            self.urgent || self.writer.shared.write_through || buffer.len() >= FLUSH_AT
        };
        if full {
            // A warning also takes the lines before it out, in order.
            self.writer.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line(false)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        self.line(*meta.level() <= Level::WARN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared `Vec` standing in for stderr, counting the writes it gets.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().unwrap();
            sink.0.extend_from_slice(bytes);
            sink.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    fn write_line(writer: &LogWriter, urgent: bool, text: &str) {
        writer.line(urgent).write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn information_lines_wait_and_leave_together_in_order() {
        let sink = Sink::default();
        let writer = LogWriter::to(Box::new(sink.clone()));
        for n in 0..3 {
            write_line(&writer, false, &format!("line {n}\n"));
        }
        assert_eq!(sink.text(), "");
        writer.flush();
        assert_eq!(sink.text(), "line 0\nline 1\nline 2\n");
        assert_eq!(sink.writes(), 1, "one write for the batch");
        writer.flush();
        assert_eq!(sink.writes(), 1, "nothing to write, no write");
    }

    #[test]
    fn a_warning_goes_out_at_once_with_the_lines_before_it() {
        let sink = Sink::default();
        let writer = LogWriter::to(Box::new(sink.clone()));
        write_line(&writer, false, "info\n");
        write_line(&writer, true, "warn\n");
        assert_eq!(sink.text(), "info\nwarn\n");
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        let sink = Sink::default();
        let writer = LogWriter::to(Box::new(sink.clone()));
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..FLUSH_AT / line.len() - 1 {
            write_line(&writer, false, &line);
        }
        assert_eq!(sink.writes(), 0);
        write_line(&writer, false, &line);
        assert_eq!(sink.text().len(), FLUSH_AT);
    }

    #[test]
    fn levels_choose_whether_a_line_waits() {
        let sink = Sink::default();
        let writer = LogWriter::to(Box::new(sink.clone()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("request finished");
            assert_eq!(sink.text(), "");
            tracing::error!("a resolver panicked");
        });
        let text = sink.text();
        assert!(text.contains("request finished"), "{text}");
        assert!(text.contains("a resolver panicked"), "{text}");
    }
}
