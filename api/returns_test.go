package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/api"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
	"github.com/refundry/refundry/gateway/simulator"
	"github.com/refundry/refundry/internal/pgtest"
	"github.com/refundry/refundry/store/postgres"
	"github.com/refundry/refundry/store/sqlite"
)

// returnStores opens each store the return flow runs on: SQLite on disk
// and the live PostgreSQL.
var returnStores = []struct {
	name string
	open func(t *testing.T) refundry.Store
}{
	{"sqlite", func(t *testing.T) refundry.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "refundry.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"postgres", func(t *testing.T) refundry.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// newEnvOn is newEnv over the given store.
func newEnvOn(t *testing.T, store refundry.Store) *env {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := simulator.New()
	eng := engine.New(store, logger, sim)
	e := &env{t: t, eng: eng, sim: sim, store: store}
	var err error
	e.merchA = &refundry.Merchant{Slug: "store-a-" + refundry.NewID(), Name: "A", Currency: "USD"}
	if e.keyA, err = eng.CreateMerchant(ctx, e.merchA); err != nil {
		t.Fatal(err)
	}
	if e.keyB, err = eng.CreateMerchant(ctx, &refundry.Merchant{Slug: "store-b-" + refundry.NewID(), Name: "B", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(edge.Observe(logger, api.NewHandler(eng, logger)))
	t.Cleanup(e.srv.Close)
	return e
}

// returnSale creates a sale of 3 widgets at 10.00 with 3.00 tax in all,
// and 2 gadgets at 5.00.
func (e *env) returnSale(key string) (saleID, widget, gadget string) {
	e.t.Helper()
	r := e.do("POST", "/v1/sales", key, `{"currency": "USD", "customer": {"email": "c@example.com"},
		"line_items": [{"name": "Widget", "quantity": 3, "unit_amount": 1000, "tax_amount": 300},
			{"name": "Gadget", "quantity": 2, "unit_amount": 500}],
		"payment": {"gateway": "simulator"}}`)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create sale: %d %s", r.status, r.raw)
	}
	lis := lineItems(r)
	return r.str("id"), lis[0]["id"].(string), lis[1]["id"].(string)
}

func (r response) errParam() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["param"].(string)
	return s
}

// A return from request to refund with a restocking fee, through the
// API, on both stores; every bad input on the way is a 4xx naming its
// field and changes nothing.
func TestReturnFlowAPI(t *testing.T) {
	for _, st := range returnStores {
		t.Run(st.name, func(t *testing.T) {
			e := newEnvOn(t, st.open(t))
			sale, widget, gadget := e.returnSale(e.keyA)
			otherSale, otherWidget, _ := e.returnSale(e.keyA)
			saleB, _, _ := e.returnSale(e.keyB)

			bad := []struct {
				name, body string
				status     int
				param      string
			}{
				{"NoSale", fmt.Sprintf(`{"lines": [{"line_item": %q, "quantity": 1}]}`, widget), 400, "sale"},
				{"NoLines", fmt.Sprintf(`{"sale": %q, "lines": []}`, sale), 400, "lines"},
				{"Zero", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 0}]}`, sale, widget), 400, "lines[0].quantity"},
				{"Negative", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": -1}]}`, sale, widget), 400, "lines[0].quantity"},
				{"Fractional", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1.5}]}`, sale, widget), 400, "lines[0].quantity"},
				{"String", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": "1"}]}`, sale, widget), 400, "lines[0].quantity"},
				{"AboveLine", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 4}]}`, sale, widget), 400, "lines[0].quantity"},
				{"OtherSalesLine", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, sale, otherWidget), 400, "lines[0].line_item"},
				{"Twice", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}, {"line_item": %q, "quantity": 1}]}`, sale, widget, widget), 400, "lines[1].line_item"},
				{"Unknown", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}], "amount": 5}`, sale, widget), 400, "amount"},
				{"AnotherMerchantsSale", fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, saleB, widget), 404, "sale"},
				{"MalformedSale", `{"sale": "x", "lines": []}`, 404, "sale"},
			}
			for _, tt := range bad {
				t.Run(tt.name, func(t *testing.T) {
					r := e.do("POST", "/v1/returns", e.keyA, tt.body)
					if r.status != tt.status || r.errParam() != tt.param {
						t.Fatalf("%d %s; want %d naming %q", r.status, r.raw, tt.status, tt.param)
					}
				})
			}
			if r := e.do("GET", "/v1/returns", e.keyA, ""); len(objects(r.body["data"])) != 0 {
				t.Fatalf("refused requests left returns: %s", r.raw)
			}

			body := fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 2}, {"line_item": %q, "quantity": 1}],
				"reason": "damaged", "description": "box crushed"}`, sale, widget, gadget)
			created := e.do("POST", "/v1/returns", e.keyA, body, "Idempotency-Key", "ret-1")
			if created.status != http.StatusCreated || created.str("status") != refundry.ReturnRequested || created.str("object") != "return" ||
				created.str("reason") != "damaged" || created.str("description") != "box crushed" || created.body["received_at"] != nil {
				t.Fatalf("create: %d %s", created.status, created.raw)
			}
			id := created.str("id")
			if again := e.do("POST", "/v1/returns", e.keyA, body, "Idempotency-Key", "ret-1"); again.str("id") != id || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %s", again.raw)
			}
			// Its units are claimed: a second return of them is refused.
			if r := e.do("POST", "/v1/returns", e.keyA, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 2}]}`, sale, widget)); r.status != 400 || r.errParam() != "lines[0].quantity" {
				t.Fatalf("double claim: %d %s", r.status, r.raw)
			}
			// Not received: no refund yet.
			if r := e.do("POST", "/v1/returns/"+id+"/refund", e.keyA, `{"restocking_fee": 300}`); r.status != http.StatusConflict {
				t.Fatalf("refund before receipt: %d %s", r.status, r.raw)
			}
			// Another merchant sees nothing (invariant 5).
			for _, path := range []string{"/v1/returns/" + id + "/receive", "/v1/returns/" + id + "/refund", "/v1/returns/" + id + "/cancel"} {
				if r := e.do("POST", path, e.keyB, ""); r.status != http.StatusNotFound {
					t.Fatalf("B %s: %d", path, r.status)
				}
			}
			if r := e.do("GET", "/v1/returns/"+id, e.keyB, ""); r.status != http.StatusNotFound {
				t.Fatalf("B get: %d", r.status)
			}

			received := e.do("POST", "/v1/returns/"+id+"/receive", e.keyA, "")
			if received.status != 200 || received.str("status") != refundry.ReturnReceived || received.body["received_at"] == nil {
				t.Fatalf("receive: %d %s", received.status, received.raw)
			}
			// 2 widgets with their tax (2×1000 + 200) and a gadget: 2700.
			for _, fee := range []string{"2701", "-1", "1.5", `"300"`} {
				r := e.do("POST", "/v1/returns/"+id+"/refund", e.keyA, `{"restocking_fee": `+fee+`}`)
				if r.status != 400 || r.errParam() != "restocking_fee" {
					t.Fatalf("fee %s: %d %s", fee, r.status, r.raw)
				}
			}
			if r := e.do("GET", "/v1/sales/"+sale, e.keyA, ""); r.num("refunded_amount") != 0 {
				t.Fatalf("refused fees refunded: %s", r.raw)
			}
			refunded := e.do("POST", "/v1/returns/"+id+"/refund", e.keyA, `{"restocking_fee": 300}`)
			if refunded.status != 200 || refunded.str("status") != refundry.ReturnRefunded || refunded.num("restocking_fee") != 300 || refunded.body["refunded_at"] == nil {
				t.Fatalf("refund: %d %s", refunded.status, refunded.raw)
			}
			ids := refunded.body["refunds"].([]any)
			if len(ids) != 1 {
				t.Fatalf("refunds %v", ids)
			}
			rf := e.do("GET", "/v1/refunds/"+ids[0].(string), e.keyA, "")
			if rf.num("amount") != 2700 || rf.num("fee") != 300 || rf.str("return") != id || rf.str("status") != refundry.RefundSucceeded {
				t.Fatalf("the refund: %s", rf.raw)
			}
			lines := objects(rf.body["lines"])
			if len(lines) != 2 || lines[0]["line_item"] != widget || fmt.Sprint(lines[0]["quantity"]) != "2" || fmt.Sprint(lines[0]["amount"]) != "2200" ||
				lines[1]["line_item"] != gadget || fmt.Sprint(lines[1]["amount"]) != "500" {
				t.Fatalf("refund lines: %v", lines)
			}
			if got := e.sim.Moved(ids[0].(string)); got != 2400 {
				t.Fatalf("the gateway moved %d, want 2700 less the 300 fee", got)
			}
			s := e.do("GET", "/v1/sales/"+sale, e.keyA, "")
			if lis := lineItems(s); fmt.Sprint(lis[0]["refunded_quantity"]) != "2" || fmt.Sprint(lis[1]["refunded_quantity"]) != "1" {
				t.Fatalf("sale lines after the refund: %s", s.raw)
			}
			// Asked again: the refunded return, and no second refund.
			if again := e.do("POST", "/v1/returns/"+id+"/refund", e.keyA, `{"restocking_fee": 0}`); again.status != 200 || again.num("restocking_fee") != 300 {
				t.Fatalf("refund again: %s", again.raw)
			}
			if r := e.do("GET", "/v1/refunds?sale="+sale, e.keyA, ""); len(objects(r.body["data"])) != 1 {
				t.Fatalf("refunds after a second ask: %s", r.raw)
			}
			if r := e.do("POST", "/v1/returns/"+id+"/cancel", e.keyA, ""); r.status != http.StatusConflict {
				t.Fatalf("cancel refunded: %d", r.status)
			}

			// A second return of the last widget, canceled.
			second := e.do("POST", "/v1/returns", e.keyA, fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, sale, widget))
			if second.status != 201 {
				t.Fatalf("second: %s", second.raw)
			}
			if r := e.do("POST", "/v1/returns/"+second.str("id")+"/cancel", e.keyA, ""); r.status != 200 || r.str("status") != refundry.ReturnCanceled {
				t.Fatalf("cancel: %s", r.raw)
			}
			if r := e.do("POST", "/v1/returns/"+second.str("id")+"/cancel", e.keyA, `{"why": 1}`); r.status != 400 {
				t.Fatalf("cancel with a body: %d", r.status)
			}

			for _, tt := range []struct {
				query string
				want  []string
			}{
				{"?sale=" + sale, []string{second.str("id"), id}},
				{"?sale=" + sale + "&status=refunded", []string{id}},
				{"?status=canceled", []string{second.str("id")}},
				{"?sale=" + otherSale, nil},
			} {
				r := e.do("GET", "/v1/returns"+tt.query, e.keyA, "")
				var got []string
				for _, o := range objects(r.body["data"]) {
					got = append(got, o["id"].(string))
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("GET /v1/returns%s = %v, want %v", tt.query, got, tt.want)
				}
			}
			if r := e.do("GET", "/v1/returns?status=lost", e.keyA, ""); r.status != 400 || r.errParam() != "status" {
				t.Fatalf("bad status filter: %d %s", r.status, r.raw)
			}
			ev := e.do("GET", "/v1/events?type=return.refunded", e.keyA, "")
			if evs := objects(ev.body["data"]); len(evs) != 1 {
				t.Fatalf("return.refunded events: %s", ev.raw)
			}
		})
	}
}

// A read key may look at returns but not request, receive, cancel or
// refund one; a refund key, which refunds, may do all of it.
func TestReturnScopes(t *testing.T) {
	e := newEnv(t)
	sale, widget, _ := e.returnSale(e.keyA)
	keys := map[refundry.Scope]string{}
	for _, sc := range []refundry.Scope{refundry.ScopeRead, refundry.ScopeRefund} {
		_, text, err := e.eng.CreateAPIKey(context.Background(), e.merchA.ID, engine.KeySpec{Name: string(sc), Scope: sc})
		if err != nil {
			t.Fatal(err)
		}
		keys[sc] = text
	}
	read, refund := keys[refundry.ScopeRead], keys[refundry.ScopeRefund]
	body := fmt.Sprintf(`{"sale": %q, "lines": [{"line_item": %q, "quantity": 1}]}`, sale, widget)
	if r := e.do("POST", "/v1/returns", read, body); r.status != http.StatusForbidden {
		t.Fatalf("read key creates: %d", r.status)
	}
	created := e.do("POST", "/v1/returns", refund, body)
	if created.status != http.StatusCreated {
		t.Fatalf("refund key creates: %d %s", created.status, created.raw)
	}
	id := created.str("id")
	if r := e.do("GET", "/v1/returns/"+id, read, ""); r.status != 200 {
		t.Fatalf("read key reads: %d", r.status)
	}
	for _, step := range []string{"receive", "refund", "cancel"} {
		if r := e.do("POST", "/v1/returns/"+id+"/"+step, read, ""); r.status != http.StatusForbidden {
			t.Fatalf("read key %s: %d", step, r.status)
		}
	}
	if r := e.do("POST", "/v1/returns/"+id+"/receive", refund, ""); r.status != 200 {
		t.Fatalf("refund key receives: %d", r.status)
	}
	if r := e.do("POST", "/v1/returns/"+id+"/refund", refund, ""); r.status != 200 || r.str("status") != refundry.ReturnRefunded {
		t.Fatalf("refund key refunds: %d %s", r.status, r.raw)
	}
}
