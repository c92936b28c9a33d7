#!/usr/bin/env python3
"""The CLI's promise on random inputs: every conversion keeps peak RSS within
--memory-limit plus the stated process overhead (16 MiB), or is refused
naming a minimum, or stops with an error leaving nothing at OUTPUT; every
file written reads back with pyarrow equal to its input.

    cargo build --release --features cli
    python3 scripts/cli_sweep.py target/release/parquet-spill [CASES] [FIRST_SEED]
    CLI_SWEEP_INPUTS=3 python3 scripts/cli_sweep.py ...   # rows split over up to 3 files

Each case draws a schema (flat and nested types, decimals, Float16,
dictionaries, long strings, nulls), a size (up to ~160 MB raw), an input
format (Parquet from pyarrow with its own row groups, Arrow IPC file
compressed or not, IPC stream, NDJSON, CSV where the types allow), and
conversion options (limit 16-256 MiB, every codec (a quarter of the
zstd, brotli and gzip cases at a higher level: zstd 9 or 19, brotli 5 or 9,
gzip 9), 1-4 threads, row groups
by rows or bytes, dictionaries off, page size, a bloom filter). One process
per conversion; the figures are its --report-json. Needs pyarrow
(scripts/requirements.txt). A refused or stopped conversion prints its peak RSS
under its error, and is held to the limit too. Prints one line per case and
a summary with the worst peak RSS / (limit + overhead); exits 1 if any case
broke the promise.
"""
import json
from decimal import Decimal
import os
import random
import re
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MIB = 1 << 20
OVERHEAD = 16 * MIB
CODECS = ["zstd:1", "zstd:3", "snappy", "lz4", "none", "gzip", "brotli:1"]
# A quarter of the cases write at a higher level of their codec family,
# drawn from a stream of their own so every other draw of a seed is as it
# was before the levels were added.
HIGHER = {"zstd": ["zstd:9", "zstd:19"], "brotli": ["brotli:5", "brotli:9"], "gzip": ["gzip:9"]}
LIMITS = [16, 24, 32, 48, 64, 96, 128, 192, 256]


def strings(rng, n, lo, hi, nulls):
    out = []
    for _ in range(n):
        if nulls and rng.random() < nulls:
            out.append(None)
        else:
            k = rng.randint(lo, hi)
            out.append(("%x" % rng.getrandbits(32)) * (k // 8 + 1))
    return [s[: rng.randint(lo, hi)] if s is not None else None for s in out]


def ints(rng, n, bits, nulls):
    return [None if nulls and rng.random() < nulls else rng.getrandbits(bits - 1) for _ in range(n)]


def decimals(values, t):
    return pa.array([None if v is None else Decimal(v).scaleb(-t.scale) for v in values], t)


def column(rng, kind, n, nulls):
    """One column of `kind`, `n` rows, a share `nulls` of them null."""
    if kind == "int64":
        return pa.array(ints(rng, n, 63, nulls), pa.int64())
    if kind == "int8":
        return pa.array(ints(rng, n, 7, nulls), pa.int8())
    if kind == "float64":
        return pa.array([None if rng.random() < nulls else rng.random() for _ in range(n)], pa.float64())
    if kind == "bool":
        return pa.array([None if rng.random() < nulls else rng.random() < 0.5 for _ in range(n)], pa.bool_())
    if kind == "short":
        return pa.array(strings(rng, n, 0, 24, nulls), pa.string())
    if kind == "long":
        return pa.array(strings(rng, n, 200, 4000, nulls), pa.large_string())
    if kind == "binary":
        return pa.array([None if s is None else s.encode() for s in strings(rng, n, 4, 64, nulls)], pa.binary())
    if kind == "decimal10":
        return decimals(ints(rng, n, 30, nulls), pa.decimal128(18, 2))
    if kind == "decimal38":
        return decimals(ints(rng, n, 60, nulls), pa.decimal128(38, 4))
    if kind == "float16":
        return pa.array([None if rng.random() < nulls else rng.random() for _ in range(n)], pa.float16())
    if kind == "fsb":
        return pa.array([None if rng.random() < nulls else rng.getrandbits(128).to_bytes(16, "little") for _ in range(n)], pa.binary(16))
    if kind == "timestamp":
        return pa.array(ints(rng, n, 50, nulls), pa.int64()).cast(pa.timestamp("us"))
    if kind == "date":
        return pa.array(ints(rng, n, 16, nulls), pa.int32()).cast(pa.date32())
    if kind == "dict":
        words = [f"w{i}" for i in range(rng.choice([3, 100, 5000]))]
        return pa.array([None if rng.random() < nulls else rng.choice(words) for _ in range(n)], pa.string()).dictionary_encode()
    if kind == "list_int":
        return pa.array([None if rng.random() < nulls else ints(rng, rng.randint(0, 6), 31, 0) for _ in range(n)], pa.list_(pa.int32()))
    if kind == "list_str":
        return pa.array([None if rng.random() < nulls else strings(rng, rng.randint(0, 4), 0, 16, 0) for _ in range(n)], pa.list_(pa.string()))
    if kind == "struct":
        a = ints(rng, n, 31, 0)
        b = strings(rng, n, 0, 12, 0)
        return pa.array([None if rng.random() < nulls else {"a": x, "b": y} for x, y in zip(a, b)], pa.struct([("a", pa.int32()), ("b", pa.string())]))
    raise ValueError(kind)


RAW = {"int64": 8, "int8": 1, "float64": 8, "bool": 1, "short": 14, "long": 2100, "binary": 40,
       "decimal10": 16, "decimal38": 16, "float16": 2, "fsb": 16, "timestamp": 8, "date": 4,
       "dict": 4, "list_int": 14, "list_str": 30, "struct": 12}
FLAT = ["int64", "int8", "float64", "bool", "short", "long", "timestamp", "date"]
JSON = ["int64", "int8", "float64", "bool", "short", "long", "list_int", "list_str", "struct"]


def table(rng, fmt):
    kinds = FLAT if fmt == "csv" else JSON if fmt == "ndjson" else list(RAW)
    shape = rng.choice(["narrow", "wide", "very wide"])
    width = {"narrow": rng.randint(1, 12), "wide": rng.randint(50, 400), "very wide": rng.randint(800, 1600)}[shape]
    picked = [rng.choice(kinds) for _ in range(min(width, 40))]
    row_bytes = sum(RAW[k] for k in picked) * width / len(picked)
    target = rng.choice([4, 16, 48, 160] if fmt not in ("ndjson", "csv") else [4, 16, 48]) * MIB
    rows = max(1, min(400_000, int(target / row_bytes)))
    nulls = rng.choice([0.0, 0.0, 0.1, 0.9])
    # Columns beyond the 40 drawn repeat them (generation time stays small).
    cols = [column(rng, k, rows, nulls) for k in picked]
    names = [f"c{i}" for i in range(width)]
    return pa.table([cols[i % len(cols)] for i in range(width)], names=names), shape


def write_input(rng, t, fmt, path):
    if fmt == "parquet":
        pq.write_table(t, path, row_group_size=rng.choice([1000, 50_000, 1 << 20]),
                       compression=rng.choice(["snappy", "zstd", "none"]))
    elif fmt == "ipc-file":
        feather.write_feather(t, path, compression=rng.choice(["uncompressed", "lz4", "zstd"]),
                              chunksize=rng.choice([1000, 64_000, 1 << 20]))
    elif fmt == "ipc-stream":
        with ipc.new_stream(path, t.schema) as w:
            for b in t.to_batches(max_chunksize=rng.choice([1000, 64_000])):
                w.write_batch(b)
    elif fmt == "ndjson":
        with open(path, "w") as f:
            for row in t.to_pylist():
                f.write(json.dumps(row) + "\n")
    else:
        pcsv.write_csv(t, path)


def options(rng, schema):
    limit = rng.choice(LIMITS)
    opts = ["--memory-limit", f"{limit}MiB", "--compression", rng.choice(CODECS),
            "--threads", str(rng.choice([1, 1, 2, 4]))]
    roll = rng.random()
    if roll < 0.25:
        opts += ["--row-group-rows", str(rng.choice([100, 5000, 100_000]))]
    elif roll < 0.4:
        opts += ["--row-group-bytes", rng.choice(["4MiB", "64MiB"])]
    if rng.random() < 0.2:
        opts += ["--dictionary", "off"]
    if rng.random() < 0.2:
        opts += ["--page-size", rng.choice(["8KiB", "1MiB", "16MiB"])]
    flat = [f.name for f in schema if not pa.types.is_nested(f.type)]
    if flat and rng.random() < 0.15:
        opts += ["--bloom-filter", rng.choice(flat)]
    return limit * MIB, opts


def higher_level(rng, opts):
    """For a quarter of the cases, the codec drawn at a higher level."""
    at = opts.index("--compression") + 1
    family = opts[at].split(":")[0]
    if family in HIGHER and rng.random() < 0.25:
        opts[at] = rng.choice(HIGHER[family])


def same(expected, got):
    """The written file equals the input, types as the CLI reads them."""
    if got.num_rows != expected.num_rows:
        return f"{got.num_rows} rows read back, {expected.num_rows} written"
    for name in expected.column_names:
        a, b = expected[name], got[name]
        if a.type != b.type:
            try:
                b = b.cast(a.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                a = a.cast(b.type)
        # Chunked dictionaries compare equal only chunk by chunk; compare values.
        if pa.types.is_dictionary(a.type):
            a, b = a.cast(a.type.value_type), b.cast(a.type.value_type)
        if not a.combine_chunks().equals(b.combine_chunks()):
            return f"column {name} differs"
    return None


def run_case(binary, seed, tmp):
    rng = random.Random(seed)
    fmt = rng.choice(["parquet", "parquet", "ipc-file", "ipc-stream", "ndjson", "csv"])
    t, shape = table(rng, fmt)
    ext = {"parquet": "parquet", "ipc-file": "arrow", "ipc-stream": "arrows", "ndjson": "json", "csv": "csv"}[fmt]
    # CLI_SWEEP_INPUTS=N: a case's rows split over up to N files, converted
    # together (their own stream of draws: N=1 leaves every case as it was).
    most = int(os.environ.get("CLI_SWEEP_INPUTS", "1"))
    parts = random.Random(seed ^ 0x5EED).randint(1, max(1, most))
    bounds = [t.num_rows * i // parts for i in range(parts + 1)]
    pieces = [t.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    srcs = [os.path.join(tmp, f"in{i}.{ext}") for i in range(parts)]
    for i, (piece, path) in enumerate(zip(pieces, srcs)):
        # The first file's draws are those of a one-file case.
        write_input(rng if i == 0 else random.Random(seed + i), piece, fmt, path)
    limit, opts = options(rng, t.schema)
    higher_level(random.Random(seed ^ 0x1E7E1), opts)
    out = os.path.join(tmp, "out.parquet")
    report = os.path.join(tmp, "report.json")
    for p in (out, report):
        if os.path.exists(p):
            os.remove(p)
    cmd = [binary, "convert", *srcs, "-o", out, "--report-json", report, "--quiet"] + opts
    if fmt == "csv":
        # Inferred types would differ from the table's; give the schema.
        cmd += ["--schema", ",".join(f"{f.name}:{csv_type(f.type)}" for f in t.schema)]
    if fmt == "ipc-stream":
        cmd += ["--format", "ipc-stream"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    files = f" in {parts} files" if parts > 1 else ""
    what = f"seed {seed}: {fmt} {shape} {t.num_columns} cols x {t.num_rows} rows{files} ({t.nbytes / MIB:.1f} MiB) {' '.join(opts)}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        err = next((l for l in reversed(lines) if "peak RSS" not in l), lines[-1])
        left = os.path.exists(out)
        kind = "refused" if "smallest limit" in err or "too small" in err else "stopped"
        # A stop is held to the limit too: the CLI prints its peak RSS.
        rss = peak_rss(done.stderr)
        ratio = None if rss is None else rss / (limit + OVERHEAD)
        # A clean failure exits 1 and says its peak RSS; a panic (101) or a
        # kill (negative) does neither.
        crashed = done.returncode != 1 or rss is None
        if crashed:
            kind = f"CRASHED (exit {done.returncode})"
        bad = left or crashed or ratio > 1
        detail = err + (f" -- peak RSS {rss / MIB:.1f} MiB" if rss is not None else "")
        return what, kind, ratio, detail + (" -- OUTPUT LEFT BEHIND" if left else ""), bad
    r = json.load(open(report))
    rss = r["peak_rss"]
    got = pq.read_table(out)
    if fmt == "ndjson":
        # Inferred types (and key order) differ from the table's: rows only.
        wrong = None if got.num_rows == t.num_rows else f"{got.num_rows} rows read back, {t.num_rows} written"
    else:
        expected = t
        if fmt == "csv":
            expected = pa.concat_tables([csv_as_read(p, t.schema) for p in srcs])
        wrong = same(expected, got)
    ratio = rss / (limit + OVERHEAD)
    detail = f"rss {rss / MIB:.1f} MiB (growth {(rss - r['baseline_rss']) / MIB:.1f}) heap {r['peak_heap'] / MIB:.1f} MiB, {r['row_groups']} row groups"
    bad = ratio > 1 or wrong is not None
    return what, "written", ratio, detail + (f" -- {wrong}" if wrong else ""), bad


def csv_as_read(path, schema):
    """What a CSV file holds, read by pyarrow with its schema: CSV cannot
    tell an empty string from a null (both read as null, in pyarrow as in
    arrow-csv), and a one-column file's null is a blank line, which both
    skip."""
    options = pcsv.ConvertOptions(column_types=schema, strings_can_be_null=True)
    # Rows of thousands of long strings: blocks larger than pyarrow's 1 MiB.
    blocks = pcsv.ReadOptions(block_size=256 << 20)
    return pcsv.read_csv(path, read_options=blocks, convert_options=options)


def peak_rss(stderr):
    """The peak RSS a failed conversion prints (`peak RSS 12.2 MiB with ...`)."""
    m = re.search(r"peak RSS ([0-9.]+) (B|KiB|MiB|GiB)", stderr)
    if not m:
        return None
    return float(m.group(1)) * {"B": 1, "KiB": 1 << 10, "MiB": MIB, "GiB": 1 << 30}[m.group(2)]


def csv_type(t):
    return {pa.int64(): "int64", pa.int8(): "int8", pa.float64(): "float64", pa.bool_(): "bool",
            pa.string(): "string", pa.large_string(): "large_string", pa.date32(): "date32",
            pa.timestamp("us"): "timestamp"}[t]


def main():
    binary = sys.argv[1]
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    counts, worst, broken = {}, (0.0, None), []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(first, first + cases):
            what, kind, ratio, detail, bad = run_case(binary, seed, tmp)
            counts[kind] = counts.get(kind, 0) + 1
            mark = "OVER/WRONG " if bad else ""
            print(f"{mark}{what}: {kind}" + (f" {ratio:.3f}" if ratio is not None else "") + f" -- {detail}", flush=True)
            if ratio is not None and ratio > worst[0]:
                worst = (ratio, seed)
            if bad:
                broken.append(seed)
    print(f"{cases} cases from seed {first}: {counts}; worst peak RSS / (limit + 16 MiB) "
          f"{worst[0]:.3f} (seed {worst[1]}); broken: {broken or 'none'}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
