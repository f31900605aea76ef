// Package edge is what every HTTP edge of Refundry shares: the native API,
// the five dialects and the dashboard. It authenticates API keys, decides
// which key or dashboard session may use which route (one table, for every
// edge), reads request bodies as exact JSON, gives requests their ids,
// limits each key's rate, and helps each edge answer errors in its own
// shape. It holds no route of its own and no wire shape but the last
// resort of a panic.
package edge

import (
	"net/http"
	"strings"

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
// a write through them, for the native API and every dialect: the routes
// an API key reaches by a header. The dashboard's are in sessionRoutes. A pattern
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
	"GET /v1/reconciliation_runs":               {refundry.ScopeRead, ""},
	"GET /v1/reconciliation_runs/{id}":          {refundry.ScopeRead, ""},
	"GET /v1/refund_reasons":                    {refundry.ScopeRead, ""},
	"GET /v1/refunds/export":                    {refundry.ScopeRead, ""},
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
	"POST /v1/refund_reasons":                                         {refundry.ScopeWrite, refundry.AuditReasonPut},
	"DELETE /v1/refund_reasons/{code}":                                {refundry.ScopeWrite, refundry.AuditReasonDelete},
	// Dialects: every one of their routes is a refund.
	"PUT /v2.0/sales/refund/{sale_id}":                {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v2.0/sales/refund/{sale_id}":               {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /api/v2/origins/{origin_slug}/refund":       {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v2/product_sales/{product_sale_id}/refund": {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /v1/refunds/create":                         {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"PUT /v1/transactions/{id}/refund.json":           {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"PUT /transactions/{id}/refund.json":              {refundry.ScopeRefund, refundry.AuditRefundCreate},
	// Disputes: reading them is a read; recording one by hand, or moving
	// it, writes what the merchant heard from the card network as sales
	// are written, and decides whether refunds are refused: write.
	"GET /v1/disputes":       {refundry.ScopeRead, ""},
	"GET /v1/disputes/{id}":  {refundry.ScopeRead, ""},
	"POST /v1/disputes":      {refundry.ScopeWrite, refundry.AuditDisputeRecord},
	"POST /v1/disputes/{id}": {refundry.ScopeWrite, refundry.AuditDisputeUpdate},
	// Returns: the refund workflow of goods sent back, for the same
	// people who refund.
	"GET /v1/returns":               {refundry.ScopeRead, ""},
	"GET /v1/returns/{id}":          {refundry.ScopeRead, ""},
	"POST /v1/returns":              {refundry.ScopeRefund, refundry.AuditReturnCreate},
	"POST /v1/returns/{id}/receive": {refundry.ScopeRefund, refundry.AuditReturnReceive},
	"POST /v1/returns/{id}/cancel":  {refundry.ScopeRefund, refundry.AuditReturnCancel},
	"POST /v1/returns/{id}/refund":  {refundry.ScopeRefund, refundry.AuditReturnRefund},
	// Refund controls: a second person's word on a refund held for
	// approval or in manual review needs scope approve; the rules
	// themselves, and the people who sign in, are the merchant's
	// settings: write.
	"POST /v1/refunds/{id}/approve": {refundry.ScopeApprove, refundry.AuditRefundApprove},
	"POST /v1/refunds/{id}/reject":  {refundry.ScopeApprove, refundry.AuditRefundReject},
	"POST /v1/refunds/{id}/resolve": {refundry.ScopeApprove, refundry.AuditRefundResolve},
	"GET /v1/refund_policy":         {refundry.ScopeRead, ""},
	"POST /v1/refund_policy":        {refundry.ScopeWrite, refundry.AuditPolicyUpdate},
	"GET /v1/users":                 {refundry.ScopeRead, ""},
	"GET /v1/users/{id}":            {refundry.ScopeRead, ""},
	// Gateway accounts: reading them shows no secret (hints only);
	// adding or removing one decides where money goes: write.
	"GET /v1/gateway_accounts":                 {refundry.ScopeRead, ""},
	"GET /v1/gateway_accounts/{id}":            {refundry.ScopeRead, ""},
	"GET /v1/gateway_accounts/{id}/deliveries": {refundry.ScopeRead, ""},
	"POST /v1/gateway_accounts":                {refundry.ScopeWrite, refundry.AuditGatewayAccountCreate},
	"DELETE /v1/gateway_accounts/{id}":         {refundry.ScopeWrite, refundry.AuditGatewayAccountRemove},
	"POST /v1/users":                           {refundry.ScopeWrite, refundry.AuditUserCreate},
	"POST /v1/users/{id}/disable":              {refundry.ScopeWrite, refundry.AuditUserDisable},
}

// sessionRoutes is the same table for the dashboard, whose requests carry
// a session made by signing in with a key or as a user: the session may
// do what its key's scope or its user's role allows, re-read on every
// request. The forms that refund or cancel need scope refund, as the
// API's refund routes do; approving, rejecting and resolving a held
// refund need scope approve, as the API's do. A pattern without a method is looked up with the request's
// method first ("POST /dashboard/"), so that a form posted to a page that
// does not exist is refused to a read key as every other form is.
var sessionRoutes = map[string]Route{
	"POST /dashboard/signout":                  {refundry.ScopeRead, ""},
	"POST /dashboard/sales/{id}/refund/review": {refundry.ScopeRefund, ""},
	"POST /dashboard/sales/{id}/refund":        {refundry.ScopeRefund, refundry.AuditRefundCreate},
	"POST /dashboard/refunds/{id}/cancel":      {refundry.ScopeRefund, refundry.AuditRefundCancel},
	"POST /dashboard/sales/{id}/returns":       {refundry.ScopeRefund, refundry.AuditReturnCreate},
	"POST /dashboard/returns/{id}/receive":     {refundry.ScopeRefund, refundry.AuditReturnReceive},
	"POST /dashboard/returns/{id}/refund":      {refundry.ScopeRefund, refundry.AuditReturnRefund},
	"POST /dashboard/returns/{id}/cancel":      {refundry.ScopeRefund, refundry.AuditReturnCancel},
	// Approval and manual review: a person of role approver or admin, or
	// a key of scope approve, decides; everyone else sees the queues.
	"POST /dashboard/refunds/{id}/approve": {refundry.ScopeApprove, refundry.AuditRefundApprove},
	"POST /dashboard/refunds/{id}/reject":  {refundry.ScopeApprove, refundry.AuditRefundReject},
	"POST /dashboard/refunds/{id}/resolve": {refundry.ScopeApprove, refundry.AuditRefundResolve},
	"POST /dashboard/":                     {refundry.ScopeRefund, ""},
	"/dashboard/":                          {refundry.ScopeRead, ""}, // answers 404 whatever the session
}

// publicRoutes are the routes no API key reaches: a gateway's inbound
// events, whose sender proves itself by signing the body with the secret
// the gateway and Refundry share. They need no scope and belong to no
// merchant until applied; the tests check that each answers without a key.
var publicRoutes = map[string]bool{
	"POST /v1/gateway_events/stripe": true,
}

// PublicRoutes returns the patterns of the routes that take no API key.
func PublicRoutes() []string {
	out := make([]string, 0, len(publicRoutes))
	for p := range publicRoutes {
		out = append(out, p)
	}
	return out
}

// RouteOf returns what the route matched for r needs (see routes).
func RouteOf(r *http.Request) Route {
	return RouteFor(r.Pattern, r.Method)
}

// RouteFor is RouteOf for a pattern and the request's method.
func RouteFor(pattern, method string) Route {
	for _, table := range []map[string]Route{routes, sessionRoutes} {
		if !strings.Contains(pattern, " ") {
			if rt, ok := table[method+" "+pattern]; ok {
				return rt
			}
		}
		if rt, ok := table[pattern]; ok {
			return rt
		}
	}
	if method == http.MethodGet || method == http.MethodHead {
		return Route{Scope: refundry.ScopeRead}
	}
	return Route{Scope: refundry.ScopeWrite, Action: "request"}
}

// Authorize is the one rule of who may do what, on every edge: a key (or
// a dashboard session, by its key) may use a route when its scope covers
// the scope the route needs. Returns EFORBIDDEN, saying both scopes.
func Authorize(have refundry.Scope, route Route) error {
	if !have.Allows(route.Scope) {
		return forbidden(have, route.Scope)
	}
	return nil
}

// May reports whether a key of scope have may use the route of pattern
// and method: for an edge that shows only what its user may do (the
// dashboard hides its refund forms from a read key).
func May(have refundry.Scope, method, pattern string) bool {
	return Authorize(have, RouteFor(pattern, method)) == nil
}

// Routes returns the patterns of the table of routes keys reach, for
// tests that check every edge's routes against it.
func Routes() map[string]Route {
	out := make(map[string]Route, len(routes))
	for k, v := range routes {
		out[k] = v
	}
	return out
}
