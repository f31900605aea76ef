package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// BenchmarkServeRefund is one native refund (POST /v1/refunds) through
// the whole handler serve mounts: request id, access log, metrics,
// authentication, JSON, the engine, the store with group commit, and the
// answer, with 64 callers as "refundry bench" runs it but without the
// network. allocs/op is the figure the request path's allocations are
// compared by; the store's share is in it, as it is in a served refund.
//
//	go test -run '^$' -bench ServeRefund -benchmem -benchtime 5000x ./cmd/refundry
//
// The PostgreSQL case needs REFUNDRY_TEST_POSTGRES (see internal/pgtest).
func BenchmarkServeRefund(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) refundry.Store
	}{
		{"sqlite", func(b *testing.B) refundry.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.WithGroupCommit(true))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) refundry.Store {
			s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b), postgres.WithGroupCommit(true))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			defer s.Close()
			benchServeRefunds(b, s)
		})
	}
}

func benchServeRefunds(b *testing.B, s refundry.Store) {
	const clients = 64
	ctx := context.Background()
	// As serve logs: text lines, with the request id added.
	logger := slog.New(edge.LogHandler{Handler: slog.NewTextHandler(io.Discard, nil)})
	eng := engine.New(s, logger, simulator.New())
	m := storetest.NewMerchant()
	if _, err := eng.CreateMerchant(ctx, m); err != nil {
		b.Fatal(err)
	}
	_, key, err := eng.CreateAPIKey(ctx, m.ID, engine.KeySpec{Name: "bench", Scope: refundry.ScopeWrite})
	if err != nil {
		b.Fatal(err)
	}
	// serve --rate-limit 0, as bench asks of the server it measures.
	h := edge.RateLimit(edge.NewRateLimiter(0, 1), newServer(eng, logger, mustOps(b, s, eng)))
	// One sale per caller, large enough for every refund of the run, so
	// that callers do not queue on each other's sales.
	bodies := make([]string, clients)
	for i := range bodies {
		sale := storetest.NewSale(m.ID, storetest.Lines(1_000_000_000))
		if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
			b.Fatal(err)
		}
		bodies[i] = fmt.Sprintf(`{"sale": %q, "amount": 1}`, sale.ID)
	}
	var next atomic.Int64
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		body := bodies[next.Add(1)%clients]
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/v1/refunds", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Errorf("refund answered %d: %s", w.Code, w.Body)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refunds/s")
	// CPU, not wall time, is what a refund costs on a shared machine.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	storetest.CheckInvariants(b, s, m.ID)
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
