//! What a compression codec costs per column writer, measured.
//!
//! Why a table: parquet 60.1 creates one codec per column writer, and all
//! column writers of a row group live at once. `ZSTDCodec` keeps a zstd
//! compression and decompression context for the writer's whole life,
//! allocated by C (no Rust allocator sees them); snappy's encoder keeps a
//! hash table on the Rust heap; gzip allocates its deflate state per call
//! through C `malloc`, whose freed chunks stay in the process's resident set.
//! So a 1,500-column writer's codec memory is 1,500 times a per-column figure
//! that depends on the codec, its level and the page size — measured here as
//! resident-set growth per column writer on this crate's calibration probe
//! (`tests/calibration.rs`, which re-measures and checks these figures).
//!
//! Figures are bytes per column writer at the *effective* page size (the
//! bytes a page holds when it is flushed), interpolated linearly between
//! the measured points and held flat beyond them.

use parquet::basic::Compression;

/// `(effective page bytes, resident bytes per column writer)`, ascending.
type Curve = &'static [(usize, usize)];

/// zstd levels 1–2 (parquet's default level is 1).
///
/// Not proportional to the page: zstd picks its tables by input size, and
/// inputs of at most 16 KiB get *larger* hash tables at level 1 than inputs
/// up to 128 KiB. Measured once on 1,500 columns × 4,096 rows (resident
/// growth over LZ4_RAW, per column): pages of 4, 8 and 12 KiB → 132, 179 and
/// 192 KiB; 16, 24, 32 and 64 KiB → 95, 133, 158 and 151 KiB;
/// `tests/calibration.rs` re-measures 8, 16 and 64 KiB. Any column may
/// compress a small input (its last page, a dictionary page, a column with
/// little data), so the curve is the envelope: 200 KiB from the smallest
/// pages up.
const ZSTD_FAST: Curve = &[
    (16 << 10, 200 << 10),
    (64 << 10, 212 << 10),
    (160 << 10, 300 << 10),
];
/// zstd levels 3–5.
const ZSTD_DEFAULT: Curve = &[
    (16 << 10, 470 << 10),
    (64 << 10, 560 << 10),
    (160 << 10, 812 << 10),
];
/// zstd levels 6–9.
const ZSTD_HIGH: Curve = &[
    (16 << 10, 420 << 10),
    (64 << 10, 900 << 10),
    (160 << 10, 2_900 << 10),
];
/// zstd levels 10 and above (measured at 12, 15, 19 and 22; the largest).
const ZSTD_MAX: Curve = &[
    (16 << 10, 760 << 10),
    (64 << 10, 2_400 << 10),
    (160 << 10, 5_000 << 10),
];
/// snappy's hash table (Rust heap).
const SNAPPY: Curve = &[(16 << 10, 36 << 10)];
/// gzip (zlib-rs through flate2): its deflate state is allocated per call by
/// C `malloc` and freed; under glibc's default settings the freed state stays
/// resident (measured ~340 KiB per column writer).
const GZIP: Curve = &[
    (16 << 10, 345 << 10),
    (64 << 10, 350 << 10),
    (160 << 10, 350 << 10),
];
/// gzip in a process started with glibc's mmap threshold at 64 KiB or less
/// ([`crate::rss::GLIBC_TUNABLES`], which the CLI sets for itself): the
/// freed deflate state is returned (`tests/calibration.rs` measures it).
const GZIP_RETURNED: Curve = &[(16 << 10, 16 << 10)];

/// Transient bytes while one page is compressed (the codec's own scratch;
/// the output buffer is counted with the page).
pub(crate) fn transient(codec: Compression) -> usize {
    match codec {
        // Deflate state and window at the default level.
        Compression::GZIP(_) => 300 << 10,
        // brotli's encoder state at parquet's default quality.
        Compression::BROTLI(_) => 1 << 20,
        _ => 0,
    }
}

/// Resident bytes one column writer keeps for `codec` with pages of
/// `page` effective bytes.
pub(crate) fn per_column(codec: Compression, page: usize) -> usize {
    let curve = match codec {
        // LZO has no writer in parquet: a plan for it fails at the first page.
        Compression::UNCOMPRESSED
        | Compression::LZ4
        | Compression::LZ4_RAW
        | Compression::BROTLI(_)
        | Compression::LZO => return 0,
        Compression::SNAPPY => SNAPPY,
        Compression::GZIP(_) => match freed_blocks_returned() {
            true => GZIP_RETURNED,
            false => GZIP,
        },
        Compression::ZSTD(level) => match level.compression_level() {
            i32::MIN..=2 => ZSTD_FAST,
            3..=5 => ZSTD_DEFAULT,
            6..=9 => ZSTD_HIGH,
            _ => ZSTD_MAX,
        },
    };
    interpolate(curve, page)
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

fn interpolate(curve: Curve, x: usize) -> usize {
    let Some(&(x0, y0)) = curve.first() else {
        return 0;
    };
    if x <= x0 {
        return y0;
    }
    for pair in curve.windows(2) {
        let ((xa, ya), (xb, yb)) = (pair[0], pair[1]);
        if x <= xb {
            let t = (x - xa) as f64 / (xb - xa) as f64;
            return (ya as f64 + t * (yb as f64 - ya as f64)).ceil() as usize;
        }
    }
    curve.last().map_or(0, |&(_, y)| y)
}

/// The cheapest codec to name in a refusal, if it is cheaper than `codec`.
pub(crate) fn cheaper(codec: Compression) -> Option<Compression> {
    match per_column(codec, 64 << 10) {
        0 => None,
        _ => Some(Compression::LZ4_RAW),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::ZstdLevel;

    #[test]
    fn curves_interpolate_and_hold_flat() {
        let z1 = Compression::ZSTD(ZstdLevel::try_new(1).unwrap());
        assert_eq!(per_column(z1, 4 << 10), 200 << 10);
        assert_eq!(per_column(z1, 1 << 20), 300 << 10);
        let mid = per_column(z1, 40 << 10);
        assert!(mid > 200 << 10 && mid < 212 << 10);
        assert_eq!(per_column(Compression::LZ4_RAW, 1 << 20), 0);
        let z22 = Compression::ZSTD(ZstdLevel::try_new(22).unwrap());
        assert_eq!(per_column(z22, 1 << 20), 5_000 << 10);
        assert_eq!(cheaper(z1), Some(Compression::LZ4_RAW));
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
