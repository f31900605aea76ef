package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/refundry/refundry"
)

// CreateRefundBatch validates and stores a batch of refund rows for the
// merchant; serve's BatchWorker works it. replayed as Store.CreateSale.
func (e *Engine) CreateRefundBatch(ctx context.Context, merchantID string, rows []*refundry.BatchRow, idem *refundry.Idempotency) (*refundry.RefundBatch, bool, error) {
	bs := e.Stores.Batches
	if err := refundry.ValidateBatchRows(rows); err != nil {
		return nil, false, err
	}
	// Every row's reason is checked now, so that a batch is taken whole
	// or refused whole; a reason deleted while the batch waits fails only
	// its rows, when they are worked.
	var reasons []*refundry.RefundReason
	for i, r := range rows {
		if r.Reason == "" {
			continue
		}
		if reasons == nil {
			var err error
			if reasons, err = e.Stores.Reasons.ListRefundReasons(ctx, merchantID); err != nil {
				return nil, false, err
			}
		}
		if err := refundry.CheckReason(reasons, fmt.Sprintf("rows[%d].reason", i), r.Reason); err != nil {
			return nil, false, err
		}
	}
	b := &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: merchantID, RequestedBy: who(ctx)}
	replayed, err := bs.CreateRefundBatch(ctx, b, rows, idem)
	return b, replayed, err
}

// FindRefundBatch returns the batch with its counts, or ENOTFOUND.
func (e *Engine) FindRefundBatch(ctx context.Context, merchantID, id string) (*refundry.RefundBatch, error) {
	bs := e.Stores.Batches
	return bs.FindRefundBatch(ctx, merchantID, id)
}

// ListBatchRows pages through a batch's rows in order, or ENOTFOUND.
func (e *Engine) ListBatchRows(ctx context.Context, merchantID, id string, afterRow, limit int) ([]*refundry.BatchRow, error) {
	bs := e.Stores.Batches
	return bs.ListBatchRows(ctx, merchantID, id, afterRow, limit)
}

// ResolveTarget finds what a bulk row's target names: a sale, line item
// or transaction by id, else a sale by its reference, else a transaction
// by its payment reference. Returns ENOTFOUND if nothing matches.
func (e *Engine) ResolveTarget(ctx context.Context, merchantID, text string) (refundry.RefundTarget, error) {
	if refundry.ValidID(text) {
		for _, t := range idTargets(text) {
			var by refundry.SaleLookup
			by.ID, by.LineItemID, by.TransactionID = t.SaleID, t.LineItemID, t.TransactionID
			_, err := e.Stores.Sales.FindSale(ctx, merchantID, by)
			if refundry.ErrorCode(err) == refundry.ENOTFOUND {
				continue
			}
			if err != nil {
				return refundry.RefundTarget{}, err
			}
			return t, nil
		}
	}
	return e.resolveReference(ctx, merchantID, text)
}

// idTargets are the readings of an id, in the order a row's target is
// tried: a sale, a line item, a transaction.
func idTargets(id string) []refundry.RefundTarget {
	return []refundry.RefundTarget{{SaleID: id}, {LineItemID: id}, {TransactionID: id}}
}

// resolveReference finds a sale by its reference, else a transaction by
// its payment reference. Returns ENOTFOUND if neither matches.
func (e *Engine) resolveReference(ctx context.Context, merchantID, text string) (refundry.RefundTarget, error) {
	tries := []struct {
		by  refundry.SaleLookup
		out func(*refundry.Sale) refundry.RefundTarget
	}{
		{refundry.SaleLookup{Reference: text}, func(s *refundry.Sale) refundry.RefundTarget { return refundry.RefundTarget{SaleID: s.ID} }},
		{refundry.SaleLookup{TransactionReference: text}, func(s *refundry.Sale) refundry.RefundTarget {
			for _, t := range s.Transactions {
				if t.Reference == text {
					return refundry.RefundTarget{TransactionID: t.ID}
				}
			}
			return refundry.RefundTarget{SaleID: s.ID}
		}},
	}
	for _, t := range tries {
		s, err := e.Stores.Sales.FindSale(ctx, merchantID, t.by)
		if refundry.ErrorCode(err) == refundry.ENOTFOUND {
			continue
		}
		if err != nil {
			return refundry.RefundTarget{}, err
		}
		return t.out(s), nil
	}
	return refundry.RefundTarget{}, refundry.ParamErrorf(refundry.ENOTFOUND, "target",
		"No sale, line item or transaction has the id or reference %q.", text)
}

// RefundByTarget refunds what text names, in ResolveTarget's order: the
// one rule by which a bulk row's target is read, whether the row comes in
// a batch (POST /v1/refund_batches) or one at a time from refundry refund
// (POST /v1/refunds with "target"). req.Target is ignored.
//
// An id is tried directly as each kind of target: the store finds the
// target inside the write that refunds it, and answers ENOTFOUND, having
// written nothing (not even the idempotency key), when it is not of that
// kind. So one Idempotency-Key serves every try, and a retry replays the
// refund the first request made whichever kind matched (invariant 4). The common row, a sale id, so costs no read before its write.
// References are resolved first. Returns ENOTFOUND on "target" if nothing
// matches.
func (e *Engine) RefundByTarget(ctx context.Context, text string, req refundry.RefundRequest) (*refundry.RefundResult, error) {
	return e.refundByTarget(ctx, text, req, who(ctx))
}

// refundByTarget is RefundByTarget asked for by requestedBy.
func (e *Engine) refundByTarget(ctx context.Context, text string, req refundry.RefundRequest, requestedBy string) (*refundry.RefundResult, error) {
	if refundry.ValidID(text) {
		for _, t := range idTargets(text) {
			req.Target = t
			res, err := e.refund(ctx, req, requestedBy)
			if refundry.ErrorCode(err) != refundry.ENOTFOUND {
				return res, err
			}
		}
	}
	target, err := e.resolveReference(ctx, req.MerchantID, text)
	if err != nil {
		return nil, err
	}
	req.Target = target
	return e.refund(ctx, req, requestedBy)
}

// batchRequester is who asked for the refunds of a batch row: whoever
// made the batch, so that the uploader cannot approve them; the system
// for a batch made before its maker was kept.
func batchRequester(r *refundry.BatchRow) string {
	if r.RequestedBy == "" {
		return refundry.ActorSystem
	}
	return r.RequestedBy
}

// errTransient marks a row that could not be worked for a moment (the
// database busy, the server stopping): it is left for a later claim.
var errTransient = errors.New("transient")

// RefundBatchRow makes the refund a row asks for and sets the row's
// outcome. The refund carries the row's idempotency key (invariant 4), so
// working a row again after a crash returns the refund made the first
// time and never makes a second one. It returns an error wrapping
// errTransient when the row should be tried again later.
func (e *Engine) RefundBatchRow(ctx context.Context, r *refundry.BatchRow) error {
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorSystem, Method: "refund_batch",
		Path: fmt.Sprintf("%s/%d", r.BatchID, r.Row)})
	md, _ := json.Marshal(map[string]any{"refund_batch": r.BatchID, "row": r.Row}) // a map of a string and an int always marshals
	// The key's hash is the row's content, not the target it resolves
	// to, so a replay after a crash finds the first refund whatever kind
	// of target is tried first.
	res, err := e.refundByTarget(ctx, r.Target, refundry.RefundRequest{
		MerchantID: r.MerchantID, Amount: r.Amount, Reason: r.Reason, Metadata: md,
		Source: refundry.SourceBulk, Idempotency: &refundry.Idempotency{Key: r.IdempotencyKey(), Hash: rowHash(r)},
	}, batchRequester(r))
	if err == nil {
		first := res.Refunds[0]
		r.RefundID, r.RefundStat, r.Error = first.ID, first.Status, ""
		r.Status = refundry.BatchRowSucceeded
		if refusal := first.Refusal(); refusal != nil {
			r.Status, r.Error = refundry.BatchRowFailed, refundry.ErrorMessage(refusal)
		}
		return nil
	}
	switch code := refundry.ErrorCode(err); {
	case ctx.Err() != nil, code == refundry.EUNAVAILABLE, code == refundry.EINTERNAL:
		return fmt.Errorf("%w: row %d of batch %s: %w", errTransient, r.Row, r.BatchID, err)
	default:
		r.Status, r.Error = refundry.BatchRowFailed, refundry.ErrorMessage(err)
		return nil
	}
}

// rowHash is the request hash recorded with a row's idempotency key: the
// row's content, so a key is never replayed for a different request.
func rowHash(r *refundry.BatchRow) string {
	h := sha256.New()
	amount := "all"
	if r.Amount != nil {
		amount = fmt.Sprint(*r.Amount)
	}
	fmt.Fprintf(h, "refund_batch_row\n%s\n%d\n%s\n%s\n%s", r.BatchID, r.Row, r.Target, amount, r.Reason)
	return hex.EncodeToString(h.Sum(nil))
}

// BatchWorker works queued refund batch rows: it claims a chunk under a
// lease, refunds its rows with bounded concurrency, and records their
// outcomes in one transaction. A worker that dies (kill -9) leaves its
// rows processing; once their lease runs out any worker claims them again
// and the rows' idempotency keys replay the refunds already made.
type BatchWorker struct {
	Engine      *Engine
	Interval    time.Duration // how often an idle worker looks for work
	Lease       time.Duration // how long a claim holds its rows
	Chunk       int           // rows claimed at once
	Concurrency int           // rows refunded at once
	MaxAttempts int           // claims of a row before a transient fault fails it
	// OnPass, if set, is called after every pass, so that a readiness
	// check can tell the worker is alive.
	OnPass func()
}

// NewBatchWorker returns a worker with the defaults serve uses.
func NewBatchWorker(e *Engine, lease time.Duration) *BatchWorker {
	// Every row of a chunk in flight at once: the rows' reservations, and
	// then their settlements, gather into a few group commits instead of
	// one commit for every few rows. A row waits mostly on the writer, so
	// the goroutines cost little.
	return &BatchWorker{Engine: e, Interval: 500 * time.Millisecond, Lease: lease, Chunk: 512, Concurrency: 512, MaxAttempts: 5}
}

// Run works batches until ctx is done, sleeping Interval when there is
// nothing to do and backing off (capped, exponential) after failures.
//
// Chunks are worked back to back: once a chunk is claimed and its rows
// started, the next is claimed at once, and its rows take the slots the
// first chunk's rows free as they settle. A chunk waiting for its
// slowest row (a gateway call, a full group commit) so no longer leaves
// the writer idle until the next claim. At most two chunks are held at
// a time, the one settling and the next, each under its own lease.
func (w *BatchWorker) Run(ctx context.Context) {
	slots := make(chan struct{}, max(1, w.Concurrency))
	held := make(chan struct{}, 2)
	failed := make(chan error, 2)
	var chunks sync.WaitGroup
	defer chunks.Wait()
	failures := 0
	var lastLog time.Time
	for ctx.Err() == nil {
		select {
		case held <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var err error
		select {
		case err = <-failed: // a chunk's failure backs off the next claim
			<-held
		default:
			var rows []*refundry.BatchRow
			rows, err = w.Engine.Stores.Batches.ClaimBatchRows(ctx, w.Lease, w.Chunk)
			if err == nil && len(rows) > 0 {
				failures = 0
				chunks.Go(func() {
					defer func() { <-held }()
					if _, err := w.work(ctx, rows, slots); err != nil && ctx.Err() == nil {
						select {
						case failed <- err:
						default: // one failure waiting is enough to back off
						}
					}
				})
				if w.OnPass != nil {
					w.OnPass()
				}
				continue // more may be queued: claim the next while this one settles
			}
			<-held
		}
		if w.OnPass != nil {
			w.OnPass()
		}
		wait := w.Interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(30*time.Second, w.Interval<<min(failures, 6))
			// One line per half minute: a database down for an hour must
			// not fill the log.
			if time.Since(lastLog) > 30*time.Second {
				w.Engine.Logger.ErrorContext(ctx, "refund batch worker", "err", err, "failures", failures)
				lastLog = time.Now()
			}
		default:
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RunOnce claims one chunk and works it; it returns how many rows it
// finished.
func (w *BatchWorker) RunOnce(ctx context.Context) (int, error) {
	rows, err := w.Engine.Stores.Batches.ClaimBatchRows(ctx, w.Lease, w.Chunk)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	return w.work(ctx, rows, make(chan struct{}, max(1, w.Concurrency)))
}

// work refunds a claimed chunk's rows, each holding one of slots while it
// runs, and records the outcomes of those that finished in one
// transaction; it returns how many finished.
func (w *BatchWorker) work(ctx context.Context, rows []*refundry.BatchRow, slots chan struct{}) (int, error) {
	// Each row's refund is its own durable transaction; concurrent rows let
	// the store commit many of them at once (group commit).
	var (
		mu       sync.Mutex
		finished []*refundry.BatchRow
		firstErr error
		wg       sync.WaitGroup
	)
	for _, r := range rows {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := w.Engine.RefundBatchRow(ctx, r)
			if err != nil && r.Attempts >= w.MaxAttempts && ctx.Err() == nil {
				r.Status, r.Error = refundry.BatchRowFailed, "Gave up after "+fmt.Sprint(r.Attempts)+" attempts: "+refundry.ErrorMessage(err)
				err = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return // left processing: claimed again when the lease runs out
			}
			finished = append(finished, r)
		})
	}
	wg.Wait()
	if len(finished) > 0 {
		// The refunds are made; recording their outcomes must not be cut
		// short by a shutdown (a lost record costs only a replay).
		if err := w.Engine.Stores.Batches.FinishBatchRows(context.WithoutCancel(ctx), finished); err != nil {
			return 0, err
		}
	}
	return len(finished), firstErr
}
