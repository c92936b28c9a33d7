"""Print src/plan/codec.rs's ZSTD and BROTLI tables, measured here.

    cd scripts/codec_tables && cargo build --release && python3 tables.py

One process per measurement (about half an hour on two cores: zstd's high
levels and brotli's qualities 10-11 compress large inputs slowly). Each
figure is in KiB with 10 % added for data that touches more.
"""
import math
import subprocess
from concurrent.futures import ThreadPoolExecutor

BIN = "target/release/codec-tables"
LOGS = range(14, 24)  # inputs of 16 KiB ... 8 MiB


def measure(args):
    out = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, check=True)
    return math.ceil(int(out.stdout) * 1.1 / 1024)


def zstd(level, log):
    # 3-30 contexts, no more than ~48 MiB of input's worth each time.
    return measure(["zstd", level, 1 << log, max(3, min(30, (48 << 20) >> log))])


def brotli(quality, log):
    # Qualities 10 and 11 stop at 4 MiB (minutes per input beyond).
    if quality >= 10 and log > 22:
        return None
    return measure(["brotli", quality, 1 << log])


def table(name, rows, label, run):
    with ThreadPoolExecutor(2) as pool:
        cells = {(r, log): pool.submit(run, r, log) for r in rows for log in LOGS}
    print(f"const {name}: [Row; {len(rows)}] = [")
    for r in rows:
        values = [cells[(r, log)].result() for log in LOGS]
        values = [f"{v:_}" for v in values if v is not None]
        print(f"    &[{', '.join(values)}], // {label} {r}")
    print("];")


table("ZSTD", range(1, 23), "level", zstd)
table("BROTLI", range(0, 12), "quality", brotli)
