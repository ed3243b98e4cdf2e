//! The time at the start of a log line, as tracing-subscriber's `SystemTime` writes it
//! (RFC 3339 in UTC with microseconds, `2026-12-02T18:29:51.621371Z`), for less.
//!
//! `SystemTime` converts the instant into a calendar date and writes seven numbers
//! through `fmt` for every line: about a tenth of what the access-log line costs
//! (callgrind). [`LogClock`] keeps, per thread, the text of the current second up to its
//! `.`, so most lines only write their microseconds. Instants before 1970 or after
//! year 9999 go to `SystemTime` itself.

use chrono::{DateTime, Datelike, Timelike, Utc};
use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// `SystemTime`'s text, written with fewer steps.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct LogClock;

impl FormatTime for LogClock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match text(SystemTime::now()) {
            Some(t) => w.write_str(t.as_str()),
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` (20 bytes).
type Second = [u8; 20];

/// A line's time: [`Second`], six digits of microseconds and `Z`.
struct Text([u8; 27]);

impl Text {
    fn as_str(&self) -> &str {
        // ASCII digits and separators only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

thread_local! {
    /// The second this thread last wrote, and its [`Second`].
    static LAST: Cell<(u64, Second)> = const { Cell::new((u64::MAX, [0; 20])) };
}

/// The text of `t`; `None` before 1970 or from year 10000 on.
fn text(t: SystemTime) -> Option<Text> {
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    let secs = since.as_secs();
    let second = match LAST.with(Cell::get) {
        (last, second) if last == secs => second,
        _ => {
            let second = second_of(secs)?;
            LAST.with(|c| c.set((secs, second)));
            second
        }
    };
    let mut out = [b'Z'; 27];
    out[..20].copy_from_slice(&second);
    put_digits(&mut out[20..26], since.subsec_micros());
    Some(Text(out))
}

/// [`Second`] of `secs` after the epoch; `None` from year 10000 on.
fn second_of(secs: u64) -> Option<Second> {
    let t = DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, 0)?;
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut out = *b"0000-00-00T00:00:00.";
    put_digits(&mut out[0..4], year);
    put_digits(&mut out[5..7], t.month());
    put_digits(&mut out[8..10], t.day());
    put_digits(&mut out[11..13], t.hour());
    put_digits(&mut out[14..16], t.minute());
    put_digits(&mut out[17..19], t.second());
    Some(out)
}

/// The last `out.len()` decimal digits of `n`, zero-padded.
fn put_digits(out: &mut [u8], mut n: u32) {
    for d in out.iter_mut().rev() {
        // `n % 10` is a single digit.
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    /// The text tracing-subscriber's `SystemTime` writes for `t` (its format, through
    /// chrono).
    fn reference(t: SystemTime) -> String {
        DateTime::<Utc>::from(t)
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn edges_are_written_as_system_time_writes_them() {
        let last_second_of_9999 = 253_402_300_799;
        for t in [
            at(0, 0),
            at(951_782_400, 999_999_999),
            at(1_796_236_191, 621_371_123),
            at(1_796_236_191, 5_000),
            at(1_796_236_192, 0),
            at(last_second_of_9999, 999_999_000),
        ] {
            let ours = text(t).map(|t| t.as_str().to_owned());
            assert_eq!(ours, Some(reference(t)));
        }
        assert!(text(at(last_second_of_9999 + 1, 0)).is_none());
        assert!(text(UNIX_EPOCH - Duration::from_secs(1)).is_none());
    }

    #[test]
    fn the_live_clock_writes_the_same_shape() {
        let mut line = String::new();
        assert!(LogClock.format_time(&mut Writer::new(&mut line)).is_ok());
        assert_eq!(line.len(), 27, "{line}");
        let back = DateTime::parse_from_rfc3339(&line).map(|t| t.with_timezone(&Utc));
        assert!(back.is_ok_and(|t| (Utc::now() - t).num_seconds().abs() < 60));
    }

    proptest! {
        #[test]
        fn instants_are_written_as_system_time_writes_them(
            secs in 0..253_402_300_800u64,
            nanos in 0..1_000_000_000u32,
            // The same second again, as most lines of a busy thread are.
            again in 0..1_000_000_000u32,
        ) {
            for n in [nanos, again] {
                let ours = text(at(secs, n)).map(|t| t.as_str().to_owned());
                prop_assert_eq!(ours, Some(reference(at(secs, n))));
            }
        }
    }
}
