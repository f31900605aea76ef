package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/internal/testenv"
)

// finishLog is a batch store that tells the test each row it finishes.
type finishLog struct {
	refundry.BatchStore
	finished chan int
}

func (f finishLog) FinishBatchRows(ctx context.Context, rows []*refundry.BatchRow) error {
	err := f.BatchStore.FinishBatchRows(ctx, rows)
	if err == nil {
		for _, r := range rows {
			f.finished <- r.Row
		}
	}
	return err
}

// The bulk worker claims the next chunk while the current one settles:
// with one row's gateway call held, the rows of the chunks claimed after
// it are refunded and finished meanwhile, instead of waiting for the
// held row before the next claim. The held row then finishes too, once.
func TestBatchWorkerClaimsAhead(t *testing.T) {
	env := testenv.New(t)
	hold := newHoldGateway()
	env.Engine.Gateways[hold.Name()] = hold
	env.Engine.GatewayTimeout = time.Hour // the held call ends when the test says, not by its deadline
	log := finishLog{BatchStore: env.Engine.Stores.Batches, finished: make(chan int, 16)}
	env.Engine.Stores.Batches = log

	var rows []*refundry.BatchRow
	for range 3 {
		rows = append(rows, &refundry.BatchRow{Target: env.Sale(testenv.SaleSpec{}).ID, Amount: new(int64(100))})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _, err := env.Engine.CreateRefundBatch(ctx, env.A.ID, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	hold.armed.Store(true)
	w := engine.NewBatchWorker(env.Engine, time.Minute)
	w.Chunk, w.Concurrency, w.Interval = 1, 2, 10*time.Millisecond
	var run sync.WaitGroup
	run.Go(func() { w.Run(ctx) })
	defer run.Wait()
	defer cancel()
	release := sync.OnceFunc(func() { close(hold.release) })
	defer release() // first of all, so that a failing test does not leave the call held

	held := <-hold.entered
	seen := map[int]bool{}
	deadline := time.After(20 * time.Second) // a liveness bound, not a speed
	for len(seen) < 2 {
		select {
		case row := <-log.finished:
			seen[row] = true
		case <-deadline:
			t.Fatalf("rows finished while refund %s's call was held: %v; want the two other rows, claimed after it", held.RefundID, seen)
		}
	}
	release()
	select {
	case row := <-log.finished:
		if seen[row] {
			t.Fatalf("row %d finished twice", row)
		}
	case <-deadline:
		t.Fatal("the held row never finished")
	}
	got, err := env.Engine.FindRefundBatch(context.Background(), env.A.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts.Succeeded != 3 || got.Status != refundry.BatchCompleted {
		t.Fatalf("batch after the worker: %+v", got)
	}
}
