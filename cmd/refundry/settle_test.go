package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/refundry/refundry"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
	"github.com/refundry/refundry/store/storetest"
)

// settleFault makes the database itself refuse to record a refund as
// succeeded, the way a full disk or a statement timeout would, while the
// reservation before the gateway call still commits. Each backend's
// version is a real trigger in that backend: SQLite's RAISE is an error
// of its own (a 500 before the fix), PostgreSQL's raises disk_full, 53100
// (a 503 before the fix).
type settleFault struct {
	on, off []string
	exec    func(t *testing.T, stmts []string)
}

// Invariants 3 and 4: once a refund's reservation has committed, the
// request that made it is answered 2xx with the refund pending, on every
// edge, even when recording the gateway's answer fails; a replay of its
// Idempotency-Key answers the same refund, and recovery settles each one as
// succeeded exactly once. Every edge is asked: native, RevCent, Payop,
// Talkable, Jetti and KeepUp. Before, the client was told 500 or 503 and one
// that retried refunded twice.
func TestSettleFailureAnswersPending(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var store refundry.Store
			var fault settleFault
			var err error
			if backend == "sqlite" {
				path := filepath.Join(t.TempDir(), "settle.db")
				if store, err = sqlite.Open(ctx, path); err != nil {
					t.Fatal(err)
				}
				fault = settleFault{
					on: []string{`CREATE TRIGGER settle_fault BEFORE UPDATE OF status ON refunds WHEN NEW.status = 'succeeded'
						BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`},
					off: []string{`DROP TRIGGER settle_fault`},
					exec: func(t *testing.T, stmts []string) {
						db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
						if err != nil {
							t.Fatal(err)
						}
						defer db.Close()
						for _, s := range stmts {
							if _, err := db.Exec(s); err != nil {
								t.Fatalf("%s: %v", s, err)
							}
						}
					},
				}
			} else {
				url := pgtest.NewDatabase(t)
				if store, err = postgres.Open(ctx, url); err != nil {
					t.Fatal(err)
				}
				fault = settleFault{
					on: []string{`CREATE FUNCTION settle_fault() RETURNS trigger LANGUAGE plpgsql AS $$
						BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`,
						`CREATE TRIGGER settle_fault BEFORE UPDATE OF status ON refunds FOR EACH ROW
						WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION settle_fault()`},
					off: []string{`DROP TRIGGER settle_fault ON refunds`},
					exec: func(t *testing.T, stmts []string) {
						cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
						defer cancel()
						conn, err := pgx.Connect(cctx, url)
						if err != nil {
							t.Fatal(err)
						}
						defer conn.Close(cctx)
						for _, s := range stmts {
							if _, err := conn.Exec(cctx, s); err != nil {
								t.Fatalf("%s: %v", s, err)
							}
						}
					},
				}
			}
			t.Cleanup(func() { store.Close() })
			settleFailure(t, store, fault)
		})
	}
}

// lostConnection is a store whose reads fail, once armed, from the moment
// a settlement fails until the test lets them pass again: the connection
// that failed the settlement is gone, and the edge's read after the
// refund fails with it. That cannot be timed with a real connection, so
// it is the one piece of this test that is a wrapper.
type lostConnection struct {
	refundry.Store
	armed, lost atomic.Bool
}

var errLost = &refundry.Error{Code: refundry.EUNAVAILABLE, Message: "The database is unavailable; try again."}

func (s *lostConnection) SettleRefund(ctx context.Context, merchantID, id string, st refundry.Settlement) (*refundry.Refund, error) {
	r, err := s.Store.SettleRefund(ctx, merchantID, id, st)
	if err != nil && s.armed.Load() {
		s.lost.Store(true)
	}
	return r, err
}

func (s *lostConnection) FindSale(ctx context.Context, merchantID string, by refundry.SaleLookup) (*refundry.Sale, error) {
	if s.lost.Load() {
		return nil, errLost
	}
	return s.Store.FindSale(ctx, merchantID, by)
}

func (s *lostConnection) ListRefunds(ctx context.Context, merchantID string, f refundry.RefundFilter) ([]*refundry.Refund, bool, error) {
	if s.lost.Load() {
		return nil, false, errLost
	}
	return s.Store.ListRefunds(ctx, merchantID, f)
}

func settleFailure(t *testing.T, real refundry.Store, fault settleFault) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := &lostConnection{Store: real}
	eng := engine.New(store, logger, simulator.New())
	m := &refundry.Merchant{Slug: "settle", Name: "Settle", Currency: "USD"}
	key, err := eng.CreateMerchant(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	sale := &refundry.Sale{MerchantID: m.ID, Currency: "USD", Reference: "SETTLE-1",
		LineItems:    []*refundry.LineItem{{Name: "ticket", Quantity: 1, UnitAmount: 10000}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: "settle-pay"}}}
	if _, err := eng.CreateSale(ctx, sale, nil); err != nil {
		t.Fatal(err)
	}
	// Talkable refunds a purchase whole, so it gets a sale of its own.
	origin := &refundry.Sale{MerchantID: m.ID, Currency: "USD", Reference: "SETTLE-2",
		LineItems:    []*refundry.LineItem{{Name: "ticket", Quantity: 1, UnitAmount: 2500}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewaySimulator, Reference: "settle-pay-2"}}}
	if _, err := eng.CreateSale(ctx, origin, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(eng, logger, mustOps(t, store, eng)))
	t.Cleanup(srv.Close)
	li, txn := sale.LineItems[0], sale.Transactions[0]

	type answer struct {
		status int
		header http.Header
		body   map[string]any
	}
	do := func(method, path, idemKey, body string, auth [2]string) answer {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(cctx, method, srv.URL+path, strings.NewReader(body))
		req.Header.Set(auth[0], auth[1])
		req.Header.Set("Content-Type", "application/json")
		if idemKey != "" {
			req.Header.Set("Idempotency-Key", idemKey)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var out map[string]any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil {
			t.Fatalf("%s %s answered %d, not JSON: %s", method, path, res.StatusCode, raw)
		}
		if res.StatusCode/100 != 2 {
			t.Fatalf("%s %s answered %d: %s", method, path, res.StatusCode, raw)
		}
		return answer{res.StatusCode, res.Header, out}
	}
	bearer := [2]string{"Authorization", "Bearer " + key}

	fault.exec(t, fault.on)

	// The native API, without and with an Idempotency-Key.
	native := func(amount int64, idemKey string) answer {
		return do("POST", "/v1/refunds", idemKey, fmt.Sprintf(`{"transaction": %q, "amount": %d}`, txn.ID, amount), bearer)
	}
	plain := native(500, "")
	keyed := native(700, "settle-key-1")
	for name, a := range map[string]answer{"without a key": plain, "with a key": keyed} {
		if a.status != http.StatusCreated || a.body["status"] != refundry.RefundPending {
			t.Fatalf("native refund %s: %d %v, want 201 pending", name, a.status, a.body)
		}
	}
	replay := native(700, "settle-key-1")
	if replay.body["id"] != keyed.body["id"] || replay.body["status"] != refundry.RefundPending || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay of the key: %v (replayed %q), want refund %v pending", replay.body, replay.header.Get("Idempotent-Replayed"), keyed.body["id"])
	}

	// RevCent lists the refund under pending_refund.
	rc := do("POST", "/v2/product_sales/"+li.ID+"/refund", "", `{"amount": 3.00}`, [2]string{"X-API-Key", key})
	if p, _ := rc.body["pending_refund"].([]any); len(p) != 1 {
		t.Fatalf("RevCent refund: %v, want one pending_refund", rc.body)
	}
	// Payop's 200 shows no refund status, only its identifier; Talkable's
	// refund of a purchase no referral names answers ok. Neither is an
	// error.
	po := do("POST", "/v1/refunds/create", "", `{"transactionIdentifier": "settle-pay", "refundType": 2, "amount": 1.00}`, bearer)
	if po.status != http.StatusOK || po.body["status"] != json.Number("1") || po.header.Get("identifier") == "" {
		t.Fatalf("Payop refund: %d %v (identifier %q), want 200, status 1 and the refund's identifier", po.status, po.body, po.header.Get("identifier"))
	}
	tk := do("POST", "/api/v2/origins/"+origin.Reference+"/refund", "", `{"site_slug": "settle"}`, bearer)
	if tk.status != http.StatusOK || tk.body["ok"] != true {
		t.Fatalf("Talkable refund: %d %v, want 200 ok", tk.status, tk.body)
	}
	// Jetti's transaction carries its latest refund's status.
	jt := do("PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", txn.Number), "", `{"refundAmount": 2.00}`, bearer)
	if jt.body["status"] != "pending" {
		t.Fatalf("Jetti refund: %v, want status pending", jt.body)
	}

	// Jetti and KeepUp read after refunding; when that read fails too,
	// they answer from the refund made rather than "try again".
	store.armed.Store(true)
	jt = do("PUT", fmt.Sprintf("/v1/transactions/%d/refund.json", txn.Number), "", `{"refundAmount": 1.00}`, bearer)
	if jt.body["status"] != "pending" || jt.body["refundAmount"] != json.Number("19.00") {
		t.Fatalf("Jetti refund with reads failing: %v, want status pending, refundAmount 19.00", jt.body)
	}
	store.lost.Store(false)
	ku := do("POST", "/v2.0/sales/refund/"+sale.ID, "", ``, bearer)
	if data, _ := ku.body["data"].(map[string]any); ku.body["message"] != "sale refund pending" || data["status"] != "pending" {
		t.Fatalf("KeepUp refund with reads failing: %v, want sale refund pending", ku.body)
	}
	store.lost.Store(false)
	store.armed.Store(false)

	pending, _, err := store.ListRefunds(ctx, m.ID, refundry.RefundFilter{Status: refundry.RefundPending})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 8 {
		t.Fatalf("%d refunds pending, want the 8 answered", len(pending))
	}

	// The disk has room again: recovery settles each refund, once.
	fault.exec(t, fault.off)
	if n, err := eng.Recover(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 8 {
		t.Fatalf("recovery settled %d (%v), want 8", n, err)
	}
	if n, err := eng.Recover(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("second recovery pass settled %d (%v), want 0", n, err)
	}
	for _, r := range pending {
		got, err := store.FindRefund(ctx, m.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != refundry.RefundSucceeded {
			t.Errorf("refund %s is %s after recovery, want succeeded", r.ID, got.Status)
		}
		events, _, err := store.ListEvents(ctx, m.ID, refundry.EventFilter{ObjectID: r.ID, Types: []string{refundry.EventRefundSucceeded}})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Errorf("refund %s has %d refund.succeeded events, want 1", r.ID, len(events))
		}
	}
	replay = native(700, "settle-key-1")
	if replay.body["id"] != keyed.body["id"] || replay.body["status"] != refundry.RefundSucceeded {
		t.Fatalf("replay after recovery: %v, want refund %v succeeded", replay.body, keyed.body["id"])
	}
	got, err := store.FindSale(ctx, m.ID, refundry.SaleLookup{ID: sale.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Transactions[0].RefundedAmount; r != 10000 || got.Status != refundry.PaymentRefunded {
		t.Fatalf("transaction refunded %d, sale %s; want 10000 (1900 in six partial refunds, KeepUp the rest), refunded", r, got.Status)
	}
	if got := storetest.MustFindSale(t, store, m.ID, origin.ID); got.RefundedAmount != 2500 || got.Status != refundry.PaymentRefunded {
		t.Fatalf("Talkable's purchase refunded %d, %s; want 2500, refunded", got.RefundedAmount, got.Status)
	}
	sum := map[string]int64{}
	for _, r := range pending {
		sum[r.SaleID] += r.Amount
	}
	if sum[sale.ID] != 10000 || sum[origin.ID] != 2500 {
		t.Fatalf("the answered refunds add up to %v, want 10000 and 2500: one refund per request", sum)
	}
	storetest.CheckInvariants(t, store, m.ID)
}
