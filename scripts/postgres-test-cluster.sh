#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's postgresql package.
#   scripts/postgres-test-cluster.sh start DIR   initdb in DIR, start on a free loopback port; prints the connection string
#                                                (as root, DIR's parent is made searchable: the server runs as postgres)
#   scripts/postgres-test-cluster.sh stop DIR    stop it (the caller deletes DIR)
#   scripts/postgres-test-cluster.sh resume DIR  start a stopped cluster again, on its port (for outage tests)
#   scripts/postgres-test-cluster.sh discard DIR stop it and delete DIR (one step, so that a test process ended right
#                                                after asking still leaves nothing behind)
# The server refuses to run as root: as root, the cluster belongs to the postgres user (runuser). It listens on
# 127.0.0.1 only and trusts local connections (nothing else can reach it); durability settings stay PostgreSQL's
# defaults, as in production.
set -euo pipefail

command=${1:?start or stop}
dir=${2:?directory}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql (install Debian's postgresql)." >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

launch() {
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $1 -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500" \
        >/dev/null 2>&1
}

case "$command" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chmod o+x "$(dirname "$dir")"
        chown postgres: "$dir"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        if launch "$port"; then
            echo "$port" >"$dir/port"
            echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
            exit 0
        fi
    done
    echo "The test cluster did not start:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
    ;;
resume)
    launch "$(cat "$dir/port")" || { cat "$dir/server.log" >&2; exit 1; }
    ;;
stop|discard)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$command" = discard ]; then
        rm -rf "$dir"
    fi
    ;;
*)
    echo "usage: $0 start|stop|resume|discard DIR" >&2
    exit 2
    ;;
esac
