#!/usr/bin/env bash
# Several serve processes on one PostgreSQL database, as docs/benchmarks.md
# reports it. Two modes.
#
# Burst (the default): REFUNDS concurrent refunds (default 96) of 1.00
# each, spread over SALES sales (default 6) of 25.00 and round-robin over
# PROCS servers (default 3). It prints the wall time of the refunds, the
# deadlocks PostgreSQL counted on the database meanwhile (pg_stat_database),
# and checks that every refund was answered 201 and every sale is exact
# (invariant 2).
#   docs/bench-processes.sh [PROCS] [REFUNDS] [SALES]
#
# Throughput: for each count of processes in the list (default "1 3"),
# PROCS serve processes on a fresh database and one "refundry bench
# --target URL1,URL2,... --server-pid PID1,PID2,... --server-db DB" over
# all of them (CONCURRENCY clients, default 64, dealt to the servers in
# turn; REFUNDS refunds, default 3000, one sale each). The counts take
# turns, RUNS rounds (default 3), so that a busy machine weighs on each
# alike. Each run prints refunds/s, p99, the CPU per refund of the
# servers (summed) and of the PostgreSQL backends, statements per refund
# and the deadlocks of the database during the bench, and the most
# group-commit lanes the servers ran at once (summed over the servers,
# read from /metrics every second; - for a binary without the metric);
# then the median of each figure per count of processes. bench checks
# invariant 2 on every sale and the run fails if it does not hold or a
# refund failed. PROCS/POOL (3/5) runs PROCS servers with
# pool_max_conns=POOL each, which also sets the group-commit lanes meant
# for the database (a quarter of the pool, 1 to 4), which the live
# servers divide among themselves and open as their load asks.
#   docs/bench-processes.sh throughput [PROCS[/POOL] ...]
#
# REFUNDRY_BENCH_PG names the server by a URL of its postgres database
# (default: the local one, user postgres); the database refundry_bench_procs
# on it (REFUNDRY_BENCH_DBNAME names another) is dropped and made again
# for each run.
# REFUNDRY_GROUP_COMMIT=false runs the servers with group commit off.
# REFUNDRY_BIN=path runs that binary as the servers instead of building
# this tree; bench is always this tree's (or REFUNDRY_BENCH_BIN).
set -euo pipefail
SERVER=${REFUNDRY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DBNAME=${REFUNDRY_BENCH_DBNAME:-refundry_bench_procs}
DB=${SERVER/\/postgres\?//$DBNAME?}
DIR=$(mktemp -d)
PIDS=()
stop_servers() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_servers; rm -rf "$DIR"' EXIT
cd "$(dirname "$0")/.."
if [ -n "${REFUNDRY_BENCH_BIN:-}" ]; then cp "$REFUNDRY_BENCH_BIN" "$DIR/bench"; else go build -o "$DIR/bench" ./cmd/refundry; fi
if [ -n "${REFUNDRY_BIN:-}" ]; then cp "$REFUNDRY_BIN" "$DIR/refundry"; else cp "$DIR/bench" "$DIR/refundry"; fi

# fresh_db: drops and makes the database; prints a new merchant's key.
fresh_db() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$SERVER" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
  "$DIR/refundry" merchant create --slug procs --name Procs --db "$DB" | sed 's/.*"api_key":"\([^"]*\)".*/\1/'
}

# start_servers N [POOL]: N serve processes on the database, each with a
# pool of POOL connections if given; fills PIDS and URLS.
start_servers() {
  local db=$DB
  [ -z "${2:-}" ] || db="$DB&pool_max_conns=$2"
  URLS=()
  for i in $(seq 1 "$1"); do
    : > "$DIR/serve$i.log"
    "$DIR/refundry" serve --addr 127.0.0.1:0 --db "$db" --rate-limit 0 --group-commit="${REFUNDRY_GROUP_COMMIT:-true}" 2>"$DIR/serve$i.log" &
    PIDS+=($!)
  done
  for i in $(seq 1 "$1"); do
    until grep -q 'msg=listening' "$DIR/serve$i.log"; do sleep 0.1; done
    URLS+=("http://$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$DIR/serve$i.log")")
  done
}

# deadlocks: what PostgreSQL counted on the database so far (0 before
# its statistics have a row for it).
deadlocks() { psql -qAt "$SERVER" -c "SELECT COALESCE(MAX(deadlocks), 0) FROM pg_stat_database WHERE datname = '$DBNAME'"; }

if [ "${1:-}" = throughput ]; then
  shift
  COUNTS=("$@")
  [ "${#COUNTS[@]}" -gt 0 ] || COUNTS=(1 3)
  RUNS=${RUNS:-3}
  REFUNDS=${REFUNDS:-3000}
  CONCURRENCY=${CONCURRENCY:-64}
  # lanes_sampler FILE: the lanes all servers run, summed, a line every
  # second until killed; - where a server does not report them (it is
  # scraped all the same, so that every binary answers as many scrapes).
  # A scrape reads the database (pending refunds, outbox, disputes, ...)
  # and costs a server and its backends several ms of CPU, once per
  # server: sampled five times a second it charged three servers three
  # times what it charged one. A node changes its lanes at most once a
  # second, so a sample a second misses little.
  lanes_sampler() {
    : > "$1"
    while sleep 1; do
      local sum=0 v
      for u in "${URLS[@]}"; do
        v=$(curl -s "$u/metrics" | sed -n 's/^refundry_group_commit_lanes \([0-9]*\).*/\1/p')
        if [ -n "$v" ] && [ "$sum" != - ]; then sum=$((sum + v)); else sum=-; fi
      done
      echo "$sum" >> "$1"
    done
  }
  field() { sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p" | grep . || echo -; }
  median() {
    cut -d' ' -f"$1" "$2" | grep -v '^-$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.3f\n", a[int((NR + 1) / 2)] }'
  }
  label() { if [ "${1%/*}" = "$1" ]; then echo "$1 servers"; else echo "${1%/*} servers of pool ${1#*/}"; fi; }
  for c in "${COUNTS[@]}"; do : > "$DIR/procs${c/\//_}.txt"; done
  for r in $(seq 1 "$RUNS"); do
    for c in "${COUNTS[@]}"; do
      n=${c%/*} pool=
      [ "$n" = "$c" ] || pool=${c#*/}
      KEY=$(fresh_db)
      start_servers "$n" "$pool"
      BEFORE=$(deadlocks)
      lanes_sampler "$DIR/lanes.txt" &
      SAMPLER=$!
      out=$("$DIR/bench" bench --target "$(IFS=,; echo "${URLS[*]}")" --key "$KEY" \
        --server-pid "$(IFS=,; echo "${PIDS[*]}")" --server-db "$DB" \
        --concurrency "$CONCURRENCY" --refunds "$REFUNDS" --json)
      kill "$SAMPLER" 2>/dev/null || true
      wait "$SAMPLER" 2>/dev/null || true
      LANES=$(if grep -q -- - "$DIR/lanes.txt"; then echo -; else sort -g "$DIR/lanes.txt" | tail -1; fi)
      # A backend reports its deadlocks when it goes idle, at most once a
      # second, and certainly when it exits: read them once the servers
      # (and so their backends) are gone.
      stop_servers
      sleep 1
      AFTER=$(deadlocks)
      echo "$out" | grep -q '"invariant_ok":true' && echo "$out" | grep -q '"errors":0,' || { echo "bench failed: $out" >&2; exit 1; }
      line="$(field refunds_per_sec <<< "$out") $(field p99_ms <<< "$out") $(field server_cpu_ms_per_refund <<< "$out") $(field db_cpu_ms_per_refund <<< "$out") $(field statements_per_refund <<< "$out") $((AFTER - BEFORE)) ${LANES:--}"
      line=$(awk '{ for (i = 1; i <= NF; i++) printf "%s%s", ($i == "-" ? "-" : (i >= NF - 1 ? $i : sprintf("%.3f", $i))), (i < NF ? " " : "\n") }' <<< "$line")
      echo "$line" >> "$DIR/procs${c/\//_}.txt"
      read -r rps p99 s p st d l <<< "$line"
      echo "$(label "$c"), run $r: $rps refunds/s, p99 $p99 ms; CPU ms/refund servers $s, postgres backends $p; statements/refund $st; $d deadlocks; lanes at most $l"
    done
  done
  for c in "${COUNTS[@]}"; do
    f="$DIR/procs${c/\//_}.txt"
    echo "$(label "$c"), median of $RUNS runs of $REFUNDS refunds, c=$CONCURRENCY: $(median 1 "$f") refunds/s, p99 $(median 2 "$f") ms; CPU ms/refund servers $(median 3 "$f"), postgres backends $(median 4 "$f"); statements/refund $(median 5 "$f"); deadlocks $(awk '{ s += $6 } END { print s }' "$f") in all; lanes at most $(median 7 "$f")"
  done
  exit 0
fi

PROCS=${1:-3}
REFUNDS=${2:-96}
SALES=${3:-6}
KEY=$(fresh_db)
start_servers "$PROCS"

for i in $(seq 1 "$SALES"); do
  curl -s -X POST "${URLS[0]}/v1/sales" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d '{"currency": "USD", "line_items": [{"name": "Ticket", "quantity": 1, "unit_amount": 2500}], "payment": {"reference": "pay-'"$i"'"}}' \
    | grep -o '"id":"[^"]*","object":"sale"' | cut -d'"' -f4
done > "$DIR/sales.txt"
mapfile -t SALE_IDS < "$DIR/sales.txt"
[ "${#SALE_IDS[@]}" = "$SALES" ] || { echo "only ${#SALE_IDS[@]} sales made" >&2; exit 1; }
# One curl sends every refund at once (--parallel), so that they meet in
# the servers as a burst does, not one process start after another.
for i in $(seq 0 $((REFUNDS - 1))); do
  sale=${SALE_IDS[$((i / PROCS % SALES))]} # every sale on every server
  echo "$sale" >> "$DIR/jobs.txt"
  [ "$i" = 0 ] || echo next
  cat <<EOC
url = "${URLS[$((i % PROCS))]}/v1/refunds"
header = "Authorization: Bearer $KEY"
header = "Content-Type: application/json"
data = "{\\"sale\\": \\"$sale\\", \\"amount\\": 100}"
output = "/dev/null"
write-out = "%{http_code}\\n"
EOC
done > "$DIR/curl.conf"

BEFORE=$(deadlocks)
START=$(date +%s.%N)
curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max "$REFUNDS" -K "$DIR/curl.conf" > "$DIR/codes.txt"
END=$(date +%s.%N)
sleep 2 # pg_stat_database hears of a backend's deadlocks within a second
AFTER=$(deadlocks)

CREATED=$(grep -c '^201$' "$DIR/codes.txt" || true)
for id in "${SALE_IDS[@]}"; do
  got=$(curl -s "${URLS[0]}/v1/sales/$id" -H "Authorization: Bearer $KEY" | grep -o '"refunded_amount":[0-9]*' | head -1 | cut -d: -f2)
  want=$(( $(grep -c "^$id$" "$DIR/jobs.txt") * 100 ))
  [ "$got" = "$want" ] || { echo "sale $id: refunded $got, want $want" >&2; exit 1; }
done
echo "$PROCS servers, $REFUNDS refunds on $SALES sales (group commit ${REFUNDRY_GROUP_COMMIT:-true}): $(echo "$END - $START" | bc) s, $((AFTER - BEFORE)) deadlocks, $CREATED/$REFUNDS answered 201"
[ "$CREATED" = "$REFUNDS" ]
