//! Writer settings from the command line: codec names and `WriterProperties`.
//!
//! Why: the flags are phrased for people (`zstd:3`, `--dictionary off`,
//! `--bloom-filter user_id`); parquet wants typed properties. Translating
//! them in one place means a typo in a column name or a codec level is a
//! clear error before any input is read, instead of a silently ignored
//! bloom filter or a panic inside parquet.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use arrow_schema::Schema;
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::cli::{ConvertArgs, Toggle};

/// A compression codec as written on the command line: `name[:level]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec(pub Compression);

impl FromStr for Codec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (name, level) = match lower.split_once(':') {
            Some((name, level)) => (name, Some(level)),
            None => (lower.as_str(), None),
        };
        let level_of = |what: &str| -> Result<Option<i64>, String> {
            level
                .map(|l| {
                    l.parse::<i64>()
                        .map_err(|_| format!("`{l}` is not a {what} level"))
                })
                .transpose()
        };
        let bad_level = |e: parquet::errors::ParquetError| e.to_string();
        let codec = match name {
            "none" | "uncompressed" if level.is_none() => Compression::UNCOMPRESSED,
            "snappy" if level.is_none() => Compression::SNAPPY,
            // LZ4_RAW: parquet's plain LZ4 codec is deprecated by the format.
            "lz4" | "lz4_raw" | "lz4-raw" if level.is_none() => Compression::LZ4_RAW,
            "zstd" => Compression::ZSTD(match level_of("zstd")? {
                Some(l) => ZstdLevel::try_new(l as i32).map_err(bad_level)?,
                None => ZstdLevel::default(),
            }),
            "gzip" => Compression::GZIP(match level_of("gzip")? {
                Some(l) => GzipLevel::try_new(l.max(0) as u32).map_err(bad_level)?,
                None => GzipLevel::default(),
            }),
            "brotli" => Compression::BROTLI(match level_of("brotli")? {
                Some(l) => BrotliLevel::try_new(l.max(0) as u32).map_err(bad_level)?,
                None => BrotliLevel::default(),
            }),
            _ => {
                return Err(format!(
                    "unknown codec `{text}`: use zstd[:level], snappy, lz4, gzip[:level], \
                     brotli[:level] or none"
                ))
            }
        };
        Ok(Self(codec))
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Compression::UNCOMPRESSED => f.write_str("none"),
            Compression::SNAPPY => f.write_str("snappy"),
            Compression::LZ4_RAW => f.write_str("lz4"),
            Compression::ZSTD(l) => write!(f, "zstd:{}", l.compression_level()),
            Compression::GZIP(l) => write!(f, "gzip:{}", l.compression_level()),
            Compression::BROTLI(l) => write!(f, "brotli:{}", l.compression_level()),
            other => write!(f, "{other}"),
        }
    }
}

/// The writer properties the flags ask for (before any memory planning).
///
/// One row group unless `--row-group-rows` / `--row-group-bytes` limit it.
pub fn writer_properties(args: &ConvertArgs, schema: &Schema) -> Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(args.compression.0)
        .set_max_row_group_row_count(args.row_group_rows.map(|n| n.get()))
        .set_max_row_group_bytes(args.row_group_bytes.map(to_usize).transpose()?);
    if let Some(page) = args.page_size {
        builder = builder.set_data_page_size_limit(to_usize(page)?);
    }
    if let Some(toggle) = args.dictionary {
        builder = builder.set_dictionary_enabled(toggle == Toggle::On);
    }
    for column in &args.bloom_filters {
        builder = builder.set_column_bloom_filter_enabled(leaf_column(schema, column)?, true);
    }
    Ok(builder.build())
}

fn to_usize(bytes: u64) -> Result<usize> {
    usize::try_from(bytes).with_context(|| format!("{bytes} bytes do not fit this platform"))
}

/// The parquet leaf column `name` (dotted for nested columns), or an error
/// listing the columns there are.
fn leaf_column(schema: &Schema, name: &str) -> Result<ColumnPath> {
    parquet_spill::plan::check_schema(schema).context("converting the schema to Parquet")?;
    let parquet_schema = ArrowSchemaConverter::new()
        .convert(schema)
        .context("converting the schema to Parquet")?;
    let leaves: Vec<String> = parquet_schema
        .columns()
        .iter()
        .map(|c| c.path().string())
        .collect();
    if !leaves.iter().any(|leaf| leaf == name) {
        let prefix = format!("{name}.");
        let under: Vec<&str> = leaves
            .iter()
            .filter(|leaf| leaf.starts_with(&prefix))
            .map(String::as_str)
            .collect();
        if !under.is_empty() {
            bail!(
                "--bloom-filter {name}: a nested column; name a leaf: {}",
                under.join(", ")
            );
        }
        // A wide schema's whole list would bury the message.
        const LISTED: usize = 20;
        let more = match leaves.len().saturating_sub(LISTED) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        bail!(
            "--bloom-filter {name}: no such column; the columns are: {}{more}",
            leaves[..leaves.len().min(LISTED)].join(", ")
        );
    }
    Ok(ColumnPath::new(name.split('.').map(String::from).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field};
    use std::sync::Arc;

    #[test]
    fn codecs_parse_and_print_back() {
        for text in ["zstd:3", "snappy", "lz4", "gzip:9", "brotli:5", "none"] {
            assert_eq!(text.parse::<Codec>().unwrap().to_string(), text);
        }
        assert_eq!("ZSTD".parse::<Codec>().unwrap().to_string(), "zstd:1");
        assert!("zstd:99".parse::<Codec>().is_err());
        assert!("snappy:3".parse::<Codec>().is_err());
        assert!("lzo"
            .parse::<Codec>()
            .unwrap_err()
            .contains("unknown codec"));
    }

    #[test]
    fn bloom_filter_columns_must_exist() {
        let schema = Schema::new(vec![Field::new("user_id", DataType::Int64, true)]);
        assert!(leaf_column(&schema, "user_id").is_ok());
        let err = leaf_column(&schema, "userid").unwrap_err().to_string();
        assert!(err.contains("user_id"), "{err}");
    }

    #[test]
    fn a_nested_column_names_its_leaves_and_a_wide_schema_is_not_listed_whole() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let mut fields = vec![Field::new("tags", DataType::List(item), true)];
        fields.extend((0..100).map(|i| Field::new(format!("c{i}"), DataType::Int64, true)));
        let schema = Schema::new(fields);
        let err = leaf_column(&schema, "tags").unwrap_err().to_string();
        assert!(
            err.ends_with("a nested column; name a leaf: tags.list.item"),
            "{err}"
        );
        let err = leaf_column(&schema, "c100").unwrap_err().to_string();
        assert!(err.ends_with("c18 and 81 more"), "{err}");
        assert!(leaf_column(&schema, "tags.list.item").is_ok());
    }
}
