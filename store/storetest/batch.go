package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

// RunBatches runs the refundry.BatchStore suite against the stores open
// returns, which must implement it. Claims are global, as the outbox's
// are: each subtest looks only at its own batches' rows and finishes every
// row it claimed, so that one shared database serves them all in turn.
func RunBatches(t *testing.T, open Opener) {
	batches := func(t *testing.T) (refundry.Store, refundry.BatchStore) {
		s := open(t)
		return s, s
	}
	t.Run("CreateFindList", func(t *testing.T) { testBatchCreate(t, batches) })
	t.Run("Idempotency", func(t *testing.T) { testBatchIdempotency(t, batches) })
	t.Run("ClaimFinish", func(t *testing.T) { testBatchClaim(t, batches) })
	t.Run("LeaseExpiry", func(t *testing.T) { testBatchLease(t, batches) })
}

type batchOpener = func(t *testing.T) (refundry.Store, refundry.BatchStore)

func batchRows(targets ...string) []*refundry.BatchRow {
	var rows []*refundry.BatchRow
	for i, tg := range targets {
		r := &refundry.BatchRow{Target: tg, Reason: "event canceled"}
		if i%2 == 1 {
			r.Amount = Amount(int64(100 * (i + 1)))
		}
		rows = append(rows, r)
	}
	return rows
}

func mustCreateBatch(tb testing.TB, bs refundry.BatchStore, merchantID string, rows []*refundry.BatchRow) *refundry.RefundBatch {
	tb.Helper()
	b := &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: merchantID, RequestedBy: "key:uploader"}
	if _, err := bs.CreateRefundBatch(context.Background(), b, rows, nil); err != nil {
		tb.Fatalf("CreateRefundBatch: %v", err)
	}
	return b
}

// claimOwn claims rows (up to a generous limit) and returns those of the
// batch; rows of other batches it claimed are finished as failed, so that
// nothing is left leased behind.
func claimOwn(tb testing.TB, bs refundry.BatchStore, batchID string, lease time.Duration, limit int) []*refundry.BatchRow {
	tb.Helper()
	got, err := bs.ClaimBatchRows(context.Background(), lease, limit)
	if err != nil {
		tb.Fatalf("ClaimBatchRows: %v", err)
	}
	var own, other []*refundry.BatchRow
	for _, r := range got {
		if r.BatchID == batchID {
			own = append(own, r)
		} else {
			r.Status, r.Error = refundry.BatchRowFailed, "left over by another test"
			other = append(other, r)
		}
	}
	if len(other) > 0 {
		if err := bs.FinishBatchRows(context.Background(), other); err != nil {
			tb.Fatalf("FinishBatchRows: %v", err)
		}
	}
	return own
}

func wantCounts(tb testing.TB, bs refundry.BatchStore, merchantID, id string, want refundry.BatchCounts, status string) {
	tb.Helper()
	b, err := bs.FindRefundBatch(context.Background(), merchantID, id)
	if err != nil {
		tb.Fatalf("FindRefundBatch: %v", err)
	}
	if b.Counts != want || b.Status != status {
		tb.Fatalf("batch %s: counts %+v status %s; want %+v %s", id, b.Counts, b.Status, want, status)
	}
}

func testBatchCreate(t *testing.T, open batchOpener) {
	s, bs := open(t)
	ctx := context.Background()
	m, other := MustCreateMerchant(t, s), MustCreateMerchant(t, s)
	b := mustCreateBatch(t, bs, m.ID, batchRows("a", "b", "c"))
	if b.Status != refundry.BatchProcessing || b.Counts != (refundry.BatchCounts{Total: 3, Pending: 3}) {
		t.Fatalf("created batch = %+v", b)
	}
	checkTime(t, "created", b.Created)
	wantCounts(t, bs, m.ID, b.ID, refundry.BatchCounts{Total: 3, Pending: 3}, refundry.BatchProcessing)
	// Its maker is kept, and every row carries it, claimed or listed: the
	// requester of the refunds the rows make.
	if found, err := bs.FindRefundBatch(ctx, m.ID, b.ID); err != nil || found.RequestedBy != "key:uploader" {
		t.Fatalf("batch read back = %+v, %v; want requested by key:uploader", found, err)
	}

	rows, err := bs.ListBatchRows(ctx, m.ID, b.ID, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Row != 1 || rows[0].Target != "a" || rows[0].Amount != nil || rows[1].Row != 2 ||
		rows[1].Amount == nil || *rows[1].Amount != 200 || rows[0].Reason != "event canceled" || rows[0].Status != refundry.BatchRowPending ||
		rows[0].MerchantID != m.ID || rows[0].RequestedBy != "key:uploader" {
		t.Fatalf("rows = %+v %+v", rows[0], rows[1])
	}
	rest, err := bs.ListBatchRows(ctx, m.ID, b.ID, 2, 10)
	if err != nil || len(rest) != 1 || rest[0].Row != 3 {
		t.Fatalf("rows after 2 = %v, %v", rest, err)
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		// Invariant 5: another merchant's batch is answered as a missing one.
		_, err := bs.FindRefundBatch(ctx, other.ID, b.ID)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = bs.ListBatchRows(ctx, other.ID, b.ID, 0, 10)
		wantCode(t, err, refundry.ENOTFOUND)
		_, err = bs.FindRefundBatch(ctx, m.ID, refundry.NewID())
		wantCode(t, err, refundry.ENOTFOUND)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := bs.CreateRefundBatch(ctx, &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID}, nil, nil)
		wantCode(t, err, refundry.EINVALID)
		_, err = bs.CreateRefundBatch(ctx, &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID},
			[]*refundry.BatchRow{{Target: "x", Amount: Amount(0)}}, nil)
		wantCode(t, err, refundry.EINVALID)
	})
	for _, r := range claimOwn(t, bs, b.ID, time.Minute, 1000) {
		r.Status = refundry.BatchRowFailed
		if err := bs.FinishBatchRows(ctx, []*refundry.BatchRow{r}); err != nil {
			t.Fatal(err)
		}
	}
}

func testBatchIdempotency(t *testing.T, open batchOpener) {
	s, bs := open(t)
	ctx := context.Background()
	m := MustCreateMerchant(t, s)
	first := &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID}
	key := idem("h1")
	if replayed, err := bs.CreateRefundBatch(ctx, first, batchRows("a"), key); err != nil || replayed {
		t.Fatalf("first: %v %v", replayed, err)
	}
	again := &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID}
	replayed, err := bs.CreateRefundBatch(ctx, again, batchRows("a"), key)
	if err != nil || !replayed || again.ID != first.ID || again.Counts.Total != 1 {
		t.Fatalf("replay: %+v %v %v", again, replayed, err)
	}
	_, err = bs.CreateRefundBatch(ctx, &refundry.RefundBatch{ID: refundry.NewID(), MerchantID: m.ID}, batchRows("a"), &refundry.Idempotency{Key: key.Key, Hash: "h2"})
	wantCode(t, err, refundry.EIDEMPOTENCY)
	rows := claimOwn(t, bs, first.ID, time.Minute, 1000)
	for _, r := range rows {
		r.Status = refundry.BatchRowFailed
	}
	if err := bs.FinishBatchRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
}

func testBatchClaim(t *testing.T, open batchOpener) {
	s, bs := open(t)
	ctx := context.Background()
	m := MustCreateMerchant(t, s)
	b := mustCreateBatch(t, bs, m.ID, batchRows("a", "b", "c", "d"))

	got := claimOwn(t, bs, b.ID, time.Minute, 1000)
	if len(got) != 4 || got[0].Status != refundry.BatchRowProcessing || got[0].Attempts != 1 || !got[0].LeaseUntil.After(time.Now()) ||
		got[3].RequestedBy != "key:uploader" {
		t.Fatalf("claimed %d rows: %+v", len(got), got)
	}
	wantCounts(t, bs, m.ID, b.ID, refundry.BatchCounts{Total: 4, Processing: 4}, refundry.BatchProcessing)
	// Leased rows are not claimed again while their lease holds.
	if again := claimOwn(t, bs, b.ID, time.Minute, 1000); len(again) != 0 {
		t.Fatalf("claimed leased rows again: %+v", again)
	}
	got[0].Status, got[0].RefundID, got[0].RefundStat = refundry.BatchRowSucceeded, refundry.NewID(), refundry.RefundSucceeded
	got[1].Status, got[1].Error = refundry.BatchRowFailed, "No such sale."
	if err := bs.FinishBatchRows(ctx, got[:2]); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, bs, m.ID, b.ID, refundry.BatchCounts{Total: 4, Processing: 2, Succeeded: 1, Failed: 1}, refundry.BatchProcessing)
	rows, err := bs.ListBatchRows(ctx, m.ID, b.ID, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].RefundID != got[0].RefundID || rows[0].RefundStat != refundry.RefundSucceeded || rows[1].Error != "No such sale." {
		t.Fatalf("finished rows = %+v %+v", rows[0], rows[1])
	}
	for _, r := range got[2:] {
		r.Status = refundry.BatchRowSucceeded
	}
	if err := bs.FinishBatchRows(ctx, got[2:]); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, bs, m.ID, b.ID, refundry.BatchCounts{Total: 4, Succeeded: 3, Failed: 1}, refundry.BatchCompleted)
}

// A worker that dies leaves its rows processing; once the lease runs out
// the rows are claimed again, with the attempt counted.
func testBatchLease(t *testing.T, open batchOpener) {
	s, bs := open(t)
	m := MustCreateMerchant(t, s)
	b := mustCreateBatch(t, bs, m.ID, batchRows("a", "b"))
	if got := claimOwn(t, bs, b.ID, time.Millisecond, 1000); len(got) != 2 {
		t.Fatalf("claimed %d rows, want 2", len(got))
	}
	time.Sleep(20 * time.Millisecond)
	got := claimOwn(t, bs, b.ID, time.Minute, 1000)
	if len(got) != 2 || got[0].Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", got)
	}
	for _, r := range got {
		r.Status = refundry.BatchRowFailed
	}
	if err := bs.FinishBatchRows(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, bs, m.ID, b.ID, refundry.BatchCounts{Total: 2, Failed: 2}, refundry.BatchCompleted)
}
