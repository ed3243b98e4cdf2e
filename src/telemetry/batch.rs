//! The log writer: lines appended to one shared buffer, written out by one thread in
//! batches, at most every [`Batching::interval`].
//!
//! A request's thread only copies its formatted line into the buffer under a mutex held
//! for that copy: it never wakes another thread per line. (The queue this replaced woke
//! its writer thread whenever the queue had run empty, which under load meant a futex
//! wake-up and a context switch for most lines: ~12 µs of CPU per request, measured,
//! about a fifth of the shim's CPU per request.) The writer thread sleeps until a
//! first line arrives, lets lines gather for one interval, then writes them with one
//! `write`; so a line reaches stderr at most one interval (plus the write) after it was
//! logged, and an idle shim's writer does not wake at all.
//!
//! Nothing is dropped, and memory stays bounded: the writer is woken early when the
//! buffer passes [`Batching::flush_bytes`], and a thread that finds [`Batching::max_bytes`]
//! already pending writes the buffer out itself before adding its line (the backpressure
//! a synchronous write would exert). Dropping the [`BatchGuard`] writes out what is
//! pending and stops the thread.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// When the writer writes.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Longest a line waits in the buffer (while the writer is not behind).
    pub interval: Duration,
    /// Pending bytes that wake the writer before the interval ends.
    pub flush_bytes: usize,
    /// Pending bytes past which a logging thread writes the buffer out itself.
    pub max_bytes: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(50),
            flush_bytes: 64 * 1024,
            max_bytes: 1024 * 1024,
        }
    }
}

/// State shared by the logging threads and the writer.
struct Shared<W> {
    state: Mutex<State<W>>,
    /// Wakes the writer thread.
    wake: Condvar,
    /// Tells logging threads held back by a full buffer that the writer is done.
    returned: Condvar,
    batching: Batching,
}

struct State<W> {
    pending: Vec<u8>,
    sink: Option<W>,
    stopping: bool,
}

/// A cheap handle that appends lines (`tracing_subscriber`'s `MakeWriter`).
pub struct BatchWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for BatchWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Keeps the writer thread; dropping it writes out every pending line.
#[must_use = "dropping the guard stops the log writer"]
pub struct BatchGuard<W> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

/// A writer of `sink` batched by `batching`, and the guard of its thread. When the
/// thread cannot be started, lines are written to `sink` at once.
pub fn batched<W: Write + Send + 'static>(
    sink: W,
    batching: Batching,
) -> (BatchWriter<W>, BatchGuard<W>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: Vec::with_capacity(batching.flush_bytes),
            sink: Some(sink),
            stopping: false,
        }),
        wake: Condvar::new(),
        returned: Condvar::new(),
        batching,
    });
    let worker = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("bk-job-shim-log".to_owned())
        .spawn(move || worker.run())
        .ok();
    if thread.is_none() {
        // No writer thread: every line is written out as it comes.
        shared.lock().stopping = true;
    }
    (
        BatchWriter {
            shared: Arc::clone(&shared),
        },
        BatchGuard { shared, thread },
    )
}

impl<W: Write> Shared<W> {
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Append `line`; see the module docs for when it is written.
    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        // A full buffer is written out here, or, while the writer thread is writing,
        // after it (so that a blocked stderr holds logging back rather than memory).
        while state.pending.len() >= self.batching.max_bytes {
            if state.sink.is_some() {
                state.write_out();
            } else {
                state = self
                    .returned
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let before = state.pending.len();
        state.pending.extend_from_slice(line);
        if state.stopping {
            state.write_out();
        } else if before == 0
            || (before < self.batching.flush_bytes
                && state.pending.len() >= self.batching.flush_bytes)
        {
            self.wake.notify_one();
        }
    }

    /// The writer thread: waits for a first line, lets lines gather for one interval
    /// (or until enough are pending), writes them, and again, until stopped.
    fn run(&self) {
        let mut state = self.lock();
        loop {
            state = self
                .wake
                .wait_while(state, |s| s.pending.is_empty() && !s.stopping)
                .unwrap_or_else(PoisonError::into_inner);
            let flush = self.batching.flush_bytes;
            state = self
                .wake
                .wait_timeout_while(state, self.batching.interval, |s| {
                    s.pending.len() < flush && !s.stopping
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            let batch = std::mem::take(&mut state.pending);
            let mut sink = state.sink.take();
            let stopping = state.stopping;
            // Written without the lock: logging threads keep appending meanwhile.
            drop(state);
            if let Some(s) = sink.as_mut() {
                let _ = s.write_all(&batch).and_then(|()| s.flush());
            }
            state = self.lock();
            state.sink = sink;
            self.returned.notify_all();
            if state.pending.is_empty() {
                // Keep the larger buffer for the next batch, unless a burst grew it.
                let mut batch = batch;
                batch.clear();
                batch.shrink_to(self.batching.flush_bytes);
                state.pending = batch;
            }
            if stopping {
                state.write_out();
                return;
            }
        }
    }
}

impl<W: Write> State<W> {
    /// Write what is pending now, on the calling thread. A line reaches the sink whole
    /// or not at all; while the writer thread holds the sink (mid-batch) the lines stay
    /// pending for it.
    fn write_out(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            let _ = sink.write_all(&self.pending).and_then(|()| sink.flush());
            self.pending.clear();
        }
    }
}

impl<W: Write> Write for BatchWriter<W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.shared.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'static> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter<W> {
    type Writer = BatchWriter<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl<W> Drop for BatchGuard<W> {
    fn drop(&mut self) {
        {
            let mut state = self
                .shared
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.stopping = true;
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink into a shared buffer, counting its writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(b);
            s.1 += 1;
            Ok(b.len())
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

    fn slow() -> Batching {
        Batching {
            interval: Duration::from_secs(3600),
            flush_bytes: 1 << 20,
            max_bytes: 1 << 20,
        }
    }

    #[test]
    fn every_line_of_every_thread_is_written_in_order_by_the_end() {
        let sink = Sink::default();
        let (writer, guard) = batched(sink.clone(), slow());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        w.write_all(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sink.text(), "", "nothing written before the interval");
        drop(guard);
        let text = sink.text();
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn lines_are_written_in_one_batch_after_the_interval() {
        let sink = Sink::default();
        let batching = Batching {
            interval: Duration::from_millis(100),
            ..slow()
        };
        let (mut writer, _guard) = batched(sink.clone(), batching);
        let start = Instant::now();
        for i in 0..100 {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        while sink.text().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(sink.text().lines().count(), 100);
        assert_eq!(sink.writes(), 1, "one write for the batch");
    }

    #[test]
    fn a_full_buffer_wakes_the_writer_early_and_pending_bytes_stay_bounded() {
        let sink = Sink::default();
        let batching = Batching {
            flush_bytes: 1000,
            max_bytes: 4000,
            ..slow()
        };
        let (mut writer, _guard) = batched(sink.clone(), batching);
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..100 {
            writer.write_all(&line).unwrap();
            let pending = writer.shared.lock().pending.len();
            assert!(pending <= 4000 + line.len(), "{pending} bytes pending");
        }
        let start = Instant::now();
        while sink.text().len() < 9000 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "writer not woken"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
