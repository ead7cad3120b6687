//! Logging set-up: `tracing` lines (text or JSON) on stdout, written in batches.
//!
//! The server logs one line per issued token; at tens of thousands of tokens a second a
//! `write(2)` per line on the request's thread (or a thread wake-up per line to hand it to a
//! writer thread) costs more than building the token. Here a line is formatted on the
//! request's thread and appended to a shared buffer; a writer thread empties the buffer into
//! stdout when it holds 64 KiB or every 50 ms. Nothing is dropped: if the sink falls behind by
//! more than 8 MiB, requests wait for it. Dropping the [`LogGuard`] writes what is left.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

const BATCH: usize = 64 * 1024;
const BACKLOG_LIMIT: usize = 8 * 1024 * 1024;
const INTERVAL: Duration = Duration::from_millis(50);

struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is ready or the guard is dropped.
    ready: Condvar,
    /// Signalled when the writer has emptied the buffer.
    drained: Condvar,
}

struct State {
    buf: Vec<u8>,
    closed: bool,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves only bytes behind: keep going.
    shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `MakeWriter` the subscriber writes through.
#[derive(Clone)]
pub(crate) struct BatchWriter(Arc<Shared>);

impl Write for BatchWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut state = lock(&self.0);
        while state.buf.len() > BACKLOG_LIMIT && !state.closed {
            self.0.ready.notify_one();
            state = self.0.drained.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.buf.extend_from_slice(data);
        if state.buf.len() >= BATCH {
            self.0.ready.notify_one();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;
    fn make_writer(&'a self) -> BatchWriter {
        self.clone()
    }
}

/// Writes what is buffered when dropped, and stops the writer thread.
pub(crate) struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A writer into `sink` and the guard of its writer thread.
pub(crate) fn batch_writer<W: Write + Send + 'static>(mut sink: W) -> (BatchWriter, LogGuard) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { buf: Vec::with_capacity(BATCH * 2), closed: false }),
        ready: Condvar::new(),
        drained: Condvar::new(),
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("agtoken-log".into())
        .spawn(move || {
            let mut out = Vec::with_capacity(BATCH * 2);
            loop {
                let closed = {
                    let mut state = lock(&worker);
                    if state.buf.len() < BATCH && !state.closed {
                        state = worker
                            .ready
                            .wait_timeout(state, INTERVAL)
                            .map(|(s, _)| s)
                            .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                    }
                    std::mem::swap(&mut state.buf, &mut out);
                    state.closed
                };
                worker.drained.notify_all();
                if !out.is_empty() {
                    // A failing sink (closed pipe) cannot be reported anywhere better.
                    let _ = sink.write_all(&out).and_then(|()| sink.flush());
                    out.clear();
                }
                if closed && lock(&worker).buf.is_empty() {
                    break;
                }
            }
        })
        .expect("the log writer thread starts");
    (BatchWriter(shared.clone()), LogGuard { shared, thread: Some(thread) })
}

/// Installs the `tracing` subscriber: `RUST_LOG` (default `info`), text or JSON lines on
/// stdout through a [`BatchWriter`]. `None` if a subscriber is installed already.
pub(crate) fn init(json: bool) -> Option<LogGuard> {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = batch_writer(io::stdout());
    let builder = fmt().with_env_filter(filter).with_target(true).with_ansi(ansi).with_writer(writer);
    let installed = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    installed.ok().map(|()| guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_in_order_and_the_guard_flushes() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        w.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 80_000);
        for t in 0..4 {
            let seq: Vec<usize> = text
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(th, _)| *th == t.to_string())
                .map(|(_, i)| i.parse().unwrap())
                .collect();
            assert_eq!(seq, (0..20_000).collect::<Vec<_>>(), "thread {t}'s lines in order");
        }
    }

    #[test]
    fn a_quiet_log_is_written_within_the_interval() {
        let sink = Sink::default();
        let (mut writer, _guard) = batch_writer(sink.clone());
        writer.write_all(b"one line\n").unwrap();
        std::thread::sleep(INTERVAL * 4);
        assert_eq!(sink.0.lock().unwrap().as_slice(), b"one line\n");
    }
}
