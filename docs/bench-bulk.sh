#!/usr/bin/env bash
# Times a bulk refund of ROWS rows (default 200000) on a fresh SQLite
# database with the simulator gateway, as docs/benchmarks.md reports it:
#   docs/bench-bulk.sh [ROWS] [api|cli]
# api: POST /v1/refund_batches (text/csv), then poll until completed.
# cli: refundry refund --csv FILE --target URL --key KEY --concurrency 64.
# It makes ROWS/100 sales of 25.00; each row refunds 0.10 of one of them
# (100 rows per sale, spread so that neighbouring rows hit different sales).
# REFUNDRY_BIN=path times that binary instead of building this tree.
# It also reports the CPU time (user and system) the serve process spent
# from the upload to the end, per row: steadier than the time on a busy
# machine. The CLI's own CPU is not in it.
set -euo pipefail
ROWS=${1:-200000}
MODE=${2:-api}
SALES=$((ROWS / 100))
DIR=$(mktemp -d)
trap 'kill $SERVE 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$(dirname "$0")/.."
if [ -n "${REFUNDRY_BIN:-}" ]; then cp "$REFUNDRY_BIN" "$DIR/refundry"; else go build -o "$DIR/refundry" ./cmd/refundry; fi
DB="sqlite:$DIR/bulk.db"
KEY=$("$DIR/refundry" merchant create --slug bulk --name Bulk --db "$DB" | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
"$DIR/refundry" serve --addr 127.0.0.1:0 --db "$DB" --rate-limit 0 2>"$DIR/serve.log" &
SERVE=$!
until grep -q 'msg=listening' "$DIR/serve.log"; do sleep 0.1; done
URL=http://$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$DIR/serve.log")

echo "creating $SALES sales..." >&2
seq 1 "$SALES" | xargs -P 16 -I{} curl -s -X POST "$URL/v1/sales" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -d '{"reference": "EV-{}", "currency": "USD", "line_items": [{"name": "Ticket", "quantity": 1, "unit_amount": 2500}], "payment": {"reference": "pay-EV-{}"}}' \
  | grep -o '"id":"[^"]*","object":"sale"' | cut -d'"' -f4 > "$DIR/sales.txt"
[ "$(wc -l < "$DIR/sales.txt")" = "$SALES" ] || { echo "only $(wc -l < "$DIR/sales.txt") sales made" >&2; exit 1; }
{ echo "target,amount,reason"; for _ in $(seq 1 100); do sed 's/$/,10,other/' "$DIR/sales.txt"; done; } > "$DIR/rows.csv"

# utime + stime of serve, in clock ticks (proc(5)).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVE/stat"; }
echo "refunding $ROWS rows through $MODE..." >&2
CPU0=$(cpu_ticks)
START=$(date +%s.%N)
if [ "$MODE" = cli ]; then
  "$DIR/refundry" refund --csv "$DIR/rows.csv" --target "$URL" --key "$KEY" --concurrency 64
else
  ID=$(curl -s -X POST "$URL/v1/refund_batches" -H "Authorization: Bearer $KEY" -H "Content-Type: text/csv" \
    --data-binary @"$DIR/rows.csv" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  until curl -s "$URL/v1/refund_batches/$ID" -H "Authorization: Bearer $KEY" | grep -q '"status":"completed"'; do sleep 0.5; done
  curl -s "$URL/v1/refund_batches/$ID" -H "Authorization: Bearer $KEY"
fi
END=$(date +%s.%N)
CPU1=$(cpu_ticks)
TICKS=$(getconf CLK_TCK)
echo "$ROWS rows in $(echo "$END - $START" | bc) s ($MODE); serve CPU $(echo "scale=1; ($CPU1 - $CPU0) / $TICKS" | bc) s," \
  "$(echo "scale=1; ($CPU1 - $CPU0) * 1000000 / $TICKS / $ROWS" | bc) us per row"
