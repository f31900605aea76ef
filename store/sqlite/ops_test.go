package sqlite_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/internal/testenv"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// TestBackupUnderWriteLoad takes backups while goroutines refund (and
// the simulator settles) as fast as they can, then opens each backup and
// checks invariant 2 there: a backup is a consistent snapshot, never a
// refund recorded without its reservation or the other way round.
func TestBackupUnderWriteLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := testenv.New(t)
	s, eng, m := env.Store.(*sqlite.Store), env.Engine, env.A
	var sales []*refundry.Sale
	for range 20 {
		sales = append(sales, env.Sale(testenv.SaleSpec{Units: []int64{1000, 2500}}))
	}

	stop := make(chan struct{})
	var made atomic.Int64
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // the writers end before the test does, even on Fatal
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				sale := sales[rng.IntN(len(sales))]
				_, err := eng.Refund(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1+rng.Int64N(300))))
				switch refundry.ErrorCode(err) {
				case "":
					made.Add(1)
				case refundry.ETOOLARGE, refundry.EREFUNDED:
				default:
					t.Errorf("refund: %v", err)
					return
				}
			}
		})
	}

	// Writers that all stop early (an error, every sale refunded) would
	// leave the count short for ever: the wait has a deadline and says so.
	var backups []string
	deadline := time.Now().Add(60 * time.Second)
	for i := range 3 {
		for made.Load() < int64(20*(i+1)) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d refunds made in 60s; backup %d needs %d", made.Load(), i, 20*(i+1))
			}
			time.Sleep(5 * time.Millisecond)
		}
		path := filepath.Join(dir, "backup", "b"+string(rune('0'+i))+".db")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.Backup(ctx, path); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		backups = append(backups, path)
	}
	halt()
	if err := s.Backup(ctx, backups[0]); err == nil {
		t.Error("a backup over an existing file succeeded")
	}

	var prev int
	for _, path := range backups {
		b := mustOpen(t, path)
		if err := b.CheckMigrations(ctx); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		storetest.CheckInvariants(t, b, m.ID)
		refunds, _, err := b.ListRefunds(ctx, m.ID, refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}})
		if err != nil {
			t.Fatal(err)
		}
		if len(refunds) < prev || len(refunds) == 0 {
			t.Errorf("%s holds %d refunds; the backup before held %d", path, len(refunds), prev)
		}
		prev = len(refunds)
	}
	partial, _ := filepath.Glob(filepath.Join(dir, "backup", ".*partial*"))
	if len(partial) > 0 {
		t.Errorf("partial backups left behind: %v", partial)
	}
	t.Logf("%d refunds made during the backups", made.Load())
}

func TestPingAndMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.CheckMigrations(ctx); err != nil {
		t.Fatalf("CheckMigrations: %v", err)
	}
	if w, r := s.PoolStats(); w.MaxOpenConnections != 1 || r.MaxOpenConnections < 1 {
		t.Errorf("pool stats: write %+v read %+v", w, r)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded on a closed store")
	}
}
