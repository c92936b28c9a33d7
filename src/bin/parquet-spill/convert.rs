//! `parquet-spill convert`: inputs → one Parquet file, within a memory limit.
//!
//! Why this order of steps: everything that can be checked cheaply is
//! checked before any data is converted — inputs exist and have one schema,
//! the spill and output directories are writable, the memory limit fits the
//! schema — so a mistake costs a second, not a half-finished hour. Then the
//! writer is planned again with the first batch as a sample (its lists'
//! rows), and the batches stream through one `ParallelWriter` encoding on `--threads`
//! threads (with a `SpillPlan`'s options when `--memory-limit` is given;
//! the output is `ArrowWriter`'s, byte for byte), and the output is renamed
//! into place only after the footer is written (and synced, with `--fsync`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet_spill::{
    FileStoreFactory, MemoryBudget, PageStoreFactory, ParallelWriter, SpillMonitor, SpillOptions,
    WriteAllError, PARALLEL_QUEUED_BATCHES,
};
use peak_alloc::PeakAlloc;

use crate::cli::ConvertArgs;
use crate::input::{self, BatchSize, HeldInput, Input, Probed, TextOptions};
use crate::output::{self, Durability, OutputWriter, TempOutput};
use crate::progress::{Gauges, Mode, Progress};
use crate::report::{self, Report, ReportFile};
use crate::settings;
use crate::units::{human_bytes, size_arg_rounded_up};

/// Convert `args.inputs` into `args.output`; print and return the report.
pub fn run(args: &ConvertArgs, alloc: &'static PeakAlloc) -> Result<Report> {
    let started = Instant::now();
    let baseline_rss = parquet_spill::rss::reset_peak();
    let inputs = args
        .inputs
        .iter()
        .map(|path| Input::resolve(path, args.format))
        .collect::<Result<Vec<_>>>()?;
    if let Some(dir) = &args.spill_dir {
        check_spill_dir(dir)?;
    }
    let durability = if args.fsync {
        Durability::Synced
    } else {
        Durability::Written
    };
    let report_file = args
        .report_json
        .as_deref()
        .map(ReportFile::create)
        .transpose()?;
    let output = TempOutput::create(
        &args.output,
        output::chunk_bytes(args.memory_limit),
        durability,
    )?;
    let text = TextOptions {
        schema: args.schema.clone(),
        infer_rows: args.infer_rows,
    };
    let probed = inputs
        .iter()
        .map(|input| input.probe(&text, args.memory_limit))
        .collect::<Result<Vec<_>>>()?;
    let schema = input::common_schema(&probed)?;
    let input_bytes = inputs.iter().map(|i| i.size).sum();
    let props = settings::writer_properties(args, &schema)?;
    let batch_rows = batch_rows(args, &probed)?;
    let budget = || {
        args.memory_limit
            .map(|l| MemoryBudget::new(usize::try_from(l).unwrap_or(usize::MAX)))
    };
    // A limit too small for the schema is refused before any batch is read
    // (a Parquet input's reader or an IPC file's whole batch may hold more
    // than the limit): planned from the schema alone first, in a budget of
    // its own, then planned again below with the first batch.
    writer_options(args, props.clone(), &schema, &batch_rows, budget(), None, 0)?;
    let budget = budget();
    // No room planned for the first batch yet: the budget holds it until
    // the plan does ([`HeldInput::plan_room`]).
    let mut held = HeldInput::new(
        budget.as_ref(),
        0,
        args.memory_limit.map_or(usize::MAX, |l| {
            usize::try_from(batch_target(l)).unwrap_or(usize::MAX)
        }),
    )?
    .with_encoders_elsewhere(threads(args) > 1);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let mut reader = Reader {
        schema: &schema,
        inputs: probed.iter().zip(&batch_rows.rows),
        reading: None,
        bytes_read: Arc::clone(&bytes_read),
    };
    // The writer is planned with the first batch as its sample
    // (`SpillOptions::sample`): the schema cannot tell how many values a
    // list's rows hold, and lists of many a row (embeddings, JSON arrays)
    // stopped at the first batch with `PageTooManyValues` where planned
    // from the schema alone. The batch is read as every batch is (sized
    // from the limit, within `held`'s room, which either plan reserves)
    // and written first, admitted like the rest.
    let first = reader.next(&mut held).transpose()?;
    let sample = first.as_ref().map(|(batch, _)| batch);
    // The first batch may hold more than the input's planned room (an IPC
    // stream's batches are as the stream has them): the writer is planned
    // with that much more room for input, which the plan then holds (at 64
    // and 96 MiB such a stream's first batch held 27 / 23 MiB beyond it,
    // and the plan, made for the limit as if it were not there, did not
    // fit beside it: "memory budget exhausted", no minimum named).
    let beyond = held.plan_room(batch_rows.reserve);
    let planned = writer_options(args, props, &schema, &batch_rows, budget, sample, beyond)?;
    let options = planned.options;

    let mut gauges = Gauges::new(input_bytes, planned.monitor.clone(), alloc);
    gauges.bytes_read = bytes_read;
    let gauges = Arc::new(gauges);
    // Between 50 ms and a day (`try_from` refuses what is not finite).
    let interval = Duration::try_from_secs_f64(args.progress_interval.clamp(0.05, 86_400.0))
        .unwrap_or(Duration::from_secs(86_400));
    let mut progress = Progress::start(Mode::choose(args.quiet, interval), Arc::clone(&gauges));
    let mut writer =
        ParallelWriter::try_new_with_options(output.writer(), Arc::clone(&schema), options)
            .with_context(|| writing(args))?
            .with_threads(threads(args));
    if let Some(monitor) = &planned.monitor {
        // Each batch makes room before it is encoded (for its long values,
        // and to encode it, in parts if need be), or is refused.
        writer = writer.with_monitor(monitor.clone());
    }
    let metadata = write(writer, reader, first, held, args, &gauges)?;
    progress.finish();
    let (output_bytes, _background_syncs) = output.commit()?;

    let stats = planned.monitor.as_ref().map(SpillMonitor::stats);
    let spill = planned.spill.as_ref().map(|f| f.stats());
    let report = Report {
        inputs: args.inputs.clone(),
        output: args.output.clone(),
        rows: metadata.file_metadata().num_rows().max(0) as u64,
        row_groups: metadata.num_row_groups() as u64,
        columns: schema.fields().len() as u64,
        input_bytes,
        output_bytes,
        compression: args.compression.to_string(),
        memory_limit: args.memory_limit,
        peak_heap: alloc.peak_usage() as u64,
        budget_peak: stats.map(|s| s.budget.peak as u64),
        peak_rss: report::peak_rss(),
        baseline_rss,
        bytes_spilled: spill.map_or(0, |s| s.bytes_spilled),
        spill_file_peak: spill.map_or(0, |s| s.peak_file_len),
        planned_page_size: planned.page_size,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(file) = report_file {
        file.write(&report, args.fsync)?;
    }
    if !args.quiet {
        println!("{report}");
    }
    Ok(report)
}

/// What a writer's errors are wrapped in.
fn writing(args: &ConvertArgs) -> String {
    format!("writing {}", args.output.display())
}

/// The inputs' batches, one input after another, in the writer's schema.
struct Reader<'a> {
    schema: &'a SchemaRef,
    inputs: std::iter::Zip<std::slice::Iter<'a, Probed>, std::slice::Iter<'a, BatchSize>>,
    reading: Option<(&'a Probed, input::Batches)>,
    bytes_read: Arc<AtomicU64>,
}

impl<'a> Reader<'a> {
    /// The next batch and its input, read within `held`'s room; not
    /// admitted to it yet ([`HeldInput::admit`]).
    fn next(&mut self, held: &mut HeldInput) -> Option<Result<(RecordBatch, &'a Probed)>> {
        loop {
            let (input, batches) = match &mut self.reading {
                Some(reading) => reading,
                None => {
                    let (input, &size) = self.inputs.next()?;
                    match input.batches(size, Arc::clone(&self.bytes_read), held) {
                        Ok(batches) => self.reading.insert((input, batches)),
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            held.before_read();
            let Some(batch) = batches.next() else {
                self.reading = None;
                continue;
            };
            let input = *input;
            return Some(batch.and_then(|batch| Ok((input::conform(self.schema, batch)?, input))));
        }
    }
}

/// Stream `first` (the batch the plan sampled) and the rest of `reader`'s
/// batches through `writer`; return the file's metadata.
fn write(
    mut writer: ParallelWriter<OutputWriter>,
    mut reader: Reader,
    mut first: Option<(RecordBatch, &Probed)>,
    mut held: HeldInput,
    args: &ConvertArgs,
    gauges: &Gauges,
) -> Result<ParquetMetaData> {
    let writing = || writing(args);
    let mut slices = std::collections::VecDeque::<RecordBatch>::new();
    // One stream of batches, so the writer splices each full row group
    // while the next is encoded (`write_all`).
    let batches = std::iter::from_fn(|| loop {
        if let Some(slice) = slices.pop_front() {
            gauges
                .rows
                .fetch_add(slice.num_rows() as u64, Ordering::Relaxed);
            return Some(Ok(slice));
        }
        let read = match first.take() {
            Some(first) => Ok(first),
            None => reader.next(&mut held)?,
        };
        let admitted = read.and_then(|(batch, input)| {
            held.admit(batch)
                .with_context(|| format!("reading {}", input.input.path.display()))
        });
        match admitted {
            Ok(admitted) => slices.extend(admitted),
            Err(e) => return Some(Err(WriteAllError::Input(e))),
        }
    });
    writer.write_all(batches).map_err(|e| match e {
        WriteAllError::Input(e) => e,
        WriteAllError::Writer(e) => anyhow::Error::new(e).context(writing()),
    })?;
    gauges.finishing.store(true, Ordering::Relaxed);
    writer.finish().with_context(writing)
}

/// `--threads`, or every core.
fn threads(args: &ConvertArgs) -> usize {
    args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n.get(),
    )
}

/// Input each read batch may hold: a share of `--memory-limit` (a batch of a
/// 1,500-column CSV is a gigabyte at 8,192 rows), at most 4 MiB of input.
const BATCH_SHARE: u64 = 64;
/// In memory the batch being read costs more than its bytes of input: the
/// reader's buffers, the parsed arrays (offsets, validity, 8-byte numbers)
/// and the conversion to the output schema.
const BATCH_OVERHEAD: u64 = 4;
/// A parsed batch the writer still encodes (it holds
/// [`PARALLEL_QUEUED_BATCHES`] of them) costs about twice its input bytes.
const QUEUED_OVERHEAD: u64 = 2;

/// Rows (and input bytes) per read batch for each input, and the memory
/// the batches need.
struct BatchRows {
    rows: Vec<BatchSize>,
    reserve: usize,
    /// The most two consecutive batches a reader reads whole hold (an IPC
    /// file's), bytes.
    whole: u64,
    /// The most an input's reader holds beside its batches (inputs are read
    /// one at a time), bytes, and that input.
    reader: u64,
    reader_input: Option<(PathBuf, input::Kind)>,
    /// The CSV inputs read in planned batches: columns and bytes per row
    /// ([`BatchRows::decoder_at`]).
    csv: Vec<(usize, f64)>,
    /// The bytes the inputs hold decoded, where they tell (else their
    /// size): the writer's expected file size, which sizes its pages and
    /// the page metadata it reserves.
    expected_output: u64,
}

impl BatchRows {
    /// What the CSV decoder holds for batches planned at `limit`
    /// ([`Probed::decoder_bytes`]: every field of the batch, sized before
    /// it is read), for the input that needs most.
    fn decoder_at(&self, limit: u64) -> u64 {
        let target = batch_target(limit);
        self.csv
            .iter()
            .map(|&(columns, bytes_per_row)| {
                input::csv_decoder_bytes(planned_rows(target, bytes_per_row), columns)
            })
            .max()
            .unwrap_or(0)
    }
}

/// Rows of a read batch of about `target` bytes of input.
fn planned_rows(target: u64, bytes_per_row: f64) -> usize {
    ((target as f64 / bytes_per_row.max(1.0)) as usize).clamp(1, input::MAX_BATCH_ROWS)
}

/// With a limit, size read batches within it and reserve their memory;
/// `--batch-rows` (or no limit) keeps the readers' defaults.
fn batch_rows(args: &ConvertArgs, inputs: &[Probed]) -> Result<BatchRows> {
    let Some(limit) = args.memory_limit else {
        return Ok(BatchRows {
            rows: vec![
                BatchSize {
                    rows: args.batch_rows.map(|n| n.get()),
                    bytes: None,
                };
                inputs.len()
            ],
            reserve: 0,
            whole: 0,
            reader: 0,
            reader_input: None,
            csv: Vec::new(),
            expected_output: inputs.iter().map(|p| p.input.size).sum(),
        });
    };
    // Inputs are read one at a time: the most any needs. Counted only under
    // a limit: a Parquet input's page headers and dictionaries are read for
    // it, and a compressed IPC file's buffer lengths.
    let whole = inputs.iter().try_fold(0, |most, p| {
        Ok::<_, anyhow::Error>(most.max(p.whole_batches()?))
    })?;
    let readings = inputs
        .iter()
        .map(Probed::reading)
        .collect::<Result<Vec<_>>>()?;
    let (reader, reader_input) = inputs
        .iter()
        .zip(&readings)
        .filter(|(_, r)| r.held > 0)
        .max_by_key(|(_, r)| r.held)
        .map_or((0, None), |(p, r)| {
            (r.held, Some((p.input.path.clone(), p.input.kind)))
        });
    let expected_output = inputs
        .iter()
        .zip(&readings)
        .map(|(p, r)| {
            r.decoded_bytes
                .map_or(p.input.size, |d| d.max(p.input.size))
        })
        .fold(0u64, u64::saturating_add);
    // A Parquet input's rows as they decode, not as its footer counts them.
    let bytes_per_row: Vec<Option<f64>> = inputs
        .iter()
        .zip(&readings)
        .map(|(p, r)| r.bytes_per_row.or(p.bytes_per_row))
        .collect();
    if let Some(rows) = args.batch_rows {
        // The caller's rows, reserved as planned batches are where an input
        // tells its row size (text and Parquet; IPC batches are read as
        // written): a batch of 1,048,576 wide CSV rows is refused up front,
        // not read past the limit and stopped.
        let planned = |(p, per_row): (&Probed, &Option<f64>)| {
            let bytes = ((*per_row)? * rows.get() as f64) as u64;
            // A text batch holds no more rows than its file.
            Some(match p.input.kind.is_text() {
                true => bytes.min(p.input.size),
                false => bytes,
            })
        };
        let batch = inputs
            .iter()
            .zip(&bytes_per_row)
            .filter_map(planned)
            .max()
            .unwrap_or(0);
        // Inputs are read one at a time: the largest decoder.
        let decoder = inputs
            .iter()
            .map(|p| (p.decoder_bytes(rows.get()), p))
            .max_by_key(|(bytes, _)| *bytes)
            .filter(|(bytes, _)| *bytes > reader);
        let (reader, reader_input) = match decoder {
            Some((bytes, p)) => (bytes, Some((p.input.path.clone(), p.input.kind))),
            None => (reader, reader_input),
        };
        return Ok(BatchRows {
            // A text batch's input bytes are held to what was reserved for
            // it (the sampled row size; a share of the limit when the sample
            // held no row).
            rows: inputs
                .iter()
                .zip(&bytes_per_row)
                .map(|input| BatchSize {
                    rows: Some(rows.get()),
                    bytes: Some(planned(input).unwrap_or_else(|| batch_target(limit)).max(1)),
                })
                .collect(),
            reserve: batch_reserve(batch, whole),
            whole,
            reader,
            reader_input,
            csv: Vec::new(),
            expected_output,
        });
    }
    let target = batch_target(limit);
    let rows = bytes_per_row
        .iter()
        .map(|per_row| BatchSize {
            rows: per_row.map(|bytes| planned_rows(target, bytes)),
            bytes: Some(target),
        })
        .collect();
    let csv = inputs
        .iter()
        .filter(|p| p.input.kind == input::Kind::Csv)
        .filter_map(|p| Some((p.schema.fields().len(), p.bytes_per_row?)))
        .collect();
    Ok(BatchRows {
        rows,
        reserve: batch_reserve(target, whole),
        whole,
        reader,
        reader_input,
        csv,
        expected_output,
    })
}

/// Input bytes per read batch at `limit`.
fn batch_target(limit: u64) -> u64 {
    (limit / BATCH_SHARE).clamp(64 << 10, 4 << 20)
}

/// Memory the batches in flight need, each of `batch` bytes of input: the
/// one being read and those the writer still encodes; at least the `whole`
/// batches a reader reads whole (one being read while the writer still
/// holds slices of the one before).
fn batch_reserve(batch: u64, whole: u64) -> usize {
    let per_batch = BATCH_OVERHEAD + QUEUED_OVERHEAD * PARALLEL_QUEUED_BATCHES as u64;
    let bytes = batch.saturating_mul(per_batch).max(whole);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// The writer options, and with `--memory-limit` the handles to report on it.
struct Planned {
    options: ArrowWriterOptions,
    monitor: Option<SpillMonitor>,
    spill: Option<Arc<FileStoreFactory>>,
    page_size: Option<u64>,
}

/// Parquet's defaults without a limit; with one (and its `budget`), a
/// planned, spilling writer, its list leaves' pages planned from `sample`.
fn writer_options(
    args: &ConvertArgs,
    props: WriterProperties,
    schema: &SchemaRef,
    batches: &BatchRows,
    budget: Option<MemoryBudget>,
    sample: Option<&RecordBatch>,
    held_beyond: usize,
) -> Result<Planned> {
    let (Some(limit), Some(budget)) = (args.memory_limit, budget) else {
        return Ok(Planned {
            options: ArrowWriterOptions::new().with_properties(props),
            monitor: None,
            spill: None,
            page_size: None,
        });
    };
    let spill = Arc::new(match &args.spill_dir {
        Some(dir) => FileStoreFactory::in_dir(dir)?,
        None => FileStoreFactory::new()?,
    });
    let backend = Arc::clone(&spill) as Arc<dyn PageStoreFactory>;
    // The batches' reservation, the allocator's kept blocks and the output's
    // buffers grow with the limit, so a refusal's minimum is searched for
    // with the reservation the minimum itself would get. The reader's own
    // state (a Parquet input's pages) does not.
    let reserve_at = |limit: u64| {
        let input = match args.batch_rows {
            Some(_) => batches.reserve,
            None => batch_reserve(batch_target(limit), batches.whole)
                .saturating_add(usize::try_from(batches.decoder_at(limit)).unwrap_or(usize::MAX)),
        };
        input
            .saturating_add(usize::try_from(batches.reader).unwrap_or(usize::MAX))
            .saturating_add(crate::recycle_bound(Some(limit)))
            .saturating_add(output::buffer_bytes(Some(limit)))
    };
    // With what the input holds beyond its room ([`HeldInput::plan_room`]).
    let plan_in = |budget: MemoryBudget, props: WriterProperties| {
        let reserve = reserve_at(budget.limit() as u64).saturating_add(held_beyond);
        let options = SpillOptions::shared(budget, 1)
            .properties(props)
            .reserve(reserve)
            .threads(threads(args))
            .expected_file_bytes(batches.expected_output)
            .backend(Arc::clone(&backend));
        match sample {
            Some(batch) => options.sample(batch),
            None => options,
        }
        .plan(schema)
    };
    // What the first batch needs that `plan` cannot make room for, where
    // it cannot: the batch admitted as the writer would admit it, in a
    // plan of its own. A plan fits the schema and the batch's shape, but
    // not what its longest values need to be written (a Parquet input of
    // 24 MiB strings was refused naming 174 MiB, then stopped there at
    // its first row, which needed 126 MiB: a review's finding).
    let batch_short = |plan: &parquet_spill::SpillPlan| {
        let batch = sample?;
        match plan.monitor().admit_in_parts(batch) {
            Ok(_) => None,
            Err(err) => Some(match err {
                parquet_spill::Error::BatchTooLarge { needed, .. }
                | parquet_spill::Error::PageTooLong { needed, .. }
                | parquet_spill::Error::PageTooManyValues { needed, .. } => needed,
                parquet_spill::Error::PageMetadataExhausted { requested, .. } => requested,
                // Room it does not say how much of.
                _ => 0,
            }),
        }
    };
    // The smallest limit, from `first` up, whose plan fits and admits the
    // first batch.
    let budget_of = |limit: u64| MemoryBudget::new(usize::try_from(limit).unwrap_or(usize::MAX));
    let minimum = |props: &WriterProperties, first: usize| {
        let mut candidate = first as u64;
        for _ in 0..64 {
            let budget = budget_of(candidate);
            let step = candidate.saturating_add((candidate >> 6) + 1);
            match plan_in(budget, props.clone()) {
                Err(parquet_spill::Error::BudgetTooSmall { minimum, .. }) => {
                    candidate = (minimum as u64).max(step);
                }
                Ok(plan) => match batch_short(&plan) {
                    // Half what it lacked (an eighth of the limit where the
                    // error does not say): a plan takes more of a larger
                    // limit for itself, so the whole may not do.
                    Some(needed) => {
                        let more = match needed as u64 {
                            0 => candidate >> 3,
                            n => n / 2,
                        };
                        candidate = step.max(candidate.saturating_add(more));
                    }
                    None => break,
                },
                _ => break,
            }
        }
        candidate
    };
    let plan = plan_in(budget.clone(), props.clone()).map_err(|err| match err {
        parquet_spill::Error::BudgetTooSmall {
            columns,
            minimum: first,
            alternative,
            ..
        } => {
            let needed = minimum(&props, first);
            let cheaper = alternative.map(|a| {
                let lz4 = props
                    .clone()
                    .into_builder()
                    .set_compression(parquet::basic::Compression::LZ4_RAW)
                    .build();
                minimum(&lz4, a.minimum)
            });
            // An input's reader needs the same whatever the codec written.
            let reading =
                match &batches.reader_input {
                    Some((input, kind)) => format!(
                    " (of it, {} for reading {}: {})",
                    human_bytes(batches.reader),
                    input.display(),
                    match kind {
                        input::Kind::IpcFile => "its dictionaries, read whole before its first \
                                                 batch and kept to the end",
                        input::Kind::Parquet => "what its reader holds beside its batches, its \
                                                 largest page, dictionary and codec context per \
                                                 column",
                        _ => "what its reader holds beside its batches, a CSV decoder's 24 bytes \
                              a field of the --batch-rows asked",
                    }
                ),
                    None => String::new(),
                };
            let first_batch = match held_beyond {
                0 => String::new(),
                bytes => format!(
                    "; it holds {} for the first input batch, beyond the room planned for input \
                     batches (smaller input batches need less)",
                    human_bytes(bytes as u64)
                ),
            };
            anyhow!(
                "--memory-limit {} is too small for {columns} leaf columns with {}: the smallest \
                 limit that works is {}{reading} (try --memory-limit {}){first_batch}{}",
                human_bytes(limit),
                args.compression,
                human_bytes(needed),
                size_arg_rounded_up(needed),
                cheaper
                    .map(|m| format!(
                        "; with lz4_raw, which keeps no codec state, {} is enough \
                         (--compression lz4_raw --memory-limit {})",
                        human_bytes(m),
                        size_arg_rounded_up(m)
                    ))
                    .unwrap_or_default()
            )
        }
        other => anyhow::Error::new(other).context(format!(
            "planning the writer for --memory-limit {}",
            human_bytes(limit)
        )),
    })?;
    // The first batch, in a plan of its own at the same limit (the real
    // one is not touched: the writer admits the batch itself).
    let own = sample.and_then(|_| plan_in(budget_of(limit), props.clone()).ok());
    if let Some(needed) = own.as_ref().and_then(batch_short) {
        let minimum = minimum(&props, limit.saturating_add(1) as usize);
        let needs = match needed {
            0 => String::from("more room"),
            n => human_bytes(n as u64),
        };
        bail!(
            "--memory-limit {} is too small for this input's first batch of {} row{}: writing \
             it needs {needs}, more than the plan leaves (for its longest values, and the \
             statistics kept of them); the smallest limit that works is {} (try --memory-limit \
             {}), or use smaller input batches",
            human_bytes(limit),
            sample.map_or(0, RecordBatch::num_rows),
            if sample.is_some_and(|b| b.num_rows() == 1) {
                ""
            } else {
                "s"
            },
            human_bytes(minimum),
            size_arg_rounded_up(minimum),
        );
    }
    drop(own);
    Ok(Planned {
        monitor: Some(plan.monitor()),
        page_size: Some(plan.page_size() as u64),
        options: plan.into_writer_options(),
        spill: Some(spill),
    })
}

/// Fail early, naming the directory, if spill files cannot be created there.
fn check_spill_dir(dir: &Path) -> Result<()> {
    tempfile::tempfile_in(dir)
        .map(drop)
        .with_context(|| format!("spill directory {} is not writable", dir.display()))
}
