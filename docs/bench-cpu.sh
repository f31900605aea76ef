#!/usr/bin/env bash
# CPU per refund of "refundry bench", on SQLite and on PostgreSQL: the
# figure docs/benchmarks.md compares across changes to the engine and the
# stores. Refunds per second depend on what else the machine is doing; the
# CPU a refund costs hardly does, so this is the number to compare.
#
# For each store it runs RUNS times (default 3): a fresh database, a fresh
# "refundry serve" on it, one "refundry bench --target" of REFUNDS refunds
# (default 3000) with CONCURRENCY clients (default 64). bench itself
# measures the cost (see "refundry bench --help"): it reads the server's
# CPU time from /proc/PID/stat (--server-pid) and, on PostgreSQL, that of
# the backends serving the bench's database (--server-db, found in
# pg_stat_activity: PostgreSQL must run on this machine) just before the
# first refund and half a second after the last, and divides by the
# refunds; the sales made before and the check of invariant 2 after are
# not counted. It reports its own CPU apart, and the SQL statements per
# refund where the server's store counts them. It prints each run and the
# median of each figure.
#
#   docs/bench-cpu.sh [sqlite|postgres|both]      (default both)
#
# REFUNDRY_BENCH_PG names the PostgreSQL server by a URL of its postgres
# database (default: the local one, user postgres); the database
# refundry_bench_cpu on it (REFUNDRY_BENCH_DBNAME names another) is dropped
# and made again for each run.
# REFUNDRY_BIN=path runs that binary as the server instead of building
# this tree; bench is always this tree's (or REFUNDRY_BENCH_BIN), so that
# an older server is measured the same way. RUNS, REFUNDS, CONCURRENCY as
# above; REFUNDRY_GROUP_COMMIT=false runs the server with group commit off.
set -euo pipefail
WHICH=${1:-both}
RUNS=${RUNS:-3}
REFUNDS=${REFUNDS:-3000}
CONCURRENCY=${CONCURRENCY:-64}
SERVER=${REFUNDRY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DBNAME=${REFUNDRY_BENCH_DBNAME:-refundry_bench_cpu}
PGDB=${SERVER/\/postgres\?//$DBNAME?}
DIR=$(mktemp -d)
SERVE_PID=
stop_server() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
  fi
}
trap 'stop_server; rm -rf "$DIR"' EXIT
cd "$(dirname "$0")/.."
if [ -n "${REFUNDRY_BENCH_BIN:-}" ]; then cp "$REFUNDRY_BENCH_BIN" "$DIR/bench"; else go build -o "$DIR/bench" ./cmd/refundry; fi
if [ -n "${REFUNDRY_BIN:-}" ]; then cp "$REFUNDRY_BIN" "$DIR/refundry"; else cp "$DIR/bench" "$DIR/refundry"; fi

# field NAME: the number NAME holds in the JSON line on stdin, or "-"
# when bench left it out (a figure it could not read).
field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | grep . || echo -; }

# run STORE: one bench on a fresh database; writes "server db bench
# statements refunds_per_s p99_ms" to $DIR/line. It runs in this shell,
# not a subshell, so that the EXIT trap stops its server whatever happens.
run() {
  local store=$1 db log key base out extra=()
  log="$DIR/serve.log"
  : > "$log"
  if [ "$store" = sqlite ]; then
    rm -f "$DIR"/bench.db*
    db="sqlite:$DIR/bench.db"
  else
    PGOPTIONS="-c client_min_messages=warning" psql -q "$SERVER" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
    db=$PGDB
    extra=(--server-db "$db")
  fi
  key=$("$DIR/refundry" merchant create --slug cpu --name CPU --db "$db" | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
  "$DIR/refundry" serve --addr 127.0.0.1:0 --db "$db" --rate-limit 0 --group-commit="${REFUNDRY_GROUP_COMMIT:-true}" 2>"$log" &
  SERVE_PID=$!
  for _ in $(seq 1 300); do grep -q 'msg=listening' "$log" && break; sleep 0.1; done
  base="http://$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$log")"
  out=$("$DIR/bench" bench --target "$base" --key "$key" --server-pid "$SERVE_PID" "${extra[@]}" \
    --concurrency "$CONCURRENCY" --refunds "$REFUNDS" --json)
  stop_server
  echo "$out" | grep -q '"invariant_ok":true' || { echo "bench failed: $out" >&2; exit 1; }
  echo "$(field server_cpu_ms_per_refund <<< "$out") $(field db_cpu_ms_per_refund <<< "$out") $(field bench_cpu_ms_per_refund <<< "$out") $(field statements_per_refund <<< "$out") $(field refunds_per_sec <<< "$out") $(field p99_ms <<< "$out")" |
    awk '{ for (i = 1; i <= NF; i++) printf "%s%s", ($i == "-" ? "-" : sprintf("%.3f", $i)), (i < NF ? " " : "\n") }' > "$DIR/line"
}

# median COLUMN FILE: the median of a column, "-" if bench never gave it.
median() {
  cut -d' ' -f"$1" "$2" | grep -v '^-$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.3f\n", a[int((NR + 1) / 2)] }'
}

stores=(sqlite postgres)
[ "$WHICH" = both ] || stores=("$WHICH")
for store in "${stores[@]}"; do
  : > "$DIR/$store.txt"
  for i in $(seq 1 "$RUNS"); do
    run "$store"
    line=$(cat "$DIR/line")
    echo "$line" >> "$DIR/$store.txt"
    read -r s p b n r q <<< "$line"
    echo "$store run $i: CPU ms/refund server $s, postgres backends $p, bench $b; statements/refund $n; $r refunds/s, p99 $q ms"
  done
  echo "$store median ($RUNS runs of $REFUNDS refunds, c=$CONCURRENCY): CPU ms/refund server $(median 1 "$DIR/$store.txt"), postgres backends $(median 2 "$DIR/$store.txt"), bench $(median 3 "$DIR/$store.txt"); statements/refund $(median 4 "$DIR/$store.txt"); $(median 5 "$DIR/$store.txt") refunds/s, p99 $(median 6 "$DIR/$store.txt") ms"
done
