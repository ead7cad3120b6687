//! Every log line of a test binary, captured by a global subscriber (JSON, one
//! object per line). Each log test is its own binary: a thread-local subscriber in a shared
//! binary can miss events when another test registers the callsite first (tracing's interest
//! cache).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// The captured bytes.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Installs the global subscriber of this test binary, writing here the lines at `level`
    /// and above (the log tests take TRACE; the reload tests INFO, so that their load does not
    /// drown the other tests in hyper's TRACE lines).
    pub fn install_at(level: tracing::Level) -> Capture {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
        capture
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
