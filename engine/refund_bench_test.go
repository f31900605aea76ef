package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// benchClients is how many refunds are in flight at once: the concurrency
// the group-commit targets are set at.
const benchClients = 64

// BenchmarkRefund measures the engine's refund path (reserve, simulator
// gateway, settle: two durable writes per refund) with 64 concurrent
// callers, on both stores, group commit on and off. refunds/s is the
// figure to compare; ns/op is wall time per refund across all callers.
//
//	go test -run '^$' -bench BenchmarkRefund -benchtime 3000x ./engine
//
// The PostgreSQL cases need REFUNDRY_TEST_POSTGRES (see internal/pgtest).
func BenchmarkRefund(b *testing.B) {
	type opener func(b *testing.B, group bool, onBatch func(int)) refundry.Store
	stores := []struct {
		name string
		open opener
	}{
		{"sqlite", func(b *testing.B, group bool, onBatch func(int)) refundry.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"),
				sqlite.WithGroupCommit(group), sqlite.WithBatchObserver(onBatch))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B, group bool, onBatch func(int)) refundry.Store {
			s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b),
				postgres.WithGroupCommit(group), postgres.WithBatchObserver(onBatch))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		for _, group := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/group=%s", st.name, map[bool]string{true: "on", false: "off"}[group]), func(b *testing.B) {
				var batches, batched atomic.Int64
				s := st.open(b, group, func(n int) { batches.Add(1); batched.Add(int64(n)) })
				defer s.Close()
				benchRefunds(b, s)
				if n := batches.Load(); n > 0 {
					b.ReportMetric(float64(batched.Load())/float64(n), "writes/batch")
				}
			})
		}
	}
}

func benchRefunds(b *testing.B, s refundry.Store) {
	ctx := context.Background()
	eng := engine.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), simulator.New())
	m := storetest.NewMerchant()
	if _, err := eng.CreateMerchant(ctx, m); err != nil {
		b.Fatal(err)
	}
	// One sale per caller, large enough for every refund of the run: the
	// callers do not queue on each other's sale locks, so what is measured
	// is the commit path.
	sales := make([]*refundry.Sale, benchClients)
	for i := range sales {
		sale := storetest.NewSale(m.ID, storetest.Lines(1_000_000_000))
		if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
			b.Fatal(err)
		}
		sales[i] = sale
	}
	var next atomic.Int64
	b.SetParallelism((benchClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sale := sales[next.Add(1)%benchClients]
		amount := int64(1)
		for pb.Next() {
			res, err := eng.Refund(ctx, refundry.RefundRequest{MerchantID: m.ID,
				Target: refundry.RefundTarget{SaleID: sale.ID}, Amount: &amount, Source: refundry.SourceNative})
			if err != nil {
				b.Error(err)
				return
			}
			if res.Refunds[0].Status != refundry.RefundSucceeded {
				b.Errorf("refund %s is %s, want succeeded", res.Refunds[0].ID, res.Refunds[0].Status)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refunds/s")
	storetest.CheckInvariants(b, s, m.ID)
}
