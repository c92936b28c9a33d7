#!/usr/bin/env bash
# Proof that a DataFusion 55 project that adds parquet-spill ends up with one
# parquet, one arrow and one object_store: dependency resolution only
# (cargo generate-lockfile / cargo tree), nothing is compiled.
#
# A throwaway package under target/datafusion-probe (its own [workspace], not a
# member of anything) depends on DataFusion 55.2 the way a user would; then
#   1. "add the dependency": parquet-spill is added next to the existing
#      lockfile -> cargo keeps DataFusion's parquet 59 for the new edge;
#   2. a lockfile resolved from scratch (or after a plain `cargo update`)
#      picks parquet 60 for parquet-spill -> the two `cargo update --precise`
#      commands README.md gives bring it back to one.
# Each case fails the script if parquet, any arrow crate or object_store is
# in the lockfile twice.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
probe=$root/target/datafusion-probe
rm -rf "$probe"
mkdir -p "$probe/src"
: >"$probe/src/lib.rs"
cd "$probe"
unset CARGO_TARGET_DIR

cat >Cargo.toml <<'EOF'
[package]
name = "datafusion-probe"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
datafusion = { version = "55.2", default-features = false, features = ["parquet"] }
EOF
add_us() {
    echo "parquet-spill = { path = \"$root\", features = [\"object_store\"] }" >>Cargo.toml
}

# Versions of the arrow-rs family in ./Cargo.lock; fails on any duplicate.
one_each() {
    local what=$1 dup
    echo "-- $what"
    echo "   $(awk '/^name = "(parquet|object_store|arrow(-[a-z]+)?)"$/ { n = $3; getline; print n "@" $3 }' Cargo.lock \
        | tr -d '"' | sort | tr '\n' ' ')"
    dup=$(awk '/^name = "(parquet|object_store|arrow(-[a-z]+)?)"$/ { print $3 }' Cargo.lock | sort | uniq -d | tr -d '"' | tr '\n' ' ')
    if [ -n "$dup" ]; then
        echo "FAIL ($what): more than one version of: $dup"
        for v in $(awk '/^name = "parquet"$/ { getline; print $3 }' Cargo.lock | tr -d '"'); do
            cargo tree -e normal -i "parquet@$v" --depth 1
        done
        return 1
    fi
    cargo tree -e normal -i parquet --depth 1
}

echo "== DataFusion 55.2 project, then parquet-spill added to it"
cargo generate-lockfile --quiet
add_us
cargo tree --quiet -e normal --depth 0 >/dev/null   # resolves the new dependency
one_each "added to an existing DataFusion lockfile"

echo "== lockfile resolved from scratch, then README's two commands"
rm Cargo.lock
cargo generate-lockfile --quiet
versions() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print }' Cargo.lock; }
echo "   from scratch: parquet $(versions parquet | tr '\n' ' ')"
# DataFusion's versions (59.x, 0.13.x) for the other ones (60.x, 0.14.x).
p59=$(versions parquet | grep '^59\.' | head -1)
o13=$(versions object_store | grep '^0\.13\.' | head -1)
for v in $(versions parquet | grep -v '^59\.'); do
    echo "   cargo update -p parquet@$v --precise $p59"
    cargo update --quiet -p "parquet@$v" --precise "$p59"
done
for v in $(versions object_store | grep -v '^0\.13\.'); do
    echo "   cargo update -p object_store@$v --precise $o13"
    cargo update --quiet -p "object_store@$v" --precise "$o13"
done
one_each "from scratch + cargo update --precise"
