//! The cost model: what one leaf column's writer holds for given settings.
//!
//! Why a model of parquet's internals: the encoders' memory is the one part
//! of a writer that cannot spill, and it is decided by four settings the
//! planner controls — the data page size `P`, the dictionary page size `D`,
//! the page row-count limit `R` and the write batch `W` — plus the column's
//! physical type. The shapes below come from parquet 60.1's writer; the
//! constants were measured with a counting allocator (heap) and the
//! resident set (native memory) on a probe writing one large row group of
//! each column class, and `tests/calibration.rs` re-measures them.
//!
//! - A plain page buffer holds up to `min(P, R × width)` bytes (byte arrays:
//!   `P` plus the one value that crosses it: parquet 60.1 splits write
//!   batches by bytes).
//! - A dictionary-encoding column keeps a hash table created with room for
//!   4,096 entries (~72 KiB whatever the data), the dictionary values (at most
//!   `D` bytes of plain-encoded entries), the table growing by doubling, and
//!   the page's dictionary indices as `u64`s (up to `R + W` of them) until
//!   the page is flushed. After a fallback to plain the dictionary is freed,
//!   so the column holds the larger of the two phases.
//! - Every finished page leaves an offset-index entry and, with page
//!   statistics, a column-index entry (min and max truncated to the column
//!   index truncation length) until the file closes; every column chunk
//!   leaves its metadata and statistics. These are charged as they are
//!   written ([`crate::metadata`]); the model gives the per-page and
//!   per-chunk costs.

use parquet::basic::{Compression, Encoding, LogicalType, Type as PhysicalType};
use parquet::file::properties::{
    EnabledStatistics, WriterVersion, DEFAULT_BLOOM_FILTER_NDV, DEFAULT_STATISTICS_TRUNCATE_LENGTH,
};
use parquet::schema::types::ColumnDescriptor;

use super::codec;
use crate::metadata::{ColumnCost, LongStatistics};
use crate::page_rows::{Counts, PageValues, PhaseRoom};

/// Heap of a column writer whatever its settings (writer, encoders' state,
/// statistics, level encoders).
const COLUMN_BASE: usize = 10 << 10;
/// Hash-table slots the dictionary starts with (parquet's interner).
const DICTIONARY_SLOTS: usize = 4096;
/// Bytes per hash-table bucket (a `u64` key and a control byte).
const BUCKET_BYTES: usize = 9;
/// Shortest byte-array value the dictionary model assumes (plain-encoded
/// entries cost 4 bytes of length more); shorter values mean more entries.
const MIN_VALUE_LEN: usize = 4;
/// Plain page buffer capacity over the bytes a page holds, in percent, for
/// fixed-width values and for byte arrays. A fixed-width buffer grows by
/// doubling from the first piece written into it, so just past a doubling
/// it is up to twice what it holds: 16 random `FixedSizeBinary(16)` columns
/// held 512 KiB buffers for 328 KiB pages (1.56x), where 125 % had been
/// measured with input batches of 73 to 4,096 rows. Byte arrays: measured
/// (small batches leave the most capacity behind).
const PAGE_GROWTH_PCT: usize = 200;
const BYTES_GROWTH_PCT: usize = 165;
/// Bytes parquet 60.1 holds beyond a leaf's resident encoder while it
/// writes a page, per byte of the page: a version-1 page copies the values
/// behind its levels (one), and a codec's output is first sized for the
/// page and then grown past it to the codec's bound, which doubles it
/// (two; none uncompressed). The values' buffer, taken whole, is besides:
/// up to twice the page where it just doubled. A review found the plan
/// counted two copies in all: two columns of 200-byte strings with every
/// 32nd a 1 MB one made 1.83 MB pages at a 1 MiB page limit, a 3.64 MB
/// buffer, the copy and a 3.66 MB snappy output at once: 19.7 MiB of heap
/// at 12 MiB with writer version 2 (`tests/long_pages.rs`'s
/// `near_page_values`, LZ4_RAW, version 1: 12.7 MiB).
const PAGE_COPIES: usize = 1;
const CODEC_COPIES: usize = 2;

/// A `ByteArray` handle (an `Option<Bytes>`) kept per value by parquet's
/// `DELTA_BYTE_ARRAY` encoder of fixed-length byte arrays.
const DELTA_HANDLE: usize = 32;
/// Metadata per page until the file closes: the offset-index entry.
const PAGE_OFFSET_INDEX: usize = 32;
/// Column-index entry per page beyond its min and max values (null flag and
/// count, level histograms' share).
const PAGE_COLUMN_INDEX: usize = 48;
/// The most of a byte array's minimum or maximum the per-page and
/// per-chunk costs count (where the caller's truncation keeps more, or
/// none: the rest is charged as pages show it, [`LongStatistics`]).
const STATISTICS_VALUE: usize = 256;
/// Per page until the row group is flushed: parquet's two page keys (a
/// doubling vector: up to 32 bytes). The stores' entries are the backend's
/// ([`Leaf::backend_slot`]): the tiered store keeps none for a spilled page
/// nor for a header, and a heap page's is charged with the page.
const PAGE_KEYS: usize = 32;
/// Per page until the row group is flushed: its header (a data page's is
/// ~23 bytes, with its 4-byte length) in the tiered store's arena, which
/// grows by a quarter. The meter charges every header at its size; this is
/// what the planner expects of one.
const PAGE_HEADER: usize = 36;
/// Per page until the row group is flushed: the offset index builder's
/// growing vectors (offset, size, first row: 20 bytes, up to twice that
/// just after they double).
const OFFSET_BUILDER: usize = 48;
/// Per page while its chunk is open, with page statistics: the column index
/// builder's growing vectors (null flag, null and NaN counts, the min and
/// max handles, a nullable column's two-level definition histogram: 89
/// bytes, up to twice that just after they double), beyond each min and
/// max in an allocation of its own. `tests/calibration.rs` measures an open
/// row group just after its vectors doubled.
const COLUMN_BUILDER: usize = 180;
/// Column chunk metadata until the file closes (encodings, offsets, sizes,
/// level histograms, the offset and column index frames), beyond its
/// statistics' values and its pages: measured 770-830 bytes (Int64 and
/// Utf8 leaves, statistics none, chunk or page; `tests/calibration.rs`),
/// and 981 in 20-column row groups (their vectors' share per chunk: the
/// offset index's 8 spare bytes a page used to hide it).
const CHUNK: usize = 1000;
/// A row group's own metadata beyond its column chunks (measured ~280
/// bytes), charged with its first leaf's chunk.
pub(crate) const ROW_GROUP: usize = 320;

/// The settings the planner chooses, for every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Data page size limit.
    pub page: usize,
    /// Dictionary page size limit.
    pub dictionary: usize,
    /// Data page row-count limit.
    pub rows: usize,
    /// Repeated leaves' row limit ([`list_rows`]): `rows`, or fewer where
    /// a sample batch's rows hold many values.
    pub list_rows: usize,
    /// The caller's row-group row limit: no column writer ever holds more
    /// rows than that, whatever the page limits.
    pub group_rows: Option<usize>,
    /// Write batch size.
    pub batch: usize,
    /// Dictionary encoding kept where the caller enabled it.
    pub dictionary_on: bool,
    /// Column-index truncation length.
    pub truncate: Option<usize>,
    /// Pages up to this long pass without the meter making room for them
    /// ([`crate::metadata::long_page_trigger`] of the longest page any
    /// leaf plans, [`splice`]): a codec must be counted up to it.
    pub long_trigger: usize,
}

impl Settings {
    /// The longest page of values the plan's limits let parquet make.
    pub(crate) fn page_limit(&self) -> usize {
        self.page.max(self.dictionary)
    }
}

/// What the model needs to know about one leaf column.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub physical: PhysicalType,
    /// Bytes per value for fixed-width types; `None` for byte arrays.
    pub width: Option<usize>,
    pub repeated: bool,
    /// Definition plus repetition levels: parquet keeps level histograms
    /// (8 bytes a level) for every chunk, and per page in the column index.
    pub levels: usize,
    /// Dictionary enabled by the caller (and possible for the type).
    pub dictionary: bool,
    /// The Arrow type is a dictionary: its dictionary encoding is kept
    /// (readers such as pyarrow cannot read a dictionary-typed column whose
    /// pages fell back to `DELTA_BYTE_ARRAY`).
    pub keep_dictionary: bool,
    /// parquet 60 counts the row group's distinct values
    /// (`set_write_row_group_number_distinct_values`): a hash of each,
    /// kept until the row group flushes ([`Leaf::distinct_set`]).
    pub distinct_values: bool,
    /// The caller's `DELTA_BINARY_PACKED` block size (parquet 60's
    /// `set_delta_binary_packed_encoder_options`), 0 for parquet's default:
    /// each delta encoder allocates a block of `i64`s up front.
    pub delta_block: usize,
    pub statistics: EnabledStatistics,
    /// parquet writes the offset index (unless the caller disabled it and no
    /// column has page statistics): an entry per page until the file closes.
    pub offset_index: bool,
    /// Page headers carry the page's statistics (min and max).
    pub header_statistics: bool,
    /// What the backend keeps per spilled page until the row group is
    /// flushed (its table entry, growth included).
    pub backend_slot: usize,
    pub codec: Compression,
    /// Bloom filter `(ndv, fpp)` as the caller set it, if any.
    pub bloom: Option<(u64, f64)>,
    /// Bits a definition and a repetition level take bit-packed, each
    /// with its run header (a byte each eight levels).
    pub level_bits: [usize; 2],
    /// parquet keeps this column's values untruncated as statistics: every
    /// fixed-length byte array (decimals, `Float16`, `FixedSizeBinary`,
    /// intervals) with statistics on. A page's and a chunk's minimum and
    /// maximum stay slices of the buffer their batch's values were copied
    /// into ([`crate::metadata::KeptValues`]) while the chunk is open, and
    /// after it for decimals and `Float16` (never truncated: their order is
    /// not the bytes'; [`Leaf::truncated_after_chunk`]). It was counted for
    /// decimals and `Float16` only, and 16 columns of random
    /// `FixedSizeBinary(16)` in 131,000-row batches peaked at 98 MiB of heap
    /// at a 32 MiB limit.
    pub untruncated_statistics: bool,
    /// parquet copies this fixed-length leaf's minimum and maximum into the
    /// chunk's metadata when the chunk closes (it may truncate the type:
    /// not a decimal nor `Float16`), so what they kept goes with the chunk.
    pub truncated_after_chunk: bool,
    /// The caller's statistics truncation length (a chunk's minimum and
    /// maximum; the column index has its own, [`Settings::truncate`]).
    pub statistics_truncate: Option<usize>,
    /// A fixed-length byte array encoded `DELTA_BYTE_ARRAY` (the caller's
    /// choice, or `PARQUET_2_0`'s default) once a dictionary is off or
    /// full: parquet 60.1's encoder keeps a handle on every value of a page
    /// ([`Leaf::delta_handles`]).
    pub delta_handles: bool,
    /// A byte array the `DELTA_BYTE_ARRAY` or `DELTA_LENGTH_BYTE_ARRAY`
    /// encoder writes where a dictionary is off or full (the writer
    /// version 2's default): parquet 60.1's arrow encoder clears its
    /// values' buffer at each page, keeping its capacity for the column
    /// writer's life, and copies the page out of it. A review found a
    /// log table's two string columns so encoded kept 3.2–3.6 MB buffers
    /// each at 1 MiB pages (20.5 MiB of heap at 16 MiB).
    pub delta_bytes: bool,
    /// A repeated leaf's: the most levels one row of the caller's sample
    /// batch holds at it ([`crate::SpillOptions::sample`]); `None` without
    /// a sample.
    pub row_levels: Option<usize>,
}

impl Leaf {
    pub(crate) fn new(
        descr: &ColumnDescriptor,
        dictionary: bool,
        statistics: EnabledStatistics,
        codec: Compression,
        bloom: Option<(u64, f64)>,
    ) -> Self {
        let physical = descr.physical_type();
        let width = match physical {
            PhysicalType::BOOLEAN => Some(1),
            PhysicalType::INT32 | PhysicalType::FLOAT => Some(4),
            PhysicalType::INT64 | PhysicalType::DOUBLE => Some(8),
            PhysicalType::INT96 => Some(12),
            PhysicalType::FIXED_LEN_BYTE_ARRAY => Some(descr.type_length().max(1) as usize),
            PhysicalType::BYTE_ARRAY => None,
        };
        Self {
            physical,
            width,
            repeated: descr.max_rep_level() > 0,
            levels: [descr.max_def_level(), descr.max_rep_level()]
                .into_iter()
                .map(|l| usize::try_from(l).unwrap_or(0))
                .sum(),
            level_bits: [descr.max_def_level(), descr.max_rep_level()].map(|l| match l {
                0 => 0,
                l => 1 + (16 - l.leading_zeros()) as usize,
            }),
            dictionary: dictionary && physical != PhysicalType::BOOLEAN,
            keep_dictionary: false,
            distinct_values: false,
            delta_block: 0,
            statistics,
            offset_index: true,
            header_statistics: false,
            backend_slot: crate::file::SLOT,
            codec,
            bloom,
            untruncated_statistics: statistics != EnabledStatistics::None
                && physical == PhysicalType::FIXED_LEN_BYTE_ARRAY,
            truncated_after_chunk: !matches!(
                descr.logical_type_ref(),
                Some(LogicalType::Decimal { .. } | LogicalType::Float16)
            ),
            statistics_truncate: DEFAULT_STATISTICS_TRUNCATE_LENGTH,
            delta_handles: false,
            delta_bytes: false,
            row_levels: None,
        }
    }

    /// With the encoding parquet gives this leaf where a dictionary is off
    /// or full: the caller's, or else the writer version's default (with
    /// `PARQUET_2_0`, `DELTA_BYTE_ARRAY` for byte arrays fixed-length or
    /// not; parquet 60.1's private `fallback_encoding`).
    pub(crate) fn with_encoding(
        mut self,
        encoding: Option<Encoding>,
        version: WriterVersion,
    ) -> Self {
        let byte_array = matches!(
            self.physical,
            PhysicalType::FIXED_LEN_BYTE_ARRAY | PhysicalType::BYTE_ARRAY
        );
        let encoding = encoding.unwrap_or(match version {
            WriterVersion::PARQUET_2_0 if byte_array => Encoding::DELTA_BYTE_ARRAY,
            _ => Encoding::PLAIN,
        });
        self.delta_handles = self.physical == PhysicalType::FIXED_LEN_BYTE_ARRAY
            && encoding == Encoding::DELTA_BYTE_ARRAY;
        self.delta_bytes = self.physical == PhysicalType::BYTE_ARRAY
            && matches!(
                encoding,
                Encoding::DELTA_BYTE_ARRAY | Encoding::DELTA_LENGTH_BYTE_ARRAY
            );
        self
    }

    /// What a fixed-length byte array's `DELTA_BYTE_ARRAY` encoder keeps of
    /// a page beyond its encoded bytes. parquet 60.1 (the generic encoder
    /// `DeltaByteArrayEncoder`, not the arrow writer's own byte-array one)
    /// keeps every value's suffix as a `ByteArray` slice of the buffer it
    /// copied the batch's values into: a 32-byte handle in a vector that
    /// doubles, and the buffers themselves. Those of the batches wholly in
    /// the page are its values' bytes, counted here; the two a page begins
    /// and ends in are charged as kept values when a batch is admitted
    /// ([`ColumnCost::keeps_values`], [`crate::metadata::KeptValues`]). A
    /// page's size counts only suffix bytes and bit-packed lengths, nothing
    /// for a value equal to the one before, so rows end the page: up to the
    /// row limit plus the larger of a write batch and the row limit (a
    /// batch without nulls is handed over in row-limit pieces), and no more
    /// than a row group's. A repeated leaf is taken at one value a row, as
    /// for a dictionary's indices: a list of many equal values a row is
    /// not bounded (a known gap).
    fn delta_handles(&self, s: &Settings) -> usize {
        if !self.delta_handles {
            return 0;
        }
        let page = s.rows.saturating_add(s.rows.max(s.batch));
        let values = self
            .group_values(s)
            .map_or(page, |group| page.min(group.saturating_add(s.batch)));
        let handles = values
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .saturating_mul(DELTA_HANDLE);
        handles.saturating_add(values.saturating_mul(self.width.unwrap_or(1)))
    }

    /// The fewest bytes a full page holds: the row limit can end a page
    /// before the byte limit (byte arrays assumed 16 bytes a value). Gives
    /// the most pages a file of a given size can have.
    pub(crate) fn page_fill(&self, s: &Settings) -> usize {
        let width = match self.width {
            Some(w) if !self.repeated => w,
            Some(w) => w.max(1),
            None => 16,
        };
        s.page.min(s.rows.saturating_mul(width)).max(1)
    }

    /// Bytes a page holds when it is flushed, at most.
    pub(crate) fn page_bytes(&self, s: &Settings) -> usize {
        let page = self.page_limit_bytes(s);
        self.group_bytes(s).map_or(page, |group| page.min(group))
    }

    /// What the page limits alone let a page hold.
    fn page_limit_bytes(&self, s: &Settings) -> usize {
        match self.width {
            // Repeated columns count rows, not values: only bytes bound them.
            Some(w) if !self.repeated => {
                s.page.min(s.rows.saturating_add(s.batch).saturating_mul(w))
            }
            _ => s.page,
        }
    }

    /// The most values a row group gives this column, when the row-group
    /// row limit bounds it (one value per row: a repeated column's values
    /// are not bounded by rows).
    fn group_values(&self, s: &Settings) -> Option<usize> {
        s.group_rows.filter(|_| !self.repeated)
    }

    /// What a whole row group of this column holds, when the row-group row
    /// limit bounds it (fixed-width values).
    fn group_bytes(&self, s: &Settings) -> Option<usize> {
        Some(self.group_values(s)?.saturating_mul(self.width?))
    }

    /// Resident heap of this column's encoder between its writes (not
    /// counting metadata). Columns are encoded one after another, so a
    /// column holds at most one page's worth once its write returns; what a
    /// write needs beyond that is [`transient`].
    pub(crate) fn encoder(&self, s: &Settings) -> usize {
        let plain = self.plain_buffer(s).saturating_add(self.delta_handles(s));
        let values = if self.dictionary_on(s) {
            plain.max(self.dictionary_phase(s))
        } else {
            plain
        };
        // A delta encoder for the values, and two more for a byte array's
        // lengths and prefixes (a fallback encoder may be made up front).
        let delta_blocks = self.delta_block.saturating_mul(8 * 3);
        COLUMN_BASE
            .saturating_add(values)
            .saturating_add(self.distinct_set(s))
            .saturating_add(delta_blocks)
    }

    /// The plain encoder's values buffer between writes, as
    /// [`encoder`](Self::encoder) counts it.
    fn plain_buffer(&self, s: &Settings) -> usize {
        // Kept at the capacity of the longest page it held, which just
        // doubled: twice the page.
        if self.delta_bytes {
            return self.planned_page(s).saturating_mul(2);
        }
        let growth = match self.width {
            Some(_) => PAGE_GROWTH_PCT,
            None => BYTES_GROWTH_PCT,
        };
        match self.group_bytes(s) {
            // Bounded by the row group, not the page: the buffer grows by
            // doubling from the first write's size, so its capacity can reach
            // twice what it holds.
            Some(group) if group < self.page_limit_bytes(s) => group.saturating_mul(2),
            _ => self.page_bytes(s).saturating_mul(growth) / 100,
        }
    }

    /// parquet 60's set of the row group's distinct values
    /// ([`Leaf::distinct_values`]): a `HashSet<u64>`, nine bytes a bucket,
    /// buckets a power of two at most 7/8 full, and while it grows the old
    /// table beside the new (half its size). A row group gives a column no
    /// more distinct values than its rows; unbounded (`usize::MAX`) where
    /// rows do not bound its values (no row-group row limit, a list).
    /// Four columns of a million distinct `Int64` took 101.9 MiB of heap
    /// at 32 MiB uncounted (a review's finding).
    pub(crate) fn distinct_set(&self, s: &Settings) -> usize {
        if !self.distinct_values {
            return 0;
        }
        let Some(values) = self.group_values(s) else {
            return usize::MAX;
        };
        let buckets = (values.saturating_mul(8) / 7)
            .max(4)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX);
        buckets.saturating_mul(9).saturating_mul(3) / 2
    }

    /// Whether the column is dictionary-encoded at these settings.
    pub(crate) fn dictionary_on(&self, s: &Settings) -> bool {
        self.dictionary && (s.dictionary_on || self.keep_dictionary)
    }

    /// The dictionary phase: hash table, stored values and buffered indices.
    fn dictionary_phase(&self, s: &Settings) -> usize {
        let entry = self.width.unwrap_or(MIN_VALUE_LEN + 4).max(1);
        let entries = s.dictionary / entry;
        // hashbrown keeps at most 7/8 of its buckets full, buckets a power of two.
        let buckets = (entries.saturating_mul(8) / 7)
            .max(DICTIONARY_SLOTS * 8 / 7)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX);
        let table = buckets.saturating_mul(BUCKET_BYTES);
        let stored = match self.width {
            // A fixed-length byte array's entries are 32-byte handles
            // (their bytes are kept values, [`Leaf::kept`]) whatever the
            // width: 16 columns of `FixedSizeBinary(3)` took 93.8 MiB of
            // heap at 64 MiB counted at their width (a review's finding), in a
            // vector that grows by doubling (no more distinct values than a
            // row group's rows).
            Some(_) if self.physical == PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                let handles = entries.checked_next_power_of_two().unwrap_or(usize::MAX);
                let handles = match self.group_values(s) {
                    Some(group) => handles.min(group.saturating_mul(2)),
                    None => handles,
                };
                handles.saturating_mul(DELTA_HANDLE)
            }
            // The values in a vector that grows by doubling (no more
            // distinct values than a row group's rows).
            Some(_) => {
                let page = s
                    .dictionary
                    .checked_next_power_of_two()
                    .unwrap_or(usize::MAX);
                match self.group_bytes(s) {
                    Some(group) => page.min(group.saturating_mul(2)),
                    None => page,
                }
            }
            // Bytes, and a 16-byte range per entry, both growing by doubling.
            None => s
                .dictionary
                .checked_next_power_of_two()
                .unwrap_or(usize::MAX)
                .saturating_add(
                    entries
                        .checked_next_power_of_two()
                        .unwrap_or(usize::MAX)
                        .saturating_mul(16),
                ),
        };
        table
            .saturating_add(stored)
            .saturating_add(self.dictionary_indices(s))
    }

    /// A page's dictionary indices as `u64`s: up to the row limit, plus
    /// one batch, and no more than a row group's (one value a row: a
    /// repeated leaf's rows may hold more, [`Leaf::page_values`]).
    fn dictionary_indices(&self, s: &Settings) -> usize {
        let page_indices = s
            .rows
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .saturating_add(s.batch);
        // The indices keep their capacity between pages and grow by
        // doubling from a batch: up to twice a row group's.
        self.group_values(s)
            .map_or(page_indices, |group| {
                page_indices.min(group.saturating_mul(2))
            })
            .saturating_mul(8)
    }

    /// What a repeated leaf's open page keeps per value that the model
    /// counts at one value a row ([`crate::page_rows`]): its dictionary's
    /// indices and its `DELTA_BYTE_ARRAY` handles, and its levels; `None`
    /// for a leaf not repeated. A dictionary's indices may take the room
    /// the model gives the plain phase, which follows it (the model counts
    /// the larger of the two); the handles come with the plain page.
    pub(crate) fn page_values(&self, s: &Settings) -> Option<PageValues> {
        if !self.repeated {
            return None;
        }
        let dictionary = self.dictionary_on(s).then(|| {
            let room = self.encoder(s).saturating_sub(COLUMN_BASE);
            let others = self
                .dictionary_phase(s)
                .saturating_sub(self.dictionary_indices(s));
            PhaseRoom {
                planned: room.saturating_sub(others),
                bytes: s.page,
            }
        });
        let delta = self.delta_handles.then(|| PhaseRoom {
            planned: self.delta_handles(s),
            bytes: self.width.unwrap_or(0),
        });
        Some(PageValues {
            rows: s.list_rows,
            batch: s.batch,
            dictionary,
            delta,
            level_bits: self.level_bits,
        })
    }

    /// What one write of this column needs beyond its resident state: the
    /// page's copies ([`Leaf::byte_page_copies`] for byte arrays), and the
    /// codec's scratch.
    fn transient(&self, s: &Settings) -> usize {
        // A `DELTA_BYTE_ARRAY` encoder of fixed-length values gathers each
        // piece it is handed (up to a write batch or the row limit) as
        // handles and prefix and suffix lengths before keeping them.
        let delta = match self.delta_handles {
            true => s.batch.max(s.rows).saturating_mul(DELTA_HANDLE + 8),
            false => 0,
        };
        // A fixed-width leaf's buffer is counted at twice its page
        // resident; compressed, its page is copied and the codec's output
        // grown past it (a review's finding: four columns of 699,000-byte
        // fixed-size binaries on four threads took 52.8 MiB of heap at
        // 48 MiB, counted at two copies).
        let copies = match (self.width, self.codec) {
            (Some(_), Compression::UNCOMPRESSED) => self.largest_page(s).saturating_mul(2),
            (Some(_), _) => self
                .largest_page(s)
                .saturating_mul(PAGE_COPIES + CODEC_COPIES),
            (None, _) => self.byte_page_copies(s),
        };
        copies
            .saturating_add(codec::transient(self.codec, self.codec_input(s)))
            .saturating_add(delta)
    }

    /// What a byte array's page takes while it is written, beyond the
    /// resident buffer, at the longest page the meter takes as the plan's.
    fn byte_page_copies(&self, s: &Settings) -> usize {
        let page = self.planned_page(s);
        // A delta encoder copies the page out of its buffer first.
        let copies = match self.codec {
            Compression::UNCOMPRESSED => PAGE_COPIES,
            _ => PAGE_COPIES + CODEC_COPIES,
        } + usize::from(self.delta_bytes);
        let buffer = page.saturating_mul(2).saturating_sub(self.plain_buffer(s));
        page.saturating_mul(copies).saturating_add(buffer)
    }

    /// The longest page this column can compress before the meter hears of
    /// it: zstd sizes its context and brotli its encoder for it. A
    /// fixed-width leaf's largest page, which a batch without nulls lets
    /// pass the row limit's worth of values ([`compact_pages`]); a byte
    /// array's page limit plus the two values past it that the meter does
    /// not count as long (up to its trigger together).
    pub(crate) fn codec_input(&self, s: &Settings) -> usize {
        let page = self.page_bytes(s).max(s.dictionary);
        match self.width {
            Some(w) if !self.repeated && self.levels > 0 => {
                let compact = s.page.min(s.rows.saturating_mul(w));
                page.saturating_add(compact.max(self.overshoot(s)))
            }
            Some(_) => self.largest_page(s),
            None => page.saturating_add(s.long_trigger),
        }
    }

    /// The longest page the meter takes as the plan's for this column
    /// ([`crate::metadata::long_page_trigger`] of its largest).
    fn planned_page(&self, s: &Settings) -> usize {
        crate::metadata::long_page_trigger(self.largest_page(s))
    }

    /// The largest page this column can write (data or dictionary), the
    /// batch or value that crossed the limit included.
    pub(crate) fn largest_page(&self, s: &Settings) -> usize {
        let page = self.page_bytes(s).max(s.dictionary);
        page.saturating_add(self.overshoot(s))
    }

    /// Resident memory of this column's codec (native or heap). zstd sizes
    /// its context for the largest page it has compressed, which can pass
    /// the limit by the batch that crossed it.
    pub(crate) fn codec(&self, s: &Settings) -> usize {
        codec::per_column(self.codec, self.codec_input(s))
    }

    /// How far a page can pass its limit: the batch that crossed it
    /// (fixed width), or one value (byte arrays, bounded by the page here).
    fn overshoot(&self, s: &Settings) -> usize {
        match self.width {
            Some(w) => w.saturating_mul(s.batch).min(s.page),
            None => s.page,
        }
    }

    /// The bloom filter's `max_ndv` at these settings: the caller's, or
    /// parquet's default capped so the bitset costs no more than half a page
    /// (at least 64 KiB): it lives until the file closes, every row group.
    pub(crate) fn bloom_ndv(&self, s: &Settings) -> Option<u64> {
        let (ndv, fpp) = self.bloom?;
        let share = (s.page / 2).max(64 << 10);
        let mut capped = ndv;
        if ndv == DEFAULT_BLOOM_FILTER_NDV {
            while capped > 1024 && bloom_bytes(capped, fpp) > share {
                capped /= 2;
            }
        }
        Some(capped)
    }

    fn bloom_bytes(&self, s: &Settings) -> usize {
        match (self.bloom, self.bloom_ndv(s)) {
            (Some((_, fpp)), Some(ndv)) => bloom_bytes(ndv, fpp),
            _ => 0,
        }
    }

    /// A byte array's minimum or maximum kept at most `truncate` bytes
    /// long: what the per-page and per-chunk costs count for it (at most
    /// [`STATISTICS_VALUE`]), and, where longer values are kept, the
    /// charge for the rest as pages are written ([`LongStatistics`]).
    fn statistics_value(
        &self,
        truncate: Option<usize>,
        s: &Settings,
    ) -> (usize, Option<LongStatistics>) {
        let Some(width) = self.width else {
            let cap = truncate.unwrap_or(usize::MAX);
            let counted = cap.min(STATISTICS_VALUE);
            let long = (cap > counted).then_some(LongStatistics {
                counted,
                cap,
                dictionary: self.dictionary_on(s),
            });
            return (counted, long);
        };
        (width, None)
    }

    /// Metadata costs, charged as pages and chunks are written.
    pub(crate) fn metadata(&self, s: &Settings) -> ColumnCost {
        let (value, long_index) = self.statistics_value(s.truncate, s);
        let (chunk_value, long_chunk) = self.statistics_value(self.statistics_truncate, s);
        // The offset index holds a byte array's unencoded size per page too.
        let byte_array = usize::from(self.physical == PhysicalType::BYTE_ARRAY);
        let mut page = 0;
        if self.offset_index {
            page += PAGE_OFFSET_INDEX + 8 * byte_array;
        }
        // Level histograms beyond a flat nullable column's (measured in the
        // constants): 8 bytes a level per chunk, and per page in the column
        // index's growing vectors (twice that).
        let extra_levels = self.levels.saturating_sub(1);
        if self.statistics == EnabledStatistics::Page {
            page += PAGE_COLUMN_INDEX + 2 * value.next_multiple_of(8) + 16 * extra_levels;
        }
        let chunk_statistics = match self.statistics {
            EnabledStatistics::None => 0,
            _ => 2 * chunk_value.next_multiple_of(8) + 64,
        };
        let mut builder = 0;
        if self.offset_index {
            // Byte arrays' unencoded sizes: a doubling vector of `i64`s.
            builder += OFFSET_BUILDER + 16 * byte_array;
        }
        if self.statistics == EnabledStatistics::Page {
            builder += COLUMN_BUILDER + 2 * value.next_multiple_of(16) + 16 * extra_levels;
        }
        let mut header = PAGE_HEADER;
        if self.header_statistics && self.statistics == EnabledStatistics::Page {
            header += 2 * chunk_value + 8;
        }
        ColumnCost {
            chunk: CHUNK + chunk_statistics + 8 * extra_levels + self.bloom_bytes(s),
            page,
            builder,
            keys: PAGE_KEYS + self.backend_slot,
            header,
            // A `DELTA_BYTE_ARRAY` page keeps its values' suffixes as slices
            // of their batches' buffers too ([`Leaf::delta_handles`]): the
            // open page's two, as statistics' are counted.
            keeps_values: (self.untruncated_statistics || self.delta_handles)
                .then(|| self.group_bytes(s).unwrap_or(usize::MAX)),
            keeps_values_until_chunk: !self.untruncated_statistics || self.truncated_after_chunk,
            // parquet's dictionary keeps a fixed-length byte array entry as
            // a slice of its batch's buffer (`crate::metadata::KeptValues`).
            dictionary_keeps_values: (self.physical == PhysicalType::FIXED_LEN_BYTE_ARRAY
                && self.dictionary_on(s))
            .then(|| self.group_bytes(s).unwrap_or(usize::MAX)),
            long_index: long_index.filter(|_| self.statistics == EnabledStatistics::Page),
            long_chunk: long_chunk.filter(|_| self.statistics != EnabledStatistics::None),
            open_statistics: (self.width.is_none() && self.statistics != EnabledStatistics::None)
                .then_some(value.min(chunk_value)),
        }
    }
}

/// Bloom filter bitset bytes parquet allocates for `ndv` distinct values at `fpp`.
pub(crate) fn bloom_bytes(ndv: u64, fpp: f64) -> usize {
    let bits = -8.0 * ndv as f64 / (1.0 - fpp.powf(1.0 / 8.0)).ln();
    ((bits / 8.0) as usize)
        .clamp(32, 128 << 20)
        .next_power_of_two()
}

/// Transient memory of the one column being written at a time.
pub(crate) fn transient(leaves: &[Leaf], s: &Settings) -> usize {
    leaves.iter().map(|l| l.transient(s)).max().unwrap_or(0)
}

/// What [`CompactPages`](crate::metadata::CompactPages) needs of the
/// leaves: the distinct widths of the nullable, unrepeated fixed-width ones
/// (parquet hands them to the encoder in mini-batches of up to the page row
/// limit when a batch has no nulls), with the settings.
pub(crate) fn compact_pages(leaves: &[Leaf], s: &Settings) -> crate::metadata::CompactPages {
    let mut widths: Vec<usize> = leaves
        .iter()
        .filter(|l| !l.repeated && l.levels > 0)
        .filter_map(|l| l.width)
        .collect();
    widths.sort_unstable();
    widths.dedup();
    crate::metadata::CompactPages {
        page: s.page,
        rows: s.rows,
        batch: s.batch,
        widths,
    }
}

/// The page a `ParallelWriter` reads back to splice a closed column chunk
/// into the file while its workers still close other columns.
pub(crate) fn splice(leaves: &[Leaf], s: &Settings) -> usize {
    leaves.iter().map(|l| l.largest_page(s)).max().unwrap_or(0)
}

/// The row limit for repeated leaves' pages, from a sample batch
/// ([`Leaf::row_levels`]): the most rows, up to `s.rows`, whose page (that
/// many rows of the sample's longest, and the mini-batch that ends it,
/// [`PageValues::mini_batch`]) needs no more than its share of `spare`
/// beyond the plan, as the meter counts it when a batch comes
/// ([`crate::metadata::Meter::admit`]): what it keeps per value beyond
/// what the plan counted ([`PageValues::beyond`]), and its levels past the
/// long-page trigger, kept and copied while written. Fewer rows make more
/// pages, each with its metadata until the file closes: the pages are
/// let take a share of the room the plan leaves, not held to none. One
/// row where even one row's page needs more; `s.rows` without a sample.
/// One limit for every repeated leaf (the least), as the meter walks them
/// all with one.
pub(crate) fn list_rows(leaves: &[Leaf], s: &Settings, spare: usize) -> usize {
    let sampled: Vec<(&Leaf, usize)> = leaves
        .iter()
        .filter_map(|leaf| Some((leaf, leaf.row_levels.filter(|r| *r > 0)?)))
        .collect();
    let share = spare / sampled.len().max(1);
    sampled
        .into_iter()
        .map(|(leaf, row)| {
            let fits = |rows: usize| {
                let Some(page) = leaf.page_values(&Settings {
                    list_rows: rows,
                    ..*s
                }) else {
                    return true;
                };
                // Later batches may have nulls or empty lists: levels vary.
                let mini = page.mini_batch(row, true);
                // The meter counts a page in steps of an eighth of its rows
                // ([`crate::page_rows::STEPS`]), up to two steps past them
                // ([`crate::page_rows::counted_rows`]): at exactly `rows` a
                // page's indices sat on a power of two the meter's count
                // crossed, doubling their room, and a planned write stopped
                // (`tests/list_pages.rs`, `i16s` on two threads).
                let rows = crate::page_rows::counted_rows(rows);
                let open = rows.saturating_mul(row);
                let counts = Counts {
                    values: open.saturating_add(mini.values),
                    levels: open.saturating_add(mini.levels),
                };
                let room = page.room(counts, row, true, s.page_limit(), s.long_trigger);
                room.kept.saturating_add(room.writing) <= share
            };
            // The most rows that fit: `fits` holds up to some row count.
            let (mut low, mut high) = (1, s.rows.max(1));
            while low < high {
                let mid = low + (high - low).div_ceil(2);
                match fits(mid) {
                    true => low = mid,
                    false => high = mid - 1,
                }
            }
            low
        })
        .min()
        .unwrap_or(s.rows)
}
