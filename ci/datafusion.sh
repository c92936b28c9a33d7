#!/usr/bin/env bash
# parquet-spill-datafusion: the DataFusion COPY / DataFrame sink, in its own
# package and lockfile (DataFusion 55.2 uses parquet/arrow 59.3.2 and
# object_store 0.13.2; the parent crate's lockfile has 60.1 / 0.14). Checks
# the lockfile has one of each, then formatting, lints, tests (the parent's
# conformance suite among them, on parquet 59; pyarrow must
# be installed: .ci/run does it), doc tests, docs and the example.
#
# The build directory is $DATAFUSION_TARGET_DIR, default target/ of the parent
# (crates both graphs share build once).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${DATAFUSION_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
export CARGO_TARGET_DIR=$target_dir
cd parquet-spill-datafusion

bad=0
for c in parquet arrow-array arrow-schema arrow-buffer object_store; do
    vs=$(awk -v n="$c" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print }' Cargo.lock | tr '\n' ' ')
    printf '  %-13s %s\n' "$c" "$vs"
    [ "$(echo "$vs" | wc -w)" = 1 ] || bad=1
done
[ "$bad" = 0 ] || { echo "ci/datafusion.sh: Cargo.lock has two versions of the arrow-rs family"; exit 1; }

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo nextest run --locked --no-fail-fast
cargo test --locked --doc
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
cargo run --locked --example datafusion_copy -- 64
