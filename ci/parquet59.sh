#!/usr/bin/env bash
# parquet-spill against parquet/arrow 59 and object_store 0.13 -- the versions
# DataFusion 55 uses -- next to the default lockfile's parquet/arrow 60.
#
#   ci/parquet59.sh            cargo check (all targets, all features) on
#                              parquet/arrow 59.3.2, object_store 0.13.2
#                              (the conformance suite runs on 59 in
#                              parquet-spill-datafusion, whose build of
#                              parquet 59 DataFusion needs anyway)
#   ci/parquet59.sh refresh    regenerate ci/Cargo.parquet59.lock from Cargo.lock
#                              (after a dependency change)
#
# Cargo.toml accepts both majors (`>=59.2, <61`, `>=0.13.2, <0.15`), so one
# manifest builds on either; the lockfile picks: Cargo.lock has 60.1 / 0.14,
# ci/Cargo.parquet59.lock has 59.3.2 (what DataFusion 55.2 resolves to) / 0.13.2.
#
# The run works on a copy of the package in target/parquet59/pkg with its own
# lockfile, so the checkout's Cargo.toml and Cargo.lock are never touched. The
# build directory is target/parquet59, or $PARQUET59_TARGET_DIR: .ci/run passes
# `target` so the crates both graphs share come from the main build (the two
# packages' artifacts have different hashes; uplifted binaries are relinked by
# the next main build).
# One line differs in the copy: the S3 test's dev-dependency on object_store
# names its features the 0.14 way (`aws-base`, `reqwest`, `ring`: S3 signing
# with ring, no aws-lc C build); 0.13 calls that set `aws`. A spelling valid in
# both (`aws`) would pull aws-lc-rs and quinn into the default 0.14 build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-test}

PARQUET59=59.3.2
OBJECT_STORE013=0.13.2
seed=$root/ci/Cargo.parquet59.lock
target_dir=${PARQUET59_TARGET_DIR:-target/parquet59}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
export CARGO_TARGET_DIR=$target_dir
pkg=$root/target/parquet59/pkg

# A copy of the package (sources as they are in the work tree, mtimes kept so
# a second run is incremental).
rm -rf "$pkg"
mkdir -p "$pkg"
tar -C "$root" --exclude=./target --exclude=./.git -cf - . | tar -C "$pkg" -xf -
cd "$pkg"

# object_store 0.13 spells the S3 client feature set `aws`.
aws014='features = ["aws-base", "reqwest", "ring"]'
[ "$(grep -cF "$aws014" Cargo.toml)" = 1 ] || {
    echo "ci/parquet59.sh: expected one dev-dependency line with '$aws014' in Cargo.toml"
    exit 1
}
sed -i "s/features = \[\"aws-base\", \"reqwest\", \"ring\"\]/features = [\"aws\"]/" Cargo.toml

# tests/encoder_state.rs sets writer properties parquet 60 added (the row
# group's distinct-value counts, the delta encoder's block layout): parquet
# 59 has neither to build it against. The library reads both through
# src/compat.rs, checked here as on 60.
rm tests/encoder_state.rs

# Versions of a package in ./Cargo.lock, one per line.
locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print }' Cargo.lock; }
# Move every version of $1 that is not $2's major to exactly $2.
pin() {
    local name=$1 want=$2 v
    for v in $(locked "$name"); do
        case $want in
            0.*) [ "${v%.*}" = "${want%.*}" ] && continue ;;
            *) [ "${v%%.*}" = "${want%%.*}" ] && continue ;;
        esac
        echo "cargo update -p $name@$v --precise $want"
        cargo update --quiet -p "$name@$v" --precise "$want"
    done
}

if [ "$mode" = refresh ]; then
    cp "$root/Cargo.lock" Cargo.lock
    # parquet first (it brings arrow 59 in), then the arrow crates parquet does
    # not depend on, then the rest; crates no one needs at 60 any more drop out.
    pin parquet "$PARQUET59"
    for c in arrow-csv arrow-json arrow-ipc arrow-array arrow-schema arrow-buffer; do
        pin "$c" "$PARQUET59"
    done
    pin object_store "$OBJECT_STORE013"
    cp Cargo.lock "$seed"
    echo "wrote ci/Cargo.parquet59.lock"
elif [ "$mode" = test ]; then
    cp "$seed" Cargo.lock
else
    echo "usage: ci/parquet59.sh [refresh]"
    exit 2
fi

# Resolve (a dependency added to Cargo.toml since the seed lockfile was
# written gets added here; nothing in the seed moves) and check that each of
# these crates is there once, at the 59 / 0.13 major.
cargo metadata --format-version 1 --all-features >/dev/null
if ! cmp -s Cargo.lock "$seed"; then
    echo "note: ci/Cargo.parquet59.lock is behind Cargo.toml (cargo added to it);"
    echo "      run ci/parquet59.sh refresh and commit the result"
fi
bad=0
for c in parquet arrow-array arrow-schema arrow-buffer arrow-data arrow-ipc arrow-csv arrow-json object_store; do
    vs=$(locked "$c" | tr '\n' ' ')
    printf '  %-13s %s\n' "$c" "$vs"
    case $c in object_store) want=${OBJECT_STORE013%.*}. ;; *) want=${PARQUET59%%.*}. ;; esac
    for v in $vs; do case $v in "$want"*) ;; *) bad=1 ;; esac; done
    [ "$(echo "$vs" | wc -w)" -le 1 ] || bad=1
done
[ "$bad" = 0 ] || { echo "ci/parquet59.sh: the lockfile does not pin one 59.x parquet/arrow and one 0.13 object_store"; exit 1; }

[ "$mode" = refresh ] && exit 0

cargo check --locked --all-targets --all-features
