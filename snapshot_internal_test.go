package refundry

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// assertSnapshotLikeMarshal checks that an event's snapshot of object is
// json.Marshal's, byte for byte, and that NewEvent refuses what
// json.Marshal refuses.
func assertSnapshotLikeMarshal(t *testing.T, object any) {
	t.Helper()
	want, wantErr := json.Marshal(object)
	ev, err := NewEvent("m_1", EventRefundCreated, "refund", "re_1", object, time.Unix(0, 0))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !bytes.Equal(ev.Data, want) {
		t.Fatalf("event data differs from json.Marshal\n got: %q\nwant: %q", ev.Data, want)
	}
}

// Strings that json.Marshal escapes or rewrites.
var snapshotStrings = []string{
	"",
	"plain",
	`<script>alert("x & y")</script>`,
	"back\\slash \"quoted\"",
	"\b\f\n\r\t\x00\x01\x1f\x7f",
	"caf\u00e9 \u65e5\u672c \U0001F600",
	"line\u2028sep\u2029para",
	"bad \xff\xfe utf8 \xe2\x80 cut \xc3",
	"\xe2\x80\xa8\xe2\x80\xa9",
}

// Raw metadata, valid or not, compact or not.
var snapshotMetadata = []json.RawMessage{
	nil,
	json.RawMessage(`{}`),
	json.RawMessage(`null`),
	json.RawMessage(` { "a" : [ 1, 2 ,3 ] ,` + "\n\t\r" + `"b":{"c":"d e"} } `),
	json.RawMessage(`{"html":"<b>&amp;</b>","sep":"` + "\u2028\u2029" + `","esc":"\"\\\u2028 \n"}`),
	json.RawMessage("{\"bad\":\"\xff\xfe\"}"),
	json.RawMessage(`"just a string"`),
	json.RawMessage(`[true,false,null,-1.5e3]`),
	json.RawMessage{},
	json.RawMessage(`{"a":`),
	json.RawMessage(`{"a":1}x`),
}

var (
	snapshotUTC   = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	snapshotNanos = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	snapshotZone  = time.Date(2025, 12, 31, 23, 59, 59, 500000000, time.FixedZone("", -(5*3600+30*60)))
	snapshotLocal = time.Date(2026, 7, 1, 0, 0, 0, 1000, time.Local).Round(0)
)

func fullRefund() *Refund {
	return &Refund{
		ID: "re_1", MerchantID: "m_1", Group: "rg_1", SaleID: "sa_1", TransactionID: "tr_1",
		LineItemID: "li_1", Amount: 1234, Fee: -5, Currency: "usd", Status: RefundSucceeded,
		Reason: "damaged", Description: "<b>box</b> & \"lid\"", GatewayReason: "requested_by_customer",
		Metadata: json.RawMessage(`{"order": "A<1>" }`), Offsite: true, NotifyCustomer: true,
		Gateway: "stripe", GatewayRefundID: "re_stripe", FailureReason: "none", Source: "api",
		Name: "N\u2028", ExternalID: "x-1", CreatedSource: "dashboard",
		Lines:    []RefundLine{{LineItemID: "li_1", Quantity: 2, Amount: 1000}, {LineItemID: "li_2", Amount: 234}},
		ReturnID: "rt_1", RequestedBy: "ann", DecidedBy: "bob", DecisionNote: "ok\n", ReviewReason: "risk",
		ApprovalExpires: snapshotNanos, Attempts: 3, RefundedAt: snapshotZone, Created: snapshotUTC, Updated: snapshotLocal,
	}
}

func fullSale() *Sale {
	return &Sale{
		ID: "sa_1", MerchantID: "m_1", Reference: "ord<1>", Currency: "eur", Amount: 5000, RefundedAmount: 1200,
		Status: "partially_refunded", Customer: Customer{ID: "cu_1", Email: "a&b@example.com", FirstName: "Zo\u00eb", LastName: "\xff"},
		CampaignID: "c1", CampaignName: "Spring \u2029",
		LineItems: []*LineItem{
			{ID: "li_1", SaleID: "sa_1", Name: "Mug", Kind: LineProduct, Quantity: 3, UnitAmount: 1000, TaxAmount: 200, Amount: 3200, RefundedAmount: 1000, RefundedQuantity: 1, GatewayLineID: "g1"},
			nil,
			{ID: "li_2", Kind: LineShipping},
		},
		Transactions: []*Transaction{
			{ID: "tr_1", Number: 7, SaleID: "sa_1", Reference: "r", Gateway: "stripe", GatewayChargeID: "ch_1", GatewayAccount: "ga_1", Currency: "eur", Amount: 5000, RefundedAmount: 1200, Status: "captured", ProcessingFee: 150, BaseAmount: 5400, BaseCurrency: "usd", DisputeStatus: "open", DisputedAmount: 10, Created: snapshotNanos},
			nil,
			{},
		},
		Created: snapshotZone, HeldRefunds: 2,
	}
}

func TestSnapshotLikeMarshal(t *testing.T) {
	tests := []struct {
		name   string
		object any
	}{
		{"RefundFull", fullRefund()},
		{"RefundZero", &Refund{}},
		{"RefundNil", (*Refund)(nil)},
		{"RefundValue", *fullRefund()},
		{"RefundEmptyLines", func() *Refund { r := fullRefund(); r.Lines = []RefundLine{}; return r }()},
		{"RefundNoApprovalExpiry", func() *Refund { r := fullRefund(); r.ApprovalExpires = time.Time{}; return r }()},
		{"RefundYearTooLate", func() *Refund { r := fullRefund(); r.Updated = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return r }()},
		{"RefundYearTooEarly", func() *Refund { r := fullRefund(); r.Created = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC); return r }()},
		{"RefundExpiryTooLate", func() *Refund {
			r := fullRefund()
			r.ApprovalExpires = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			return r
		}()},
		{"SaleFull", fullSale()},
		{"SaleZero", &Sale{}},
		{"SaleNil", (*Sale)(nil)},
		{"SaleValue", *fullSale()},
		{"SaleEmptySlices", &Sale{LineItems: []*LineItem{}, Transactions: []*Transaction{}}},
		{"SaleTransactionYearTooLate", func() *Sale {
			s := fullSale()
			s.Transactions[2].Created = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
			return s
		}()},
		{"Dispute", &Dispute{ID: "dp_1", Amount: 100}},
		{"Referral", &Referral{ID: 7}},
		{"Return", &Return{ID: "rt_1"}},
		{"Nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSnapshotLikeMarshal(t, tt.object)
		})
	}
	for _, s := range snapshotStrings {
		t.Run("String", func(t *testing.T) {
			r := fullRefund()
			r.Description, r.Name, r.Lines[0].LineItemID = s, s, s
			assertSnapshotLikeMarshal(t, r)
			sa := fullSale()
			sa.Reference, sa.Customer.LastName, sa.LineItems[0].Name, sa.Transactions[0].Reference = s, s, s, s
			assertSnapshotLikeMarshal(t, sa)
		})
	}
	for _, m := range snapshotMetadata {
		t.Run("Metadata", func(t *testing.T) {
			r := fullRefund()
			r.Metadata = m
			assertSnapshotLikeMarshal(t, r)
		})
	}
}

// TestSnapshotEveryField fills every field of each object that events
// snapshot, nested ones too, so that a field or tag the encoder writes
// differently from json.Marshal shows here.
func TestSnapshotEveryField(t *testing.T) {
	for _, object := range []any{&Refund{}, &Sale{}, &Dispute{}, &Referral{}, &Return{}} {
		n := 0
		fill(reflect.ValueOf(object).Elem(), &n)
		t.Run(reflect.TypeOf(object).Elem().Name(), func(t *testing.T) {
			assertSnapshotLikeMarshal(t, object)
		})
	}
}

// fill sets v to values distinct from every other field's, so that two
// fields swapped in an encoder show too.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s<" + string(rune('a'+*n%26)) + "\u2028>" + string(rune('0'+*n%10)))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * 1001)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2000+*n, 1, 2, 3, 4, 5, *n, time.FixedZone("", *n*60))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{ "k": "<` + string(rune('a'+*n%26)) + `>" }`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

func FuzzSnapshotRefund(f *testing.F) {
	for i, s := range snapshotStrings {
		m := snapshotMetadata[i%len(snapshotMetadata)]
		f.Add(s, []byte(m), m == nil, int64(i)*-7919, int64(i)*1_000_000_007, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, s string, metadata []byte, nilMetadata bool, amount, nanos int64, offsite bool) {
		r := fullRefund()
		r.ID, r.Description, r.Name = s, s, s
		r.Amount, r.Fee, r.Offsite = amount, -amount, offsite
		r.Lines = append(r.Lines, RefundLine{LineItemID: s, Quantity: amount, Amount: nanos})
		r.Metadata = json.RawMessage(metadata)
		if nilMetadata {
			r.Metadata = nil
		}
		r.Created = time.Unix(0, nanos).UTC()
		r.Updated = time.Unix(nanos, amount%1_000_000_000).In(time.FixedZone("", int(amount%86400)))
		assertSnapshotLikeMarshal(t, r)
	})
}

func BenchmarkNewEvent(b *testing.B) {
	refund, sale := fullRefund(), fullSale()
	now := time.Now()
	b.Run("Refund", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewEvent("m_1", EventRefundSucceeded, "refund", refund.ID, refund, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sale", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewEvent("m_1", EventSaleRefunded, "sale", sale.ID, sale, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
