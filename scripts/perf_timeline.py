#!/usr/bin/env python3
"""Print, per time window, how busy each kind of thread of a recorded run was.

Reads ``perf script`` output of a ``perf record -F HZ`` run (no call graphs
needed) and prints, for each window, the cores' worth of samples of the
encoder threads (``parquet-spill-e``), the output writer (``output-writer``)
and everything else, plus how busy the machine's cores were in total.

    perf record -F 1000 -o run.data -- target/release/parquet-spill convert ...
    python3 scripts/perf_timeline.py run.data --window 0.2 --hz 1000 --cores 2
"""

import argparse
import collections
import subprocess

KINDS = {"parquet-spill-e": "encoders", "output-writer": "writer"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="perf.data of the run")
    parser.add_argument("--window", type=float, default=0.2, help="seconds per line")
    parser.add_argument("--hz", type=float, default=1000.0, help="perf record's -F")
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine")
    args = parser.parse_args()
    script = subprocess.run(
        ["perf", "script", "-i", args.data, "-F", "comm,time"],
        capture_output=True, text=True, check=True,
    ).stdout
    counts = collections.Counter()
    start, last = None, 0
    for line in script.splitlines():
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            continue
        comm, stamp = parts[0].strip(), float(parts[1].rstrip(":"))
        start = stamp if start is None else start
        window = int((stamp - start) / args.window)
        last = max(last, window)
        counts[(window, KINDS.get(comm, "other"))] += 1
    per_core = args.hz * args.window
    kinds = ["encoders", "writer", "other"]
    for window in range(last + 1):
        shares = [counts[(window, k)] / per_core for k in kinds]
        cells = " ".join(f"{k} {v:4.2f}" for k, v in zip(kinds, shares))
        print(f"{window * args.window:5.1f} s  {cells}  busy {sum(shares) / args.cores:4.2f}")


if __name__ == "__main__":
    main()
