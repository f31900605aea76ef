package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// childEnv names the database a child process of
// TestInvariant3_SurvivesKill writes to.
const childEnv = "REFUNDRY_SQLITE_KILL_CHILD"

// TestInvariant3_SurvivesKill acknowledges refunds from a child process,
// kills it with SIGKILL mid-stream, and checks that every refund it
// acknowledged is in the database after reopening, and nothing more is
// reserved than the refunds stored.
func TestInvariant3_SurvivesKill(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		runKillChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "refundry.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestInvariant3_SurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var merchantID string
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 200 {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			merchantID = f[1]
			acked = append(acked, f[2])
		}
	}
	// SIGKILL: no deferred Close, no checkpoint, no flush of anything the
	// child had not committed.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("child acknowledged only %d refunds", len(acked))
	}

	s := mustOpen(t, path)
	for _, id := range acked {
		if _, err := s.FindRefund(context.Background(), merchantID, id); err != nil {
			t.Fatalf("acknowledged refund %s lost after kill: %v", id, err)
		}
	}
	storetest.CheckInvariants(t, s, merchantID)
}

// runKillChild refunds one cent at a time, printing each refund only once
// CreateRefunds has returned, as a server answers 2xx, until it is killed.
func runKillChild(t *testing.T, path string) {
	s := mustOpen(t, path)
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID, storetest.Lines(1_000_000))
	for {
		res := storetest.MustRefund(t, s, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1)))
		fmt.Printf("ack %s %s\n", m.ID, res.Refunds[0].ID)
	}
}

// TestInvariant2_TwoStores races refunds through two stores open on one
// file, as two processes would: SQLite's lock, taken at BEGIN IMMEDIATE,
// serializes them.
func TestInvariant2_TwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundry.db")
	a, b := mustOpen(t, path), mustOpen(t, path)
	m := storetest.MustCreateMerchant(t, a)
	sale := storetest.MustCreateSale(t, a, m.ID, storetest.Lines(5000))
	var (
		mu       sync.Mutex
		accepted int64
		wg       sync.WaitGroup
	)
	for i := range 32 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range 4 {
				res, err := s.CreateRefunds(context.Background(), storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1+rng.Int64N(100))))
				switch refundry.ErrorCode(err) {
				case "":
					// A success that reserved nothing is a failure of its
					// own, reported as one rather than as an index panic
					// that would end the whole test binary.
					if len(res.Refunds) != 1 {
						t.Errorf("CreateRefunds succeeded with %d refunds, want 1", len(res.Refunds))
						return
					}
					mu.Lock()
					accepted += res.Refunds[0].Amount
					mu.Unlock()
				case refundry.ETOOLARGE, refundry.EREFUNDED:
				default:
					t.Errorf("CreateRefunds: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got := storetest.MustFindSale(t, b, m.ID, sale.ID)
	if got.RefundedAmount != accepted || accepted > got.Amount {
		t.Fatalf("sale refunded %d, accepted %d, paid %d", got.RefundedAmount, accepted, got.Amount)
	}
	storetest.CheckInvariants(t, a, m.ID)
}
