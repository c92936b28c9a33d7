#!/usr/bin/env bash
# Start or stop a local S3 API server (moto) for tests/object_store/.
#
#   eval "$(scripts/s3_server.sh start)"   # prints: export PARQUET_SPILL_S3_ENDPOINT=http://127.0.0.1:PORT
#   scripts/s3_server.sh stop
#
# Needs `pip install 'moto[server]'`. The test creates its own bucket.
set -euo pipefail
pidfile="${TMPDIR:-/tmp}/parquet-spill-moto.pid"
case "${1:-}" in
start)
    port="${PARQUET_SPILL_S3_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    moto_server -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/parquet-spill-moto.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
            echo "export PARQUET_SPILL_S3_ENDPOINT=http://127.0.0.1:$port"
            exit 0
        fi
        sleep 0.2
    done
    echo "moto_server did not start on port $port" >&2
    exit 1
    ;;
stop)
    if [[ -f "$pidfile" ]]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
