//! Conversions that succeed: every input format, several inputs (even of
//! different formats) concatenated in order, row-group limits, `--schema`
//! and `--format`, and an output that is also an input. Each output must read
//! back equal to its input.

use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;

use crate::support::{
    assert_no_output, assert_ok, assert_same_rows, convert_quietly, read_parquet, run, sample,
    stderr, stdout, write_input, FORMATS,
};

#[test]
fn every_input_format_converts_and_reads_back_equal() {
    let dir = TempDir::new().unwrap();
    // Row 1 has no nulls: NDJSON columns come in the order keys first appear.
    let input = sample(2_500, 1);
    for ext in FORMATS {
        let path = dir.path().join(format!("in.{ext}"));
        write_input(&path, &[input.slice(0, 1000), input.slice(1000, 1500)]);
        let out = dir.path().join(format!("out-{ext}.parquet"));
        let result = run(&[&"convert", &path, &"-o", &out, &"--quiet"]);
        assert_ok(&result);
        assert!(
            stdout(&result).is_empty() && stderr(&result).is_empty(),
            "--quiet"
        );
        let (back, row_groups) = read_parquet(&out);
        assert_same_rows(&back, std::slice::from_ref(&input));
        assert_eq!(row_groups, 1, "one row group unless limited ({ext})");
    }
}

#[test]
fn several_inputs_concatenate_in_order_even_across_formats() {
    let dir = TempDir::new().unwrap();
    let parts = [sample(700, 0), sample(300, 700), sample(1200, 1000)];
    let paths: Vec<PathBuf> = ["a.parquet", "b.arrow", "c.arrows"]
        .iter()
        .zip(&parts)
        .map(|(name, batch)| {
            let path = dir.path().join(name);
            write_input(&path, std::slice::from_ref(batch));
            path
        })
        .collect();
    let out = dir.path().join("all.parquet");
    let result = run(&[&"convert", &paths[0], &paths[1], &paths[2], &"-o", &out]);
    assert_ok(&result);
    assert!(
        stdout(&result).contains("2,200 in 1 row group"),
        "{}",
        stdout(&result)
    );
    assert_same_rows(&read_parquet(&out).0, &parts);

    // Two CSV files: each has its own header, read with one inferred schema.
    let csvs: Vec<PathBuf> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("part{i}.csv"));
            write_input(&path, std::slice::from_ref(&parts[i]));
            path
        })
        .collect();
    let out = dir.path().join("csvs.parquet");
    assert_ok(&run(&[&"convert", &csvs[0], &csvs[1], &"-o", &out, &"-q"]));
    assert_same_rows(&read_parquet(&out).0, &parts[..2]);
}

#[test]
fn row_group_bytes_limits_row_groups() {
    let dir = TempDir::new().unwrap();
    let input = sample(50_000, 0);
    let path = dir.path().join("in.parquet");
    write_input(&path, std::slice::from_ref(&input));
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"-q",
        &"--row-group-bytes",
        &"64KiB",
        // The byte limit is checked between batches.
        &"--batch-rows",
        &"2000",
        &"--compression",
        &"none",
    ]));
    let (back, row_groups) = read_parquet(&out);
    assert_same_rows(&back, std::slice::from_ref(&input));
    assert!(row_groups > 3, "{row_groups} row groups");
}

#[test]
fn schema_flag_types_csv_columns_and_format_flag_overrides_the_extension() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "id,when,amount\n1,2024-01-02,1.50\n2,,20.25\n").unwrap();
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"--format",
        &"csv",
        &"-o",
        &out,
        &"-q",
        &"--schema",
        &"id:int32 not null, when:date32, amount:Decimal128(10, 2)",
    ]));
    let (back, _) = read_parquet(&out);
    let schema = back.schema();
    assert_eq!(schema.field(0).data_type(), &arrow_schema::DataType::Int32);
    assert!(!schema.field(0).is_nullable());
    assert_eq!(schema.field(1).data_type(), &arrow_schema::DataType::Date32);
    assert_eq!(
        schema.field(2).data_type(),
        &arrow_schema::DataType::Decimal128(10, 2)
    );
    assert_eq!(back.column(1).null_count(), 1);

    // Without --format an unknown extension is an error that says what to do.
    let result = run(&[&"convert", &path, &"-o", &out]);
    assert!(stderr(&result).contains("--format"), "{}", stderr(&result));
}

/// A named time zone, as `--help` shows (`Timestamp(ms, "UTC")`): arrow
/// reads those only with its `chrono-tz` feature, and without it every CSV
/// row was refused ("only offset based timezones supported"). A review's
/// finding.
#[test]
fn csv_timestamps_take_named_time_zones() {
    use arrow_array::{Array, TimestampMillisecondArray};
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data.csv");
    let text = "id,at,local\n1,2024-01-02T03:04:05Z,2024-07-01T12:00:00\n2,,2024-01-01T12:00:00\n";
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"-q",
        &"--schema",
        &r#"id:int64,at:Timestamp(ms, "UTC"),local:Timestamp(ms, "America/New_York")"#,
    ]));
    let (back, _) = read_parquet(&out);
    let at = back
        .column(1)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    assert_eq!(at.timezone(), Some("UTC"));
    assert_eq!((at.value(0), at.null_count()), (1_704_164_645_000, 1));
    // A local time in a named zone, daylight saving or not: 16:00 and
    // 17:00 UTC.
    let local = back
        .column(2)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    assert_eq!(local.timezone(), Some("America/New_York"));
    assert_eq!(local.values(), &[1_719_849_600_000, 1_704_128_400_000]);
}

/// `large_string` and `binary` are `--schema` names arrow-csv cannot
/// decode (it failed at the first row until they were read as strings and
/// cast); an interval is reached through the cast too.
#[test]
fn schema_types_the_csv_decoder_lacks_are_read_through_a_cast() {
    use arrow_array::{Array, BinaryArray, LargeStringArray};
    use arrow_schema::{DataType, IntervalUnit};
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data.csv");
    let mut text = String::from("id,name,raw,wait\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "{i},name {i},{},{} days\n",
            if i % 7 == 0 { "" } else { "bytes" },
            i % 30
        ));
    }
    std::fs::write(&path, &text).unwrap();
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"-q",
        &"--batch-rows",
        &"1000",
        &"--schema",
        &"id:int64,name:large_string,raw:binary,wait:Interval(DayTime)",
    ]));
    let (back, _) = read_parquet(&out);
    let types: Vec<_> = back
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int64,
            DataType::LargeUtf8,
            DataType::Binary,
            DataType::Interval(IntervalUnit::DayTime)
        ]
    );
    assert_eq!(back.num_rows(), 5000);
    let names = back
        .column(1)
        .as_any()
        .downcast_ref::<LargeStringArray>()
        .unwrap();
    assert_eq!(names.value(4321), "name 4321");
    let raw = back
        .column(2)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    assert_eq!((raw.value(1), raw.null_count()), (&b"bytes"[..], 715));
}

#[test]
fn an_output_that_is_also_an_input_is_replaced_safely() {
    let dir = TempDir::new().unwrap();
    let input = sample(3_000, 0);
    let path = dir.path().join("data.parquet");
    write_input(&path, std::slice::from_ref(&input));
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &path,
        &"-q",
        &"--compression",
        &"gzip:6",
    ]));
    assert_same_rows(&read_parquet(&path).0, std::slice::from_ref(&input));
    assert_no_output(&dir.path().join("nothing-else"));
}

/// `--threads` changes how many cores encode, never a byte of the output:
/// with row-group limits, a memory limit and without. Nor does `--fsync`.
#[test]
fn every_thread_count_writes_the_same_bytes() {
    let dir = TempDir::new().unwrap();
    let input = sample(6_000, 3);
    let path = dir.path().join("in.arrow");
    write_input(&path, &[input.slice(0, 2500), input.slice(2500, 3500)]);
    let mut unsynced = None;
    for extra in [
        &[][..],
        &["--fsync"][..],
        &["--row-group-rows", "1700"][..],
        // A limit roomy enough that every thread count gets the same plan
        // (each thread's page in flight is reserved in it: at 64 MiB the
        // thread counts' files differed once byte-array pages were counted
        // with the copies parquet makes of them).
        &["--row-group-bytes", "64KiB", "--memory-limit", "128MiB"][..],
    ] {
        let outputs: Vec<Vec<u8>> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let out = dir.path().join(format!("out-{threads}.parquet"));
                assert_ok(&convert_quietly(&path, &out, threads, extra));
                std::fs::read(&out).unwrap()
            })
            .collect();
        assert!(
            outputs.windows(2).all(|w| w[0] == w[1]),
            "{extra:?}: outputs differ between thread counts"
        );
        match extra {
            [] => unsynced = Some(outputs[0].clone()),
            ["--fsync"] => assert!(
                unsynced.as_ref() == Some(&outputs[0]),
                "--fsync changed the output"
            ),
            _ => {}
        }
        let (back, _) = read_parquet(&dir.path().join("out-2.parquet"));
        assert_same_rows(&back, std::slice::from_ref(&input));
    }
}

/// Arrow IPC files are read block by block into buffers reused once the
/// writer drops a batch: dictionary columns (dictionary blocks read first),
/// nested lists and many batches must read back equal on every thread count.
#[test]
fn ipc_files_with_dictionaries_and_many_batches_read_back_equal() {
    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};

    let dir = TempDir::new().unwrap();
    // One dictionary for the whole file (IPC files cannot replace it).
    let values: ArrayRef = Arc::new(StringArray::from(vec!["red", "green", "blue"]));
    let batches: Vec<RecordBatch> = (0..60)
        .map(|b| {
            let keys = Int32Array::from_iter_values((0..500).map(|i| ((b + i) % 3) as i32));
            let kinds = DictionaryArray::try_new(keys, Arc::clone(&values)).unwrap();
            let mut lists = ListBuilder::new(Int32Builder::new());
            for i in 0..500 {
                lists.append_value((0..i % 4).map(|v| Some(v + b as i32)));
            }
            let base = sample(500, b * 500);
            let schema = base.schema();
            let mut columns: Vec<(&str, ArrayRef)> = vec![
                ("kind", Arc::new(kinds)),
                ("list", Arc::new(lists.finish())),
            ];
            columns.extend(
                schema
                    .fields()
                    .iter()
                    .zip(base.columns())
                    .map(|(f, c)| (f.name().as_str(), Arc::clone(c))),
            );
            RecordBatch::try_from_iter(columns).unwrap()
        })
        .collect();
    let path = dir.path().join("in.arrow");
    write_input(&path, &batches);
    for threads in [1, 2] {
        let out = dir.path().join(format!("out-{threads}.parquet"));
        assert_ok(&convert_quietly(
            &path,
            &out,
            threads,
            &["--memory-limit", "64MiB"],
        ));
        assert_same_rows(&read_parquet(&out).0, &batches);
    }
}

/// A key inferred as a string may hold numbers in other lines (JSON has no
/// schema): they are written as their text, in either order.
#[test]
fn ndjson_numbers_in_a_string_key_convert_as_text() {
    use arrow_array::cast::AsArray;
    let dir = TempDir::new().unwrap();
    for (name, text) in [
        ("first.ndjson", "{\"a\":1}\n{\"a\":\"x\"}\n"),
        ("later.ndjson", "{\"a\":\"x\"}\n{\"a\":1}\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join(format!("{name}.parquet"));
        assert_ok(&run(&[&"convert", &path, &"-o", &out, &"--quiet"]));
        let (back, _) = read_parquet(&out);
        let mut values: Vec<_> = back.column(0).as_string::<i32>().iter().flatten().collect();
        values.sort();
        assert_eq!(values, ["1", "x"], "{name}");
    }
}

/// Arrow IPC files and streams with compressed buffers (LZ4 frames, as
/// pyarrow's Feather V2 files have by default, and zstd) convert and read
/// back equal; the CLI failed on them before ("requires the zstd feature").
#[test]
fn compressed_ipc_inputs_convert_and_read_back_equal() {
    use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
    use arrow_ipc::CompressionType;
    let dir = TempDir::new().unwrap();
    let input = sample(2_500, 1);
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(codec))
            .unwrap();
        for ext in ["arrow", "arrows"] {
            let path = dir.path().join(format!("in-{codec:?}.{ext}"));
            let file = std::fs::File::create(&path).unwrap();
            let parts = [input.slice(0, 1000), input.slice(1000, 1500)];
            match ext {
                "arrow" => {
                    let mut w =
                        FileWriter::try_new_with_options(file, &input.schema(), options.clone())
                            .unwrap();
                    parts.iter().for_each(|b| w.write(b).unwrap());
                    w.finish().unwrap();
                }
                _ => {
                    let mut w =
                        StreamWriter::try_new_with_options(file, &input.schema(), options.clone())
                            .unwrap();
                    parts.iter().for_each(|b| w.write(b).unwrap());
                    w.finish().unwrap();
                }
            }
            for limit in [None, Some("64MiB")] {
                let out = dir.path().join("out.parquet");
                let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
                    vec![&"convert", &path, &"-o", &out, &"-q"];
                if let Some(limit) = &limit {
                    args.extend_from_slice(&[&"--memory-limit", limit]);
                }
                assert_ok(&run(&args));
                let (back, _) = read_parquet(&out);
                assert_same_rows(&back, std::slice::from_ref(&input));
            }
        }
    }
}
