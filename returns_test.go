package refundry_test

import (
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

var (
	saleID, retID                     = refundry.NewID(), refundry.NewID()
	lineA, lineB, lineC, lineD, lineZ = refundry.NewID(), refundry.NewID(), refundry.NewID(), refundry.NewID(), refundry.NewID()
)

func TestReturnTransitions(t *testing.T) {
	all := refundry.ReturnStatuses
	allowed := map[[2]string]string{
		{refundry.ReturnRequested, refundry.ReturnReceived}: refundry.EventReturnReceived,
		{refundry.ReturnReceived, refundry.ReturnRefunded}:  refundry.EventReturnRefunded,
		{refundry.ReturnRequested, refundry.ReturnCanceled}: refundry.EventReturnCanceled,
		{refundry.ReturnReceived, refundry.ReturnCanceled}:  refundry.EventReturnCanceled,
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Every pair of statuses, the table's steps and nothing else.
	for _, from := range all {
		for _, to := range all {
			r := &refundry.Return{ID: "r", Status: from}
			tr, err := r.Move(to, now)
			want, ok := allowed[[2]string{from, to}]
			if !ok {
				if refundry.ErrorCode(err) != refundry.ECONFLICT || r.Status != from || !r.Updated.IsZero() {
					t.Errorf("%s -> %s: err %v, status %s; want ECONFLICT and unchanged", from, to, err, r.Status)
				}
				continue
			}
			if err != nil || tr.Event != want || r.Status != to || !r.Updated.Equal(now) {
				t.Errorf("%s -> %s: %+v, %v, status %s", from, to, tr, err, r.Status)
			}
			if to == refundry.ReturnReceived && !r.ReceivedAt.Equal(now) {
				t.Errorf("received_at not stamped")
			}
			if to == refundry.ReturnRefunded && !r.RefundedAt.Equal(now) {
				t.Errorf("refunded_at not stamped")
			}
		}
	}
	for _, s := range all {
		if got, want := refundry.ReturnOpen(s), s == refundry.ReturnRequested || s == refundry.ReturnReceived; got != want {
			t.Errorf("ReturnOpen(%s) = %v", s, got)
		}
	}
	for _, ev := range []string{refundry.EventReturnCreated, refundry.EventReturnReceived, refundry.EventReturnRefunded, refundry.EventReturnCanceled} {
		if !slices.Contains(refundry.EventTypes, ev) {
			t.Errorf("EventTypes lacks %s: webhooks could not subscribe to it", ev)
		}
	}
}

// returnSale is a sale of 3 widgets, 2 gadgets (1 refunded by quantity),
// shipping, and 2 pins refunded in full by amount.
func returnSale() *refundry.Sale {
	return &refundry.Sale{ID: saleID, MerchantID: "m", Currency: "USD", LineItems: []*refundry.LineItem{
		{ID: lineA, Kind: refundry.LineProduct, Quantity: 3, UnitAmount: 1000, Amount: 3000},
		{ID: lineB, Kind: refundry.LineProduct, Quantity: 2, UnitAmount: 500, Amount: 1000, RefundedQuantity: 1, RefundedAmount: 500},
		{ID: lineC, Kind: refundry.LineShipping, Quantity: 1, UnitAmount: 700, Amount: 700},
		{ID: lineD, Kind: refundry.LineProduct, Quantity: 2, UnitAmount: 100, Amount: 200, RefundedAmount: 200},
	}}
}

func TestDecideReturn(t *testing.T) {
	var (
		widget, gadget, shipping, other = lineA, lineB, lineC, lineZ
	)
	sale := returnSale()
	openReturn := func(status string, lines ...refundry.ReturnLine) *refundry.Return {
		return &refundry.Return{SaleID: sale.ID, Status: status, Lines: lines}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		open  []*refundry.Return
		lines []refundry.ReturnLine
		code  string
		param string
	}{
		{name: "OK", lines: []refundry.ReturnLine{{widget, 3}, {gadget, 1}}},
		{name: "ErrQuantityAboveLine", lines: []refundry.ReturnLine{{widget, 4}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrRefundedUnits", lines: []refundry.ReturnLine{{widget, 1}, {gadget, 2}}, code: refundry.EINVALID, param: "lines[1].quantity"},
		{name: "ErrZero", lines: []refundry.ReturnLine{{widget, 0}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrNegative", lines: []refundry.ReturnLine{{widget, -1}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrOtherSalesLine", lines: []refundry.ReturnLine{{other, 1}}, code: refundry.EINVALID, param: "lines[0].line_item"},
		{name: "ErrShipping", lines: []refundry.ReturnLine{{shipping, 1}}, code: refundry.EINVALID, param: "lines[0].line_item"},
		{name: "ErrTwice", lines: []refundry.ReturnLine{{widget, 1}, {widget, 1}}, code: refundry.EINVALID, param: "lines[1].line_item"},
		{name: "ErrNoLines", code: refundry.EINVALID, param: "lines"},
		{name: "ErrLineRefundedByAmount", lines: []refundry.ReturnLine{{lineD, 1}}, code: refundry.EINVALID, param: "lines[0].line_item"},
		// Units an open return claims cannot be claimed again; those of
		// a canceled return are free once more, and those of a refunded
		// one are counted by the line's refunded quantity.
		{name: "ErrClaimedByOpen", open: []*refundry.Return{openReturn(refundry.ReturnRequested, refundry.ReturnLine{widget, 2})},
			lines: []refundry.ReturnLine{{widget, 2}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "ErrClaimedByReceived", open: []*refundry.Return{openReturn(refundry.ReturnReceived, refundry.ReturnLine{gadget, 1})},
			lines: []refundry.ReturnLine{{gadget, 1}}, code: refundry.EINVALID, param: "lines[0].quantity"},
		{name: "RestOfOpen", open: []*refundry.Return{openReturn(refundry.ReturnRequested, refundry.ReturnLine{widget, 2})},
			lines: []refundry.ReturnLine{{widget, 1}}},
		{name: "CanceledFreesUnits", open: []*refundry.Return{openReturn(refundry.ReturnCanceled, refundry.ReturnLine{widget, 3})},
			lines: []refundry.ReturnLine{{widget, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &refundry.Return{MerchantID: "m", SaleID: sale.ID, Lines: tt.lines, Reason: "damaged"}
			ev, err := refundry.DecideReturn(sale, tt.open, r, now)
			if tt.code != "" {
				if refundry.ErrorCode(err) != tt.code || refundry.ErrorParam(err) != tt.param {
					t.Fatalf("err = %v (%s, %q), want %s naming %q", err, refundry.ErrorCode(err), refundry.ErrorParam(err), tt.code, tt.param)
				}
				if r.ID != "" || r.Status != "" {
					t.Fatalf("a refused return was filled in: %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !refundry.ValidID(r.ID) || r.Status != refundry.ReturnRequested || !r.Created.Equal(now) || r.RefundIDs == nil {
				t.Fatalf("return not filled in: %+v", r)
			}
			if ev.Type != refundry.EventReturnCreated || ev.ObjectID != r.ID || ev.ObjectType != "return" {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	// Another merchant's sale is missing, not someone else's.
	r := &refundry.Return{MerchantID: "other", SaleID: sale.ID, Lines: []refundry.ReturnLine{{widget, 1}}}
	if _, err := refundry.DecideReturn(sale, nil, r, now); refundry.ErrorCode(err) != refundry.ENOTFOUND {
		t.Fatalf("another merchant's sale: %v", err)
	}
}

func TestReturnValidateText(t *testing.T) {
	line := []refundry.ReturnLine{{lineA, 1}}
	tests := []struct {
		name  string
		r     refundry.Return
		param string
	}{
		{"ErrNoSale", refundry.Return{Lines: line}, "sale"},
		{"ErrBadSale", refundry.Return{SaleID: "nope", Lines: line}, "sale"},
		{"ErrReasonNUL", refundry.Return{SaleID: saleID, Lines: line, Reason: "a\x00b"}, "reason"},
		{"ErrDescriptionLong", refundry.Return{SaleID: saleID, Lines: line, Description: string(make([]byte, 501))}, "description"},
		{"ErrLineID", refundry.Return{SaleID: saleID, Lines: []refundry.ReturnLine{{"x", 1}}}, "lines[0].line_item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Validate(); refundry.ErrorParam(err) != tt.param {
				t.Fatalf("err = %v, want naming %q", err, tt.param)
			}
		})
	}
}

func TestReturnRefundRequest(t *testing.T) {
	r := &refundry.Return{ID: retID, MerchantID: "m", SaleID: saleID, Status: refundry.ReturnReceived,
		Reason: "damaged", Description: "box crushed", Lines: []refundry.ReturnLine{{lineA, 2}}}
	req, err := r.RefundRequest(150)
	if err != nil {
		t.Fatal(err)
	}
	if req.Fee != 150 || req.ReturnID != r.ID || req.Target.SaleID != r.SaleID || len(req.Lines) != 1 ||
		req.Lines[0].Quantity != 2 || req.Lines[0].Amount != nil || req.Reason != "damaged" || req.Description != "box crushed" {
		t.Fatalf("request %+v", req)
	}
	// The same key and hash whatever the fee: a retry replays the first
	// refund instead of failing or refunding again.
	again, _ := r.RefundRequest(0)
	if *again.Idempotency != *req.Idempotency || req.Idempotency.Key != refundry.ReturnRefundKey(r.ID) {
		t.Fatalf("keys differ: %+v %+v", again.Idempotency, req.Idempotency)
	}
	if _, err := r.RefundRequest(-1); refundry.ErrorParam(err) != "restocking_fee" {
		t.Fatalf("negative fee: %v", err)
	}
	for _, st := range []string{refundry.ReturnRequested, refundry.ReturnRefunded, refundry.ReturnCanceled} {
		x := *r
		x.Status = st
		if _, err := x.RefundRequest(0); refundry.ErrorCode(err) != refundry.ECONFLICT {
			t.Errorf("%s: %v, want ECONFLICT", st, err)
		}
	}
	feeErr := refundry.ParamErrorf(refundry.EINVALID, "fee", "too much")
	if got := refundry.RestockingFeeError(feeErr); refundry.ErrorParam(got) != "restocking_fee" || refundry.ErrorCode(got) != refundry.EINVALID {
		t.Fatalf("RestockingFeeError: %v", got)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := r.Refunded([]*refundry.Refund{{ID: "a", Fee: 100}, {ID: "b", Fee: 50}}, now); err != nil {
		t.Fatal(err)
	}
	if r.Status != refundry.ReturnRefunded || r.RestockingFee != 150 || !slices.Equal(r.RefundIDs, []string{"a", "b"}) {
		t.Fatalf("refunded: %+v", r)
	}
}

func TestReturnFilterNormalize(t *testing.T) {
	for _, tt := range []struct {
		f     refundry.ReturnFilter
		param string
	}{
		{refundry.ReturnFilter{}, ""},
		{refundry.ReturnFilter{Status: "received"}, ""},
		{refundry.ReturnFilter{Status: "lost"}, "status"},
		{refundry.ReturnFilter{Page: refundry.Page{Limit: 101}}, "limit"},
	} {
		if err := tt.f.Normalize(); refundry.ErrorParam(err) != tt.param || (tt.param == "") != (err == nil) {
			t.Errorf("%+v: %v", tt.f, err)
		}
	}
}
