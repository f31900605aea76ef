package metrics

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refundry/refundry"
)

// samples gathers reg and returns each sample as "name{label=value,...}"
// with its value (a counter's, or a histogram's count).
func samples(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			name := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// Requests and refunds are counted in the series their labels name,
// however often and in whatever mix they come: the children kept per
// label values are the vec's own.
func TestCountsBySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/refunds", Dialect(refundry.SourceNative, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("bad") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})))
	h := m.Middleware(mux)
	for _, target := range []string{"/v1/refunds", "/v1/refunds?bad", "/v1/refunds", "/nowhere", "/v1/refunds"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, target, nil))
	}
	rf := func(status, gateway, source, currency string, amount int64) *refundry.Refund {
		return &refundry.Refund{Status: status, Gateway: gateway, Source: source, Currency: currency, Amount: amount}
	}
	m.RefundCreated(rf(refundry.RefundPending, "simulator", "native", "USD", 100))
	m.RefundCreated(rf(refundry.RefundSucceeded, "offsite", "keepup", "USD", 250))
	m.RefundCreated(rf(refundry.RefundPending, "simulator", "native", "USD", 100))
	m.RefundSettled(rf(refundry.RefundSucceeded, "simulator", "native", "USD", 100))
	m.RefundSettled(rf(refundry.RefundSucceeded, "simulator", "native", "JPY", 7))
	m.RefundSettled(rf(refundry.RefundFailed, "simulator", "native", "USD", 100))
	m.GatewayCall("simulator", "refund", 0, nil)
	m.GatewayCall("simulator", "refund", 0, nil)
	m.GatewayCall("stripe", "cancel", 0, nil)

	got := samples(t, reg)
	for name, want := range map[string]float64{
		"refundry_http_requests_total{code=201,dialect=native,route=POST /v1/refunds}":      3,
		"refundry_http_requests_total{code=400,dialect=native,route=POST /v1/refunds}":      1,
		"refundry_http_requests_total{code=404,dialect=none,route=unmatched}":               1,
		"refundry_http_request_duration_seconds{dialect=native,route=POST /v1/refunds}":     4,
		"refundry_http_request_duration_seconds{dialect=none,route=unmatched}":              1,
		"refundry_refunds_created_total{dialect=native,gateway=simulator,status=pending}":   2,
		"refundry_refunds_created_total{dialect=keepup,gateway=offsite,status=succeeded}":   1,
		"refundry_refunds_settled_total{dialect=native,gateway=simulator,status=succeeded}": 2,
		"refundry_refunds_settled_total{dialect=native,gateway=simulator,status=failed}":    1,
		"refundry_refunded_minor_units_total{currency=USD}":                                 350,
		"refundry_refunded_minor_units_total{currency=JPY}":                                 7,
		"refundry_gateway_call_duration_seconds{gateway=simulator,op=refund}":               2,
		"refundry_gateway_call_duration_seconds{gateway=stripe,op=cancel}":                  1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
