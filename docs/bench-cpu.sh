#!/usr/bin/env bash
# CPU per refund of "refundry bench", on SQLite and on PostgreSQL: the
# figure docs/benchmarks.md compares across changes to the engine and the
# stores. Refunds per second depend on what else the machine is doing; the
# CPU a refund costs hardly does, so this is the number to compare.
#
# For each store it runs RUNS times (default 3): a fresh database, a fresh
# "refundry serve" on it, one "refundry bench --target" of REFUNDS refunds
# (default 3000) with CONCURRENCY clients (default 64). It reads the
# server's CPU time (utime + stime of /proc/PID/stat) before and after the
# bench and divides by the refunds; on PostgreSQL it does the same for the
# backends serving the bench's database (pg_stat_activity), which works
# only when PostgreSQL runs on this machine. The bench's own CPU (the HTTP
# clients) is not counted. A run counts every request the bench makes: one
# sale created per refund, the refund, and the check of invariant 2
# afterwards. It prints each run and the median of each figure.
#
#   docs/bench-cpu.sh [sqlite|postgres|both]      (default both)
#
# REFUNDRY_BENCH_PG names the PostgreSQL server by a URL of its postgres
# database (default: the local one, user postgres); the database
# refundry_bench_cpu on it is dropped and made again for each run.
# REFUNDRY_BIN=path runs that binary instead of building this tree.
# RUNS, REFUNDS, CONCURRENCY as above; REFUNDRY_GROUP_COMMIT=false runs
# the server with group commit off.
set -euo pipefail
WHICH=${1:-both}
RUNS=${RUNS:-3}
REFUNDS=${REFUNDS:-3000}
CONCURRENCY=${CONCURRENCY:-64}
SERVER=${REFUNDRY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DBNAME=refundry_bench_cpu
PGDB=${SERVER/\/postgres\?//$DBNAME?}
TICK=$(getconf CLK_TCK)
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
if [ -n "${REFUNDRY_BIN:-}" ]; then cp "$REFUNDRY_BIN" "$DIR/refundry"; else go build -o "$DIR/refundry" ./cmd/refundry; fi

# ticks PID...: the CPU clock ticks (user + system) the processes have
# used so far; a process that is gone counts 0.
ticks() {
  local sum=0 pid t
  for pid in "$@"; do
    # Fields after the command name, which is in parentheses: utime and
    # stime are the 12th and 13th of them (14 and 15 of the whole line).
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

backends() {
  psql -qAt "$SERVER" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$DBNAME' AND backend_type = 'client backend'"
}

# run STORE: one bench on a fresh database; writes
# "server_ms_per_refund pg_ms_per_refund refunds_per_s" to $DIR/line. It
# runs in this shell, not a subshell, so that the EXIT trap stops its
# server whatever happens.
run() {
  local store=$1 db log key base before after pgbefore pgafter out rps p t
  log="$DIR/serve.log"
  : > "$log"
  if [ "$store" = sqlite ]; then
    rm -f "$DIR"/bench.db*
    db="sqlite:$DIR/bench.db"
  else
    PGOPTIONS="-c client_min_messages=warning" psql -q "$SERVER" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
    db=$PGDB
  fi
  key=$("$DIR/refundry" merchant create --slug cpu --name CPU --db "$db" | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
  "$DIR/refundry" serve --addr 127.0.0.1:0 --db "$db" --rate-limit 0 --group-commit="${REFUNDRY_GROUP_COMMIT:-true}" 2>"$log" &
  SERVE_PID=$!
  for _ in $(seq 1 300); do grep -q 'msg=listening' "$log" && break; sleep 0.1; done
  base="http://$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$log")"

  before=$(ticks "$SERVE_PID")
  pgbefore=0
  pgafter=0
  if [ "$store" = postgres ]; then
    # The pool's connections open as the load needs them: record each
    # backend's ticks now, and count one started during the run from zero.
    : > "$DIR/pg.before"
    for p in $(backends); do echo "$p $(ticks "$p")" >> "$DIR/pg.before"; done
  fi
  out=$("$DIR/refundry" bench --target "$base" --key "$key" --concurrency "$CONCURRENCY" --refunds "$REFUNDS" --json)
  after=$(ticks "$SERVE_PID")
  if [ "$store" = postgres ]; then
    for p in $(backends); do
      pgafter=$((pgafter + $(ticks "$p")))
      t=$(awk -v p="$p" '$1 == p { print $2 }' "$DIR/pg.before")
      pgbefore=$((pgbefore + ${t:-0}))
    done
  fi
  stop_server
  echo "$out" | grep -q '"invariant_ok":true' || { echo "bench failed: $out" >&2; exit 1; }
  rps=$(echo "$out" | sed 's/.*"refunds_per_sec":\([0-9.]*\).*/\1/')
  awk -v s=$((after - before)) -v p=$((pgafter - pgbefore)) -v n="$REFUNDS" -v t="$TICK" -v r="$rps" \
    'BEGIN { printf "%.3f %.3f %.0f\n", s * 1000 / t / n, p * 1000 / t / n, r }' > "$DIR/line"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

stores=(sqlite postgres)
[ "$WHICH" = both ] || stores=("$WHICH")
for store in "${stores[@]}"; do
  : > "$DIR/$store.txt"
  for i in $(seq 1 "$RUNS"); do
    run "$store"
    line=$(cat "$DIR/line")
    echo "$line" >> "$DIR/$store.txt"
    read -r s p r <<< "$line"
    echo "$store run $i: server ${s} ms CPU/refund, postgres backends ${p} ms CPU/refund, ${r} refunds/s"
  done
  echo "$store median ($RUNS runs of $REFUNDS refunds, c=$CONCURRENCY): server $(cut -d' ' -f1 "$DIR/$store.txt" | median) ms CPU/refund, postgres backends $(cut -d' ' -f2 "$DIR/$store.txt" | median) ms CPU/refund, $(cut -d' ' -f3 "$DIR/$store.txt" | median) refunds/s"
done
