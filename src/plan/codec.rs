//! What a compression codec costs per column writer, measured.
//!
//! Why tables: parquet 60.1 creates one codec per column writer, and all
//! column writers of a row group live at once. `ZSTDCodec` keeps a zstd
//! compression and decompression context for the writer's whole life,
//! allocated by C (no Rust allocator sees them), and zstd sizes that context
//! for the largest input it has compressed, by level: from ~0.2 MiB (level 1,
//! 16 KiB pages) to 17 MiB (level 19, a 1 MiB page) and over 130 MiB (level
//! 22, 8 MiB). brotli builds its encoder for every page on the Rust heap and
//! frees it: 0.2 MiB at quality 0 on 16 KiB, 9 MiB at qualities 2–3
//! whatever the page, 33 MiB at quality 9 on 16 KiB and 94 MiB on 8 MiB.
//! snappy's encoder keeps a hash table on the Rust heap; gzip allocates its
//! deflate state per call through C `malloc`, whose freed chunks stay in
//! the process's resident set. So a
//! 1,500-column writer's codec memory is 1,500 times a per-column figure
//! that depends on the codec, its level and the largest page, and each
//! thread compressing a page holds brotli's encoder besides.
//!
//! The zstd and brotli tables hold, by level and by the input's size (up to
//! 16 KiB, 32 KiB, ... 8 MiB), what `scripts/codec_tables` measured:
//! resident-set growth per zstd context (`VmRSS` over 3–30 contexts, each
//! holding the largest input of its size; English-like text, which touched
//! more of a context than integers or random bytes), and a counting
//! allocator's peak over one brotli compression of parquet's (4 KiB buffer,
//! 22-bit window) — each with 10 % more for other data. `tests/calibration.rs`
//! re-measures them through parquet's writer. A column may compress any
//! smaller input (its last page, a dictionary page) and zstd keeps the
//! largest context it has needed, so a lookup takes the most of every size
//! up to the input's. Beyond the tables zstd's levels 1–19 hold (their
//! window is at most 8 MiB), and the others grow in proportion to the
//! input as between the last two sizes.

use parquet::basic::Compression;

/// The first size of the tables: inputs of up to 2^14 bytes (16 KiB).
const FIRST_LOG: u32 = 14;

/// KiB by input size: up to 16 KiB, 32 KiB, ... (doubling).
type Row = &'static [u32];

/// brotli, KiB of the Rust heap's peak over one page's compression, by
/// quality. Measured 2026-12-05 (brotli 9.1.1), 10 % added; qualities 10
/// and 11 up to 4 MiB inputs.
#[rustfmt::skip]
const BROTLI: [Row; 12] = [
    &[183, 221, 291, 432, 713, 1_276, 2_403, 4_656, 9_161, 9_161], // quality 0
    &[201, 394, 782, 1_556, 1_838, 2_401, 3_527, 5_780, 10_285, 10_285], // quality 1
    &[9_567, 9_602, 9_924, 9_924, 10_156, 10_156, 10_156, 10_156, 10_156, 10_156], // quality 2
    &[9_562, 9_597, 9_924, 9_924, 10_156, 10_156, 10_156, 10_156, 10_156, 10_156], // quality 3
    &[875, 1_159, 10_739, 10_952, 12_083, 13_930, 21_222, 27_447, 41_137, 67_272], // quality 4
    &[1_472, 1_756, 11_336, 11_549, 12_682, 14_528, 18_214, 26_739, 41_477, 64_143], // quality 5
    &[2_599, 2_883, 12_462, 12_675, 13_808, 15_646, 19_314, 28_927, 43_586, 67_341], // quality 6
    &[9_392, 9_676, 19_256, 19_468, 20_598, 22_423, 26_053, 33_308, 47_814, 72_721], // quality 7
    &[18_403, 18_687, 28_267, 28_475, 29_606, 31_406, 34_972, 42_075, 56_272, 80_586], // quality 8
    &[36_426, 36_710, 37_273, 38_401, 49_660, 50_489, 55_054, 61_972, 75_632, 102_901], // quality 9
    &[37_371, 38_128, 39_641, 42_668, 57_734, 58_297, 60_892, 65_456, 81_514], // quality 10
    &[38_004, 39_395, 42_176, 47_737, 67_872, 68_435, 81_255, 84_926, 91_637], // quality 11
];

/// zstd, resident KiB per column writer, by level: index 0 is level 1 (and
/// the negative levels, measured at or below it), index 21 level 22.
/// Measured 2026-12-05 (zstd 1.5.7), 10 % added.
#[rustfmt::skip]
const ZSTD: [Row; 22] = [
    &[233, 162, 232, 346, 381, 362, 357, 364, 379, 402], // level 1
    &[232, 268, 335, 443, 446, 591, 589, 594, 602, 634], // level 2
    &[302, 545, 613, 717, 865, 1_143, 1_146, 1_142, 1_154, 1_184], // level 3
    &[234, 546, 1_041, 1_427, 1_009, 2_551, 2_551, 2_557, 2_567, 2_591], // level 4
    &[237, 488, 901, 1_015, 1_717, 3_121, 3_122, 3_125, 3_139, 3_178], // level 5
    &[236, 488, 905, 1_011, 3_126, 3_127, 3_129, 3_129, 3_147, 3_192], // level 6
    &[235, 486, 903, 1_011, 3_129, 5_942, 5_945, 5_945, 5_961, 5_992], // level 7
    &[237, 486, 909, 1_009, 3_129, 5_935, 5_930, 5_936, 5_959, 5_997], // level 8
    &[305, 475, 905, 1_013, 3_125, 5_930, 11_568, 11_562, 11_591, 11_598], // level 9
    &[305, 480, 901, 1_003, 3_114, 5_936, 11_565, 22_834, 22_846, 22_851], // level 10
    &[357, 688, 1_298, 1_397, 3_647, 5_911, 11_540, 22_818, 22_826, 22_842], // level 11
    &[515, 689, 1_297, 1_955, 4_777, 5_911, 11_543, 22_815, 45_361, 45_357], // level 12
    &[516, 832, 1_472, 2_173, 3_816, 9_287, 18_293, 36_319, 36_346, 36_373], // level 13
    &[585, 969, 1_730, 2_687, 4_375, 9_283, 18_296, 36_315, 54_365, 54_388], // level 14
    &[587, 969, 1_728, 2_676, 4_366, 9_283, 18_292, 36_319, 72_386, 72_410], // level 15
    &[586, 972, 1_755, 2_742, 5_569, 9_432, 18_442, 36_465, 36_485, 36_498], // level 16
    &[587, 972, 1_756, 2_742, 5_566, 9_438, 18_453, 36_476, 54_507, 54_537], // level 17
    &[586, 973, 1_754, 2_742, 5_573, 10_076, 19_089, 37_113, 55_150, 55_160], // level 18
    &[586, 983, 1_758, 2_750, 5_572, 10_076, 19_089, 37_114, 55_148, 91_206], // level 19
    &[587, 982, 1_758, 2_752, 5_572, 10_078, 19_088, 37_113, 73_176, 109_243], // level 20
    &[585, 984, 1_759, 2_752, 5_573, 10_076, 19_088, 37_116, 73_169, 145_281], // level 21
    &[589, 981, 1_761, 2_750, 5_573, 10_076, 19_089, 37_113, 73_165, 145_281], // level 22
];

/// snappy's hash table (Rust heap).
const SNAPPY: usize = 36 << 10;
/// gzip (zlib-rs through flate2): its deflate state is allocated per call by
/// C `malloc` and freed; under glibc's default settings the freed state stays
/// resident (measured ~340 KiB per column writer).
const GZIP: usize = 350 << 10;
/// gzip in a process started with glibc's mmap threshold at 64 KiB or less
/// ([`crate::rss::GLIBC_TUNABLES`], which the CLI sets for itself): the
/// freed deflate state is returned (`tests/calibration.rs` measures it).
const GZIP_RETURNED: usize = 16 << 10;

/// Transient bytes while one page of up to `input` bytes is compressed (the
/// codec's own state; the output buffer is counted with the page).
pub(crate) fn transient(codec: Compression, input: usize) -> usize {
    match codec {
        // Deflate state and window at the default level.
        Compression::GZIP(_) => 300 << 10,
        Compression::BROTLI(level) => {
            let quality = usize::try_from(level.compression_level()).unwrap_or(usize::MAX);
            lookup(BROTLI[quality.min(BROTLI.len() - 1)], input, true)
        }
        _ => 0,
    }
}

/// Resident bytes one column writer keeps for `codec` once it has
/// compressed pages of up to `input` bytes.
pub(crate) fn per_column(codec: Compression, input: usize) -> usize {
    match codec {
        // LZO has no writer in parquet: a plan for it fails at the first page.
        Compression::UNCOMPRESSED
        | Compression::LZ4
        | Compression::LZ4_RAW
        | Compression::BROTLI(_)
        | Compression::LZO => 0,
        Compression::SNAPPY => SNAPPY,
        Compression::GZIP(_) => match freed_blocks_returned() {
            true => GZIP_RETURNED,
            false => GZIP,
        },
        Compression::ZSTD(level) => {
            let row = match level.compression_level() {
                // zstd's level 0 is its default, 3.
                0 => 2,
                level => usize::try_from(level - 1).unwrap_or(0),
            };
            // zstd's window stops growing at 8 MiB up to level 19 (its
            // parameter tables), and at 32–128 MiB for levels 20–22.
            lookup(ZSTD[row.min(ZSTD.len() - 1)], input, row >= 19)
        }
    }
}

/// What the planner counts for a compression codec once a column writer
/// has compressed pages of up to `page` bytes (uncompressed): what each
/// column writer keeps for its life (zstd's context, outside the Rust heap;
/// snappy's table; gzip's freed state where it stays resident), and what
/// compressing one page holds on the thread doing it (brotli's encoder,
/// gzip's state). The plan counts the first for every leaf column and the
/// second once per encoding thread, at its largest page.
///
/// ```
/// use parquet::basic::{BrotliLevel, Compression, ZstdLevel};
/// use parquet_spill::plan::codec_memory;
/// let zstd = |level| Compression::ZSTD(ZstdLevel::try_new(level).unwrap());
/// // zstd's context grows with the level and the page it compressed.
/// assert!(codec_memory(zstd(19), 1 << 20).per_column > 16 << 20);
/// assert!(codec_memory(zstd(1), 1 << 20).per_column < 1 << 20);
/// assert!(codec_memory(zstd(1), 64 << 10).per_column <= codec_memory(zstd(1), 1 << 20).per_column);
/// // brotli builds its encoder for each page.
/// let brotli = codec_memory(Compression::BROTLI(BrotliLevel::try_new(9).unwrap()), 64 << 10);
/// assert_eq!(brotli.per_column, 0);
/// assert!(brotli.per_page > 32 << 20);
/// assert_eq!(codec_memory(Compression::LZ4_RAW, 1 << 20).per_page, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecMemory {
    /// Kept by each column writer until the file is closed.
    pub per_column: usize,
    /// Held while one page is compressed.
    pub per_page: usize,
}

/// What the planner counts for `codec` at pages of up to `page` bytes:
/// see [`CodecMemory`].
pub fn codec_memory(codec: Compression, page: usize) -> CodecMemory {
    CodecMemory {
        per_column: per_column(codec, page),
        per_page: transient(codec, page),
    }
}

/// Bytes `row` gives an input of `input` bytes: the most of every size up
/// to the input's, and beyond the row, where it `grows` past its last
/// size, in proportion to the input as between its last two sizes.
fn lookup(row: Row, input: usize, grows: bool) -> usize {
    let log = input
        .max(1)
        .checked_next_power_of_two()
        .map_or(usize::BITS, usize::trailing_zeros);
    let index = usize::try_from(log.saturating_sub(FIRST_LOG)).unwrap_or(usize::MAX);
    let kib = |v: u32| {
        usize::try_from(v)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024)
    };
    let most = row[..=index.min(row.len() - 1)]
        .iter()
        .copied()
        .max()
        .map_or(0, kib);
    let [.., before, last] = row else {
        return most;
    };
    if !grows {
        return most;
    }
    let last_size = 1usize << (FIRST_LOG as usize + row.len() - 1);
    // Growth per byte between the last two sizes (half the last apart).
    let growth = kib(*last).saturating_sub(kib(*before)) as f64 / (last_size / 2) as f64;
    let beyond = (input.saturating_sub(last_size) as f64 * growth).ceil() as usize;
    most.saturating_add(beyond)
}

/// Whether this process returns freed blocks of 64 KiB and more to the
/// system: a glibc Linux process that started with `GLIBC_TUNABLES` setting
/// glibc's mmap threshold at most that. glibc reads the variable once, at
/// start-up, so the environment the process started with is read
/// (`/proc/self/environ`, not one changed since); found once.
fn freed_blocks_returned() -> bool {
    static RETURNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *RETURNED.get_or_init(|| {
        if !cfg!(all(target_os = "linux", target_env = "gnu")) {
            return false;
        }
        let Ok(environ) = std::fs::read("/proc/self/environ") else {
            return false;
        };
        environ
            .split(|&b| b == 0)
            .filter_map(|v| v.strip_prefix(b"GLIBC_TUNABLES="))
            .filter_map(|v| std::str::from_utf8(v).ok())
            .next_back()
            .and_then(mmap_threshold)
            .is_some_and(|t| t <= 64 << 10)
    })
}

/// The mmap threshold a `GLIBC_TUNABLES` value sets, if any (the last one
/// wins, as in glibc); none where it turns mmap off (`mmap_max=0`).
fn mmap_threshold(tunables: &str) -> Option<usize> {
    if tunables.split(':').any(|t| t == "glibc.malloc.mmap_max=0") {
        return None;
    }
    tunables
        .split(':')
        .filter_map(|t| t.strip_prefix("glibc.malloc.mmap_threshold="))
        .next_back()
        .and_then(|v| v.parse().ok())
}

/// The cheapest codec to name in a refusal, if it is cheaper than `codec`.
pub(crate) fn cheaper(codec: Compression) -> Option<Compression> {
    match per_column(codec, 64 << 10).saturating_add(transient(codec, 64 << 10)) {
        0 => None,
        _ => Some(Compression::LZ4_RAW),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::{BrotliLevel, ZstdLevel};

    #[test]
    fn lookups_take_the_most_up_to_the_input_and_grow_beyond() {
        // 16 KiB, 32 KiB, 64 KiB: the middle one smaller (zstd's small-input
        // tables can cost more than larger inputs' ones).
        let row: Row = &[300, 200, 400];
        assert_eq!(lookup(row, 1, true), 300 << 10);
        assert_eq!(lookup(row, 16 << 10, true), 300 << 10);
        assert_eq!(lookup(row, (16 << 10) + 1, true), 300 << 10, "the envelope");
        assert_eq!(lookup(row, 40 << 10, true), 400 << 10);
        assert_eq!(lookup(row, 64 << 10, true), 400 << 10);
        // Beyond: 200 KiB more per 32 KiB of input, as from 32 to 64 KiB.
        assert_eq!(lookup(row, 96 << 10, true), 600 << 10);
        assert_eq!(lookup(row, 96 << 10, false), 400 << 10, "held flat");
        assert_eq!(
            lookup(&[100, 100], 1 << 30, true),
            100 << 10,
            "flat stays flat"
        );
        assert_eq!(lookup(&[100], 1 << 30, true), 100 << 10);
        // A page limit of usize::MAX ("rows only") neither panics nor wraps.
        assert_eq!(lookup(row, usize::MAX, false), 400 << 10);
        assert!(lookup(row, usize::MAX, true) > 400 << 10);
    }

    #[test]
    fn levels_map_to_their_rows() {
        let zstd = |l| Compression::ZSTD(ZstdLevel::try_new(l).unwrap());
        let page = 64 << 10;
        assert_eq!(per_column(zstd(0), page), per_column(zstd(3), page));
        assert_eq!(per_column(zstd(-5), page), per_column(zstd(1), page));
        assert!(per_column(zstd(22), 1 << 20) > 100 * per_column(zstd(1), 1 << 20) / 4);
        assert_eq!(per_column(Compression::LZ4_RAW, 1 << 20), 0);
        assert_eq!(per_column(Compression::SNAPPY, 1 << 20), SNAPPY);
        let brotli = |q| Compression::BROTLI(BrotliLevel::try_new(q).unwrap());
        assert_eq!(per_column(brotli(11), 1 << 20), 0);
        assert!(transient(brotli(11), page) > transient(brotli(1), page));
        assert_eq!(transient(Compression::ZSTD(ZstdLevel::default()), page), 0);
        // The measured growth: level 19 from 1 to 8 MiB inputs, and held
        // there (its window is 8 MiB); level 22 beyond (128 MiB window).
        assert!(per_column(zstd(19), 1 << 20) > 16 << 20);
        assert!(per_column(zstd(19), 8 << 20) > 4 * per_column(zstd(19), 1 << 20));
        assert_eq!(
            per_column(zstd(19), 64 << 20),
            per_column(zstd(19), 8 << 20)
        );
        assert!(per_column(zstd(22), 16 << 20) > per_column(zstd(22), 8 << 20));
        assert!(per_column(zstd(1), usize::MAX) < 1 << 20);
        assert!(transient(brotli(9), 16 << 10) > 32 << 20);
        assert_eq!(cheaper(zstd(1)), Some(Compression::LZ4_RAW));
        assert_eq!(cheaper(brotli(9)), Some(Compression::LZ4_RAW));
        assert_eq!(cheaper(Compression::UNCOMPRESSED), None);
    }

    #[test]
    fn the_mmap_threshold_is_read_from_glibc_tunables() {
        assert_eq!(mmap_threshold(crate::rss::GLIBC_TUNABLES), Some(65536));
        assert_eq!(
            mmap_threshold("glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096"),
            Some(4096)
        );
        assert_eq!(
            mmap_threshold("glibc.malloc.mmap_threshold=4096:glibc.malloc.mmap_threshold=1048576"),
            Some(1 << 20)
        );
        assert_eq!(mmap_threshold("glibc.malloc.arena_max=2"), None);
        assert_eq!(
            mmap_threshold("glibc.malloc.mmap_threshold=4096:glibc.malloc.mmap_max=0"),
            None
        );
        assert_eq!(mmap_threshold("glibc.malloc.mmap_threshold=lots"), None);
        assert_eq!(mmap_threshold(""), None);
    }
}
