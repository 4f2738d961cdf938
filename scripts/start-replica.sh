#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica of it, of their own (not the
# main server on 5432), for the replica and failover tests:
#   primary  127.0.0.1:${KEYGATE_REPLICATION_PORT:-5481}
#   replica  127.0.0.1:$((port + 1)), made by pg_basebackup -R
# Idempotent: a pair already running is left as it is; a stopped one is started.
# Prints the URLs to export (KEYGATE_TEST_PRIMARY_URL, KEYGATE_TEST_REPLICA_URL).
set -euo pipefail

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=${KEYGATE_REPLICATION_DIR:-/tmp/keygate-replication}
PRIMARY_PORT=${KEYGATE_REPLICATION_PORT:-5481}
REPLICA_PORT=$((PRIMARY_PORT + 1))

as_postgres() { runuser -u postgres -- "$@"; }
running() { as_postgres "$BIN/pg_ctl" -D "$1" status >/dev/null 2>&1; }
start() { as_postgres "$BIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 30 start >/dev/null; }

mkdir -p "$ROOT"
chown postgres "$ROOT"

if [ ! -f "$ROOT/primary/PG_VERSION" ]; then
  rm -rf "$ROOT/primary" "$ROOT/replica"
  as_postgres "$BIN/initdb" -D "$ROOT/primary" -U postgres --auth=trust -E UTF8 >/dev/null
  cat >>"$ROOT/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$ROOT'
wal_level = replica
max_wal_senders = 10
hot_standby = on
fsync = off
max_connections = 200
CONF
  echo "host replication postgres 127.0.0.1/32 trust" >>"$ROOT/primary/pg_hba.conf"
fi
running "$ROOT/primary" || start "$ROOT/primary"

if [ ! -f "$ROOT/replica/PG_VERSION" ]; then
  rm -rf "$ROOT/replica"
  as_postgres "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$ROOT/replica" -R -X stream
  cat >>"$ROOT/replica/postgresql.conf" <<CONF
port = $REPLICA_PORT
CONF
fi
running "$ROOT/replica" || start "$ROOT/replica"

for port in "$PRIMARY_PORT" "$REPLICA_PORT"; do
  for _ in $(seq 1 30); do "$BIN/pg_isready" -h 127.0.0.1 -p "$port" -q && break; sleep 1; done
  "$BIN/pg_isready" -h 127.0.0.1 -p "$port" -q
done
# A replica whose replay a test paused (and did not resume, having crashed) would stay behind forever.
"$BIN/psql" -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -Atqc 'SELECT pg_wal_replay_resume()' >/dev/null

echo "export KEYGATE_TEST_PRIMARY_URL=postgres://postgres@127.0.0.1:$PRIMARY_PORT/postgres"
echo "export KEYGATE_TEST_REPLICA_URL=postgres://postgres@127.0.0.1:$REPLICA_PORT/postgres"
