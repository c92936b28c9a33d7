#!/usr/bin/env bash
# The allocator tables in README.md, one run per setting:
#
#   scripts/allocators.sh cli INPUT.arrow   "Findings worth knowing": `convert`
#                                           of INPUT at --memory-limit 256MiB on
#                                           1 and 2 threads per allocator setting
#   scripts/allocators.sh datafusion [MiB]  "DataFusion": the datafusion_copy
#                                           example (default 1024 MiB) per
#                                           GLIBC_TUNABLES setting
#
# The cli mode needs /usr/bin/time and Debian's libjemalloc2 and
# libmimalloc2.0 (`apt-get install time libjemalloc2 libmimalloc2.0`). The
# CLI re-runs itself with a 64 KiB mmap threshold unless GLIBC_TUNABLES is
# set, so the other rows set a tunable to its default (perturb=0).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=/usr/lib/x86_64-linux-gnu
neutral=glibc.malloc.perturb=0

case ${1:-} in
cli)
    input=${2:?usage: scripts/allocators.sh cli INPUT.arrow}
    cargo build --quiet --release --features cli
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    run() {
        local label=$1
        shift
        for threads in 1 2; do
            /usr/bin/time -f "$label | threads $threads | %e s wall | %M KiB max RSS" \
                env "$@" target/release/parquet-spill convert "$input" -o "$out/out.parquet" \
                --memory-limit 256MiB --threads "$threads" --quiet
        done
    }
    run "glibc, 64 KiB mmap threshold (the CLI's own)"
    run "glibc defaults" GLIBC_TUNABLES=$neutral
    run "mimalloc" GLIBC_TUNABLES=$neutral LD_PRELOAD=$lib/libmimalloc.so.2
    run "jemalloc, decay 0" GLIBC_TUNABLES=$neutral LD_PRELOAD=$lib/libjemalloc.so.2 \
        MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0
    run "jemalloc, dirty decay 100 ms" GLIBC_TUNABLES=$neutral LD_PRELOAD=$lib/libjemalloc.so.2 \
        MALLOC_CONF=dirty_decay_ms:100,muzzy_decay_ms:0
    ;;
datafusion)
    mib=${2:-1024}
    (cd parquet-spill-datafusion && cargo build --quiet --example datafusion_copy)
    bin=${CARGO_TARGET_DIR:-parquet-spill-datafusion/target}/debug/examples/datafusion_copy
    for tunables in $neutral glibc.malloc.arena_max=2 glibc.malloc.mmap_threshold=262144 \
        glibc.malloc.mmap_threshold=131072 glibc.malloc.mmap_threshold=65536; do
        echo "GLIBC_TUNABLES=$tunables: $(GLIBC_TUNABLES=$tunables "$bin" "$mib")"
    done
    ;;
*)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac
