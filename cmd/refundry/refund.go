package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
)

type refundCommand struct{}

const refundUsage = `Usage: refundry refund --csv FILE [--out OUTCOME.csv] --target URL --key KEY [--concurrency 8]

Refunds one row of FILE at a time over the native API of the server at
--target. FILE has a header line naming its columns: target (a sale, line
item or transaction id, else a sale's reference, else a payment's
reference), amount (minor units; empty refunds all that remains) and
reason. Each row's Idempotency-Key comes from a hash of FILE and the row's
number, so running the same command again after Ctrl-C or a crash replays
the rows already done instead of refunding them twice, and completes the
outcome file (row, target, status, refund, refund_status, error; default
FILE with .outcome.csv: refunds.csv gives refunds.outcome.csv). A failed
row's error is "code: message", the code one of the native API's error
codes.

Exit status: 0 when every row was refunded; 3 when every row was answered
but some failed (see the outcome file); 1 when rows could not be sent (the
server unreachable; run the same command again); 2 for a mistake on the
command line.

POST /v1/refund_batches takes the same file and reads its targets by the
same rule, inside the server: better for a file too large to send row by
row.
`

// refundOutcome is one line of the outcome file.
type refundOutcome struct {
	row                                        int
	target, status, refund, refundStatus, errm string
}

func (c *refundCommand) Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("refundry refund", flag.ContinueOnError)
	fs.SetOutput(stderr)
	csvPath := fs.String("csv", "", "the refunds to make, one per row (required)")
	outPath := fs.String("out", "", "the outcome file; default FILE with .outcome.csv")
	target := fs.String("target", "", "base URL of the server, e.g. http://localhost:8080 (required)")
	key := fs.String("key", "", "the merchant's API key (required)")
	concurrency := fs.Int("concurrency", 8, "rows sent at once")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), refundUsage)
		fs.PrintDefaults()
	}
	if err := parseFlagsEnv(fs, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		fs.Usage()
		return usageError{fmt.Sprintf("refund takes no arguments, got %q", fs.Arg(0))}
	case *csvPath == "":
		fs.Usage()
		return usageError{"--csv FILE is required"}
	case *target == "" || *key == "":
		fs.Usage()
		return usageError{"--target URL and --key KEY are required: the server and the merchant's API key"}
	case *concurrency < 1:
		return usageError{"--concurrency must be at least 1"}
	}
	if *outPath == "" {
		*outPath = strings.TrimSuffix(*csvPath, filepath.Ext(*csvPath)) + ".outcome.csv"
	}
	input, err := os.ReadFile(*csvPath)
	if err != nil {
		return err
	}
	rows, err := refundry.ParseBatchCSV(bytes.NewReader(input))
	if err != nil {
		return fmt.Errorf("%s: %s", *csvPath, refundry.ErrorMessage(err))
	}
	sum := sha256.Sum256(input)
	job := &bulkJob{cl: newAPIClient(*target, *key, *concurrency), fileKey: hex.EncodeToString(sum[:16]), rows: rows}

	done, err := loadOutcomes(*outPath, rows)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(*outPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	ow := csv.NewWriter(out)
	if st, err := out.Stat(); err == nil && st.Size() == 0 {
		_ = ow.Write(api.OutcomeHeader)
		ow.Flush()
	}
	var todo []*refundry.BatchRow
	for _, r := range rows {
		if _, ok := done[r.Row]; !ok {
			todo = append(todo, r)
		}
	}
	if len(done) > 0 {
		fmt.Fprintf(stderr, "refund: resuming: %d of %d rows already done in %s\n", len(done), len(rows), *outPath)
	}

	var mu sync.Mutex
	var next atomic.Int64
	var undone atomic.Int64
	var lastErr atomic.Value
	bar := newProgress(stderr, len(rows), "rows", false)
	bar.add(len(done))
	var wg sync.WaitGroup
	for range min(*concurrency, len(todo)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) || ctx.Err() != nil {
					return
				}
				o, err := job.refundRow(ctx, todo[i])
				if err != nil {
					if ctx.Err() == nil {
						undone.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				// One line per row, flushed at once: a crash loses at most
				// the line being written, and the rerun replays that row.
				mu.Lock()
				_ = ow.Write(OutcomeLine(o))
				ow.Flush()
				done[o.row] = o
				mu.Unlock()
				bar.add(1)
			}
		})
	}
	wg.Wait()
	bar.done()
	if err := ow.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", *outPath, err)
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "refund: interrupted with %d of %d rows done; run the same command again to resume\n", len(done), len(rows))
		return ctx.Err()
	}
	if n := undone.Load(); n > 0 {
		return fmt.Errorf("%d rows could not be sent (last: %v); run the same command again to resume", n, lastErr.Load())
	}
	if err := rewriteOutcomes(*outPath, done); err != nil {
		return err
	}
	var succeeded, failed int
	for _, o := range done {
		if o.status == refundry.BatchRowSucceeded {
			succeeded++
		} else {
			failed++
		}
	}
	fmt.Fprintf(stdout, "%d rows: %d refunded, %d failed; outcome in %s\n", len(rows), succeeded, failed, *outPath)
	if failed > 0 {
		return failedRowsError{failed: failed, rows: len(rows), outcome: *outPath}
	}
	return nil
}

// exitFailedRows is refund's exit status when it ran to the end but some
// rows were refused: a script can tell that from success (0), from a
// command line mistake (2) and from rows left unsent (1, rerun to resume).
const exitFailedRows = 3

// failedRowsError ends a run whose every row was answered, some with a
// refusal; it exits exitFailedRows.
type failedRowsError struct {
	failed, rows int
	outcome      string
}

func (e failedRowsError) Error() string {
	return fmt.Sprintf("%d of %d rows failed; their errors are in %s", e.failed, e.rows, e.outcome)
}

// OutcomeLine is o as a CSV record.
func OutcomeLine(o refundOutcome) []string {
	return api.OutcomeRecord(o.row, o.target, o.status, o.refund, o.refundStatus, o.errm)
}

// loadOutcomes reads the rows an earlier run finished. A line cut short by
// a crash is dropped (and cut off the file, so that appending starts on a
// fresh line); its row is simply sent again and replayed. An outcome file
// whose rows name other targets belongs to another input and is refused.
func loadOutcomes(path string, rows []*refundry.BatchRow) (map[int]refundOutcome, error) {
	done := map[int]refundOutcome{}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	} else if err != nil {
		return nil, err
	}
	whole := raw[:bytes.LastIndexByte(raw, '\n')+1]
	if len(whole) < len(raw) {
		if err := os.Truncate(path, int64(len(whole))); err != nil {
			return nil, err
		}
	}
	cr := csv.NewReader(bytes.NewReader(whole))
	cr.FieldsPerRecord = len(api.OutcomeHeader)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not an outcome file of refundry refund (%v); remove it or choose another --out", path, err)
		}
		n, err := strconv.Atoi(rec[0])
		if err != nil {
			continue // the header
		}
		if n < 1 || n > len(rows) || rows[n-1].Target != rec[1] {
			return nil, fmt.Errorf("%s holds row %d for target %q, which is not this input's; remove it or choose another --out", path, n, rec[1])
		}
		if rec[2] == refundry.BatchRowSucceeded || rec[2] == refundry.BatchRowFailed {
			done[n] = refundOutcome{n, rec[1], rec[2], rec[3], rec[4], rec[5]}
		}
	}
	return done, nil
}

// rewriteOutcomes replaces the outcome file, written in the order rows
// finished, by one in row order, through a rename so a crash keeps one or
// the other whole.
func rewriteOutcomes(path string, done map[int]refundOutcome) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	w := csv.NewWriter(bw)
	_ = w.Write(api.OutcomeHeader)
	keys := make([]int, 0, len(done))
	for k := range done {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		_ = w.Write(OutcomeLine(done[k]))
	}
	w.Flush()
	err = errors.Join(w.Error(), bw.Flush(), f.Sync(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// bulkJob sends rows of one input file.
type bulkJob struct {
	cl      *apiClient
	fileKey string
	rows    []*refundry.BatchRow
}

// refundRow refunds one row and returns its outcome; an error means the
// row could not be sent (the server unreachable or failing) and is left
// for a rerun. Transient failures are retried a few times first.
func (j *bulkJob) refundRow(ctx context.Context, r *refundry.BatchRow) (refundOutcome, error) {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return refundOutcome{}, ctx.Err()
			case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
			}
		}
		var o refundOutcome
		if o, err = j.tryRow(ctx, r); err == nil {
			return o, nil
		}
	}
	return refundOutcome{}, err
}

func (j *bulkJob) tryRow(ctx context.Context, r *refundry.BatchRow) (refundOutcome, error) {
	o := refundOutcome{row: r.Row, target: r.Target}
	a, err := j.post(ctx, r)
	if err != nil {
		return o, err
	}
	return j.outcome(o, a)
}

// post asks for the row's refund. The server reads the row's target by
// the rule POST /v1/refund_batches reads it (engine.RefundByTarget: an
// id of a sale, line item or transaction, else a sale's reference, else a
// payment's), so a file means the same sent either way.
func (j *bulkJob) post(ctx context.Context, r *refundry.BatchRow) (apiAnswer, error) {
	body := map[string]any{"target": r.Target}
	if r.Amount != nil {
		body["amount"] = *r.Amount
	}
	if r.Reason != "" {
		body["reason"] = r.Reason
	}
	raw, _ := json.Marshal(body) // strings and an int64 always marshal
	key := fmt.Sprintf("bulk-%s-%d", j.fileKey, r.Row)
	a, err := j.cl.do(ctx, "POST", "/v1/refunds", "application/json", raw, "Idempotency-Key", key)
	if err != nil {
		return a, err
	}
	// 429, 5xx: the server could not answer now; the same key retried
	// later either makes the refund or replays the one made. A 502 is a
	// refund made and held pending by a gateway that turned it away: the
	// retry replays it.
	if a.status == http.StatusTooManyRequests || a.status >= 500 {
		return a, errors.New(apiErrorMessage(a))
	}
	return a, nil
}

// gatewayDeclined starts the error of a row whose refund the gateway
// refused, as the native API's code for it does.
const gatewayDeclined = "gateway_error: "

func (j *bulkJob) outcome(o refundOutcome, a apiAnswer) (refundOutcome, error) {
	if a.status != http.StatusCreated {
		o.status, o.errm = refundry.BatchRowFailed, apiErrorMessage(a)
		return o, nil
	}
	var rf struct {
		ID, Status    string
		FailureReason *string `json:"failure_reason"`
	}
	if err := json.Unmarshal(a.body, &rf); err != nil {
		return o, fmt.Errorf("refund answer: %w", err)
	}
	o.refund, o.refundStatus, o.status = rf.ID, rf.Status, refundry.BatchRowSucceeded
	if rf.Status == refundry.RefundFailed {
		o.status, o.errm = refundry.BatchRowFailed, gatewayDeclined+"The gateway declined the refund."
		if rf.FailureReason != nil {
			o.errm = gatewayDeclined + *rf.FailureReason
		}
	}
	return o, nil
}
