package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/store/storetest"
)

// The conformance suite, at PostgreSQL's default isolation and at
// SERIALIZABLE, where every contended write goes through the retry loop.
func TestStore(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			needServer(t)
			start := time.Now()
			storetest.Run(t, func(t *testing.T) refundry.Store { return sharedStore(t, iso) })
			t.Logf("%s: suite took %v; store stats %+v", iso, time.Since(start), sharedStore(t, iso).Stats())
		})
	}
}

// TestRecovery runs recovery's schedule tests, each on a database of its
// own, at both isolation levels.
func TestRecovery(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			storetest.RunRecovery(t, func(t *testing.T) refundry.Store {
				s, err := Open(context.Background(), withParam(freshDatabase(t), "default_transaction_isolation", iso))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

// TestInbox runs the inbox's tests, each on a database of its own, at
// both isolation levels.
func TestInbox(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			storetest.RunInbox(t, func(t *testing.T) refundry.Store {
				s, err := Open(context.Background(), withParam(freshDatabase(t), "default_transaction_isolation", iso))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

func isoName(iso string) string {
	if iso == serializable {
		return "Serializable"
	}
	return "ReadCommitted"
}

// TestInvariant2Concurrent hammers refunds of one sale from many
// goroutines through two stores (two pools, as two server processes would
// have), with idempotent retries and settlements in the mix, and checks
// that the outcome is exact: no over-refund, every refund acknowledged
// exists exactly once, and the stored sums equal the refunds that hold
// money. At SERIALIZABLE it also proves that serialization failures really
// happened and were retried, not surfaced.
func TestInvariant2Concurrent(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			a, b := mustOpen(t, iso), mustOpen(t, iso)
			ctx := context.Background()
			m := storetest.MustCreateMerchant(t, a)
			sale := storetest.MustCreateSale(t, a, m.ID, storetest.Lines(4000, 3000, 3000), storetest.Payments(6000, 4000))

			const workers, perWorker = 24, 12
			var (
				mu       sync.Mutex
				acked    = map[string]int64{} // refund id → amount, from every successful answer
				byKey    = map[string][]string{}
				released int64
				wg       sync.WaitGroup
			)
			keys := make([]string, 8) // shared by workers: concurrent retries of one request
			for i := range keys {
				keys[i] = "k-" + refundry.NewID()
			}
			start := time.Now()
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					s := a
					if w%2 == 1 {
						s = b
					}
					for range perWorker {
						amount := storetest.Amount(1 + rng.Int64N(250))
						var req refundry.RefundRequest
						switch n := rng.IntN(6); n {
						case 0:
							req = storetest.SaleRefund(m.ID, sale.ID, amount)
						case 1:
							req = storetest.TransactionRefund(m.ID, sale.Transactions[rng.IntN(2)].ID, amount)
						default:
							req = storetest.LineItemRefund(m.ID, sale.LineItems[rng.IntN(3)].ID, amount)
						}
						key := ""
						if rng.IntN(4) == 0 {
							// The same key always carries the same request.
							k := rng.IntN(len(keys))
							key = keys[k]
							req = storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(int64(10+k)))
							req.Idempotency = &refundry.Idempotency{Key: key, Hash: "h-" + key}
						}
						res, err := s.CreateRefunds(ctx, req)
						switch refundry.ErrorCode(err) {
						case "":
						case refundry.ETOOLARGE, refundry.EREFUNDED:
							continue
						default:
							t.Errorf("CreateRefunds: %v", err)
							return
						}
						mu.Lock()
						var ids []string
						for _, r := range res.Refunds {
							acked[r.ID] = r.Amount
							ids = append(ids, r.ID)
						}
						if key != "" {
							if prev, ok := byKey[key]; ok && fmt.Sprint(prev) != fmt.Sprint(ids) {
								t.Errorf("key %s answered %v, then %v", key, prev, ids)
							}
							byKey[key] = ids
						}
						mu.Unlock()
						// Fail one refund in five: its money is released and
						// can be refunded again by someone else.
						if key == "" && rng.IntN(5) == 0 {
							r := res.Refunds[0]
							if _, err := s.SettleRefund(ctx, m.ID, r.ID, refundry.Settlement{Status: refundry.RefundFailed}); err != nil {
								t.Errorf("SettleRefund: %v", err)
								return
							}
							mu.Lock()
							released += r.Amount
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)

			stored := map[string]*refundry.Refund{}
			var after string
			for {
				page, more, err := a.ListRefunds(ctx, m.ID, refundry.RefundFilter{SaleID: sale.ID, Page: refundry.Page{Limit: refundry.MaxPageLimit, StartingAfter: after}})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					if stored[r.ID] != nil {
						t.Fatalf("refund %s listed twice", r.ID)
					}
					stored[r.ID] = r
				}
				if !more {
					break
				}
				after = page[len(page)-1].ID
			}
			if len(stored) != len(acked) {
				t.Fatalf("%d refunds stored, %d acknowledged", len(stored), len(acked))
			}
			var holding, ackedSum int64
			for id, amount := range acked {
				r := stored[id]
				if r == nil || r.Amount != amount {
					t.Fatalf("acknowledged refund %s (%d) stored as %+v", id, amount, r)
				}
				ackedSum += amount
				if r.Status == refundry.RefundPending || r.Status == refundry.RefundSucceeded {
					holding += r.Amount
				}
			}
			got := storetest.MustFindSale(t, a, m.ID, sale.ID)
			if got.RefundedAmount != holding || holding > sale.Amount || ackedSum-released != holding {
				t.Fatalf("sale refunded %d; refunds holding money %d; acknowledged %d, released %d; paid %d",
					got.RefundedAmount, holding, ackedSum, released, sale.Amount)
			}
			storetest.CheckInvariants(t, a, m.ID)

			sa, sb := a.Stats(), b.Stats()
			retries, failures := sa.Retries+sb.Retries, sa.SerializationFailures+sb.SerializationFailures
			deadlocks, exhausted := sa.Deadlocks+sb.Deadlocks, sa.Exhausted+sb.Exhausted
			t.Logf("%s: %d refunds acknowledged (%d keys), sale %d/%d refunded; %d retries (%d serialization failures, %d deadlocks), %d exhausted; %v",
				iso, len(acked), len(byKey), got.RefundedAmount, sale.Amount, retries, failures, deadlocks, exhausted, elapsed)
			if exhausted != 0 {
				t.Fatalf("%d writes ran out of retries", exhausted)
			}
			if iso == serializable && failures == 0 {
				t.Fatal("no serialization failure at SERIALIZABLE: the test did not exercise the retry path")
			}
		})
	}
}

// TestSerializationFailureRetried makes one serialization failure happen
// deterministically: a refund whose snapshot predates a concurrent commit
// to the same sale. It must succeed after a retry, not fail.
func TestSerializationFailureRetried(t *testing.T) {
	s := mustOpen(t, serializable)
	ctx := context.Background()
	m := storetest.MustCreateMerchant(t, s)
	sale := storetest.MustCreateSale(t, s, m.ID)

	// Another client holds the sale's row lock with a write pending.
	blocker, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `UPDATE sales SET campaign_name = campaign_name WHERE id = $1`, sale.ID); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateRefunds(ctx, storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(100)))
		done <- err
	}()
	// Let the refund take its snapshot and queue for the lock, then commit
	// under it: its first attempt can only end in 40001.
	waitForLockWaiter(t, s, sale.ID)
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("CreateRefunds: %v", err)
	}
	if after := s.Stats(); after.SerializationFailures-before.SerializationFailures < 1 || after.Retries-before.Retries < 1 {
		t.Fatalf("stats before %+v, after %+v: want a serialization failure, retried", before, after)
	}
	if got := storetest.MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 100 {
		t.Fatalf("refunded = %d, want 100", got.RefundedAmount)
	}
}

// waitForLockWaiter waits until some backend is blocked on a lock.
func waitForLockWaiter(t *testing.T, s *Store, saleID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no transaction queued for sale %s's lock", saleID)
}

// TestMigrateConcurrently starts several stores on one fresh database at
// once: all must open, and each migration must be applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*Store, n)
	for i := range n {
		wg.Go(func() {
			iso := readCommitted
			if i%2 == 1 {
				iso = serializable // migrations must not depend on the session's level
			}
			stores[i], errs[i] = Open(ctx, withParam(dsn, "default_transaction_isolation", iso))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := stores[0].pool.Query(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Version int
		Name    string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rec])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(got), len(ms))
	}
	for i, m := range ms {
		if got[i].Version != m.version || got[i].Name != m.name {
			t.Fatalf("schema_migrations[%d] = %+v, want %d %s", i, got[i], m.version, m.name)
		}
	}
	// Opening an up-to-date database changes nothing.
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// And the store works on it.
	storetest.MustCreateSale(t, stores[1], storetest.MustCreateMerchant(t, stores[0]).ID)
}

// TestRoundTrip checks that what goes in comes out identical: ids, money
// at the extremes, timestamps in UTC at microseconds whatever zone and
// precision they came in, and metadata byte for byte, including key order,
// duplicate keys and spacing that jsonb would have rewritten.
func TestRoundTrip(t *testing.T) {
	s := mustOpen(t, readCommitted)
	ctx := context.Background()
	clock := time.Date(2031, 7, 8, 9, 10, 11, 123456789, time.FixedZone("X", -7*3600))
	s.Now = func() time.Time { return clock }
	wantTime := clock.UTC().Truncate(time.Microsecond)

	m := storetest.MustCreateMerchant(t, s)
	const big = int64(1) << 52 // two of these, less one, is just under the 2^53 Validate allows a sale
	sale := storetest.NewSale(m.ID, storetest.Lines(big, big-1), storetest.Payments(2*big-1))
	sale.Created = time.Time{}
	if _, err := s.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	if !sale.Created.Equal(wantTime) || sale.Created.Location() != time.UTC {
		t.Fatalf("sale.Created = %v, want %v", sale.Created, wantTime)
	}
	got := storetest.MustFindSale(t, s, m.ID, sale.ID)
	if got.ID != sale.ID || len(got.ID) != refundry.IDLength || got.Amount != 2*big-1 || got.Transactions[0].Amount != 2*big-1 {
		t.Fatalf("sale = %+v", got)
	}
	if g, w := mustJSON(t, got), mustJSON(t, sale); !bytes.Equal(g, w) {
		t.Fatalf("sale differs:\n got %s\nwant %s", g, w)
	}

	meta := json.RawMessage("{\"z\":1, \"a\" : [1.50, 2e3, -0.0],\"a\":\"dup\",\"u\":\"\\u00e9\\ud83d\\ude00 é\",\"n\":null}")
	req := storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(2*big-2))
	req.Metadata = meta
	req.RefundedAt = time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.FixedZone("Y", 5*3600+1800))
	res, err := s.CreateRefunds(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Refunds[0]
	found, err := s.FindRefund(ctx, m.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(found.Metadata, meta) {
		t.Fatalf("metadata = %s, want byte for byte %s", found.Metadata, meta)
	}
	if want := req.RefundedAt.UTC().Truncate(time.Microsecond); !found.RefundedAt.Equal(want) || found.RefundedAt.Location() != time.UTC ||
		!found.Created.Equal(wantTime) || !found.Updated.Equal(wantTime) {
		t.Fatalf("times = %v %v %v", found.RefundedAt, found.Created, found.Updated)
	}
	if g, w := mustJSON(t, found), mustJSON(t, r); !bytes.Equal(g, w) {
		t.Fatalf("refund differs:\n got %s\nwant %s", g, w)
	}
	events, _, err := s.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !bytes.Equal(events[0].Data, mustJSON(t, r)) || !events[0].Created.Equal(wantTime) {
		t.Fatalf("refund.created = %+v, want data %s", events, mustJSON(t, r))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIdempotentConcurrent sends one request with one key from many
// goroutines at once: exactly one creates, the others replay it.
func TestIdempotentConcurrent(t *testing.T) {
	for _, iso := range []string{readCommitted, serializable} {
		t.Run(isoName(iso), func(t *testing.T) {
			s := sharedStore(t, iso)
			ctx := context.Background()
			m := storetest.MustCreateMerchant(t, s)
			sale := storetest.MustCreateSale(t, s, m.ID)
			key := &refundry.Idempotency{Key: "k-" + refundry.NewID(), Hash: "h"}
			saleKey := &refundry.Idempotency{Key: "k-" + refundry.NewID(), Hash: "h"}
			const n = 16
			var wg sync.WaitGroup
			results := make([]*refundry.RefundResult, n)
			sales := make([]*refundry.Sale, n)
			replays := make([]bool, n)
			errs := make([]error, 2*n)
			for i := range n {
				wg.Go(func() {
					req := storetest.SaleRefund(m.ID, sale.ID, nil) // in full: a second run would be EREFUNDED
					req.Idempotency = key
					results[i], errs[i] = s.CreateRefunds(ctx, req)
				})
				wg.Go(func() {
					sales[i] = storetest.NewSale(m.ID, storetest.Reference("same-order-"+saleKey.Key))
					replays[i], errs[n+i] = s.CreateSale(ctx, sales[i], saleKey)
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			created, salesCreated := 0, 0
			for i := range n {
				if !results[i].Replayed {
					created++
				}
				if results[i].Refunds[0].ID != results[0].Refunds[0].ID {
					t.Fatalf("two refunds for one key: %s, %s", results[i].Refunds[0].ID, results[0].Refunds[0].ID)
				}
				if !replays[i] {
					salesCreated++
				}
				if sales[i].ID != sales[0].ID {
					t.Fatalf("two sales for one key: %s, %s", sales[i].ID, sales[0].ID)
				}
			}
			if created != 1 || salesCreated != 1 {
				t.Fatalf("%d refund requests and %d sale requests created, want 1 each", created, salesCreated)
			}
			storetest.CheckInvariants(t, s, m.ID)
		})
	}
}

// TestRetryExhausted shows that a write that keeps losing gives up with
// EUNAVAILABLE after the configured attempts, and counts it.
func TestRetryExhausted(t *testing.T) {
	s := mustOpen(t, readCommitted)
	s.attempts, s.backoffBase, s.backoffCap = 3, time.Microsecond, time.Millisecond
	calls := 0
	err := s.write(context.Background(), func(tx pgx.Tx) error {
		calls++
		return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	})
	if refundry.ErrorCode(err) != refundry.EUNAVAILABLE || calls != 3 {
		t.Fatalf("err = %v after %d calls, want EUNAVAILABLE after 3", err, calls)
	}
	if st := s.Stats(); st.Exhausted != 1 || st.Retries != 2 || st.SerializationFailures != 3 {
		t.Fatalf("stats = %+v", st)
	}
	// A domain error is final at once.
	calls = 0
	err = s.write(context.Background(), func(tx pgx.Tx) error {
		calls++
		return refundry.Errorf(refundry.ETOOLARGE, "no")
	})
	if refundry.ErrorCode(err) != refundry.ETOOLARGE || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestErrors(t *testing.T) {
	t.Run("Translate", func(t *testing.T) {
		for _, tt := range []struct {
			err  error
			code string
		}{
			{pgx.ErrNoRows, refundry.ENOTFOUND},
			{fmt.Errorf("wrapped: %w", pgx.ErrNoRows), refundry.ENOTFOUND},
			{&pgconn.PgError{Code: "23505", ConstraintName: "sales_reference_key"}, refundry.ECONFLICT},
			{&pgconn.PgError{Code: "23505", ConstraintName: "anything_else"}, refundry.ECONFLICT},
			{&pgconn.PgError{Code: "23503"}, refundry.ENOTFOUND},
			{&pgconn.PgError{Code: "40001"}, refundry.EUNAVAILABLE},
			{&pgconn.PgError{Code: "40P01"}, refundry.EUNAVAILABLE},
			{&pgconn.PgError{Code: "57P01"}, refundry.EUNAVAILABLE},
			{&pgconn.PgError{Code: "08006"}, refundry.EUNAVAILABLE},
			{&pgconn.PgError{Code: "22021"}, refundry.EINVALID},
			{&pgconn.PgError{Code: "42P01"}, refundry.EINTERNAL},
			{refundry.Errorf(refundry.ETOOLARGE, "x"), refundry.ETOOLARGE},
			{errors.New("boom"), refundry.EINTERNAL},
			{context.DeadlineExceeded, refundry.EUNAVAILABLE},
		} {
			if got := refundry.ErrorCode(translate(tt.err)); got != tt.code {
				t.Errorf("translate(%v) = %q, want %q", tt.err, got, tt.code)
			}
		}
		if translate(nil) != nil {
			t.Error("translate(nil) != nil")
		}
		e := translate(&pgconn.PgError{Code: "23505", ConstraintName: "sales_reference_key"})
		if refundry.ErrorParam(e) != "reference" {
			t.Errorf("param = %q", refundry.ErrorParam(e))
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
		if refundry.ErrorCode(err) != refundry.EUNAVAILABLE {
			t.Fatalf("Open on a closed port = %v, want EUNAVAILABLE", err)
		}
	})

	// A database that does not exist is named, with how to create it:
	// "try again" would never help.
	t.Run("MissingDatabase", func(t *testing.T) {
		if serverURL == "" {
			t.Skip(serverEnv + " is not set")
		}
		u, err := url.Parse(serverURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/refundry_no_such_database"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = Open(ctx, u.String())
		msg := refundry.ErrorMessage(err)
		if refundry.ErrorCode(err) != refundry.EUNAVAILABLE || !strings.Contains(msg, `"refundry_no_such_database" does not exist`) ||
			!strings.Contains(msg, "CREATE DATABASE") || strings.Contains(msg, "try again") {
			t.Fatalf("Open on a missing database = %v, want it named, with how to create it", err)
		}
	})

	t.Run("BadURL", func(t *testing.T) {
		_, err := Open(context.Background(), "postgres://%zz")
		if refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("Open on a malformed URL = %v, want EINVALID", err)
		}
	})

	t.Run("TextPostgreSQLCannotHold", func(t *testing.T) {
		s := sharedStore(t, readCommitted)
		m := storetest.MustCreateMerchant(t, s)
		sale := storetest.MustCreateSale(t, s, m.ID)
		req := storetest.SaleRefund(m.ID, sale.ID, storetest.Amount(1))
		req.Reason = "nul\x00byte"
		_, err := s.CreateRefunds(context.Background(), req)
		if refundry.ErrorCode(err) != refundry.EINVALID {
			t.Fatalf("reason with NUL = %v, want EINVALID", err)
		}
		if got := storetest.MustFindSale(t, s, m.ID, sale.ID); got.RefundedAmount != 0 {
			t.Fatal("a refused request reserved money")
		}
	})
}

func TestReferralIDsAreDecimal(t *testing.T) {
	s := sharedStore(t, readCommitted)
	m := storetest.MustCreateMerchant(t, s)
	r := storetest.MustCreateReferral(t, s, m.ID, "event:"+refundry.NewID())
	events, _, err := s.ListEvents(context.Background(), m.ID, refundry.EventFilter{ObjectID: strconv.FormatInt(r.ID, 10)})
	if err != nil || len(events) != 1 || events[0].Type != refundry.EventReferralCreated {
		t.Fatalf("events = %+v, %v", events, err)
	}
}
