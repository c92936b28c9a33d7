#!/usr/bin/env python3
"""The CLI's --memory-limit on inputs other writers make: README's figures
for Parquet files from pyarrow and DuckDB, a Feather file and an IPC stream.

    cargo build --release --features cli
    python3 scripts/cli_inputs.py target/release/parquet-spill [DIR]

Writes the inputs into DIR (a temporary directory by default; needs pyarrow
and duckdb: scripts/requirements.txt), then converts each with
`--compression lz4`: first at 16 MiB; where that is refused, again at the
limit the refusal suggests. Prints the limit, peak RSS growth (`peak_rss`
minus `baseline_rss` of --report-json), peak heap, or the error. The stream
is converted at 80, 120 and 160 MiB on two threads.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile

import duckdb
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MIB = 1 << 20


def wide(rows=20_000, columns=800):
    """Int64, float, short strings and a small dictionary, in turn."""
    random.seed(1)
    base = [
        pa.array([random.randrange(1 << 40) for _ in range(rows)], pa.int64()),
        pa.array([random.random() for _ in range(rows)]),
        pa.array([f"str{random.randrange(100_000)}" for _ in range(rows)]),
        pa.array([random.randrange(5) for _ in range(rows)], pa.int32()).dictionary_encode(),
    ]
    cols = {}
    for c in range(columns):
        k = (c * 37) % rows
        a = base[c % 4]
        cols[f"c{c}"] = pa.concat_arrays([a.slice(k), a.slice(0, k)])
    return pa.table(cols)


def nested(rows=200_000):
    random.seed(2)
    return pa.table({
        "id": pa.array(range(rows), pa.int64()),
        "txt": pa.array(["x" * random.randrange(3000) for _ in range(rows)]),
        "lst": pa.array([list(range(random.randrange(20))) for _ in range(rows)]),
        "st": pa.array([{"a": i, "b": str(i)} for i in range(rows)]),
    })


def write_inputs(d):
    t = wide()
    pq.write_table(t, f"{d}/wide_snappy_rg.parquet", row_group_size=5000, compression="snappy")
    pq.write_table(t, f"{d}/wide_zstd.parquet", compression="zstd")
    pq.write_table(t, f"{d}/wide_gzip_v2.parquet", compression="gzip", data_page_version="2.0")
    feather.write_feather(t, f"{d}/wide_lz4.feather")  # Feather V2: LZ4 frames
    pq.write_table(nested(), f"{d}/nested.parquet", compression="zstd", row_group_size=50_000)
    duckdb.connect().execute(
        f"COPY (SELECT range AS id, 'str' || (range % 1000) AS s, range * 1.5 AS f, "
        f"[range, range + 1] AS l, {{'a': range, 'b': 'x' || range}} AS st FROM range(2000000)) "
        f"TO '{d}/duckdb.parquet' (FORMAT parquet, ROW_GROUP_SIZE 500000)"
    )
    c = [pa.array([r * 7 + i for r in range(1_000_000)], pa.int64()) for i in range(6)]
    batch = pa.table({f"c{i}": c[i] for i in range(6)}).to_batches()[0]
    with ipc.new_stream(f"{d}/stream.arrows", batch.schema) as w:
        for _ in range(4):
            w.write_batch(batch)


def convert(cli, path, limit, *extra):
    report = path + ".json"
    if os.path.exists(report):
        os.remove(report)
    run = subprocess.run(
        [cli, "convert", path, "-o", path + ".out.parquet", "-q", "--compression", "lz4",
         "--memory-limit", limit, "--report-json", report, *extra],
        capture_output=True, text=True,
    )
    if run.returncode != 0:
        return None, run.stderr
    with open(report) as f:
        return json.load(f), ""


def line(name, limit, r, err):
    if r is None:
        # The innermost cause: the CLI prints it last.
        last = err.strip().splitlines()[-1] if err.strip() else "failed"
        return f"{name:<24} {limit:>7}  {last[:200]}"
    growth = (r["peak_rss"] - r["baseline_rss"]) / MIB
    return f"{name:<24} {limit:>7}  RSS growth {growth:6.1f} MiB, heap {r['peak_heap'] / MIB:6.1f} MiB"


def main():
    cli = os.path.abspath(sys.argv[1])
    d = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
    os.makedirs(d, exist_ok=True)
    write_inputs(d)
    for name in ["wide_snappy_rg.parquet", "wide_zstd.parquet", "wide_gzip_v2.parquet",
                 "duckdb.parquet", "nested.parquet", "wide_lz4.feather"]:
        path = f"{d}/{name}"
        r, err = convert(cli, path, "16MiB")
        suggested = re.search(r"try --memory-limit (\d+MiB)", err)
        if r is None and suggested:
            named = re.search(r"the smallest limit that works is ([0-9.]+ MiB)", err).group(1)
            print(f"{name:<24} {'16MiB':>7}  refused, naming {named}")
            limit = suggested.group(1)
            r, err = convert(cli, path, limit)
            print(line(name, limit, r, err))
        else:
            print(line(name, "16MiB", r, err))
    for limit in ["80MiB", "120MiB", "160MiB"]:
        r, err = convert(cli, f"{d}/stream.arrows", limit, "--threads", "2")
        print(line("stream.arrows, 2 threads", limit, r, err))


if __name__ == "__main__":
    main()
