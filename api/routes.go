// Package api is Refundry's native REST API (/v1), in the manner of the best
// payment APIs: integer minor units, cursor pagination, Idempotency-Key,
// one error shape. What every edge shares (authentication, exact JSON,
// request ids, the scope table) is in package edge.
package api

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// NewHandler returns the native API. Every route is listed here.
func NewHandler(eng *engine.Engine, logger *slog.Logger, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { Error(w, r, logger, err) }
	auth := func(h http.Handler) http.Handler { return edge.Authenticate(eng, edge.KeyForms{}, fail, h) }

	mux.Handle("POST /v1/sales", auth(handleCreateSale(eng, logger)))
	mux.Handle("GET /v1/sales", auth(handleListSales(eng, logger)))
	mux.Handle("GET /v1/sales/{id}", auth(handleGetSale(eng, logger)))
	mux.Handle("POST /v1/refunds", auth(handleCreateRefund(eng, logger)))
	mux.Handle("GET /v1/refunds", auth(handleListRefunds(eng, logger)))
	mux.Handle("GET /v1/refunds/export", auth(handleExportRefunds(eng, logger)))
	mux.Handle("GET /v1/refunds/{id}", auth(handleGetRefund(eng, logger)))
	mux.Handle("POST /v1/refunds/{id}/cancel", auth(handleCancelRefund(eng, logger)))
	mux.Handle("POST /v1/refunds/{id}/approve", auth(handleApproveRefund(eng, logger)))
	mux.Handle("POST /v1/refunds/{id}/reject", auth(handleRejectRefund(eng, logger)))
	mux.Handle("POST /v1/refunds/{id}/resolve", auth(handleResolveRefund(eng, logger)))
	mux.Handle("GET /v1/refund_policy", auth(handleGetRefundPolicy(eng, logger)))
	mux.Handle("POST /v1/refund_policy", auth(handleSetRefundPolicy(eng, logger)))
	mux.Handle("GET /v1/refund_reasons", auth(handleListRefundReasons(eng, logger)))
	mux.Handle("POST /v1/refund_reasons", auth(handlePutRefundReason(eng, logger)))
	mux.Handle("DELETE /v1/refund_reasons/{code}", auth(handleDeleteRefundReason(eng, logger)))
	mux.Handle("POST /v1/returns", auth(handleCreateReturn(eng, logger)))
	mux.Handle("GET /v1/returns", auth(handleListReturns(eng, logger)))
	mux.Handle("GET /v1/returns/{id}", auth(handleGetReturn(eng, logger)))
	mux.Handle("POST /v1/returns/{id}/receive", auth(handleReceiveReturn(eng, logger)))
	mux.Handle("POST /v1/returns/{id}/refund", auth(handleRefundReturn(eng, logger)))
	mux.Handle("POST /v1/returns/{id}/cancel", auth(handleCancelReturn(eng, logger)))
	mux.Handle("POST /v1/referrals", auth(handleCreateReferral(eng, logger)))
	mux.Handle("GET /v1/events", auth(handleListEvents(eng, logger)))
	mux.Handle("POST /v1/refund_batches", auth(handleCreateRefundBatch(eng, logger)))
	mux.Handle("GET /v1/refund_batches/{id}", auth(handleGetRefundBatch(eng, logger)))
	mux.Handle("GET /v1/refund_batches/{id}/outcome.csv", auth(handleRefundBatchOutcome(eng, logger)))
	mux.Handle("POST /v1/webhook_endpoints", auth(handleCreateWebhookEndpoint(eng, logger)))
	mux.Handle("GET /v1/webhook_endpoints", auth(handleListWebhookEndpoints(eng, logger)))
	mux.Handle("GET /v1/webhook_endpoints/{id}", auth(handleGetWebhookEndpoint(eng, logger)))
	mux.Handle("DELETE /v1/webhook_endpoints/{id}", auth(handleDeleteWebhookEndpoint(eng, logger)))
	mux.Handle("POST /v1/webhook_endpoints/{id}/enable", auth(handleEnableWebhookEndpoint(eng, logger)))
	mux.Handle("GET /v1/webhook_endpoints/{id}/deliveries", auth(handleListDeliveries(eng, logger)))
	mux.Handle("POST /v1/webhook_endpoints/{id}/deliveries/{delivery_id}/replay", auth(handleReplayDelivery(eng, logger)))
	mux.Handle("POST /v1/gateway_accounts", auth(handleCreateGatewayAccount(eng, logger)))
	mux.Handle("GET /v1/gateway_accounts", auth(handleListGatewayAccounts(eng, logger)))
	mux.Handle("GET /v1/gateway_accounts/{id}", auth(handleGetGatewayAccount(eng, logger)))
	mux.Handle("DELETE /v1/gateway_accounts/{id}", auth(handleRemoveGatewayAccount(eng, logger)))
	mux.Handle("GET /v1/gateway_accounts/{id}/deliveries", auth(handleListGatewayAccountDeliveries(eng, logger)))
	mux.Handle("GET /v1/notifications", auth(handleListNotifications(eng, logger)))
	mux.Handle("GET /v1/reconciliation_runs", auth(handleListReconciliationRuns(eng, logger)))
	mux.Handle("GET /v1/reconciliation_runs/{id}", auth(handleGetReconciliationRun(eng, logger)))
	mux.Handle("POST /v1/api_keys", auth(handleCreateAPIKey(eng, logger)))
	mux.Handle("GET /v1/api_keys", auth(handleListAPIKeys(eng, logger)))
	mux.Handle("POST /v1/api_keys/{id}/revoke", auth(handleRevokeAPIKey(eng, logger)))
	mux.Handle("GET /v1/audit_log", auth(handleListAuditLog(eng, logger)))
	mux.Handle("POST /v1/users", auth(handleCreateUser(eng, logger)))
	mux.Handle("GET /v1/users", auth(handleListUsers(eng, logger)))
	mux.Handle("GET /v1/users/{id}", auth(handleGetUser(eng, logger)))
	mux.Handle("POST /v1/users/{id}/disable", auth(handleDisableUser(eng, logger)))
	mux.Handle("POST /v1/disputes", auth(handleCreateDispute(eng, logger)))
	mux.Handle("GET /v1/disputes", auth(handleListDisputes(eng, logger)))
	mux.Handle("GET /v1/disputes/{id}", auth(handleGetDispute(eng, logger)))
	mux.Handle("POST /v1/disputes/{id}", auth(handleUpdateDispute(eng, logger)))
	// A gateway's events prove their sender by signature, not by an API
	// key (edge.PublicRoutes).
	mux.Handle("POST /v1/gateway_events/stripe", handleStripeEvent(eng, logger, o.stripeWebhookSecret))
	mux.Handle("/v1/", auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, &apiError{http.StatusNotFound, "invalid_request_error", "resource_missing",
			"Unrecognized request URL (" + r.Method + " " + r.URL.Path + ").", ""})
	})))
	return mux
}
