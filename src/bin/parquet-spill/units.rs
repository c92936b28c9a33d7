//! Byte sizes and counts for people, both ways.
//!
//! Why: limits are typed as `256MiB`, and every figure the tool prints (progress,
//! report, demo table, error messages) should read the same way. Parsing uses
//! the `parse-size` crate with binary units throughout (`256M` = `256MB` =
//! `256MiB`), the convention of memory limits elsewhere (JVM, Docker);
//! printing uses `bytesize`'s binary units, as the library's own reports do.

use std::time::Duration;

/// `bytes` in binary units: `812 B`, `3.5 MiB`, `5.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// Parse `256MiB`, `1.5GiB`, `64M`, `4096` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| format!("`{text}` is not a size like 256MiB: {e}"))
}

/// clap value parser: a size.
pub fn parse_size_arg(text: &str) -> Result<u64, String> {
    parse_size(text)
}

/// clap value parser: a size of at least one byte.
pub fn parse_nonzero_size_arg(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err("must be at least 1 byte".into()),
        bytes => Ok(bytes),
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `bytes` over `elapsed` as `41.6 MiB/s` (`-` for no time).
pub fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

/// `bytes` exactly, in a form the size flags accept: `64MiB`, `1500KiB`, `1000`.
pub fn size_arg(bytes: u64) -> String {
    match bytes {
        0 => "0".into(),
        b if b.is_multiple_of(1 << 20) => format!("{}MiB", b >> 20),
        b if b.is_multiple_of(1 << 10) => format!("{}KiB", b >> 10),
        b => b.to_string(),
    }
}

/// A limit in a form `--memory-limit` accepts, rounded up to whole MiB
/// (whole KiB below 1 MiB).
pub fn size_arg_rounded_up(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{}KiB", bytes.div_ceil(1 << 10).max(1))
    } else {
        format!("{}MiB", bytes.div_ceil(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("256MB"), Ok(256 << 20));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_nonzero_size_arg("0").is_err());
    }

    #[test]
    fn counts_and_rates_read_well() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(rate(10 << 20, Duration::from_secs(2)), "5.0 MiB/s");
        assert_eq!(size_arg_rounded_up((3 << 20) + 1), "4MiB");
        assert_eq!(size_arg_rounded_up(106_189), "104KiB");
        assert_eq!(size_arg(64 << 20), "64MiB");
        assert_eq!(size_arg(1500 << 10), "1500KiB");
        assert_eq!(size_arg(1000), "1000");
        assert_eq!(parse_size(&size_arg(1500 << 10)), Ok(1500 << 10));
    }
}
