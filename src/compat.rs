//! What parquet 60 has that parquet 59 lacks, for the one manifest that
//! builds on both (`>=59.2, <61`: DataFusion 55 is on 59).
//!
//! Why traits: Rust resolves a method call to a type's own (inherent)
//! method before a trait's of the same name. Where parquet 60 has the
//! method, a call names parquet's; on 59 it names the stand-in here, which
//! does what 59 does without it. No version detection, no feature to set.

use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

/// parquet 60's per-column data page row limit; 59 has only the file's.
// Unused on parquet 60, whose inherent methods win.
#[allow(dead_code)]
pub(crate) trait ColumnRowLimit {
    /// The row limit of `col`'s data pages (59: the file's).
    fn column_data_page_row_count_limit(&self, col: &ColumnPath) -> usize;
}

impl ColumnRowLimit for WriterProperties {
    fn column_data_page_row_count_limit(&self, _: &ColumnPath) -> usize {
        self.data_page_row_count_limit()
    }
}

/// Setting it (59: nothing to set; the file's limit is every column's).
#[allow(dead_code)]
pub(crate) trait SetColumnRowLimit: Sized {
    /// Set `col`'s data page row limit to `rows` (59: no change).
    fn set_column_data_page_row_count_limit(self, col: ColumnPath, rows: usize) -> Self;
}

impl SetColumnRowLimit for WriterPropertiesBuilder {
    fn set_column_data_page_row_count_limit(self, _: ColumnPath, _: usize) -> Self {
        self
    }
}

/// parquet 60's distinct-value counts in row group statistics; 59 has none.
#[allow(dead_code)]
pub(crate) trait DistinctValues {
    /// Whether the writer keeps every distinct value's hash of a row group
    /// (59: never).
    fn write_row_group_number_distinct_values(&self) -> bool;
}

impl DistinctValues for WriterProperties {
    fn write_row_group_number_distinct_values(&self) -> bool {
        false
    }
}

/// parquet 60's `DELTA_BINARY_PACKED` block layout; 59 has only the default.
#[allow(dead_code)]
pub(crate) trait DeltaLayout {
    /// The caller's layout for `col`'s delta encoders (59: none).
    fn delta_binary_packed_encoder_options(&self, col: &ColumnPath) -> Option<DefaultDeltaLayout>;
}

impl DeltaLayout for WriterProperties {
    fn delta_binary_packed_encoder_options(&self, _: &ColumnPath) -> Option<DefaultDeltaLayout> {
        None
    }
}

/// A stand-in for parquet 60's `DeltaBinaryPackedEncoderOptions` on 59.
#[allow(dead_code)]
pub(crate) struct DefaultDeltaLayout;

#[allow(dead_code)]
impl DefaultDeltaLayout {
    /// parquet's default block of 128 values.
    pub(crate) fn block_size(&self) -> usize {
        128
    }
}

/// Whether this parquet keeps a column's own page row limit (60 does; on
/// 59 the stand-in above sets nothing). A limit set and read back tells.
pub(crate) fn column_row_limits() -> bool {
    let col = ColumnPath::from("c");
    WriterProperties::builder()
        .set_data_page_row_count_limit(2)
        .set_column_data_page_row_count_limit(col.clone(), 1)
        .build()
        .column_data_page_row_count_limit(&col)
        == 1
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use super::{ColumnRowLimit, SetColumnRowLimit};
    use parquet::file::properties::WriterProperties;
    use parquet::schema::types::ColumnPath;

    #[test]
    fn a_column_row_limit_is_read_where_parquet_has_one() {
        let col = ColumnPath::from("a");
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(100)
            .set_column_data_page_row_count_limit(col.clone(), 7)
            .build();
        let other = ColumnPath::from("b");
        assert_eq!(props.column_data_page_row_count_limit(&other), 100);
        // parquet 60 keeps the column's; 59 has only the file's.
        let version = parquet::file::properties::DEFAULT_CREATED_BY;
        let expected = if version.contains("version 59.") {
            100
        } else {
            7
        };
        assert_eq!(
            props.column_data_page_row_count_limit(&col),
            expected,
            "{version}"
        );
        assert_eq!(super::column_row_limits(), expected == 7, "{version}");
    }
}
