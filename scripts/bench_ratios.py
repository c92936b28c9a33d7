#!/usr/bin/env python3
"""Print criterion results as a Markdown table of throughput ratios.

Why: absolute timings on a shared, noisy machine mean little; what matters is
how each page store compares with parquet's in-memory default and with the
one-temp-file-per-column reference store, both measured in the same run.

Reads every ``<criterion dir>/<group>/<bench>/new/estimates.json`` (mean
point estimate and its 95% confidence interval) and the ``benchmark.json``
beside it (group, bench name, throughput in bytes). Ratios are "baseline time
/ this store's time", so above 1 means faster than the baseline.

Usage:
    cargo bench --bench write_throughput
    python3 scripts/bench_ratios.py [--criterion-dir DIR] [--reference STORE] [GROUP_SUBSTRING ...]

``--reference`` names the second baseline column (default ``file-per-column``;
the object-store group compares with ``file-store``).

Standard library only.
"""

import argparse
import json
import os
import sys
from pathlib import Path

# Criterion function ids used by benches/write_throughput.rs.
DEFAULT_STORE = "in-memory"
REFERENCE_STORE = "file-per-column"

MIB = float(1 << 20)


def default_criterion_dir():
    """$CARGO_TARGET_DIR/criterion, else target/criterion of this repository."""
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load_results(criterion_dir):
    """{group: {store: result}} for every benchmark with a 'new' estimate."""
    groups = {}
    for estimates_path in sorted(criterion_dir.glob("*/*/new/estimates.json")):
        new_dir = estimates_path.parent
        with open(estimates_path) as f:
            mean = json.load(f)["mean"]
        meta_path = new_dir / "benchmark.json"
        if meta_path.exists():
            with open(meta_path) as f:
                meta = json.load(f)
        else:  # fall back to the directory names
            meta = {"group_id": new_dir.parent.parent.name, "function_id": new_dir.parent.name}
        throughput = meta.get("throughput") or {}
        groups.setdefault(meta["group_id"], {})[meta.get("function_id") or ""] = {
            "mean_ns": mean["point_estimate"],
            "low_ns": mean["confidence_interval"]["lower_bound"],
            "high_ns": mean["confidence_interval"]["upper_bound"],
            "bytes": throughput.get("Bytes") or throughput.get("BytesDecimal"),
        }
    return groups


def format_time(ns):
    """Three or four significant digits in s, ms, µs or ns."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3), ("ns", 1.0)):
        if ns >= scale or unit == "ns":
            value = ns / scale
            decimals = 0 if value >= 100 else 1 if value >= 10 else 2
            return f"{value:.{decimals}f} {unit}"


def ratio(baseline, result):
    if baseline is None:
        return "n/a"
    return f"{baseline['mean_ns'] / result['mean_ns']:.3f}"


def store_order(reference):
    """The default first, then the reference, anything else after them."""
    return lambda name: (name != DEFAULT_STORE, name != reference, name)


def table(groups, reference=REFERENCE_STORE):
    lines = [
        f"| workload | store | mean time (95% CI) | MiB/s | vs in-memory | vs {reference} |",
        "|---|---|---|---:|---:|---:|",
    ]
    for group in sorted(groups):
        stores = groups[group]
        default, ref = stores.get(DEFAULT_STORE), stores.get(reference)
        for name in sorted(stores, key=store_order(reference)):
            r = stores[name]
            ci = f"{format_time(r['low_ns'])} – {format_time(r['high_ns'])}"
            mibs = f"{r['bytes'] / MIB / (r['mean_ns'] / 1e9):.1f}" if r["bytes"] else "n/a"
            lines.append(
                f"| {group} | {name} | {format_time(r['mean_ns'])} ({ci}) | {mibs} "
                f"| {ratio(default, r)} | {ratio(ref, r)} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--criterion-dir",
        type=Path,
        default=default_criterion_dir(),
        help="criterion's output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--reference",
        default=REFERENCE_STORE,
        help="store for the second ratio column (default: %(default)s)",
    )
    parser.add_argument(
        "groups", nargs="*", help="only groups whose name contains one of these strings"
    )
    args = parser.parse_args()

    groups = load_results(args.criterion_dir)
    if args.groups:
        groups = {g: s for g, s in groups.items() if any(f in g for f in args.groups)}
    if not groups:
        wanted = f" for groups matching {args.groups}" if args.groups else ""
        sys.exit(f"no criterion results under {args.criterion_dir}{wanted}; run `cargo bench` first")
    print(table(groups, args.reference))


if __name__ == "__main__":
    main()
