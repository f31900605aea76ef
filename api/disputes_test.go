package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/refundry/refundry"
)

// Disputes recorded by hand: an open one refuses refunds of its
// transaction with charge_disputed, a won one frees it, a lost one takes
// its amount off what remains refundable.
func TestDisputes(t *testing.T) {
	e := newEnv(t)
	t.Run("OpenRefusesWonFrees", func(t *testing.T) {
		s := e.sale(e.keyA, "won", 1250, 500)
		txn := transactions(s)[0]["id"].(string)
		d := e.do("POST", "/v1/disputes", e.keyA, fmt.Sprintf(`{"transaction": %q, "amount": 700, "status": "warning_needs_response", "reason": "fraudulent"}`, txn))
		if d.status != 201 || d.str("object") != "dispute" || d.num("amount") != 700 || d.str("status") != "warning_needs_response" ||
			d.str("reason") != "fraudulent" || d.str("sale") != s.str("id") || d.str("transaction") != txn || d.str("currency") != "USD" || d.str("gateway") != "simulator" {
			t.Fatalf("record: %d %s", d.status, d.raw)
		}
		r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 100}`, s.str("id")))
		if r.status != 400 || r.errCode() != "charge_disputed" {
			t.Fatalf("refund of a disputed sale: %d %s", r.status, r.raw)
		}
		if got := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); got.num("refunded_amount") != 0 || transactions(got)[0]["dispute_status"] != "warning_needs_response" {
			t.Fatalf("sale after the refusal: %s", got.raw)
		}
		if got := e.do("GET", "/v1/disputes/"+d.str("id"), e.keyA, ""); got.status != 200 || got.raw != d.raw {
			t.Fatalf("get: %d %s; recorded %s", got.status, got.raw, d.raw)
		}
		won := e.do("POST", "/v1/disputes/"+d.str("id"), e.keyA, `{"status": "won"}`)
		if won.status != 200 || won.str("status") != "won" || won.str("id") != d.str("id") {
			t.Fatalf("won: %d %s", won.status, won.raw)
		}
		if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, s.str("id"))); r.status != 201 || r.num("amount") != 1750 {
			t.Fatalf("refund after the dispute was won: %d %s", r.status, r.raw)
		}
	})
	t.Run("LostReducesRefundable", func(t *testing.T) {
		s := e.sale(e.keyA, "lost", 1000)
		txn := transactions(s)[0]["id"].(string)
		d := e.do("POST", "/v1/disputes", e.keyA, fmt.Sprintf(`{"transaction": %q, "amount": 400}`, txn))
		if d.status != 201 || d.str("status") != "needs_response" {
			t.Fatalf("record: %d %s", d.status, d.raw)
		}
		if lost := e.do("POST", "/v1/disputes/"+d.str("id"), e.keyA, `{"status": "lost"}`); lost.status != 200 || lost.str("status") != "lost" {
			t.Fatalf("lost: %d %s", lost.status, lost.raw)
		}
		got := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, "")
		if got.num("refundable_amount") != 600 || transactions(got)[0]["disputed_amount"] != jsonNumber(400) || transactions(got)[0]["dispute_status"] != "lost" {
			t.Fatalf("sale after the lost dispute: %s", got.raw)
		}
		if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 601}`, s.str("id"))); r.status != 400 || r.errCode() != "amount_too_large" {
			t.Fatalf("refund above what the lost dispute left: %d %s", r.status, r.raw)
		}
		if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, s.str("id"))); r.status != 201 || r.num("amount") != 600 {
			t.Fatalf("refund of the rest: %d %s", r.status, r.raw)
		}
		// A closed dispute does not reopen.
		if again := e.do("POST", "/v1/disputes/"+d.str("id"), e.keyA, `{"status": "needs_response"}`); again.status/100 != 4 {
			t.Fatalf("reopen a lost dispute: %d %s", again.status, again.raw)
		}
	})
	t.Run("StripeDisputeMovesOnlyByItsEvents", func(t *testing.T) {
		ctx := context.Background()
		e.eng.Gateways[refundry.GatewayStripe] = e.sim
		sale := &refundry.Sale{MerchantID: e.merchA.ID, Currency: "USD",
			LineItems:    []*refundry.LineItem{{Name: "a", Quantity: 1, UnitAmount: 1000}},
			Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe, GatewayChargeID: "ch_disputed_" + refundry.NewID()}}}
		if _, err := e.eng.CreateSale(ctx, sale, nil); err != nil {
			t.Fatal(err)
		}
		res, err := e.eng.ApplyReport(ctx, refundry.GatewayReport{Dispute: &refundry.DisputeReport{
			Gateway: refundry.GatewayStripe, ChargeIDs: []string{sale.Transactions[0].GatewayChargeID}, GatewayDisputeID: "dp_" + refundry.NewID(),
			Amount: 1000, Currency: "USD", Status: refundry.DisputeNeedsResponse, Reason: "fraudulent", Created: e.eng.Now()}})
		if err != nil || res.Dispute == nil {
			t.Fatalf("Stripe's dispute: %+v %v", res, err)
		}
		d := e.do("GET", "/v1/disputes/"+res.Dispute.ID, e.keyA, "")
		if d.status != 200 || d.str("gateway") != "stripe" || !strings.HasPrefix(d.str("gateway_dispute_id"), "dp_") {
			t.Fatalf("get: %d %s", d.status, d.raw)
		}
		if r := e.do("POST", "/v1/disputes/"+res.Dispute.ID, e.keyA, `{"status": "won"}`); r.status != 400 || !strings.Contains(r.raw, "Stripe") {
			t.Fatalf("moving Stripe's dispute by hand: %d %s", r.status, r.raw)
		}
		if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q}`, sale.ID)); r.status != 400 || r.errCode() != "charge_disputed" {
			t.Fatalf("refund of a payment Stripe reports disputed: %d %s", r.status, r.raw)
		}
		if again := e.do("GET", "/v1/disputes/"+res.Dispute.ID, e.keyA, ""); again.raw != d.raw {
			t.Fatalf("the refused move changed the dispute: %s; was %s", again.raw, d.raw)
		}
	})
	t.Run("List", func(t *testing.T) {
		s := e.sale(e.keyA, "list", 300, 300)
		txn := transactions(s)[0]["id"].(string)
		var ids []string
		for _, status := range []string{"needs_response", "under_review", "needs_response"} {
			d := e.do("POST", "/v1/disputes", e.keyA, fmt.Sprintf(`{"transaction": %q, "amount": 100, "status": %q}`, txn, status))
			if d.status != 201 {
				t.Fatalf("record: %d %s", d.status, d.raw)
			}
			ids = append(ids, d.str("id"))
		}
		for _, tc := range []struct {
			query string
			want  []string
			more  bool
		}{
			{"sale=" + s.str("id"), []string{ids[2], ids[1], ids[0]}, false},
			{"transaction=" + txn + "&status=needs_response", []string{ids[2], ids[0]}, false},
			{"sale=" + s.str("id") + "&limit=2", []string{ids[2], ids[1]}, true},
			{"sale=" + s.str("id") + "&starting_after=" + ids[1], []string{ids[0]}, false},
			{"sale=" + s.str("id") + "&ending_before=" + ids[0], []string{ids[2], ids[1]}, false},
			{"sale=" + s.str("id") + "&status=won", nil, false},
		} {
			got := e.do("GET", "/v1/disputes?"+tc.query, e.keyA, "")
			var have []string
			for _, o := range objects(got.body["data"]) {
				have = append(have, o["id"].(string))
			}
			if got.status != 200 || strings.Join(have, ",") != strings.Join(tc.want, ",") || got.body["has_more"] != tc.more || got.str("url") != "/v1/disputes" {
				t.Errorf("?%s: %d %v (has_more %v); want %v (%v)", tc.query, got.status, have, got.body["has_more"], tc.want, tc.more)
			}
		}
		if other := e.do("GET", "/v1/disputes?sale="+s.str("id"), e.keyB, ""); len(objects(other.body["data"])) != 0 {
			t.Errorf("another merchant lists the disputes: %s", other.raw)
		}
	})
}

// Bad input to the dispute routes: a clear 4xx in the native shape, and
// nothing recorded, nothing refused.
func TestDisputesBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.sale(e.keyA, "bad", 1000)
	txn := transactions(s)[0]["id"].(string)
	theirs := e.sale(e.keyB, "theirs", 1000)
	theirTxn := transactions(theirs)[0]["id"].(string)
	// A Stripe payment, named by its charge: no call to Stripe is needed
	// to record a sale or to refuse a dispute on it.
	e.eng.Gateways[refundry.GatewayStripe] = e.sim
	stripeSale := &refundry.Sale{MerchantID: e.merchA.ID, Currency: "USD",
		LineItems:    []*refundry.LineItem{{Name: "a", Quantity: 1, UnitAmount: 1000}},
		Transactions: []*refundry.Transaction{{Gateway: refundry.GatewayStripe, GatewayChargeID: "ch_3MmlLrLkdIwHu7ix0snN0B15"}}}
	if _, err := e.eng.CreateSale(ctx, stripeSale, nil); err != nil {
		t.Fatal(err)
	}
	theirDispute := e.do("POST", "/v1/disputes", e.keyB, fmt.Sprintf(`{"transaction": %q}`, theirTxn))
	if theirDispute.status != 201 {
		t.Fatalf("record B's dispute: %d %s", theirDispute.status, theirDispute.raw)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, param, message     string
	}{
		{"ErrUnknownTransaction", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q}`, refundry.NewID()), 404, "resource_missing", "transaction", ""},
		{"ErrMalformedTransaction", "POST", "/v1/disputes", `{"transaction": "nope"}`, 404, "resource_missing", "transaction", ""},
		{"ErrOtherMerchantsTransaction", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q}`, theirTxn), 404, "resource_missing", "transaction", ""},
		{"ErrNoTransaction", "POST", "/v1/disputes", `{"amount": 100}`, 400, "parameter_invalid", "transaction", ""},
		{"ErrBadStatus", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "status": "open"}`, txn), 400, "parameter_invalid", "status", ""},
		{"ErrAmountAboveTransaction", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "amount": 1001}`, txn), 400, "invalid_amount", "amount", ""},
		{"ErrZeroAmount", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "amount": 0}`, txn), 400, "invalid_amount", "amount", ""},
		{"ErrFractionalAmount", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "amount": 10.5}`, txn), 400, "invalid_amount", "amount", ""},
		{"ErrStringAmount", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "amount": "100"}`, txn), 400, "parameter_invalid", "amount", ""},
		{"ErrUnknownParameter", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q, "colour": "red"}`, txn), 400, "parameter_unknown", "colour", ""},
		{"ErrStripePayment", "POST", "/v1/disputes", fmt.Sprintf(`{"transaction": %q}`, stripeSale.Transactions[0].ID), 400, "parameter_invalid", "transaction", "Stripe reports its own disputes"},
		{"ErrNotJSON", "POST", "/v1/disputes", `{"transaction": `, 400, "parameter_invalid", "", ""},
		{"ErrUpdateBadStatus", "POST", "/v1/disputes/" + theirDispute.str("id"), `{"status": "open"}`, 400, "parameter_invalid", "status", ""},
		{"ErrUpdateNoStatus", "POST", "/v1/disputes/" + theirDispute.str("id"), `{}`, 400, "parameter_invalid", "status", ""},
		{"ErrUpdateOtherMerchantsDispute", "POST", "/v1/disputes/" + theirDispute.str("id"), `{"status": "won"}`, 404, "resource_missing", "", ""},
		{"ErrUpdateMissing", "POST", "/v1/disputes/" + refundry.NewID(), `{"status": "won"}`, 404, "resource_missing", "", ""},
		{"ErrGetOtherMerchantsDispute", "GET", "/v1/disputes/" + theirDispute.str("id"), ``, 404, "resource_missing", "", ""},
		{"ErrListBadStatus", "GET", "/v1/disputes?status=open", ``, 400, "parameter_invalid", "status", ""},
		{"ErrListBadSale", "GET", "/v1/disputes?sale=nope", ``, 400, "parameter_invalid", "sale", ""},
		{"ErrListUnknownFilter", "GET", "/v1/disputes?gateway=stripe", ``, 400, "parameter_unknown", "gateway", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, e.keyA, tc.body)
			ed, _ := r.body["error"].(map[string]any)
			param, _ := ed["param"].(string)
			msg, _ := ed["message"].(string)
			if r.status != tc.status || r.errCode() != tc.code || (tc.param != "" && param != tc.param) || !strings.Contains(msg, tc.message) {
				t.Fatalf("%d %s; want %d %s (param %q, message with %q)", r.status, r.raw, tc.status, tc.code, tc.param, tc.message)
			}
		})
	}

	// Nothing was recorded or moved.
	if l := e.do("GET", "/v1/disputes?limit=100", e.keyA, ""); len(objects(l.body["data"])) != 0 {
		t.Errorf("A has disputes after bad input only: %s", l.raw)
	}
	if d := e.do("GET", "/v1/disputes/"+theirDispute.str("id"), e.keyB, ""); d.raw != theirDispute.raw {
		t.Errorf("B's dispute changed: %s; was %s", d.raw, theirDispute.raw)
	}
	for _, id := range []string{s.str("id"), stripeSale.ID} {
		got := e.do("GET", "/v1/sales/"+id, e.keyA, "")
		if tj := transactions(got)[0]; tj["dispute_status"] != nil || tj["disputed_amount"] != jsonNumber(0) {
			t.Errorf("transaction after bad input: %v", tj)
		}
	}
	if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"transaction": %q, "amount": 100}`, txn)); r.status != 201 {
		t.Errorf("refund after bad dispute input: %d %s", r.status, r.raw)
	}
}

func jsonNumber(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// What the gateway said shows on the native wire: a refund made at the
// gateway is listed with source "gateway", and one that put the sale's
// refunds above what was paid flags the sale over_refunded.
func TestGatewayRefundOnTheWire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.sale(e.keyA, "adopt", 1000)
	if r := e.do("POST", "/v1/refunds", e.keyA, fmt.Sprintf(`{"sale": %q, "amount": 700}`, s.str("id"))); r.status != 201 {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	if got := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, ""); got.body["over_refunded"] != false {
		t.Fatalf("sale before: %s", got.raw)
	}
	payRef := transactions(s)[0]["reference"].(string)
	res, err := e.eng.ApplyReport(ctx, refundry.GatewayReport{Refund: &refundry.RefundReport{
		Gateway: refundry.GatewaySimulator, ChargeIDs: []string{payRef}, GatewayRefundID: "sim_re_at_gateway",
		Amount: 500, Currency: "USD", Status: refundry.RefundSucceeded, Created: e.eng.Now()}})
	if err != nil || res.Outcome != refundry.OutcomeAdopted {
		t.Fatalf("adopt: %+v %v", res, err)
	}
	got := e.do("GET", "/v1/sales/"+s.str("id"), e.keyA, "")
	if got.body["over_refunded"] != true || got.num("refunded_amount") != 1200 || got.num("refundable_amount") != 0 {
		t.Fatalf("sale after a refund at the gateway put it over: %s", got.raw)
	}
	list := e.do("GET", "/v1/refunds?source=gateway&sale="+s.str("id"), e.keyA, "")
	data := objects(list.body["data"])
	if len(data) != 1 || data[0]["source"] != "gateway" || data[0]["gateway_refund_id"] != "sim_re_at_gateway" || data[0]["amount"] != jsonNumber(500) {
		t.Fatalf("refunds made at the gateway: %s", list.raw)
	}
}
