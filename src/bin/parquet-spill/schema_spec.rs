//! `--schema name:type,...`: a schema for CSV and NDJSON inputs in one flag.
//!
//! Why this form: it fits on a command line, reads like the header it
//! describes, and needs no second file. Short lowercase names cover the common
//! types; anything else falls back to Arrow's own type syntax
//! (`Decimal128(10, 2)`, `Timestamp(ms, "UTC")`), so every Arrow type is
//! reachable. Commas inside parentheses or quotes do not split columns.

use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Parse `id:int64,name:string not null,...` into a schema.
pub fn parse(spec: &str) -> Result<SchemaRef, String> {
    let mut fields = Vec::new();
    for column in split_top_level(spec) {
        let column = column.trim();
        if column.is_empty() {
            continue;
        }
        let (name, ty) = column
            .split_once(':')
            .ok_or_else(|| format!("`{column}`: expected `name:type`"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{column}`: the column name is empty"));
        }
        let (ty, nullable) = match strip_suffix_ignore_case(ty.trim(), "not null") {
            Some(ty) => (ty.trim_end(), false),
            None => (ty.trim(), true),
        };
        let data_type = data_type(ty).map_err(|e| format!("column `{name}`: {e}"))?;
        fields.push(Field::new(name, data_type, nullable));
    }
    if fields.is_empty() {
        return Err("the schema has no columns".into());
    }
    let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("column `{}` appears twice", dup[0]));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// A type name: a short alias or any Arrow type string.
fn data_type(name: &str) -> Result<DataType, String> {
    let alias = match name.to_ascii_lowercase().as_str() {
        "bool" | "boolean" => Some(DataType::Boolean),
        "int8" | "i8" => Some(DataType::Int8),
        "int16" | "i16" => Some(DataType::Int16),
        "int32" | "i32" | "int" => Some(DataType::Int32),
        "int64" | "i64" | "long" | "bigint" => Some(DataType::Int64),
        "uint8" | "u8" => Some(DataType::UInt8),
        "uint16" | "u16" => Some(DataType::UInt16),
        "uint32" | "u32" => Some(DataType::UInt32),
        "uint64" | "u64" => Some(DataType::UInt64),
        "float32" | "f32" | "float" => Some(DataType::Float32),
        "float64" | "f64" | "double" => Some(DataType::Float64),
        "string" | "str" | "utf8" | "text" => Some(DataType::Utf8),
        "large_string" | "large_utf8" => Some(DataType::LargeUtf8),
        "binary" | "bytes" => Some(DataType::Binary),
        "date" | "date32" => Some(DataType::Date32),
        "timestamp" => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => None,
    };
    match alias {
        Some(t) => Ok(t),
        None => DataType::from_str(name).map_err(|e| format!("unknown type `{name}` ({e})")),
    }
}

/// Split at commas that are not inside parentheses or double quotes.
fn split_top_level(spec: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in spec.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    parts
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(cut) && text[cut..].eq_ignore_ascii_case(suffix)).then(|| &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_arrow_names_and_required_columns() {
        let schema = parse(
            r#"id:int64 not null, name:string,price:Decimal128(10, 2),at:Timestamp(ms, "UTC")"#,
        )
        .unwrap();
        let f = schema.fields();
        assert_eq!(f.len(), 4);
        assert_eq!((f[0].name().as_str(), f[0].is_nullable()), ("id", false));
        assert_eq!(f[1].data_type(), &DataType::Utf8);
        assert_eq!(f[2].data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(
            f[3].data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
    }

    #[test]
    fn errors_name_the_column() {
        assert!(parse("a:int64,b:wat").unwrap_err().contains("column `b`"));
        assert!(parse("a").unwrap_err().contains("name:type"));
        assert!(parse("a:int,a:int").unwrap_err().contains("twice"));
        assert!(parse(" ").is_err());
    }
}
