package api

import (
	"net/http"

	"github.com/refundry/refundry"
)

// Route is what a route needs of an API key, and what a write through it
// is called in the audit log.
type Route struct {
	Scope  refundry.Scope
	Action string // "" for routes that change nothing
}

// routes is the one table from route patterns (as http.ServeMux names
// them, in Request.Pattern) to the scope they need and the audit action of
// a write through them, for the native API and every dialect. A pattern
// not in it needs read if its method is GET or HEAD and write otherwise,
// so a route added without an entry is safe by default; the tests check
// that every route of every edge is listed here.
var routes = map[string]Route{
	// Native API: reads.
	"GET /v1/sales":                             {refundry.ScopeRead, ""},
	"GET /v1/sales/{id}":                        {refundry.ScopeRead, ""},
	"GET /v1/refunds":                           {refundry.ScopeRead, ""},
	"GET /v1/refunds/{id}":                      {refundry.ScopeRead, ""},
	"GET /v1/events":                            {refundry.ScopeRead, ""},
	"GET /v1/refund_batches/{id}":               {refundry.ScopeRead, ""},
	"GET /v1/refund_batches/{id}/outcome.csv":   {refundry.ScopeRead, ""},
	"GET /v1/webhook_endpoints":                 {refundry.ScopeRead, ""},
	"GET /v1/webhook_endpoints/{id}":            {refundry.ScopeRead, ""},
	"GET /v1/webhook_endpoints/{id}/deliveries": {refundry.ScopeRead, ""},
	"GET /v1/notifications":                     {refundry.ScopeRead, ""},
	"GET /v1/api_keys":                          {refundry.ScopeRead, ""},
	"GET /v1/audit_log":                         {refundry.ScopeRead, ""},
	"/v1/":                                      {refundry.ScopeRead, ""}, // answers 404 whatever the key
	// Native API: refunds.
	"POST /v1/refunds":             {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v1/refunds/{id}/cancel": {refundry.ScopeRefund, refundry.AuditRefundCancel},
	"POST /v1/refund_batches":      {refundry.ScopeRefund, refundry.AuditBatchCreate},
	// Native API: everything else that writes.
	"POST /v1/sales":                                                  {refundry.ScopeWrite, refundry.AuditSaleCreate},
	"POST /v1/referrals":                                              {refundry.ScopeWrite, refundry.AuditReferralCreate},
	"POST /v1/webhook_endpoints":                                      {refundry.ScopeWrite, refundry.AuditWebhookCreate},
	"DELETE /v1/webhook_endpoints/{id}":                               {refundry.ScopeWrite, refundry.AuditWebhookDelete},
	"POST /v1/webhook_endpoints/{id}/enable":                          {refundry.ScopeWrite, refundry.AuditWebhookEnable},
	"POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/replay": {refundry.ScopeWrite, refundry.AuditDeliveryReplay},
	"POST /v1/api_keys":                                               {refundry.ScopeWrite, refundry.AuditAPIKeyCreate},
	"POST /v1/api_keys/{id}/revoke":                                   {refundry.ScopeWrite, refundry.AuditAPIKeyRevoke},
	// Dialects: every one of their routes is a refund.
	"PUT /v2.0/sales/refund/{sale_id}":                {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v2.0/sales/refund/{sale_id}":               {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /api/v2/origins/{origin_slug}/refund":       {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v2/product_sales/{product_sale_id}/refund": {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v1/refunds/create":                         {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"PUT /v1/transactions/{id}/refund.json":           {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"PUT /transactions/{id}/refund.json":              {refundry.ScopeRefund, refundry.AuditRefundCreate},
}

// RouteOf returns what the route matched for r needs (see routes).
func RouteOf(r *http.Request) Route {
	return RouteFor(r.Pattern, r.Method)
}

// RouteFor is RouteOf for a pattern and the request's method.
func RouteFor(pattern, method string) Route {
	if rt, ok := routes[pattern]; ok {
		return rt
	}
	if method == http.MethodGet || method == http.MethodHead {
		return Route{Scope: refundry.ScopeRead}
	}
	return Route{Scope: refundry.ScopeWrite, Action: "request"}
}

// Routes returns the patterns of the table, for tests that check every
// edge's routes against it.
func Routes() map[string]Route {
	out := make(map[string]Route, len(routes))
	for k, v := range routes {
		out[k] = v
	}
	return out
}
