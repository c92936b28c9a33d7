//! [`ChildRunner`] and [`serve_child`]: one measurement per process.
//!
//! Why: allocators are global, and heap freed by an earlier writer may be
//! reused in ways that blur a later one, so each measurement runs in a fresh
//! copy of the current executable.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use parquet::errors::Result;

use super::scenario::invalid;
use super::{measure_write, Measurement, Scenario};
use crate::testkit::CountingAlloc;

/// What follows `tag` on the first line of a child's output that carries
/// it. libtest may print "test name ... " before a child's own text on the
/// same line, so the tag is searched for within lines, not at their start.
///
/// ```
/// use parquet_spill::testkit::measure::tagged_line;
/// let out = "running 1 test\ntest child ... RESULT heap=10 rss=12\nok\n";
/// assert_eq!(tagged_line(out, "RESULT "), Some("heap=10 rss=12"));
/// assert_eq!(tagged_line(out, "NONE "), None);
/// ```
pub fn tagged_line<'a>(out: &'a str, tag: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|line| line.find(tag).map(|at| &line[at + tag.len()..]))
}

/// The value of `key=value` among the whitespace-separated words of `line`,
/// parsed; `None` if it is missing or does not parse.
///
/// ```
/// use parquet_spill::testkit::measure::field;
/// assert_eq!(field::<u64>("heap=10 rss=12", "rss"), Some(12));
/// assert_eq!(field::<u64>("heap=10", "rss"), None);
/// ```
pub fn field<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
}

/// The environment variable carrying a [`Scenario`] to a child process.
///
/// ```
/// use parquet_spill::testkit::measure::{serve_child, SCENARIO_ENV};
/// use parquet_spill::testkit::CountingAlloc;
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// assert_eq!(SCENARIO_ENV, "PARQUET_SPILL_MEASURE_SCENARIO");
/// // Unset in a process no ChildRunner started, so serve_child has nothing to do.
/// assert!(std::env::var_os(SCENARIO_ENV).is_none());
/// assert_eq!(serve_child(&ALLOC)?, None);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub const SCENARIO_ENV: &str = "PARQUET_SPILL_MEASURE_SCENARIO";

/// Marks the line on which a child prints its [`Measurement`].
///
/// libtest may print other text before it on the same line, so the parent
/// looks for it anywhere in a line:
///
/// ```
/// use parquet_spill::testkit::measure::{Measurement, RESULT_PREFIX};
/// let measured = Measurement { output_bytes: 1234, row_groups: 1, ..Default::default() };
/// let stdout = format!("running 1 test\ntest measure_child ... {RESULT_PREFIX}{measured}\nok\n");
/// let line = parquet_spill::testkit::measure::tagged_line(&stdout, RESULT_PREFIX).unwrap();
/// assert_eq!(line.parse::<Measurement>()?, measured);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const RESULT_PREFIX: &str = "parquet-spill-measurement: ";

/// Runs measurements in fresh copies of the current executable.
///
/// The child gets the [`Scenario`] in [`SCENARIO_ENV`] and must call
/// [`serve_child`] first thing (see the [module example](super)). Two ways
/// to reach it:
///
/// - From an integration test, [`ChildRunner::test`] runs one named test of
///   the same binary, which calls `serve_child` and returns at once when the
///   variable is absent (in the ordinary test run):
///
///   ```no_run
///   // tests/memory.rs
///   use parquet_spill::testkit::measure::{self, ChildRunner, Scenario, Store};
///   use parquet_spill::testkit::CountingAlloc;
///   use parquet_spill::workloads::Workload;
///
///   #[global_allocator]
///   static ALLOC: CountingAlloc = CountingAlloc::new();
///
///   #[test]
///   fn measure_child() -> parquet::errors::Result<()> {
///       measure::serve_child(&ALLOC).map(drop)
///   }
///
///   #[test]
///   fn spilling_bounds_the_heap() {
///       let child = ChildRunner::test("measure_child").unwrap();
///       let scenario = Scenario::new(Workload::skewed_bytes(16 << 20), Store::file());
///       let measured = child.measure(&scenario).unwrap();
///       assert!(measured.peak_heap() < 8 << 20);
///   }
///   # fn main() {}
///   ```
///
/// - From any other binary, [`ChildRunner::current_exe`] re-runs it with
///   arguments of your choosing, e.g. a hidden `--measure-child` flag.
///
/// Works the same under `cargo test` and `cargo nextest run`: both run the
/// libtest binary, which accepts `<name> --exact`.
#[derive(Debug, Clone)]
pub struct ChildRunner {
    program: PathBuf,
    args: Vec<OsString>,
}

impl ChildRunner {
    /// Re-run this executable with `args`.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let runner = ChildRunner::current_exe(["--measure-child"])?;
    /// assert_eq!(runner.args(), ["--measure-child"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_exe<I, S>(args: I) -> io::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Ok(Self {
            program: std::env::current_exe()?,
            args: args.into_iter().map(Into::into).collect(),
        })
    }

    /// Re-run this test binary for the single test `name`
    /// (`<name> --exact --nocapture`).
    ///
    /// ```
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let runner = ChildRunner::test("measure_child")?;
    /// assert_eq!(runner.args(), ["measure_child", "--exact", "--nocapture"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn test(name: &str) -> io::Result<Self> {
        Self::current_exe([name, "--exact", "--nocapture"])
    }

    /// The arguments each child is started with (see [`current_exe`](Self::current_exe)).
    ///
    /// ```
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// assert!(ChildRunner::current_exe(Vec::<String>::new())?.args().is_empty());
    /// let runner = ChildRunner::test("measure_child")?;
    /// assert_eq!(runner.args()[0], "measure_child");
    /// assert_eq!(runner.args().len(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Measure `scenario` in a new child process and return what it printed.
    ///
    /// The [module example](super) shows a full round trip. Only
    /// [`Store::Default`](super::Store::Default) and
    /// [`Store::File`](super::Store::File) can be sent to a child:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::measure::{ChildRunner, Scenario, Store};
    /// use parquet_spill::workloads::Workload;
    /// use parquet_spill::InMemoryPageStoreFactory;
    ///
    /// let child = ChildRunner::current_exe(["--measure-child"])?;
    /// let custom = Store::Custom { name: "mine".into(), factory: Arc::new(InMemoryPageStoreFactory) };
    /// let err = child.measure(&Scenario::new(Workload::LowCardinality { rows: 10 }, custom)).unwrap_err();
    /// assert!(err.to_string().contains("in-process"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Fails if the scenario cannot be sent ([`Store::Custom`](super::Store::Custom)), the child
    /// cannot start, exits unsuccessfully, or prints no parsable
    /// [`RESULT_PREFIX`] line; the error includes the child's output.
    pub fn measure(&self, scenario: &Scenario) -> io::Result<Measurement> {
        let stdout = self
            .run(SCENARIO_ENV, &scenario.encode()?)
            .map_err(|e| io::Error::other(format!("measuring {}: {e}", scenario.label())))?;
        let line = tagged_line(&stdout, RESULT_PREFIX).ok_or_else(|| {
            io::Error::other(format!(
                "measuring {}: child printed no measurement:\n{stdout}",
                scenario.label()
            ))
        })?;
        line.parse().map_err(|e| {
            io::Error::other(format!(
                "measuring {}: bad measurement line: {e}",
                scenario.label()
            ))
        })
    }

    /// Run the child with `key=value` in its environment and read the
    /// [`PlannedWrite`](super::PlannedWrite) it printed after `tag`; no
    /// such line is an error carrying its stdout.
    ///
    /// ```no_run
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let w = ChildRunner::test("my_child_test")?.planned_write("MY_CASE", "a,1", "MINE ")?;
    /// assert!(!w.over(64 << 20));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn planned_write(
        &self,
        key: &str,
        value: &str,
        tag: &str,
    ) -> io::Result<super::PlannedWrite> {
        let out = self.run(key, value)?;
        super::PlannedWrite::from_child(&out, tag).ok_or_else(|| {
            io::Error::other(format!(
                "{value}: no {tag:?} line:
{out}"
            ))
        })
    }

    /// Run the child with `key=value` in its environment and return its
    /// stdout; an unsuccessful exit is an error carrying both outputs.
    ///
    /// ```no_run
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let out = ChildRunner::test("my_child_test")?.run("MY_CHILD", "1")?;
    /// assert!(out.contains("my-result"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Unless the parent sets `GLIBC_TUNABLES` itself, the child runs with
    /// [`crate::rss::GLIBC_TUNABLES`], so its resident set follows its heap.
    pub fn run(&self, key: &str, value: &str) -> io::Result<String> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env(key, value)
            .stdin(Stdio::null());
        if std::env::var_os("GLIBC_TUNABLES").is_none() {
            command.env("GLIBC_TUNABLES", crate::rss::GLIBC_TUNABLES);
        }
        let output = command.output()?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "{} {:?} exited with {}\n--- child stdout ---\n{stdout}\n--- child stderr ---\n{}",
                self.program.display(),
                self.args,
                output.status,
                String::from_utf8_lossy(&output.stderr),
            )));
        }
        Ok(stdout)
    }
}

/// The scenario a [`ChildRunner`] asked this process to measure, if any:
/// for a child that prepares something first (an allocator's bound, say)
/// before [`serve_child`].
///
/// ```
/// use parquet_spill::testkit::measure;
/// // Not started by a ChildRunner: nothing requested.
/// assert!(measure::requested_scenario()?.is_none());
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
///
/// # Errors
///
/// Fails if [`SCENARIO_ENV`] does not hold a valid scenario.
pub fn requested_scenario() -> Result<Option<Scenario>> {
    let Some(encoded) = std::env::var_os(SCENARIO_ENV) else {
        return Ok(None);
    };
    let encoded = encoded
        .into_string()
        .map_err(|_| invalid(format!("{SCENARIO_ENV} is not UTF-8")))?;
    Ok(Some(Scenario::decode(&encoded)?))
}

/// The child side of [`ChildRunner`]: if [`SCENARIO_ENV`] is set, measure
/// that scenario with [`measure_write`], print the result after
/// [`RESULT_PREFIX`] on stdout and return it; otherwise return `Ok(None)` at
/// once. See the [module example](super) for a child that measures.
///
/// ```
/// use parquet_spill::testkit::{measure, CountingAlloc};
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// // Not started by a ChildRunner: nothing to do.
/// assert!(std::env::var_os(measure::SCENARIO_ENV).is_none());
/// assert_eq!(measure::serve_child(&ALLOC)?, None);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
///
/// # Errors
///
/// Fails if the variable does not hold a valid scenario or the measurement fails.
pub fn serve_child(alloc: &'static CountingAlloc) -> Result<Option<Measurement>> {
    let Some(scenario) = requested_scenario()? else {
        return Ok(None);
    };
    let measured = measure_write(alloc, &scenario)?;
    println!("{RESULT_PREFIX}{measured}");
    Ok(Some(measured))
}
