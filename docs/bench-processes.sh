#!/usr/bin/env bash
# Several serve processes on one PostgreSQL database, as docs/benchmarks.md
# reports it: REFUNDS concurrent refunds (default 96) of 1.00 each, spread
# over SALES sales (default 6) of 25.00 and round-robin over PROCS servers
# (default 3). It prints the wall time of the refunds, the deadlocks
# PostgreSQL counted on the database meanwhile (pg_stat_database), and
# checks that every refund was answered 201 and every sale is exact
# (invariant 2).
#   docs/bench-processes.sh [PROCS] [REFUNDS] [SALES]
# REFUNDRY_BENCH_PG names the server by a URL of its postgres database
# (default: the local one, user postgres); the database refundry_bench_procs
# on it is dropped and made again.
# REFUNDRY_GROUP_COMMIT=false runs the servers with group commit off.
# REFUNDRY_BIN=path runs that binary instead of building this tree.
set -euo pipefail
PROCS=${1:-3}
REFUNDS=${2:-96}
SALES=${3:-6}
SERVER=${REFUNDRY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DBNAME=refundry_bench_procs
DB=${SERVER/\/postgres\?//$DBNAME?}
DIR=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"' EXIT
cd "$(dirname "$0")/.."
if [ -n "${REFUNDRY_BIN:-}" ]; then cp "$REFUNDRY_BIN" "$DIR/refundry"; else go build -o "$DIR/refundry" ./cmd/refundry; fi
psql -q "$SERVER" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
KEY=$("$DIR/refundry" merchant create --slug procs --name Procs --db "$DB" | sed 's/.*"api_key":"\([^"]*\)".*/\1/')

URLS=()
for i in $(seq 1 "$PROCS"); do
  "$DIR/refundry" serve --addr 127.0.0.1:0 --db "$DB" --rate-limit 0 --group-commit="${REFUNDRY_GROUP_COMMIT:-true}" 2>"$DIR/serve$i.log" &
  PIDS+=($!)
done
for i in $(seq 1 "$PROCS"); do
  until grep -q 'msg=listening' "$DIR/serve$i.log"; do sleep 0.1; done
  URLS+=("http://$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$DIR/serve$i.log")")
done

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

deadlocks() { psql -qAt "$SERVER" -c "SELECT deadlocks FROM pg_stat_database WHERE datname = '$DBNAME'"; }
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
