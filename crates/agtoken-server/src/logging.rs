//! Logging set-up: `tracing` lines (text or JSON) on stdout, written in batches.
//!
//! The server logs one line per issued token; at tens of thousands of tokens a second a
//! `write(2)` per line on the request's thread (or a thread wake-up per line to hand it to a
//! writer thread) costs more than building the token. Here a line is formatted on the
//! request's thread and appended to a shared buffer; a writer thread empties the buffer into
//! stdout when it holds 64 KiB or every 50 ms. Nothing is dropped: if the sink falls behind by
//! more than 8 MiB, requests wait for it. Dropping the [`LogGuard`] writes what is left.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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

impl BatchWriter {
    /// Appends `data` to the batch (waiting while the sink is more than the backlog limit behind).
    fn append(&self, data: &[u8]) {
        let mut state = lock(&self.0);
        while state.buf.len() > BACKLOG_LIMIT && !state.closed {
            self.0.ready.notify_one();
            state = self.0.drained.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.buf.extend_from_slice(data);
        if state.buf.len() >= BATCH {
            self.0.ready.notify_one();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.append(data);
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
///
/// Text lines to a terminal get `tracing_subscriber`'s own format, in colour; elsewhere (a
/// file, a pipe, a log collector: where a busy server writes) the same line without colour
/// codes is written by [`TextLine`], which costs far less per line.
pub(crate) fn init(json: bool) -> Option<LogGuard> {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = batch_writer(io::stdout());
    let plain = writer.clone();
    let builder = fmt().with_env_filter(filter).with_target(true).with_ansi(ansi).with_writer(writer);
    let installed = if json {
        builder.json().flatten_event(true).try_init()
    } else if ansi {
        builder.try_init()
    } else {
        builder.fmt_fields(TextFields).event_format(TextLine).try_init().map(|()| {
            let _ = PLAIN_TEXT.set(plain);
        })
    };
    installed.ok().map(|()| guard)
}

/// The log's writer when [`init`] installed the plain text format ([`TextLine`], [`TextFields`])
/// as the global subscriber; unset otherwise (JSON, a terminal, a subscriber of a test or of a
/// program that embeds the server).
static PLAIN_TEXT: OnceLock<BatchWriter> = OnceLock::new();

/// The value of a field of a line written by [`write_plain`].
#[derive(Clone, Copy)]
pub(crate) enum FieldValue<'a> {
    Text(&'a str),
    Number(u64),
}

impl<'a> From<&'a str> for FieldValue<'a> {
    fn from(text: &'a str) -> Self {
        FieldValue::Text(text)
    }
}

impl From<u64> for FieldValue<'_> {
    fn from(n: u64) -> Self {
        FieldValue::Number(n)
    }
}

impl From<u32> for FieldValue<'_> {
    fn from(n: u32) -> Self {
        FieldValue::Number(n.into())
    }
}

impl From<u16> for FieldValue<'_> {
    fn from(n: u16) -> Self {
        FieldValue::Number(n.into())
    }
}

/// Writes the INFO line of an event of `target` with `fields` straight into the log, when the
/// installed subscriber is the plain text one of [`init`]: the line it would write for the same
/// event (`tests::a_text_line_has_the_time_level_target_and_fields`), without `tracing`'s
/// dispatch, its formatting context and the field visitor's indirect calls (2.8 µs of a demo
/// token request of about 50 µs; the server README). `false` when nothing was written: emit the
/// event. The caller checks that the event is enabled.
///
/// Each field comes with what precedes its value in the line, ` name=` (made at compile time by
/// `audit_line!`: `concat!(" ", stringify!(name), "=")`); names are plain identifiers, never
/// `message` or raw (`r#…`), which `tracing`'s line writes differently.
pub(crate) fn write_plain(target: &str, fields: &[(&str, FieldValue<'_>)]) -> bool {
    let Some(writer) = PLAIN_TEXT.get() else { return false };
    thread_local! {
        static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        // Writing into a String cannot fail.
        let _ = plain_line(line, SystemTime::now(), target, fields);
        writer.append(line.as_bytes());
    });
    true
}

/// The line [`TextLine`] writes for an INFO event of `target` with `fields` (and no span);
/// `fields` as [`write_plain`] takes them (` name=`, value).
fn plain_line(line: &mut String, now: SystemTime, target: &str, fields: &[(&str, FieldValue<'_>)]) -> fmt::Result {
    write_timestamp(line, now)?;
    line.push_str(level_text(Level::INFO));
    line.push_str(target);
    line.push(':');
    for (before_value, value) in fields {
        // The contract of `write_plain`, checked where tests run it: tracing writes a raw
        // identifier's name without `r#`, and `message` without a name.
        debug_assert!(
            before_value.starts_with(' ')
                && before_value.ends_with('=')
                && !before_value.starts_with(" r#")
                && *before_value != " message=",
            "{before_value:?} is not a plain field name's ` name=`"
        );
        line.push_str(before_value);
        match *value {
            FieldValue::Text(text) => write_text(line, text)?,
            FieldValue::Number(n) => line.push_str(itoa::Buffer::new().format(n)),
        }
    }
    line.push('\n');
    Ok(())
}

/// What comes before a field's value: a space after the first field, and `name=` (the message
/// has no name; a raw identifier's `r#` is dropped).
fn write_field_name(out: &mut impl fmt::Write, first: bool, name: &str) -> fmt::Result {
    if !first {
        out.write_char(' ')?;
    }
    if name != "message" {
        out.write_str(name.strip_prefix("r#").unwrap_or(name))?;
        out.write_char('=')?;
    }
    Ok(())
}

/// The level as a line shows it, padded to 5 characters and followed by a space.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE ",
        Level::DEBUG => "DEBUG ",
        Level::INFO => " INFO ",
        Level::WARN => " WARN ",
        Level::ERROR => "ERROR ",
    }
}

/// A text value: bare when plain, Debug-quoted otherwise (see [`is_plain`]).
fn write_text(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    if is_plain(value) {
        out.write_str(value)
    } else {
        write!(out, "{value:?}")
    }
}

/// The text line of an event, as `tracing_subscriber`'s default (full) format writes it with
/// ANSI off — `2026-12-01T15:19:19.123456Z  INFO target: message name=value …`, span context
/// before the target — at a fraction of its cost on the request path (one audit line per
/// token): the date and time of day are formatted once a second per thread, and text fields are
/// written bare when they are plain words (letters, digits and `_ - . : / @ + *`), Debug-quoted
/// otherwise, so a value can never break the line or fake a field.
pub(crate) struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        let meta = event.metadata();
        writer.write_str(level_text(*meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, "{{{fields}}}")?;
                    }
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ ` (UTC, microseconds), as `tracing_subscriber`'s `SystemTime`.
fn write_timestamp(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        /// The second last formatted on this thread and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            text.clear();
            let at = i64::try_from(secs).ok().and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok());
            let at = at.unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )?;
            *cached = secs;
        }
        writer.write_str(text)
    })?;
    let mut micros = since.subsec_micros();
    let mut digits = *b".000000Z ";
    for d in digits[1..7].iter_mut().rev() {
        *d = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    writer.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

/// The fields of a line: the message first (as is), then `name=value`, space-separated. Used for
/// span fields too.
pub(crate) struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldWriter<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

/// Whether `value` can be written without quotes: non-empty, only these characters.
fn is_plain(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| PLAIN[usize::from(b)])
}

/// The bytes of a plain value ([`is_plain`]): ASCII letters and digits and `_ - . : / @ + *`. A
/// table, since every text field of every audit line is checked byte by byte.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':' | b'/' | b'@' | b'+' | b'*');
        b += 1;
    }
    table
};

impl FieldWriter<'_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let first = std::mem::replace(&mut self.first, false);
        self.result = write_field_name(&mut self.writer, first, field.name()).and_then(|()| value(&mut self.writer));
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, |w| w.write_str(value));
        } else {
            self.field(field, |w| write_text(w, value));
        }
    }

    // Numbers through `itoa`: `write!` costs a trip through `fmt` per number, 5 per audit line.
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(w, "{value:?}"));
    }
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

    /// The lines of the events `log` emits, formatted by [`TextLine`] and [`TextFields`].
    fn text_lines(log: impl FnOnce()) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(Level::TRACE)
            .fmt_fields(TextFields)
            .event_format(TextLine)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text
    }

    /// The fields of the first event of the test below, as [`write_plain`] takes them (as
    /// `audit_line!` makes them: ` name=`).
    const PLAIN_FIELDS: [(&str, FieldValue<'_>); 11] = [
        (" decision=", FieldValue::Text("issued")),
        (" status=", FieldValue::Number(200)),
        (" caller=", FieldValue::Text("key:bench")),
        (" channel=", FieldValue::Text("two words")),
        (" uid=", FieldValue::Text("line\nbreak")),
        (" client=", FieldValue::Text("127.0.0.1")),
        (" lifetime=", FieldValue::Number(3600)),
        (" role=", FieldValue::Text("")),
        (" quote=", FieldValue::Text("say \"hi\"")),
        (" zero=", FieldValue::Number(0)),
        (" max=", FieldValue::Number(u64::MAX)),
    ];

    #[test]
    fn a_text_line_has_the_time_level_target_and_fields() {
        let before = time::OffsetDateTime::now_utc();
        let text = text_lines(|| {
            tracing::info!(
                target: "agtoken::audit",
                decision = "issued",
                status = 200u16,
                caller = "key:bench",
                channel = "two words",
                uid = "line\nbreak",
                client = %"127.0.0.1",
                lifetime = 3600u32,
                role = "",
                quote = "say \"hi\"",
                zero = 0u64,
                max = u64::MAX,
            );
            tracing::warn!(attempt = 2u64, "store down: {}", "retrying");
            tracing::info!(zero = 0u64, max = u64::MAX, ten = 10u64, small = 7u16);
        });
        let after = time::OffsetDateTime::now_utc();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let (stamp, rest) = lines[0].split_once(' ').unwrap();
        assert_eq!(stamp.len(), 27, "{stamp}");
        let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).unwrap();
        assert!(before - time::Duration::seconds(1) <= at && at <= after, "{stamp}");
        // Plain values bare, anything else quoted and escaped (a value cannot add a field or a line).
        assert_eq!(
            rest,
            format!(
                " INFO agtoken::audit: decision=issued status=200 caller=key:bench channel=\"two words\" \
                 uid=\"line\\nbreak\" client=127.0.0.1 lifetime=3600 role=\"\" quote=\"say \\\"hi\\\"\" zero=0 max={}",
                u64::MAX
            )
        );
        // `write_plain`'s line of the same fields is the same line, byte for byte after the time.
        let mut plain = String::new();
        let at = UNIX_EPOCH + Duration::from_micros(1_780_000_000_123_456);
        plain_line(&mut plain, at, "agtoken::audit", &PLAIN_FIELDS).unwrap();
        assert_eq!(&plain[..27], "2026-05-28T20:26:40.123456Z");
        assert_eq!(plain[27..], text[27..text.find('\n').unwrap() + 1]);
        let (_, rest) = lines[1].split_once(' ').unwrap();
        assert_eq!(rest, " WARN agtoken_server::logging::tests: store down: retrying attempt=2");
        let (_, rest) = lines[2].split_once(' ').unwrap();
        assert_eq!(rest, format!(" INFO agtoken_server::logging::tests: zero=0 max={} ten=10 small=7", u64::MAX));
    }

    #[test]
    fn plain_values_are_words_of_letters_digits_and_eight_marks() {
        for plain in ["a", "Z9", "key:bench", "room-*", "a_b.c/d@e+f", "2001:db8::1"] {
            assert!(is_plain(plain), "{plain:?}");
        }
        for quoted in ["", "two words", "a=b", "say\"hi\"", "line\nbreak", "tab\t", "#1", "é", "a,b", "\u{7f}"] {
            assert!(!is_plain(quoted), "{quoted:?}");
        }
        let allowed: Vec<u8> = (0..=255u8).filter(|&b| PLAIN[usize::from(b)]).collect();
        assert_eq!(allowed.len(), 26 + 26 + 10 + 8);
    }

    #[test]
    fn span_fields_come_before_the_target() {
        let text = text_lines(|| {
            let span = tracing::info_span!("reload", generation = 3u64);
            let _entered = span.enter();
            tracing::info!(target: "agtoken::reload", "applied");
        });
        let (_, rest) = text.trim_end().split_once(' ').unwrap();
        assert_eq!(rest, " INFO reload{generation=3}: agtoken::reload: applied");
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
