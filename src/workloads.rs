//! Deterministic synthetic workloads shared by tests, benchmarks, examples and the demo.
//!
//! Why: every figure this crate reports (peak heap, throughput, spill size)
//! must be reproducible, and every harness must measure the *same* data. A
//! [`Workload`] is a schema plus a seeded generator; batch `k` is the same on
//! every run and can be generated on its own, so several writers can split one
//! workload between them.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// SplitMix64: a tiny, fast, seedable generator (no `rand` dependency).
///
/// ```
/// use parquet_spill::workloads::SplitMix64;
/// let mut a = SplitMix64::new(7);
/// let mut b = SplitMix64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    ///
    /// ```
    /// use parquet_spill::workloads::SplitMix64;
    /// let draw = |seed| { let mut g = SplitMix64::new(seed); [g.next_u64(), g.next_u64()] };
    /// assert_eq!(draw(42), draw(42), "same seed, same sequence");
    /// assert_ne!(draw(42), draw(43));
    /// ```
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    ///
    /// The reference SplitMix64 sequence:
    ///
    /// ```
    /// use parquet_spill::workloads::SplitMix64;
    /// let mut g = SplitMix64::new(0);
    /// assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
    /// assert_ne!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    ///
    /// ```
    /// use parquet_spill::workloads::SplitMix64;
    /// let mut g = SplitMix64::new(1);
    /// let mut seen = [false; 6];
    /// for _ in 0..1000 {
    ///     let roll = g.below(6);
    ///     assert!(roll < 6);
    ///     seen[roll as usize] = true;
    /// }
    /// assert!(seen.iter().all(|&s| s), "every face comes up");
    /// ```
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `len` random alphanumeric characters appended to `out`.
    ///
    /// ```
    /// use parquet_spill::workloads::SplitMix64;
    /// let mut s = String::from("id-");
    /// SplitMix64::new(9).push_alnum(&mut s, 25);
    /// assert_eq!(s.len(), 28);
    /// assert!(s.starts_with("id-"));
    /// assert!(s[3..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    /// ```
    pub fn push_alnum(&mut self, out: &mut String, len: usize) {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut left = len;
        while left > 0 {
            let bits = self.next_u64();
            for i in 0..left.min(10) {
                out.push(ALPHABET[((bits >> (i * 6)) & 63) as usize] as char);
            }
            left -= left.min(10);
        }
    }
}

/// A synthetic data set: a schema and a seeded batch generator.
///
/// ```
/// use parquet_spill::workloads::Workload;
/// let w = Workload::WideMixed { columns: 6, rows: 1000 };
/// let batches: Vec<_> = w.batches(300).collect();
/// assert_eq!(batches.len(), 4);
/// assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
/// assert_eq!(batches[0].schema(), w.schema());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Narrow and skewed: 3 integer columns, 5 short strings (~12 bytes) and
    /// 10 fat strings of `fat_len` bytes. The fat columns dominate the bytes.
    Skewed {
        /// Rows in the data set.
        rows: usize,
        /// Bytes per fat string value.
        fat_len: usize,
    },
    /// `columns` columns cycling through Int64, ~20-byte strings and ~200-byte strings.
    WideMixed {
        /// Number of columns.
        columns: usize,
        /// Rows in the data set.
        rows: usize,
    },
    /// One string column with 16 distinct values: dictionary-encoded, tiny pages.
    LowCardinality {
        /// Rows in the data set.
        rows: usize,
    },
}

const SKEWED_INTS: usize = 3;
const SKEWED_SHORT: usize = 5;
const SKEWED_FAT: usize = 10;

impl Workload {
    /// A skewed workload of about `bytes` raw input (8 KiB fat strings).
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// let w = Workload::skewed_bytes(16 << 20);
    /// assert!(w.raw_bytes().abs_diff(16 << 20) < 100_000);
    /// ```
    pub fn skewed_bytes(bytes: u64) -> Self {
        let fat_len = 8 * 1024;
        let per_row = Self::Skewed { rows: 1, fat_len }.raw_bytes().max(1);
        Self::Skewed {
            rows: (bytes / per_row).max(1) as usize,
            fat_len,
        }
    }

    /// A short name for tables, e.g. `skewed-16MiB`.
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// assert_eq!(Workload::WideMixed { columns: 6, rows: 1000 }.name(), "wide-6x1000");
    /// assert_eq!(Workload::LowCardinality { rows: 100 }.name(), "dictionary-100");
    /// assert_eq!(Workload::Skewed { rows: 128, fat_len: 8192 }.name(), "skewed-10MiB");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Self::Skewed { .. } => format!("skewed-{}MiB", self.raw_bytes() >> 20),
            Self::WideMixed { columns, rows } => format!("wide-{columns}x{rows}"),
            Self::LowCardinality { rows } => format!("dictionary-{rows}"),
        }
    }

    /// Rows in the data set.
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// let w = Workload::Skewed { rows: 7, fat_len: 100 };
    /// assert_eq!(w.rows(), 7);
    /// assert_eq!(w.batches(3).map(|b| b.num_rows()).sum::<usize>(), w.rows());
    /// ```
    pub fn rows(&self) -> usize {
        match *self {
            Self::Skewed { rows, .. }
            | Self::WideMixed { rows, .. }
            | Self::LowCardinality { rows } => rows,
        }
    }

    /// Approximate raw bytes of value data (no offsets or validity).
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// // Int64, ~20-byte and ~200-byte strings: 228 bytes a row.
    /// assert_eq!(Workload::WideMixed { columns: 3, rows: 10 }.raw_bytes(), 2280);
    /// assert_eq!(Workload::LowCardinality { rows: 100 }.raw_bytes(), 1100);
    /// ```
    pub fn raw_bytes(&self) -> u64 {
        let per_row = match *self {
            Self::Skewed { fat_len, .. } => {
                SKEWED_INTS * 8 + SKEWED_SHORT * 12 + SKEWED_FAT * fat_len
            }
            Self::WideMixed { columns, .. } => (0..columns).map(|c| [8, 20, 200][c % 3]).sum(),
            Self::LowCardinality { .. } => 11,
        };
        per_row as u64 * self.rows() as u64
    }

    /// A batch size that keeps one input batch to a few MiB.
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// let w = Workload::skewed_bytes(64 << 20);
    /// let batch_bytes = w.raw_bytes() / w.rows() as u64 * w.default_batch_rows() as u64;
    /// assert!((1 << 20..8 << 20).contains(&batch_bytes));
    /// assert_eq!(Workload::LowCardinality { rows: 10 }.default_batch_rows(), 65_536);
    /// ```
    pub fn default_batch_rows(&self) -> usize {
        match *self {
            Self::Skewed { fat_len, .. } => (4 << 20) / (SKEWED_FAT * fat_len).max(1),
            Self::WideMixed { columns, .. } => ((8 << 20) / (76 * columns.max(1))).clamp(64, 8192),
            Self::LowCardinality { .. } => 65_536,
        }
        .max(1)
    }

    /// The Arrow schema.
    ///
    /// ```
    /// use arrow_schema::DataType;
    /// use parquet_spill::workloads::Workload;
    /// let schema = Workload::LowCardinality { rows: 10 }.schema();
    /// assert_eq!(schema.fields().len(), 1);
    /// assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
    /// assert_eq!(Workload::Skewed { rows: 1, fat_len: 10 }.schema().fields().len(), 18);
    /// ```
    pub fn schema(&self) -> SchemaRef {
        let string = |name: String| Field::new(name, DataType::Utf8, true);
        let fields: Vec<Field> = match *self {
            Self::Skewed { .. } => (0..SKEWED_INTS)
                .map(|i| Field::new(format!("int{i}"), int_type(i), false))
                .chain((0..SKEWED_SHORT).map(|i| string(format!("short{i}"))))
                .chain((0..SKEWED_FAT).map(|i| string(format!("fat{i}"))))
                .collect(),
            Self::WideMixed { columns, .. } => (0..columns)
                .map(|c| match c % 3 {
                    0 => Field::new(format!("c{c}_i64"), DataType::Int64, true),
                    1 => string(format!("c{c}_s20")),
                    _ => string(format!("c{c}_s200")),
                })
                .collect(),
            Self::LowCardinality { .. } => vec![string("category".into())],
        };
        Arc::new(Schema::new(fields))
    }

    /// The batches, `batch_rows` rows each (the last may be shorter).
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// let w = Workload::LowCardinality { rows: 10 };
    /// let rows: Vec<_> = w.batches(4).map(|b| b.num_rows()).collect();
    /// assert_eq!(rows, [4, 4, 2]);
    /// assert!(w.batches(4).eq(w.batches(4)), "the same on every run");
    /// ```
    pub fn batches(&self, batch_rows: usize) -> impl Iterator<Item = RecordBatch> + '_ {
        let batch_rows = batch_rows.max(1);
        let count = self.rows().div_ceil(batch_rows);
        (0..count).map(move |k| {
            let start = k * batch_rows;
            self.batch(k as u64, batch_rows.min(self.rows() - start), start)
        })
    }

    /// Batch number `index` of `rows` rows whose first row is row `first_row`.
    /// Depends only on its arguments, so writers can share out a workload.
    ///
    /// ```
    /// use parquet_spill::workloads::Workload;
    /// let w = Workload::WideMixed { columns: 4, rows: 100 };
    /// // The third batch of 30, generated on its own:
    /// let third = w.batch(2, 30, 60);
    /// assert_eq!(Some(&third), w.batches(30).collect::<Vec<_>>().get(2));
    /// ```
    pub fn batch(&self, index: u64, rows: usize, first_row: usize) -> RecordBatch {
        let mut rng = SplitMix64::new(index.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xC0FFEE);
        let schema = self.schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(c, field)| self.column(c, field, rows, first_row, &mut rng))
            .collect();
        // The generator builds exactly the schema's columns, types and lengths.
        RecordBatch::try_new(schema, columns).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn column(
        &self,
        c: usize,
        field: &Field,
        rows: usize,
        first_row: usize,
        rng: &mut SplitMix64,
    ) -> ArrayRef {
        match (*self, field.data_type()) {
            (Self::Skewed { .. }, DataType::Int64) => Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|r| (first_row + r) as i64),
            )),
            (Self::Skewed { .. }, DataType::Int32) => Arc::new(Int32Array::from_iter_values(
                (0..rows).map(|_| rng.below(1000) as i32),
            )),
            (Self::Skewed { fat_len, .. }, _) if c >= SKEWED_INTS + SKEWED_SHORT => {
                strings(rows, rng, |rng, s| rng.push_alnum(s, fat_len))
            }
            (Self::Skewed { .. }, _) => strings(rows, rng, |rng, s| {
                s.push('k');
                s.push_str(&rng.below(50_000).to_string());
                let pad = 12usize.saturating_sub(s.len());
                rng.push_alnum(s, pad);
            }),
            (Self::WideMixed { .. }, DataType::Int64) => Arc::new(Int64Array::from_iter(
                (0..rows).map(|_| Some(rng.next_u64() as i64 >> 20)),
            )),
            (Self::WideMixed { .. }, _) => {
                let len = if c % 3 == 1 { 20 } else { 200 };
                strings(rows, rng, |rng, s| {
                    let jitter = rng.below(len as u64 / 4 + 1) as usize;
                    rng.push_alnum(s, len - len / 8 + jitter);
                })
            }
            (Self::LowCardinality { .. }, _) => strings(rows, rng, |rng, s| {
                s.push_str("category-");
                s.push_str(&rng.below(16).to_string());
            }),
        }
    }
}

fn int_type(i: usize) -> DataType {
    if i == 2 {
        DataType::Int32
    } else {
        DataType::Int64
    }
}

fn strings(
    rows: usize,
    rng: &mut SplitMix64,
    mut fill: impl FnMut(&mut SplitMix64, &mut String),
) -> ArrayRef {
    let mut s = String::new();
    let mut builder = StringBuilder::with_capacity(rows, 0);
    for _ in 0..rows {
        s.clear();
        fill(rng, &mut s);
        builder.append_value(&s);
    }
    Arc::new(builder.finish())
}
