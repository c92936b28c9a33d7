//! CSV and NDJSON: schema inference and a line-tracking batch reader.
//!
//! Why not arrow's `Reader`s as they are: a malformed row must be reported
//! with its file and line, and arrow-json reports no lines while arrow-csv
//! numbers value errors from 0 after the header. So this module drives
//! arrow's push decoders itself, one line at a time, counting lines:
//!
//! - an error while decoding (bad JSON, wrong CSV field count) belongs to the
//!   line just fed;
//! - an error while building a batch (a value that does not parse as its
//!   column's type) is located by re-reading only that batch from its start
//!   offset with a one-row decoder. That costs nothing unless the input is bad.
//!
//! NDJSON is read in strict mode: a key missing from the schema is an error
//! naming the line, never silently dropped data.
//!
//! Batches are sized in rows from the sample's bytes per row, and, with
//! `--memory-limit`, also in the input bytes fed to the decoder
//! ([`Allowance`]): rows that grow after the sample (40,000 rows of about
//! 10 bytes, then 2-3 KB rows: `tests/cli/memory.rs`) made batches of
//! 24,000 rows, decoded whole before they could be counted. Input is fed in pieces of at
//! most [`PIECE_BYTES`] (a line, or part of a longer one), so no line is
//! read whole into memory either.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, FieldRef, Schema, SchemaRef};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::counting::CountingRead;
use super::held::Gate;
use super::text_types::{cast_to, decoded_schema};
use super::{Batches, Input, Kind, Probed, TextOptions};
use crate::units::human_bytes;

/// The most input fed to the decoder at once: a line, or a piece of a
/// longer one.
const PIECE_BYTES: u64 = 64 << 10;

/// A text batch is ended at a record boundary before the input fed to its
/// decoder passes this many times the bytes planned for it, whatever its
/// rows. Twice: a batch of ordinary rows ends by rows first (planned at
/// the sample's bytes per row), so its batches, and the output, are what
/// they were before bytes were counted; only rows that grow past twice the
/// sample's size end a batch early.
const BATCH_BYTES_SLACK: u64 = 2;

/// The memory a batch holds once decoded, per byte of input fed, beside
/// what the batch's rows hold whatever their size (per value: a CSV
/// field's 8-byte offset in the decoder, a JSON token's 8-byte tape element
/// and offset, the array's 4-8-byte slot or offset and its validity bit),
/// which the rows planned bound. From arrow's code:
///
/// - the decoder copies every value's bytes into one buffer (arrow-csv's
///   `RecordDecoder::data`, arrow-json's tape `bytes`), at most the bytes
///   fed, in a `Vec` grown by doubling: up to 2x;
/// - building the batch copies a string's bytes once more (a
///   `GenericByteBuilder` whose buffer grows by doubling: up to 2x); a
///   number's text becomes one 1-8-byte slot, no more than its text and
///   delimiter for all but one-digit numbers (in the per-value part).
///
/// So 4, the input overhead the plan reserves for the batch being read
/// (arrow's own count of a batch of 2-3 KB strings, `Array::claim`, is
/// 1.7 times its input: the builder's doubled buffer). Not bounded by it:
/// JSON arrays of many short elements (`[1,2,3,...]`), whose tape holds an
/// 8-byte element and an 8-byte offset for every 2-byte `1,` (8.5 bytes a
/// byte, up to twice that in a doubled `Vec`) and whose `Int64` values 4
/// more; their batches are still ended at twice the planned input, but may
/// decode to tens of times it unseen by this check.
const DECODED_PER_INPUT_BYTE: u64 = 4;

/// How many input bytes a text batch may be fed, with `--memory-limit`.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    /// The input bytes planned for a batch: beyond them, the memory they
    /// decode to is taken from the budget before they are fed
    /// ([`Gate::make_room_for`]), or the conversion stops naming the row.
    planned: u64,
    /// The batch ends at the first record boundary before this many.
    end_at: u64,
}

/// Infer (or take from `--schema`) the schema of a text input, and its
/// average bytes per row from the sample.
pub fn probe(input: &Input, options: &TextOptions) -> Result<(SchemaRef, Option<f64>)> {
    let path = &input.path;
    let sampled = Arc::new(AtomicU64::new(0));
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = BufReader::new(CountingRead::new(file, Arc::clone(&sampled)));
    let (inferred, rows) = match input.kind {
        Kind::Csv => arrow_csv::reader::Format::default()
            .with_header(true)
            .infer_schema(reader, Some(options.infer_rows.max(1))),
        _ => arrow_json::reader::infer_json_schema(reader, Some(options.infer_rows.max(1))),
    }
    .map_err(|err| {
        // arrow-json numbers lines within each value; find the file's line.
        let located = match input.kind {
            Kind::Ndjson => json_keys_in_order(path, options.infer_rows).err(),
            _ => None,
        };
        located.unwrap_or_else(|| {
            anyhow::Error::new(err).context(format!(
                "{}: inferring the schema from the first rows",
                path.display()
            ))
        })
    })?;
    let bytes = sampled
        .load(std::sync::atomic::Ordering::Relaxed)
        .min(input.size);
    let bytes_per_row = (rows > 0).then(|| bytes as f64 / rows as f64);
    let schema = match &options.schema {
        Some(given) => {
            if input.kind == Kind::Csv {
                check_header(path, &inferred, given)?;
            }
            Arc::clone(given)
        }
        None if inferred.fields().is_empty() => {
            bail!("{}: no columns found (is the file empty?)", path.display())
        }
        // arrow-json sorts inferred columns by name; keep the file's order.
        None if input.kind == Kind::Ndjson => Arc::new(in_key_order(
            inferred,
            &json_keys_in_order(path, options.infer_rows)?,
        )),
        None => Arc::new(inferred),
    };
    // A column type neither the decoder nor a cast from strings builds is
    // refused here, before any work.
    decoded_schema(input.kind, &schema).with_context(|| path.display().to_string())?;
    Ok((schema, bytes_per_row))
}

/// The top-level keys of the first `rows` objects of an NDJSON file, in the
/// order they first appear; the first invalid line is an error naming it.
fn json_keys_in_order(path: &Path, rows: usize) -> Result<Vec<String>> {
    let reader = BufReader::new(File::open(path)?);
    let mut keys: Vec<String> = Vec::new();
    let mut seen = 0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let found = serde_json::Deserializer::from_str(&line)
            .deserialize_map(ObjectKeys)
            .map_err(|e| {
                let message = e.to_string().replace(" at line 1 column ", " at column ");
                anyhow!(
                    "{}, line {}: not valid JSON: {message}",
                    path.display(),
                    i + 1
                )
            })?;
        for key in found {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        seen += 1;
        if seen >= rows.max(1) {
            break;
        }
    }
    Ok(keys)
}

/// A serde visitor that lists an object's keys and skips its values.
struct ObjectKeys;

impl<'de> Visitor<'de> for ObjectKeys {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(key);
        }
        Ok(keys)
    }
}

/// `schema`'s fields in `order` (fields missing from `order` keep their place at the end).
fn in_key_order(schema: Schema, order: &[String]) -> Schema {
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    fields.sort_by_key(|f| {
        order
            .iter()
            .position(|k| k == f.name())
            .unwrap_or(usize::MAX)
    });
    Schema::new(fields)
}

/// A CSV header must name the `--schema` columns, in order.
fn check_header(path: &Path, header: &Schema, given: &Schema) -> Result<()> {
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    let (found, wanted) = (names(header), names(given));
    if found != wanted {
        bail!(
            "{}: the header names columns ({}) but --schema names ({})",
            path.display(),
            found.join(", "),
            wanted.join(", ")
        );
    }
    Ok(())
}

/// Read a text input in batches of `rows` rows and, when `bytes` is given
/// (the input bytes planned per batch), of about as many bytes at most
/// ([`Allowance`]), making room in `gate` for what passes the plan.
pub fn batches(
    probed: &Probed,
    rows: usize,
    bytes: Option<u64>,
    bytes_read: Arc<AtomicU64>,
    gate: Gate,
) -> Result<Batches> {
    let path = &probed.input.path;
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let syntax = Syntax {
        kind: probed.input.kind,
        schema: Arc::clone(&probed.schema),
        decoded: decoded_schema(probed.input.kind, &probed.schema)?,
    };
    let decoder = syntax.decoder(rows, true)?;
    Ok(Box::new(TextBatches {
        reader: BufReader::with_capacity(1 << 16, CountingRead::new(file, bytes_read)),
        path: path.display().to_string(),
        syntax,
        decoder,
        allowance: bytes.map(|planned| Allowance {
            planned: planned.max(1),
            end_at: planned.max(1).saturating_mul(BATCH_BYTES_SLACK),
        }),
        gate,
        fed: 0,
        boundary: true,
        row_start: (1, 0),
        line: Vec::new(),
        consumed: 0,
        line_no: 0,
        line_ended: true,
        record_line: 1,
        line_offset: 0,
        next_offset: 0,
        batch_start: Position { offset: 0, line: 1 },
        done: false,
    }))
}

/// arrow-csv's and arrow-json's push decoders, seen alike.
trait TextDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError>;
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError>;
    /// A whole record is buffered and nothing partial (meaningful with batch size 1).
    fn record_complete(&self) -> bool;
    /// Part of a record is buffered (as far as the decoder tells).
    fn partial(&self) -> bool;
    /// Whole records decoded since the last flush.
    fn rows(&self) -> usize;
}

/// arrow-csv's decoder, and the batch size it was built with (it tells
/// only the rows left to a full batch).
struct Csv {
    inner: arrow_csv::reader::Decoder,
    batch_size: usize,
}

impl TextDecoder for Csv {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        self.inner.decode(buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.inner.flush()
    }
    fn record_complete(&self) -> bool {
        self.inner.capacity() == 0
    }
    fn partial(&self) -> bool {
        // arrow-csv does not say; its field-count errors carry their own line.
        false
    }
    fn rows(&self) -> usize {
        self.batch_size.saturating_sub(self.inner.capacity())
    }
}

impl TextDecoder for arrow_json::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        arrow_json::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        arrow_json::reader::Decoder::flush(self)
    }
    fn record_complete(&self) -> bool {
        !self.is_empty() && !self.has_partial_record()
    }
    fn partial(&self) -> bool {
        self.has_partial_record()
    }
    fn rows(&self) -> usize {
        self.len()
            .saturating_sub(usize::from(self.has_partial_record()))
    }
}

/// A decoder whose batches are cast from the types it decodes to the
/// input's (`text_types`).
struct Casting {
    inner: Box<dyn TextDecoder>,
    target: SchemaRef,
}

impl TextDecoder for Casting {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        self.inner.decode(buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.inner
            .flush()?
            .map(|batch| cast_to(batch, &self.target))
            .transpose()
    }
    fn record_complete(&self) -> bool {
        self.inner.record_complete()
    }
    fn partial(&self) -> bool {
        self.inner.partial()
    }
    fn rows(&self) -> usize {
        self.inner.rows()
    }
}

/// Which decoder to build, for which schema.
struct Syntax {
    kind: Kind,
    schema: SchemaRef,
    /// What the decoder reads: `schema`, with strings for the types only a
    /// cast makes.
    decoded: SchemaRef,
}

impl Syntax {
    /// A decoder of `rows`-row batches of `schema`; `at_start` skips the
    /// CSV header.
    fn decoder(&self, rows: usize, at_start: bool) -> Result<Box<dyn TextDecoder>> {
        let decoder = self.decoded_as_read(rows, at_start)?;
        Ok(if Arc::ptr_eq(&self.decoded, &self.schema) {
            decoder
        } else {
            Box::new(Casting {
                inner: decoder,
                target: Arc::clone(&self.schema),
            })
        })
    }

    /// The decoder of `decoded`.
    fn decoded_as_read(&self, rows: usize, at_start: bool) -> Result<Box<dyn TextDecoder>> {
        let schema = Arc::clone(&self.decoded);
        Ok(match self.kind {
            Kind::Csv => Box::new(Csv {
                inner: arrow_csv::ReaderBuilder::new(schema)
                    .with_header(at_start)
                    .with_batch_size(rows)
                    .build_decoder(),
                batch_size: rows,
            }),
            _ => Box::new(
                arrow_json::ReaderBuilder::new(schema)
                    .with_batch_size(rows)
                    .with_strict_mode(true)
                    // A key inferred as a string may hold numbers too.
                    .with_coerce_primitive(true)
                    .build_decoder()?,
            ),
        })
    }

    /// The reader's message, minus arrow-csv's own (0-based) line number, with
    /// the column's name added to arrow-csv's column index.
    fn describe(&self, err: &ArrowError) -> String {
        let message = err.to_string();
        if self.kind != Kind::Csv {
            return message;
        }
        name_csv_column(&drop_csv_line(&message), &self.schema)
    }
}

/// Where a batch starts in the file.
#[derive(Debug, Clone, Copy)]
struct Position {
    offset: u64,
    /// 1-based line number.
    line: u64,
}

struct TextBatches {
    reader: BufReader<CountingRead<File>>,
    path: String,
    syntax: Syntax,
    decoder: Box<dyn TextDecoder>,
    /// The input bytes a batch may be fed (`None`: rows alone end it).
    allowance: Option<Allowance>,
    /// Where room beyond the allowance's plan is made.
    gate: Gate,
    /// Input bytes fed to the decoder since the last flush.
    fed: u64,
    /// Whether the decoder is between records after the bytes fed so far.
    boundary: bool,
    /// The line the record being fed began on, and the bytes fed before it.
    row_start: (u64, u64),
    /// The current piece of input (a line, or at most [`PIECE_BYTES`] of
    /// one), `consumed` bytes of it already decoded.
    line: Vec<u8>,
    consumed: usize,
    /// 1-based number of the line `line` is (part of) (0 before the first).
    line_no: u64,
    /// Whether the piece before the next one ended its line.
    line_ended: bool,
    /// The line where the record being decoded began.
    record_line: u64,
    /// Where `line` starts in the file.
    line_offset: u64,
    next_offset: u64,
    /// Start of the batch being decoded (for locating value errors).
    batch_start: Position,
    done: bool,
}

impl Iterator for TextBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_batch().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

impl TextBatches {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.consumed < self.line.len() {
                let piece = (self.line.len() - self.consumed) as u64;
                if let Some(allowance) = self.allowance {
                    let after = self.fed + piece;
                    if after > allowance.end_at && self.boundary && self.decoder.rows() > 0 {
                        // Full in bytes; this piece starts the next batch.
                        return self.flush();
                    }
                    if self.boundary && self.consumed == 0 {
                        self.row_start = (self.line_no, self.fed);
                    }
                    if after > allowance.planned {
                        self.make_room(after)?;
                    }
                }
                if !self.decoder.partial() {
                    self.record_line = self.line_no;
                }
                let rows = self.decoder.rows();
                let n = self
                    .decoder
                    .decode(&self.line[self.consumed..])
                    .map_err(|e| self.decode_error(&e))?;
                self.consumed += n;
                self.fed += n as u64;
                if self.consumed < self.line.len() {
                    // The batch is full; the rest of the line starts the next one.
                    return self.flush();
                }
                self.boundary = self.ends_a_record(rows);
                continue;
            }
            self.line.clear();
            // At most a piece: a line longer than the batch's bytes is fed
            // (and its room made) a piece at a time, not read whole first.
            let read = (&mut self.reader)
                .take(PIECE_BYTES)
                .read_until(b'\n', &mut self.line)
                .with_context(|| format!("reading {}", self.path))?;
            if read == 0 {
                // An empty buffer tells the decoder the input ended (a last
                // CSV line without a newline is a record only then).
                self.decoder
                    .decode(&[])
                    .map_err(|e| self.decode_error(&e))?;
                return self.flush();
            }
            if self.line_ended {
                self.line_no += 1;
            }
            self.line_ended = self.line.last() == Some(&b'\n');
            self.consumed = 0;
            self.line_offset = self.next_offset;
            self.next_offset += read as u64;
        }
    }

    /// Whether the decoder is between records now that the piece in `line`
    /// was fed whole, `rows` whole records decoded before it. arrow-json
    /// tells; arrow-csv does not, so a CSV piece ends a record when one
    /// ended while it was fed (or it is the header, line 1) and its only
    /// line break is its end (`\n` or `\r\n`): records end only at
    /// unquoted line breaks. A piece that is only a line break (an empty
    /// line, skipped) leaves things as they were.
    fn ends_a_record(&self, rows: usize) -> bool {
        if self.syntax.kind != Kind::Csv {
            return !self.decoder.partial();
        }
        let line = &self.line[..];
        let body = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        match body {
            Some([]) => self.boundary,
            Some(body) => {
                (self.decoder.rows() > rows || self.line_no == 1)
                    && !body.iter().any(|&b| b == b'\r' || b == b'\n')
            }
            None => false,
        }
    }

    /// Make room in the budget for what the batch decodes to once `fed`
    /// bytes of input are fed ([`DECODED_PER_INPUT_BYTE`]), or stop naming
    /// the row (or rows) and their bytes, before they are fed.
    fn make_room(&self, fed: u64) -> Result<()> {
        let decoded = fed.saturating_mul(DECODED_PER_INPUT_BYTE);
        let what = || {
            let rows = self.decoder.rows();
            let (line, before) = self.row_start;
            let row = format!(
                "{}, line {line}: a row of more than {} of input",
                self.path,
                human_bytes(fed.saturating_sub(before))
            );
            match rows {
                0 => format!("{row}, about {} once decoded", human_bytes(decoded)),
                _ => format!(
                    "{row} after {rows} rows of {} in its batch, about {} once decoded",
                    human_bytes(before),
                    human_bytes(decoded)
                ),
            }
        };
        self.gate.make_room_for(
            usize::try_from(decoded).unwrap_or(usize::MAX),
            what,
            "split the input into shorter rows",
        )
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        match self.decoder.flush() {
            Ok(batch) => {
                self.fed = 0;
                self.boundary = true;
                self.batch_start = if self.consumed < self.line.len() {
                    Position {
                        offset: self.line_offset + self.consumed as u64,
                        line: self.line_no,
                    }
                } else {
                    Position {
                        offset: self.next_offset,
                        line: self.line_no + 1,
                    }
                };
                Ok(batch)
            }
            Err(err) => Err(match self.locate() {
                Ok(Some((line, located))) => self.error_at(line, &located),
                _ => anyhow!(
                    "{}, a row between lines {} and {}: {}",
                    self.path,
                    self.batch_start.line,
                    self.line_no,
                    self.syntax.describe(&err)
                ),
            }),
        }
    }

    /// An error while decoding: it belongs to the line just fed, or to the
    /// lines since a record that never ended began.
    fn decode_error(&self, err: &ArrowError) -> anyhow::Error {
        if self.record_line < self.line_no {
            anyhow!(
                "{}, lines {}-{}: {}",
                self.path,
                self.record_line,
                self.line_no,
                self.syntax.describe(err)
            )
        } else {
            self.error_at(self.line_no, err)
        }
    }

    fn error_at(&self, line: u64, err: &ArrowError) -> anyhow::Error {
        anyhow!("{}, line {line}: {}", self.path, self.syntax.describe(err))
    }

    /// Re-read the failed batch one row at a time: the first line whose row
    /// fails, and its error.
    fn locate(&self) -> Result<Option<(u64, ArrowError)>> {
        let start = self.batch_start;
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(start.offset))?;
        let mut reader = BufReader::new(file);
        let mut decoder = self.syntax.decoder(1, start.offset == 0)?;
        let mut line = Vec::new();
        for line_no in start.line.. {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 || line_no > self.line_no {
                let last = line_no - 1;
                let ended = decoder.decode(&[]).and_then(|_| decoder.flush());
                return Ok(ended.err().map(|e| (last, e)));
            }
            let mut at = 0;
            while at < line.len() {
                let n = match decoder.decode(&line[at..]) {
                    Ok(n) => n,
                    Err(e) => return Ok(Some((line_no, e))),
                };
                at += n;
                if decoder.record_complete() {
                    if let Err(e) = decoder.flush() {
                        return Ok(Some((line_no, e)));
                    }
                } else if n == 0 {
                    break;
                }
            }
        }
        Ok(None)
    }
}

/// Remove arrow-csv's ` at line N` (its own, 0-based count after the header).
fn drop_csv_line(message: &str) -> String {
    match number_after(message, " at line ") {
        Some((before, _, after)) => format!("{before}{after}"),
        None => message.to_string(),
    }
}

/// `for column 2` → ``for column `price` (2)``.
fn name_csv_column(message: &str, schema: &Schema) -> String {
    const MARK: &str = "for column ";
    let Some((before, index, after)) = number_after(message, MARK) else {
        return message.to_string();
    };
    match schema.fields().get(index) {
        Some(field) => format!("{before}{MARK}`{}` ({index}){after}", field.name()),
        None => message.to_string(),
    }
}

/// Split `message` around the first `{mark}{number}`: the text before the
/// mark, the number, the text after it.
fn number_after<'a>(message: &'a str, mark: &str) -> Option<(&'a str, usize, &'a str)> {
    let at = message.find(mark)?;
    let rest = &message[at + mark.len()..];
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number = rest[..digits].parse().ok()?;
    Some((&message[..at], number, &rest[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field};

    #[test]
    fn ndjson_columns_keep_the_files_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(
            &path,
            "{\"z\": 1, \"a\": {\"q\": 2}}\n\n{\"m\": 3, \"a\": null}\n",
        )
        .unwrap();
        assert_eq!(json_keys_in_order(&path, 10).unwrap(), ["z", "a", "m"]);
        let sorted = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("m", DataType::Int64, true),
            Field::new("z", DataType::Int64, true),
        ]);
        let ordered = in_key_order(sorted, &["z".into(), "a".into(), "m".into()]);
        let names: Vec<_> = ordered.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        std::fs::write(&path, "{\"z\": 1}\n{\"z\": }\n").unwrap();
        let err = json_keys_in_order(&path, 10).unwrap_err().to_string();
        assert!(err.contains("a.ndjson, line 2: not valid JSON"), "{err}");
    }

    #[test]
    fn csv_messages_lose_arrows_line_and_gain_the_column_name() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("price", DataType::Int64, true),
        ]);
        let arrow = "Parser error: Error while parsing value 'x' as type 'Int64' for column 1 \
                     at line 41. Row data: '[1,x]'";
        assert_eq!(
            name_csv_column(&drop_csv_line(arrow), &schema),
            "Parser error: Error while parsing value 'x' as type 'Int64' for column `price` (1). \
             Row data: '[1,x]'"
        );
        assert_eq!(drop_csv_line("no line here"), "no line here");
        assert_eq!(name_csv_column("for column 9", &schema), "for column 9");
    }
}
