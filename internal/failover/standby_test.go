package failover

import (
	"fmt"
	"testing"
	"time"
)

// TestReadsFromStandby: while no primary answers and none is promoted
// yet, a node on the multi-host URL still answers reads from the
// synchronous standby, which holds every committed row, and refuses
// writes with 503 and Retry-After.
func TestReadsFromStandby(t *testing.T) {
	p := newPGTools(t)
	go func() { _ = build() }()
	a, b := p.server(t, "pg_a"), p.server(t, "pg_b")
	a.initPrimary(t)
	b.standbyOf(t, a)
	a.waitSynchronous(t, b)
	bin := buildRefundry(t)
	a.psql(t, "CREATE DATABASE refundry")
	db := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/refundry?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", a.port, b.port)
	key, _ := newMerchant(t, bin, db, "standby")
	n := startNode(t, bin, "node", "--db", db)
	c := newAPI(key)

	saleID := c.newSale(t, n.base, 10_000, "pay-standby")
	refund := c.must(t, "POST", n.base+"/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 2500}`, saleID))
	refundID := refund["id"].(string)
	a.waitSynchronous(t, b)

	a.kill(t)
	// Past the node's key cache, so that the requests below prove their
	// key against the database too.
	time.Sleep(1500 * time.Millisecond)

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string
		want                     int64
	}{
		{"sale", "GET", "/v1/sales/" + saleID, "", 200, "refunded_amount", 2500},
		{"refund", "GET", "/v1/refunds/" + refundID, "", 200, "amount", 2500},
		{"refunds of the sale", "GET", "/v1/refunds?sale=" + saleID, "", 200, "", 0},
		{"new refund", "POST", "/v1/refunds", fmt.Sprintf(`{"sale": %q, "amount": 100}`, saleID), 503, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := c.call(tc.method, n.base+tc.path, tc.body, "")
			if err != nil {
				t.Fatal(err)
			}
			if ans.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d; log:\n%s", tc.method, tc.path, ans.status, ans.raw, tc.status, n.logs.tail(3000))
			}
			if tc.status == 503 && ans.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if data, ok := ans.body["data"].([]any); ok && (len(data) != 1 || data[0].(map[string]any)["id"] != refundID) {
				t.Errorf("data = %v, want the refund %s", data, refundID)
			}
			if tc.field != "" && num(ans.body[tc.field]) != tc.want {
				t.Errorf("%s = %v, want %d", tc.field, ans.body[tc.field], tc.want)
			}
		})
	}
}
