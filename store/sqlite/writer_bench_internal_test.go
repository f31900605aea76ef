package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// BenchmarkGroupCommitWriter measures the single writer's work for a
// refund and its settlement, in batches of a fixed 64 writes each (what
// 64 concurrent clients make), each refund on a sale of its own, with an
// actor, so that each write has its audit row. cpu-us/refund is the
// process's CPU time (user and system) per refund: unlike a rate, it
// hardly depends on what else the machine runs, and with the batch size
// fixed it does not depend on how the writes happened to be gathered.
//
//	go test -run '^$' -bench BenchmarkGroupCommitWriter -benchtime 40x ./store/sqlite
func BenchmarkGroupCommitWriter(b *testing.B) { benchmarkWriter(b, false) }

// BenchmarkGroupCommitWriterKeyed is BenchmarkGroupCommitWriter with an
// Idempotency-Key on every refund, as a bulk batch's rows carry.
func BenchmarkGroupCommitWriterKeyed(b *testing.B) { benchmarkWriter(b, true) }

func benchmarkWriter(b *testing.B, keyed bool) {
	s := mustOpenInternal(b, filepath.Join(b.TempDir(), "refundry.db"))
	s.sales.verify = false // as in production: the check reads every sale again
	ctx := refundry.WithActor(context.Background(), refundry.Actor{KeyID: "k1", Method: "POST", Path: "/v1/refunds"})
	m := storetest.MustCreateMerchant(b, s)
	const n = 64
	sales := make([]*refundry.Sale, n)
	for i := range sales {
		sales[i] = storetest.MustCreateSale(b, s, m.ID, storetest.Lines(1_000_000_000))
	}
	before := cpuTime(b)
	statements := s.Statements()
	b.ResetTimer()
	for range b.N {
		ids := make([]string, n)
		var wg sync.WaitGroup
		s.batch.Gather(n)
		for c := range n {
			wg.Go(func() {
				req := storetest.SaleRefund(m.ID, sales[c].ID, storetest.Amount(1))
				if keyed {
					req.Idempotency = &refundry.Idempotency{Key: refundry.NewID(), Hash: "h"}
				}
				res, err := s.CreateRefunds(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				ids[c] = res.Refunds[0].ID
			})
		}
		wg.Wait()
		s.batch.Gather(n)
		for c := range n {
			wg.Go(func() {
				if _, err := s.SettleRefund(ctx, m.ID, ids[c], refundry.Settlement{Status: refundry.RefundSucceeded}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-before)/1e3/n/float64(b.N), "cpu-us/refund")
	b.ReportMetric(float64(s.Statements()-statements)/n/float64(b.N), "statements/refund")
	storetest.CheckInvariants(b, s, m.ID)
}

// cpuTime is the process's CPU time so far, in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return u.Utime.Nano() + u.Stime.Nano()
}
