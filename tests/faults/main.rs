//! What a writer does when its spill store fails, at every point of a write.
//!
//! - Injected faults ([`sweep`], over [`harness`]'s workload): the N-th
//!   `create`, `put` or `take` fails, for every N of a small three-row-group
//!   workload, over the file store and the tiered store. The writer's
//!   `write`, `flush` or `close` returns the injected error, nothing panics,
//!   no partly written row group is reported (the flushed row groups and the
//!   bytes before them are exactly those of a clean write), and once the
//!   writer is dropped the spill file, the heap counters and the budget are
//!   all back to zero.
//! - Short and altered bytes from a (custom) store ([`corruption`]):
//!   parquet's splice catches the short ones; altered ones of the right
//!   length end up in the file. Our own file store checksums what it spills,
//!   so bytes altered on disk are an error (sampled at 50 offsets), and a
//!   truncated spill file too.
//! - Disk full ([`disk`]): a 1 MiB tmpfs when `mount` is permitted, and
//!   always a child process under `ulimit -f` (writes past the limit fail
//!   with `EFBIG`).
//! - Panics, an unusable or vanished spill directory, an exhausted budget
//!   ([`lifecycle`]).
//!
//! `lifecycle::an_empty_blob_taken_after_the_arena_drained`,
//! `lifecycle::a_zero_row_row_group_on_the_parallel_path` and
//! `lifecycle::closing_after_a_failed_write_is_an_error` are regressions for
//! panics the fault sweep found.

mod corruption;
mod disk;
mod harness;
mod lifecycle;
mod sweep;
