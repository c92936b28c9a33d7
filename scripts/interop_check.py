#!/usr/bin/env python3
"""Check that pyarrow and DuckDB read back what parquet-spill's stores wrote.

Usage: python3 scripts/interop_check.py DIR

DIR comes from tests/interop.rs: `manifest.json` lists every Parquet file
with the case and store that wrote it and an Arrow IPC stream holding the
same input batches. The IPC stream, read with pyarrow's IPC reader, is the
ground truth; each Parquet file is read twice and compared with it column by
column, every row, nulls included:

* pyarrow: `pq.read_table(file)`. Types must equal the input's, except the
  pairs in PYARROW_MAPPINGS (types arrow-rs writes without a Parquet logical
  type, Parquet INTERVAL, dictionaries pyarrow decodes), which are compared
  after the conversion each names.
* DuckDB: `SELECT * FROM read_parquet(?)`. Each column's DuckDB type must be
  the one `duckdb_expectation` derives from the input's Arrow type; the
  input is then cast (losslessly, with pyarrow's safe casts) to the Arrow
  type DuckDB exports and compared exactly. Lists, structs and maps compare
  as whole nested values; timestamps with a time zone compare as instants
  (DuckDB keeps no zone name: pyarrow checks the name); intervals compare
  as (months, days, nanoseconds). A column DuckDB cannot hold losslessly is
  printed as `duckdb-excluded: <column>: <reason>` and only checked
  approximately; the Rust test requires that list to be exactly its
  documented allowlist. An Arrow type with no expectation here fails.

Values are compared as whole columns after the documented normalisation
(Arrow equality, which ignores chunking and the bytes behind nulls); on a
difference the first differing row is located and printed with file, case,
store, reader, column and both values.

So that no comparison is vacuous, a sensitivity check then swaps two
different values of every input column of one file and requires both
readers' comparisons to report that column at that row.

Exit status: 0 if everything matched, 1 on any mismatch, 2 on a usage or
manifest error.

Standard library, pyarrow and duckdb only (scripts/requirements.txt).
"""

import ctypes
import json
import math
import struct
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

# (input Arrow type, pyarrow's type on read) -> why, and how they are compared.
PYARROW_MAPPINGS = {
    ("date64[ms]", "int64"): "arrow-rs writes Date64 as plain INT64 milliseconds "
    "(no Parquet logical type) and pyarrow does not restore it from the "
    "ARROW:schema hint; compared as int64 milliseconds",
    ("time32[s]", "int32"): "Parquet TIME has no seconds unit: arrow-rs writes "
    "plain INT32 seconds and pyarrow does not restore it from the hint; "
    "compared as int32 seconds",
    ("timestamp[s]", "int64"): "Parquet TIMESTAMP has no seconds unit: arrow-rs "
    "writes plain INT64 seconds and pyarrow does not restore it from the hint; "
    "compared as int64 seconds",
    ("month_interval", "fixed_size_binary[12]"): "pyarrow cannot convert Parquet "
    "INTERVAL: its 12 bytes are decoded as (months, days, millis)",
    ("day_time_interval", "fixed_size_binary[12]"): "pyarrow cannot convert Parquet "
    "INTERVAL: its 12 bytes are decoded as (months, days, millis)",
    (
        "dictionary<values=int64, indices=int16, ordered=0>",
        "int64",
    ): "pyarrow restores dictionary encoding only for string and binary "
    "values; compared decoded",
    (
        "dictionary<values=large_string, indices=int8, ordered=0>",
        "dictionary<values=string, indices=int8, ordered=0>",
    ): "pyarrow reads dictionary values as string, not large_string; "
    "compared decoded",
}

# Decimals above this precision have no DuckDB DECIMAL type.
DUCKDB_MAX_DECIMAL_PRECISION = 38
# Relative tolerance for columns DuckDB reads as DOUBLE instead of DECIMAL.
APPROX_REL_TOL = 1e-12


class Mismatch(Exception):
    """A value or type that differs from the ground truth."""

    def __init__(self, column, row, message):
        super().__init__(message)
        self.column = column
        self.row = row


class Unsupported(Exception):
    """An Arrow type this script has no rule for: fails, never skipped."""


# ---------------------------------------------------------------- helpers


def decoded(col):
    """The column with dictionary encoding removed (values compare, not indices)."""
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def show(col, row):
    """Row `row` of a chunked array, readable for every type (as_py refuses
    nanosecond times without pandas; Arrow's own formatter does not)."""
    try:
        return repr(col[row].as_py())
    except Exception:  # pylint: disable=broad-except
        return col.slice(row, 1).to_string(skip_new_lines=True, window=10)


def first_difference(expected, got):
    """Index of the first row where two equal-length chunked arrays differ."""
    lo, hi = 0, len(expected)  # prefixes of length lo are equal, of hi differ
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if expected.slice(0, mid).equals(got.slice(0, mid)):
            lo = mid
        else:
            hi = mid
    return lo


def assert_equal(column, expected, got):
    """Raise Mismatch at the first row where `expected` and `got` differ."""
    if expected.type != got.type:
        raise Mismatch(column, None, f"compared as {expected.type} vs {got.type}")
    if expected.equals(got):
        return
    row = first_difference(expected, got)
    raise Mismatch(
        column,
        row,
        f"expected {show(expected, row)}, got {show(got, row)}",
    )


def assert_equal_lists(column, expected, got, close=None):
    """Like assert_equal, for Python lists (intervals, approximate doubles)."""
    if len(expected) != len(got):
        raise Mismatch(column, None, f"{len(got)} values, expected {len(expected)}")
    for row, (want, have) in enumerate(zip(expected, got)):
        if want is None or have is None:
            same = want is None and have is None
        elif close is not None:
            same = close(want, have)
        else:
            same = want == have
        if not same:
            raise Mismatch(column, row, f"expected {want!r}, got {have!r}")


# The C data interface's `struct ArrowArray` (5 int64 + 5 pointers, 64-bit).
ARROW_ARRAY_SIZE = 80


def interval_truth(table, name):
    """(months, days, nanoseconds) per row of an input interval column.

    pyarrow reads month and day-time intervals from IPC but has no Python
    class for them (no to_pylist, no cast). Their memory layouts are those of
    int32 and of two int32s, so each batch is exported through the Arrow C
    data interface and imported again as int32 / fixed_size_binary(8).
    """
    sub = table.select([name])
    kind = str(sub.schema.field(0).type)
    storage = {"month_interval": pa.int32(), "day_time_interval": pa.binary(8)}[kind]
    values = []
    for batch in sub.to_batches():
        c_array = ctypes.create_string_buffer(ARROW_ARRAY_SIZE)
        batch._export_to_c(ctypes.addressof(c_array))
        view = pa.RecordBatch._import_from_c(
            ctypes.addressof(c_array), pa.schema([pa.field(name, storage)])
        )
        for v in view.column(0).to_pylist():
            if v is None:
                values.append(None)
            elif kind == "month_interval":
                values.append((v, 0, 0))
            else:
                days, millis = struct.unpack("<ii", v)
                values.append((0, days, millis * 1_000_000))
    return values


def parquet_interval_values(col):
    """(months, days, nanoseconds) per row of a Parquet INTERVAL read as 12 bytes.

    The bytes are three little-endian 32-bit integers; arrow-rs stores
    negative months two's-complement, so they are decoded signed.
    """
    out = []
    for v in col.to_pylist():
        if v is None:
            out.append(None)
        else:
            months, days, millis = struct.unpack("<iii", v)
            out.append((months, days, millis * 1_000_000))
    return out


# ---------------------------------------------------------------- pyarrow


def check_pyarrow(path, truth, notes):
    """Compare `pq.read_table(path)` with the truth table; raise Mismatch."""
    table = pq.read_table(path)
    check_shape(table, truth)
    for name in truth.column_names:
        compare_pyarrow_column(name, truth, table, notes)


def check_shape(table, truth):
    """Same row count and column names, in order."""
    if table.num_rows != truth.num_rows:
        raise Mismatch(None, None, f"{table.num_rows} rows, expected {truth.num_rows}")
    if table.column_names != truth.column_names:
        raise Mismatch(None, None, f"columns {table.column_names}, expected {truth.column_names}")


def compare_pyarrow_column(name, truth, table, notes):
    """Compare one column of pyarrow's read with the truth; raise Mismatch."""
    field, got_field = truth.schema.field(name), table.schema.field(name)
    if got_field.nullable != field.nullable:
        raise Mismatch(name, None, f"nullable={got_field.nullable}, expected {field.nullable}")
    want, got = truth.column(name), table.column(name)
    if field.type == got_field.type:
        assert_equal(name, decoded(want), decoded(got))
        return
    key = (str(field.type), str(got_field.type))
    if key not in PYARROW_MAPPINGS:
        raise Mismatch(name, None, f"read as {got_field.type}, expected {field.type}")
    notes.setdefault(
        f"pyarrow-mapped: {name} ({key[0]} read as {key[1]}): {PYARROW_MAPPINGS[key]}",
        None,
    )
    if "interval" in key[0]:
        assert_equal_lists(name, interval_truth(truth, name), parquet_interval_values(got))
    else:
        got = decoded(got)
        assert_equal(name, decoded(want).cast(got.type), got)


# ---------------------------------------------------------------- DuckDB

SIMPLE_DUCKDB_TYPES = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.string_view(): "VARCHAR",
    pa.binary(): "BLOB",
    pa.large_binary(): "BLOB",
    pa.binary_view(): "BLOB",
    pa.time32("ms"): "TIME",
    pa.time64("us"): "TIME",
    pa.time64("ns"): "TIME_NS",
}


def duckdb_expectation(t):
    """(DuckDB type, comparison, note) for an input Arrow type.

    comparison: "exact" (cast the input to DuckDB's Arrow type, compare),
    "interval" (as (months, days, nanoseconds)) or "approx" (DuckDB cannot
    hold the values exactly: the note is the exclusion reason). A note on an
    "exact" comparison explains a representation change. Raises Unsupported
    for types without a rule.
    """
    if pa.types.is_dictionary(t):
        return duckdb_expectation(t.value_type)
    if t in SIMPLE_DUCKDB_TYPES:
        return SIMPLE_DUCKDB_TYPES[t], "exact", None
    if pa.types.is_fixed_size_binary(t):
        return "BLOB", "exact", None
    if t == pa.float16():
        return "FLOAT", "exact", "Float16 widened exactly to FLOAT"
    if t == pa.date64():
        return "BIGINT", "exact", (
            "arrow-rs writes Date64 as plain INT64 milliseconds (no Parquet "
            "logical type; DuckDB ignores the ARROW:schema hint): compared as int64"
        )
    if t == pa.time32("s"):
        return "INTEGER", "exact", (
            "Parquet TIME has no seconds unit: plain INT32 seconds, compared as int32"
        )
    if pa.types.is_duration(t):
        return "BIGINT", "exact", (
            "Parquet has no duration type: plain INT64 in the column's unit, "
            "compared as int64"
        )
    if pa.types.is_timestamp(t):
        if t.unit == "s" and t.tz is None:
            return "BIGINT", "exact", (
                "Parquet TIMESTAMP has no seconds unit: plain INT64 seconds, "
                "compared as int64"
            )
        if t.unit in ("ms", "us"):
            name = "TIMESTAMP" if t.tz is None else "TIMESTAMP WITH TIME ZONE"
        elif t.unit == "ns":
            name = "TIMESTAMP_NS" if t.tz is None else "TIMESTAMPTZ_NS"
        else:
            raise Unsupported(f"no DuckDB rule for {t}")
        note = None
        if t.tz is not None:
            note = (
                f"UTC-adjusted timestamp (zone {t.tz}): DuckDB keeps instants, "
                "not zone names; compared as instants (pyarrow checks the zone)"
            )
        return name, "exact", note
    if str(t) in ("month_interval", "day_time_interval"):
        return "INTERVAL", "interval", "compared as (months, days, nanoseconds)"
    if pa.types.is_decimal(t):
        if t.precision <= DUCKDB_MAX_DECIMAL_PRECISION:
            return f"DECIMAL({t.precision},{t.scale})", "exact", None
        return "DOUBLE", "approx", (
            f"DuckDB decimals hold at most {DUCKDB_MAX_DECIMAL_PRECISION} digits, "
            f"so {t} is read as DOUBLE; nulls compared exactly, values to a "
            f"relative {APPROX_REL_TOL:g} only"
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner, how, _ = duckdb_expectation(t.value_type)
        if how != "exact":
            raise Unsupported(f"no DuckDB rule for {t} (nested {how} comparison)")
        note = None
        if pa.types.is_fixed_size_list(t):
            note = "arrow-rs writes fixed-size lists as Parquet LIST: read as a list"
        return f"{inner}[]", "exact", note
    if pa.types.is_struct(t):
        parts = []
        for i in range(t.num_fields):
            inner, how, _ = duckdb_expectation(t.field(i).type)
            if how != "exact":
                raise Unsupported(f"no DuckDB rule for {t} (nested {how} comparison)")
            parts.append(f"{t.field(i).name} {inner}")
        return f"STRUCT({', '.join(parts)})", "exact", None
    if pa.types.is_map(t):
        key, key_how, _ = duckdb_expectation(t.key_type)
        item, item_how, _ = duckdb_expectation(t.item_type)
        if key_how != "exact" or item_how != "exact":
            raise Unsupported(f"no DuckDB rule for {t} (nested comparison)")
        return f"MAP({key}, {item})", "exact", None
    raise Unsupported(f"no DuckDB rule for Arrow type {t}")


def duckdb_table(con, path):
    """DuckDB's result as (column types by name, pyarrow Table)."""
    rel = con.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
    types = {name: str(t) for name, t in zip(rel.columns, rel.types)}
    result = rel.arrow()
    if isinstance(result, pa.RecordBatchReader):
        result = result.read_all()
    return types, result


def check_duckdb(con, path, truth, notes):
    """Compare DuckDB's read of `path` with the truth table; raise Mismatch."""
    try:
        types, table = duckdb_table(con, path)
    except duckdb.Error as e:
        # Name the columns DuckDB cannot read, for the message.
        bad = []
        for name in truth.column_names:
            try:
                con.sql(f'SELECT "{name}" FROM read_parquet(?)', params=[str(path)]).fetchall()
            except duckdb.Error as col_error:
                bad.append(f"{name}: {col_error}")
        raise Mismatch(", ".join(bad) or None, None, f"DuckDB cannot read the file: {e}")
    check_shape(table, truth)
    for name in truth.column_names:
        compare_duckdb_column(name, truth, types, table, notes)


def compare_duckdb_column(name, truth, types, table, notes):
    """Compare one column of DuckDB's read with the truth; raise Mismatch."""
    field = truth.schema.field(name)
    try:
        expected_type, how, note = duckdb_expectation(field.type)
    except Unsupported as e:
        raise Mismatch(name, None, str(e)) from None
    if types[name] != expected_type:
        raise Mismatch(name, None, f"DuckDB type {types[name]}, expected {expected_type}")
    want, got = decoded(truth.column(name)), table.column(name)
    if how == "approx":
        notes.setdefault(f"duckdb-excluded: {name}: {note}", None)
        assert_equal_lists(
            name,
            want.cast(pa.float64()).to_pylist(),
            got.to_pylist(),
            close=lambda a, b: math.isclose(a, b, rel_tol=APPROX_REL_TOL),
        )
        return
    if note:
        notes.setdefault(f"duckdb-mapped: {name} ({field.type} as {expected_type}): {note}", None)
    if how == "interval":
        have = [None if v is None else tuple(v) for v in got.to_pylist()]
        assert_equal_lists(name, interval_truth(truth, name), have)
        return
    try:
        want = want.cast(got.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise Mismatch(name, None, f"input does not convert to DuckDB's {got.type}: {e}") from None
    assert_equal(name, want, got)


# ---------------------------------------------------------------- sensitivity


def rows_to_swap(col):
    """Two rows holding different values (non-null if possible), or None."""
    values = decoded(col)
    nulls = values.slice(0, 200).is_null().to_pylist()
    non_null = [i for i, null in enumerate(nulls) if not null]
    for candidates in (non_null, range(len(nulls))):
        for first in candidates:
            for second in candidates:
                if second > first and not values.slice(first, 1).equals(values.slice(second, 1)):
                    return first, second
    return None


def sensitivity_check(con, path, truth):
    """Prove no column's comparison is vacuous: for every column, swap two
    input rows holding different values and require both readers'
    comparisons to report that column at the first swapped row. Returns
    (failure lines, columns that hold no two different values)."""
    failures, untestable = [], []
    read_pa = pq.read_table(path)
    types, read_dd = duckdb_table(con, path)
    for index, field in enumerate(truth.schema):
        name = field.name
        rows = rows_to_swap(truth.column(index))
        if rows is None:
            untestable.append(name)
            continue
        # Slices and concatenation work for every type (take does not).
        first, second = rows
        sub = truth.select([index])
        swapped = pa.concat_tables(
            [
                sub.slice(0, first),
                sub.slice(second, 1),
                sub.slice(first + 1, second - first - 1),
                sub.slice(first, 1),
                sub.slice(second + 1),
            ]
        ).column(0)
        mutated = truth.set_column(index, field, swapped)
        for reader in ("pyarrow", "duckdb"):
            try:
                if reader == "pyarrow":
                    compare_pyarrow_column(name, mutated, read_pa, {})
                else:
                    compare_duckdb_column(name, mutated, types, read_dd, {})
            except Mismatch as m:
                if (m.column, m.row) == (name, first):
                    continue
                failures.append(
                    f"SENSITIVITY reader={reader} column={name}: swapping rows {rows} "
                    f"was reported at column={m.column} row={m.row}: {m}"
                )
            else:
                failures.append(
                    f"SENSITIVITY reader={reader} column={name}: swapping rows {rows} "
                    "of the input went unnoticed"
                )
    return failures, untestable


# ---------------------------------------------------------------- main


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    try:
        files = json.loads((root / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        print(f"interop_check: cannot read {root / 'manifest.json'}: {e}", file=sys.stderr)
        return 2
    if not files:
        print("interop_check: the manifest lists no files", file=sys.stderr)
        return 2

    start = time.monotonic()
    con = duckdb.connect()
    notes = {}  # insertion-ordered set of mapping and exclusion lines
    failures = []
    truth_path, truth = None, None
    probe = None  # (entry, truth) for the sensitivity check
    for entry in files:
        if entry["truth"] != truth_path:
            truth_path = entry["truth"]
            truth = pa.ipc.open_stream(root / truth_path).read_all()
        if probe is None and truth.num_rows >= 2:
            probe = (entry, truth)
        path = root / entry["parquet"]
        where = f"file={entry['parquet']} case={entry['case']} store={entry['store']}"
        for reader in ("pyarrow", "duckdb"):
            try:
                if reader == "pyarrow":
                    check_pyarrow(path, truth, notes)
                else:
                    check_duckdb(con, path, truth, notes)
            except Mismatch as m:
                failures.append(
                    f"MISMATCH {where} reader={reader} column={m.column} row={m.row}: {m}"
                )
            except Exception as e:  # pylint: disable=broad-except
                failures.append(f"ERROR {where} reader={reader}: {type(e).__name__}: {e}")

    for line in notes:
        print(line)
    if probe is None:
        failures.append("SENSITIVITY no file with two rows to check the comparisons on")
    else:
        entry, truth = probe
        try:
            sensitivity, untestable = sensitivity_check(con, root / entry["parquet"], truth)
        except Exception as e:  # pylint: disable=broad-except
            sensitivity, untestable = [f"SENSITIVITY {type(e).__name__}: {e}"], []
        failures += sensitivity
        print(
            f"sensitivity: in {entry['parquet']}, swapping two input values of each of "
            f"{truth.num_columns - len(untestable)} columns was caught by both readers "
            f"at the right row; not applicable (no two values differ): "
            f"{', '.join(untestable) or 'none'}"
        )
    for line in failures:
        print(line)
    cases = len({e["case"] for e in files})
    stores = len({e["store"] for e in files})
    print(
        f"interop_check: {len(files)} files ({cases} cases x {stores} stores), "
        f"{2 * len(files)} reads (pyarrow {pa.__version__}, duckdb {duckdb.__version__}), "
        f"{len(failures)} failed, {time.monotonic() - start:.1f}s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
