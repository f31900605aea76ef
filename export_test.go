package refundry_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"
	"time"

	"github.com/refundry/refundry"
)

func TestRefundCSV(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	refunds := []*refundry.Refund{
		{ID: "r1", Created: at, SaleID: "s1", TransactionID: "t1", Amount: 1250, Currency: "USD", Status: "succeeded",
			Reason: "damaged", Description: "Box \"crushed\", see photo,\nline two", Source: "native", Gateway: "stripe",
			GatewayRefundID: "re_1", Fee: 50,
			Lines: []refundry.RefundLine{{LineItemID: "li_a", Quantity: 2, Amount: 1000}, {LineItemID: "li_b", Quantity: 0, Amount: 250}}},
		{ID: "r2", Created: at.In(time.FixedZone("X", 3600)), SaleID: "s2", TransactionID: "t2", Amount: 500, Currency: "JPY", Status: "pending", Source: "bulk", Gateway: "simulator"},
		{ID: "r3", Created: at, SaleID: "s3", TransactionID: "t3", Amount: 1234, Currency: "KWD", Status: "failed",
			Reason: "other", Description: "=HYPERLINK(\"http://evil\")", Source: "keepup", Gateway: "offsite"},
		{ID: "r4", Created: at, Amount: 7, Currency: "USD", Description: "-5 off, customer asked"},
	}
	var b bytes.Buffer
	w := refundry.NewRefundCSV(&b)
	// Two pages, as an export writes them: one header.
	if err := w.Write(refunds[:1]); err != nil {
		t.Fatal(err)
	}
	first := b.Len()
	if first == 0 {
		t.Fatal("the first page was not flushed through")
	}
	if err := w.Write(refunds[1:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(nil); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("a csv.Reader cannot read it back: %v", err)
	}
	if !slices.Equal(recs[0], refundry.RefundCSVColumns) || len(recs) != 1+len(refunds) {
		t.Fatalf("records = %q", recs)
	}
	want := [][]string{
		{"r1", "2026-03-04T05:06:07Z", "s1", "t1", "1250", "12.50", "USD", "succeeded", "damaged", "Box \"crushed\", see photo,\nline two",
			"native", "stripe", "re_1", "50", "li_a:2:1000;li_b:0:250"},
		{"r2", "2026-03-04T05:06:07Z", "s2", "t2", "500", "500", "JPY", "pending", "", "", "bulk", "simulator", "", "0", ""},
		{"r3", "2026-03-04T05:06:07Z", "s3", "t3", "1234", "1.234", "KWD", "failed", "other", "'=HYPERLINK(\"http://evil\")", "keepup", "offsite", "", "0", ""},
		{"r4", "2026-03-04T05:06:07Z", "", "", "7", "0.07", "USD", "", "", "'-5 off, customer asked", "", "", "", "0", ""},
	}
	for i, w := range want {
		if !slices.Equal(recs[i+1], w) {
			t.Errorf("row %d:\n got %q\nwant %q", i+1, recs[i+1], w)
		}
	}
}

func TestCSVText(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"plain":         "plain",
		"=1+1":          "'=1+1",
		"+1":            "'+1",
		"-1":            "'-1",
		"@SUM(A1)":      "'@SUM(A1)",
		"\tx":           "'\tx",
		"\rx":           "'\rx",
		"a=1":           "a=1",
		"'already":      "'already",
		"ünïcode first": "ünïcode first",
	} {
		if got := refundry.CSVText(in); got != want {
			t.Errorf("CSVText(%q) = %q, want %q", in, got, want)
		}
	}
}
