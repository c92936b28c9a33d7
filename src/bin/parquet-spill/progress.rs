//! Progress while converting: an indicatif bar on a terminal, plain periodic
//! lines when stderr is a log or a pipe, nothing with `--quiet`.
//!
//! Why a sampling thread: the figures worth watching (memory in use against
//! the limit, bytes spilled) live in atomics the writer updates itself, and
//! the longest silent stretch of a one-row-group conversion is the final
//! flush, when no batches arrive. A thread that samples those counters a few
//! times a second keeps the display alive through the flush without adding
//! work to the conversion loop.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use parquet_spill::SpillMonitor;
use peak_alloc::PeakAlloc;

use crate::units::{group_digits, human_bytes, rate};

/// How often the bar is refreshed.
const BAR_TICK: Duration = Duration::from_millis(150);

/// The counters progress is drawn from.
#[derive(Debug)]
pub struct Gauges {
    /// Rows handed to the writer.
    pub rows: Arc<AtomicU64>,
    /// Input bytes read (the readers count them).
    pub bytes_read: Arc<AtomicU64>,
    /// Input bytes in total.
    pub total_bytes: u64,
    /// Set once the input is exhausted and the writer is flushing.
    pub finishing: Arc<AtomicBool>,
    /// The planned writer's counters, with `--memory-limit`.
    pub monitor: Option<SpillMonitor>,
    /// The process's allocator, for heap in use.
    pub alloc: &'static PeakAlloc,
    pub started: Instant,
}

impl Gauges {
    pub fn new(total_bytes: u64, monitor: Option<SpillMonitor>, alloc: &'static PeakAlloc) -> Self {
        Self {
            rows: Arc::default(),
            bytes_read: Arc::default(),
            total_bytes,
            finishing: Arc::default(),
            monitor,
            alloc,
            started: Instant::now(),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes_read
            .load(Ordering::Relaxed)
            .min(self.total_bytes)
    }

    /// `1,234 rows · heap 95.2 MiB · budget 80.0 MiB of 128.0 MiB · spilled 1.2 GiB`
    fn status(&self) -> String {
        let mut parts = vec![
            format!("{} rows", group_digits(self.rows.load(Ordering::Relaxed))),
            format!("heap {}", human_bytes(self.alloc.current_usage() as u64)),
        ];
        if let Some(monitor) = &self.monitor {
            let stats = monitor.stats();
            parts.push(format!(
                "budget {} of {}",
                human_bytes(stats.budget.used as u64),
                human_bytes(stats.budget.limit as u64)
            ));
            parts.push(format!("spilled {}", human_bytes(stats.spilled_bytes)));
        }
        if self.finishing.load(Ordering::Relaxed) {
            parts.push("writing the last row group".into());
        }
        parts.join(" · ")
    }

    /// One plain line for logs.
    fn line(&self) -> String {
        let read = self.bytes_read();
        let percent = if self.total_bytes == 0 {
            100.0
        } else {
            read as f64 * 100.0 / self.total_bytes as f64
        };
        let elapsed = self.started.elapsed();
        format!(
            "parquet-spill: {:.0}s, read {} of {} ({percent:.0}%, {}) · {}",
            elapsed.as_secs_f64(),
            human_bytes(read),
            human_bytes(self.total_bytes),
            rate(read, elapsed),
            self.status()
        )
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Bar,
    Lines(Duration),
    Off,
}

impl Mode {
    /// A bar on a terminal, lines every `interval` otherwise, nothing if `quiet`.
    pub fn choose(quiet: bool, interval: Duration) -> Self {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines(interval)
        }
    }
}

/// The running display; stops (and clears the bar) when finished or dropped.
#[derive(Debug)]
pub struct Progress {
    stop: Option<mpsc::Sender<Stop>>,
    thread: Option<JoinHandle<()>>,
}

/// Why the display stops.
#[derive(Debug, PartialEq)]
enum Stop {
    /// The conversion succeeded.
    Finished,
    /// The conversion failed (the sender was dropped).
    Abandoned,
}

impl Progress {
    pub fn start(mode: Mode, gauges: Arc<Gauges>) -> Self {
        let (stop, stopped) = mpsc::channel::<Stop>();
        let thread = match mode {
            Mode::Off => None,
            Mode::Bar => Some(std::thread::spawn(move || draw_bar(&gauges, &stopped))),
            Mode::Lines(every) => Some(std::thread::spawn(move || {
                print_lines(&gauges, &stopped, every)
            })),
        };
        Self {
            stop: Some(stop),
            thread,
        }
    }

    /// The conversion succeeded: show the final counts (in lines mode) and stop.
    pub fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread may be gone already; then there is nothing to show.
            let _ = stop.send(Stop::Finished);
        }
        self.join();
    }

    fn join(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panicked display thread must not fail the conversion.
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    /// Dropped without [`finish`](Progress::finish), an error is on its way:
    /// stop quietly and leave it the last word.
    fn drop(&mut self) {
        self.join();
    }
}

/// Wait up to `timeout` for a stop; `None` to keep going.
fn stopped_within(stopped: &mpsc::Receiver<Stop>, timeout: Duration) -> Option<Stop> {
    match stopped.recv_timeout(timeout) {
        Ok(stop) => Some(stop),
        Err(RecvTimeoutError::Disconnected) => Some(Stop::Abandoned),
        Err(RecvTimeoutError::Timeout) => None,
    }
}

fn draw_bar(gauges: &Gauges, stopped: &mpsc::Receiver<Stop>) {
    let style = ProgressStyle::with_template(
        // Two lines, so the memory figures are not cut off on narrow terminals.
        "{spinner} {elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
         ({binary_bytes_per_sec})\n  {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar = ProgressBar::new(gauges.total_bytes).with_style(style);
    loop {
        bar.set_position(gauges.bytes_read());
        bar.set_message(gauges.status());
        bar.tick();
        if stopped_within(stopped, BAR_TICK).is_some() {
            break;
        }
    }
    bar.finish_and_clear();
}

fn print_lines(gauges: &Gauges, stopped: &mpsc::Receiver<Stop>, every: Duration) {
    let mut said_finishing = false;
    let mut next = Instant::now() + every;
    loop {
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        if let Some(stop) = stopped_within(stopped, wait) {
            if stop == Stop::Finished {
                // A last line, so a log always ends with the final counts.
                eprintln!("{}", gauges.line());
            }
            return;
        }
        let finishing = gauges.finishing.load(Ordering::Relaxed);
        if Instant::now() >= next || (finishing && !said_finishing) {
            eprintln!("{}", gauges.line());
            said_finishing |= finishing;
            next = Instant::now() + every;
        }
    }
}
