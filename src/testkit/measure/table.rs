//! Tables of results for people.

use super::measurement::optional;
use super::{Measurement, Scenario};

/// `bytes` for people, in binary units: `812 B`, `3.5 MiB`, `5.0 GiB`.
///
/// ```
/// use parquet_spill::testkit::measure::human_bytes;
/// assert_eq!(human_bytes(812), "812 B");
/// assert_eq!(human_bytes(3 << 20 | 1 << 19), "3.5 MiB");
/// assert_eq!(human_bytes(5 << 30), "5.0 GiB");
/// ```
pub fn human_bytes(bytes: u64) -> String {
    bytesize::ByteSize(bytes).display().iec().to_string()
}

/// A plain-text table of results, one row per measurement: workload, store,
/// peak write heap, peak flush heap, spill-file peak, bytes spilled, budget
/// peak, peak RSS growth, the plan's reservation and the page metadata
/// charged, wall time, extra descriptors, output size.
///
/// ```
/// use parquet_spill::testkit::measure::{format_table, Measurement, Scenario, Store};
/// use parquet_spill::workloads::Workload;
/// let row = (Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default), Measurement::default());
/// let table = format_table(&[row]);
/// assert!(table.lines().next().unwrap().trim_start().starts_with("workload"));
/// assert!(table.contains("dictionary-10"));
/// ```
pub fn format_table(results: &[(Scenario, Measurement)]) -> String {
    let header = [
        "workload",
        "store",
        "peak write heap",
        "peak flush heap",
        "spill file peak",
        "spilled",
        "budget peak",
        "peak RSS growth",
        "reserved",
        "page metadata",
        "wall time",
        "extra fds",
        "output",
    ]
    .map(String::from);
    let rows: Vec<[String; 13]> = results
        .iter()
        .map(|(scenario, m)| {
            [
                scenario.workload.name(),
                scenario.store.name(),
                human_bytes(m.peak_write_heap),
                human_bytes(m.peak_flush_heap),
                m.spill_peak_file_len.map_or("-".into(), human_bytes),
                m.bytes_spilled.map_or("-".into(), human_bytes),
                m.budget_peak.map_or("-".into(), human_bytes),
                m.peak_rss_growth.map_or("-".into(), human_bytes),
                m.reserved.map_or("-".into(), human_bytes),
                m.page_metadata.map_or("-".into(), human_bytes),
                format!("{:.2?}", m.wall),
                optional(m.extra_fds),
                human_bytes(m.output_bytes),
            ]
        })
        .collect();
    text_table(&header, &rows, 2)
}

/// Align `rows` under `header`: the first `left` columns left-aligned
/// (names), the rest right-aligned (figures), no borders.
///
/// ```
/// use parquet_spill::testkit::measure::text_table;
/// let table = text_table(&["store", "heap"], &[["file", "1.1 MiB"], ["in-memory", "9.9 MiB"]], 1);
/// let lines: Vec<&str> = table.lines().map(str::trim_end).collect();
/// assert_eq!(lines, [" store         heap", " file       1.1 MiB", " in-memory  9.9 MiB"]);
/// ```
pub fn text_table<H: AsRef<str>, C: AsRef<str>, R: AsRef<[C]>>(
    header: &[H],
    rows: &[R],
    left: usize,
) -> String {
    use comfy_table::{presets, CellAlignment, Table};
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().map(AsRef::as_ref));
    for row in rows {
        table.add_row(row.as_ref().iter().map(AsRef::as_ref));
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        if i >= left {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = table.to_string();
    out.push('\n');
    out
}
