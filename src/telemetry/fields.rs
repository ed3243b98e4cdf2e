//! The fields of a plain log line, written as tracing-subscriber's `DefaultFields` writes
//! them, for less.
//!
//! Without colours, `DefaultFields` writes each field as `name=value` (the value's
//! `Debug`), but it paints the name and the `=` through `nu_ansi_term` even then, and
//! writes every value through `fmt`: about a tenth of the instructions of a proxied
//! request went into the access-log line, half of it into its fields. [`PlainFields`]
//! writes names, integers, booleans and plain strings straight into the line and hands
//! everything else (the message, errors, raw identifiers, floats, `Display` values, any
//! string `Debug` would escape) to `DefaultVisitor`, so the text is the same byte for
//! byte (checked against `DefaultFields` in the tests below). With colours on (a
//! terminal), the whole line is `DefaultFields`'.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};

/// `DefaultFields`' text, written with fewer steps when the line has no colours.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.finish()
    }
}

/// Writes one line's fields; what it does not write itself goes to `DefaultVisitor`.
struct PlainVisitor<'w> {
    writer: Writer<'w>,
    /// No field written yet (the next one gets no leading space).
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Fields `DefaultVisitor` treats specially: the message (written without its name,
    /// ANSI escapes sanitised), raw identifiers (`r#type`), and the `log.` metadata of
    /// records bridged from the `log` crate (skipped).
    fn is_special(name: &str) -> bool {
        name == "message" || name.starts_with("r#") || name.starts_with("log.")
    }

    /// Let `DefaultVisitor` write one field, keeping the spacing between fields.
    fn delegate(&mut self, field: &Field, visit: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut inner = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        visit(&mut inner);
        self.result = inner.finish();
        if !field.name().starts_with("log.") {
            self.is_empty = false;
        }
    }

    /// Write `name=` then `value`, after a space unless it is the first field.
    fn write(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let pad = if self.is_empty { "" } else { " " };
        self.is_empty = false;
        let w = &mut self.writer;
        self.result = w
            .write_str(pad)
            .and_then(|()| w.write_str(field.name()))
            .and_then(|()| w.write_char('='))
            .and_then(|()| value(w));
    }
}

/// True when `Debug` writes `s` as it is between quotes: printable ASCII without `"`
/// and `\`.
fn debug_is_verbatim(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::is_special(field.name()) || !debug_is_verbatim(value) {
            return self.delegate(field, |v| v.record_str(field, value));
        }
        self.write(field, |w| {
            w.write_char('"')?;
            w.write_str(value)?;
            w.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if Self::is_special(field.name()) {
            return self.delegate(field, |v| v.record_i64(field, value));
        }
        self.write(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if Self::is_special(field.name()) {
            return self.delegate(field, |v| v.record_u64(field, value));
        }
        self.write(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if Self::is_special(field.name()) {
            return self.delegate(field, |v| v.record_bool(field, value));
        }
        self.write(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if Self::is_special(field.name()) {
            return self.delegate(field, |v| v.record_debug(field, value));
        }
        self.write(field, |w| write!(w, "{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            let bytes = self.0.lock().map(|v| v.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    #[derive(Debug)]
    struct Failed;
    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("upstream \"down\"")
        }
    }
    impl std::error::Error for Failed {}

    /// Spans and events with every kind of field the shim logs, and the kinds it could.
    fn emit() {
        let span = tracing::info_span!(
            "request",
            request_id = %"0123abcd",
            route = "job/execute_job",
            app_code = tracing::field::Empty,
            upstream_status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        span.record("app_code", "esb_test");
        span.record("upstream_status", 200u64);
        span.record("duration_ms", 1.5f64);
        let _in = span.enter();
        tracing::info!(
            code = 0i64,
            outcome = "ok",
            status = 200u16,
            "request completed"
        );
        tracing::warn!(code = -1i64, error = %Failed, "request failed");
        tracing::info!(
            quoted = "say \"hi\"",
            escaped = "a\\b\tc",
            unicode = "中文",
            empty = "",
            yes = true,
            no = false,
            big = u64::MAX,
            small = i64::MIN,
            float = 0.1f64,
            debug = ?Some("x"),
            r#type = "raw",
            err = &Failed as &(dyn std::error::Error + 'static),
            "message with \u{1b}[31m escape {}",
            7
        );
        tracing::info!(only = 1u64);
        // As a record bridged from the `log` crate carries them: skipped, no space left.
        tracing::info!(log.line = 3u64, after = 1u64);
    }

    /// What a plain subscriber with `fields` writes for [`emit`].
    fn lines<F>(fields: F) -> String
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(fields)
            .with_ansi(false)
            .without_time()
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        buf.text()
    }

    #[test]
    fn lines_are_those_of_default_fields() {
        let ours = lines(PlainFields);
        assert_eq!(ours, lines(DefaultFields::new()));
        // The comparison covers what the shim logs.
        assert!(ours.contains(
            "request{request_id=0123abcd route=\"job/execute_job\" app_code=\"esb_test\" \
             upstream_status=200 duration_ms=1.5}"
        ));
        assert!(ours.contains("request completed code=0 outcome=\"ok\" status=200"));
        assert!(ours.contains("tests: after=1\n"));
        assert_eq!(ours.lines().count(), 5);
    }

    #[test]
    fn strings_needing_escapes_are_left_to_debug() {
        for s in ["say \"hi\"", "a\\b", "tab\there", "中", "\u{7f}", "\u{1b}"] {
            assert!(!debug_is_verbatim(s), "{s:?}");
        }
        for s in [
            "",
            "esb_test",
            "job/execute_job",
            "it's ok",
            "~ !#$%&()*+,-./:;<=>?@[]^_`{|}",
        ] {
            assert!(debug_is_verbatim(s), "{s:?}");
            assert_eq!(format!("{s:?}"), format!("\"{s}\""));
        }
    }
}
