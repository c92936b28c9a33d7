//! The encoder planner: fit parquet's own buffers to a memory budget.
//!
//! Why: spilling pages is necessary but not sufficient. Every leaf column's
//! encoder holds a data page under construction (up to
//! `data_page_size_limit`, in a `Vec` that doubles as it grows) and a
//! dictionary (up to `dictionary_page_size_limit` of values plus a hash table).
//! With the defaults (1 MiB each) a 1,500-column schema needs gigabytes before
//! a single page is stored anywhere. And every finished page leaves a few
//! hundred bytes of page-index and bookkeeping on the heap until the file is
//! closed, so shrinking pages too far costs memory again.
//!
//! The planner chooses the largest page size whose estimated encoder memory
//! plus page metadata fits a share of the budget, sets per-column dictionary
//! limits so a dictionary's hash table costs no more than a page, caps bloom
//! filters, and reserves the estimate from the [`MemoryBudget`](crate::MemoryBudget); the rest of
//! the budget is left to the [`TieredStoreFactory`](crate::TieredStoreFactory)'s pages.
//!
//! The cost model's constants were measured with a counting allocator on
//! parquet 60.1 (`tests/budget_memory.rs` checks the resulting plans against
//! measured peaks): an encoder keeps about two page sizes
//! (the page buffer's doubling capacity, then the compression output) plus
//! its dictionary, and each finished page keeps about 100 bytes of offset
//! index, page handles and spill slots, plus about `2 × (24 + truncate
//! length)` bytes of column index when page statistics are on.

use std::fmt;

use arrow_schema::Schema;
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::Type as PhysicalType;
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, DEFAULT_BLOOM_FILTER_NDV,
    DEFAULT_COLUMN_INDEX_TRUNCATE_LENGTH, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_BATCH_SIZE,
};
use parquet::schema::types::ColumnDescriptor;

use crate::error::{Error, Result};

/// Page sizes the planner tries, largest first.
const PAGE_LADDER: [usize; 9] = [
    1 << 20,
    512 << 10,
    256 << 10,
    128 << 10,
    64 << 10,
    32 << 10,
    16 << 10,
    8 << 10,
    4 << 10,
];
/// Heap an encoder keeps per byte of page size (growing buffer + compression output).
const PAGE_FACTOR: usize = 2;
/// Heap an encoder keeps whatever its limits (statistics, level encoders, structs).
const COLUMN_FIXED: usize = 12 << 10;
/// Bytes of hash table per dictionary entry.
const DICT_ENTRY_OVERHEAD: usize = 16;
/// Heap each finished page keeps until the file closes, without a column index.
const PAGE_METADATA: usize = 100;
/// Column index cost per page beyond the min/max bytes themselves.
const COLUMN_INDEX_FIXED: usize = 2 * 24 + 16;
/// Transient heap while one page is compressed and handed over, in page sizes.
const TRANSIENT_PAGES: usize = 4;
/// Truncation the planner uses for the column index when the budget is tight.
const TIGHT_TRUNCATE: usize = 16;

/// What the planner decided for one setting, and why.
///
/// ```
/// use parquet_spill::plan::PlanChange;
/// let c = PlanChange { column: None, setting: "data_page_size_limit", from: "1048576".into(), to: "65536".into() };
/// assert_eq!(c.to_string(), "data_page_size_limit: 1048576 -> 65536");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The column path, or `None` for a file-wide setting.
    pub column: Option<String>,
    /// The `WriterProperties` setting.
    pub setting: &'static str,
    /// The caller's value.
    pub from: String,
    /// The planned value.
    pub to: String,
}

impl fmt::Display for PlanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{c}: {}: {} -> {}", self.setting, self.from, self.to),
            None => write!(f, "{}: {} -> {}", self.setting, self.from, self.to),
        }
    }
}

/// The planner's memory estimate, in bytes.
///
/// ```
/// let e = parquet_spill::plan::Estimate::default();
/// assert_eq!(e.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Estimate {
    /// Page and dictionary buffers of every leaf column's encoder.
    pub encoders: usize,
    /// Page index and page handles for the expected file size.
    pub page_metadata: usize,
    /// One page being compressed and handed to the store.
    pub transient: usize,
    /// Bloom filter bitsets.
    pub bloom_filters: usize,
}

impl Estimate {
    /// The sum of all parts.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let e = parquet_spill::SpillOptions::new(64 << 20).plan(&schema)?.estimate();
    /// assert_eq!(e.total(), e.encoders + e.page_metadata + e.transient + e.bloom_filters);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn total(&self) -> usize {
        self.encoders
            .saturating_add(self.page_metadata)
            .saturating_add(self.transient)
            .saturating_add(self.bloom_filters)
    }
}

/// Settings the caller fixed exactly (through `SpillOptions`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fixed {
    pub data_page: Option<usize>,
    pub dictionary_page: Option<usize>,
    pub write_batch: Option<usize>,
}

/// The planner's inputs.
#[derive(Debug, Clone)]
pub(crate) struct PlanInput<'a> {
    pub schema: &'a Schema,
    pub props: WriterProperties,
    pub fixed: Fixed,
    /// Bytes the planner may use for encoders (the rest goes to pages).
    pub allowance: usize,
    /// The most it may take if the preferred share does not fit.
    pub max_allowance: usize,
    /// Expected bytes of encoded data in the file (drives page metadata).
    pub expected_bytes: u64,
    /// Whether `max_allowance` is the whole limit the user gave (for the error).
    pub limit: usize,
    /// Share of the limit `max_allowance` stands for.
    pub max_share: f64,
}

/// The planner's output.
#[derive(Debug, Clone)]
pub(crate) struct PlanOutput {
    pub props: WriterProperties,
    pub estimate: Estimate,
    pub changes: Vec<PlanChange>,
    pub page_size: usize,
}

struct Leaf<'a> {
    descr: &'a ColumnDescriptor,
    /// Bytes per value for fixed-width types; `None` for byte arrays.
    width: Option<usize>,
    dictionary: bool,
    statistics: EnabledStatistics,
    bloom: Option<(u64, f64)>,
}

/// Settings for one candidate page size and column-index truncation.
struct Candidate {
    page: usize,
    truncate: Option<usize>,
    estimate: Estimate,
}

pub(crate) fn plan(input: PlanInput<'_>) -> Result<PlanOutput> {
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(input.props.coerce_types())
        .convert(input.schema)
        .map_err(Error::Schema)?;
    let leaves: Vec<Leaf<'_>> = parquet_schema
        .columns()
        .iter()
        .map(|d| leaf(d, &input.props))
        .collect();
    if leaves.is_empty() {
        return Err(Error::EmptySchema);
    }
    let fixed = input.fixed;
    // The caller's page size: exact if fixed, else the properties' values
    // as an upper bound (the largest candidate, even off the ladder).
    let cap = page_cap(&input.props, &leaves);
    let caller_page = fixed
        .data_page
        .or(Some(cap).filter(|c| !PAGE_LADDER.contains(c)));
    let caller_truncate = input.props.column_index_truncate_length();
    // Tighter column-index truncation is only tried when the caller left the default.
    let truncations: Vec<Option<usize>> = if caller_truncate == DEFAULT_COLUMN_INDEX_TRUNCATE_LENGTH
    {
        vec![caller_truncate, Some(TIGHT_TRUNCATE)]
    } else {
        vec![caller_truncate]
    };
    // In order of preference: larger pages (better compression, fewer
    // pages) first, then the caller's truncation before a tighter one.
    // The caller's own page size (if any) is the largest candidate, even
    // when it is off the ladder or below its smallest step.
    let ladder = PAGE_LADDER
        .iter()
        .copied()
        .filter(|p| fixed.data_page.is_none() && *p <= cap);
    let candidates: Vec<Candidate> = caller_page
        .into_iter()
        .chain(ladder)
        .flat_map(|page| truncations.iter().map(move |t| (page, *t)))
        .map(|(page, truncate)| Candidate {
            page,
            truncate,
            estimate: estimate(&leaves, page, truncate, fixed, input.expected_bytes),
        })
        .collect();
    let fits = |limit: usize| candidates.iter().find(|c| c.estimate.total() <= limit);
    let Some(chosen) = fits(input.allowance).or_else(|| fits(input.max_allowance)) else {
        let needed = candidates
            .iter()
            .map(|c| c.estimate.total())
            .min()
            .unwrap_or(usize::MAX);
        let minimum = (needed as f64 / input.max_share).ceil() as usize;
        // Would the planner's own page sizes have fitted? Then the caller's
        // fixed size is the conflict, and the error says so.
        let free_fit = fixed.data_page.filter(|_| {
            PAGE_LADDER.iter().any(|&page| {
                truncations.iter().any(|&t| {
                    estimate(&leaves, page, t, fixed, input.expected_bytes).total()
                        <= input.max_allowance
                })
            })
        });
        return Err(match free_fit {
            Some(page) => Error::FixedSettingTooLarge {
                setting: "data_page_size_limit",
                column: None,
                value: page,
                needed: minimum,
                limit: input.limit,
            },
            None => Error::BudgetTooSmall {
                limit: input.limit,
                columns: leaves.len(),
                minimum,
                alternative: None,
            },
        });
    };
    let (props, changes) = apply(&input.props, &leaves, chosen, fixed);
    Ok(PlanOutput {
        props,
        estimate: chosen.estimate,
        changes,
        page_size: chosen.page,
    })
}

fn leaf<'a>(descr: &'a ColumnDescriptor, props: &WriterProperties) -> Leaf<'a> {
    let path = descr.path();
    let width = match descr.physical_type() {
        PhysicalType::BOOLEAN => Some(1),
        PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
        PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
        PhysicalType::INT96 => Some(12),
        PhysicalType::FIXED_LEN_BYTE_ARRAY => Some(descr.type_length().max(1) as usize),
        PhysicalType::BYTE_ARRAY => None,
    };
    Leaf {
        descr,
        width,
        dictionary: props.dictionary_enabled(path)
            && descr.physical_type() != PhysicalType::BOOLEAN,
        statistics: props.statistics_enabled(path),
        bloom: props
            .bloom_filter_properties(path)
            .map(|b| (b.ndv(), b.fpp())),
    }
}

/// The smallest data page limit in the caller's properties (global or per
/// column): the planner never exceeds it.
fn page_cap(props: &WriterProperties, leaves: &[Leaf<'_>]) -> usize {
    leaves
        .iter()
        .map(|l| props.column_data_page_size_limit(l.descr.path()))
        .min()
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .max(1)
}

/// Dictionary page limit for a leaf so that values plus hash table cost about one page.
fn dictionary_limit(leaf: &Leaf<'_>, page: usize, fixed: Fixed) -> usize {
    if let Some(bytes) = fixed.dictionary_page {
        return bytes;
    }
    let width = leaf.width.unwrap_or(DICT_ENTRY_OVERHEAD);
    (page / (width + DICT_ENTRY_OVERHEAD))
        .saturating_mul(width)
        .max(1024)
}

/// The bloom filter `max_ndv` the plan uses: the caller's if set, else
/// parquet's default capped so the bitset costs no more than two pages.
fn planned_ndv(leaf: &Leaf<'_>, page: usize) -> Option<(u64, f64)> {
    let (ndv, fpp) = leaf.bloom?;
    let share = page.saturating_mul(PAGE_FACTOR).max(64 << 10);
    let mut capped = ndv;
    if ndv == DEFAULT_BLOOM_FILTER_NDV {
        while capped > 1024 && bloom_bytes(capped, fpp) > share {
            capped /= 2;
        }
    }
    Some((capped, fpp))
}

/// Bloom filter bitset bytes parquet allocates for `ndv` distinct values at `fpp`.
fn bloom_bytes(ndv: u64, fpp: f64) -> usize {
    let bits = -8.0 * ndv as f64 / (1.0 - fpp.powf(1.0 / 8.0)).ln();
    ((bits / 8.0) as usize)
        .clamp(32, 128 << 20)
        .next_power_of_two()
}

fn estimate(
    leaves: &[Leaf<'_>],
    page: usize,
    truncate: Option<usize>,
    fixed: Fixed,
    expected_bytes: u64,
) -> Estimate {
    // Saturating throughout: caller input (a `usize::MAX` page limit, a huge
    // fixed-size binary) must make a candidate not fit, never overflow.
    let mut e = Estimate::default();
    let expected = usize::try_from(expected_bytes).unwrap_or(usize::MAX);
    let pages = expected.div_ceil(page.max(1)).max(1);
    let mut metadata_per_page = 0usize;
    for l in leaves {
        let encoder = PAGE_FACTOR
            .saturating_mul(page)
            .saturating_add(COLUMN_FIXED);
        e.encoders = e.encoders.saturating_add(encoder);
        if l.dictionary {
            let width = l.width.unwrap_or(DICT_ENTRY_OVERHEAD);
            let dictionary = (dictionary_limit(l, page, fixed) / width)
                .saturating_mul(width + DICT_ENTRY_OVERHEAD);
            e.encoders = e.encoders.saturating_add(dictionary);
        }
        if let Some((ndv, fpp)) = planned_ndv(l, page) {
            e.bloom_filters = e.bloom_filters.saturating_add(bloom_bytes(ndv, fpp));
        }
        metadata_per_page = metadata_per_page.saturating_add(PAGE_METADATA);
        if l.statistics == EnabledStatistics::Page {
            let value = match (l.width, truncate) {
                (Some(w), _) => w,
                (None, Some(t)) => t,
                (None, None) => 256,
            };
            let index = value.saturating_mul(2).saturating_add(COLUMN_INDEX_FIXED);
            metadata_per_page = metadata_per_page.saturating_add(index);
        }
    }
    // Pages are spread over the leaves; use the average per-page cost.
    e.page_metadata = pages.saturating_mul(metadata_per_page / leaves.len());
    e.transient = TRANSIENT_PAGES.saturating_mul(page);
    e
}

fn apply(
    props: &WriterProperties,
    leaves: &[Leaf<'_>],
    chosen: &Candidate,
    fixed: Fixed,
) -> (WriterProperties, Vec<PlanChange>) {
    let mut changes = Vec::new();
    let mut b = props.clone().into_builder();
    let mut note = |column: Option<String>, setting, from: String, to: String| {
        if from != to {
            changes.push(PlanChange {
                column,
                setting,
                from,
                to,
            });
        }
    };
    let page = chosen.page;
    note(
        None,
        "data_page_size_limit",
        props.data_page_size_limit().to_string(),
        page.to_string(),
    );
    b = b.set_data_page_size_limit(page);
    let batch = fixed.write_batch.unwrap_or_else(|| {
        (page / 128)
            .clamp(64, DEFAULT_WRITE_BATCH_SIZE)
            .min(props.write_batch_size())
    });
    note(
        None,
        "write_batch_size",
        props.write_batch_size().to_string(),
        batch.to_string(),
    );
    b = b.set_write_batch_size(batch);
    if chosen.truncate != props.column_index_truncate_length() {
        note(
            None,
            "column_index_truncate_length",
            format!("{:?}", props.column_index_truncate_length()),
            format!("{:?}", chosen.truncate),
        );
        b = b.set_column_index_truncate_length(chosen.truncate);
    }
    for l in leaves {
        let path = l.descr.path().clone();
        let column = Some(path.string());
        // Per-column overrides win over the global limit in parquet, so cap
        // them too (keeping any that are already smaller).
        let column_page = props.column_data_page_size_limit(&path);
        if column_page != props.data_page_size_limit() || column_page > page {
            let planned = if fixed.data_page.is_some() {
                page
            } else {
                column_page.min(page)
            };
            note(
                column.clone(),
                "data_page_size_limit",
                column_page.to_string(),
                planned.to_string(),
            );
            b = b.set_column_data_page_size_limit(path.clone(), planned);
        }
        if l.dictionary {
            let caller = props.column_dictionary_page_size_limit(&path);
            let limit = match fixed.dictionary_page {
                Some(bytes) => bytes,
                None => dictionary_limit(l, page, fixed).min(caller),
            };
            note(
                column.clone(),
                "dictionary_page_size_limit",
                caller.to_string(),
                limit.to_string(),
            );
            b = b.set_column_dictionary_page_size_limit(path.clone(), limit);
        }
        if let (Some((ndv, _)), Some((capped, _))) = (l.bloom, planned_ndv(l, page)) {
            if capped != ndv {
                note(
                    column,
                    "bloom_filter_max_ndv",
                    ndv.to_string(),
                    capped.to_string(),
                );
                b = b.set_column_bloom_filter_max_ndv(path, capped);
            }
        }
    }
    (b.build(), changes)
}
