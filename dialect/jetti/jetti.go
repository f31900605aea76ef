// Package jetti is the Jetti dialect: Jetti's "PUT /transactions/{id}/
// refund.json" (seed 004), answered by the Refundry engine so that a client
// written against Jetti's documentation works unchanged. It translates
// only; every rule of a refund (what remains, the over-refund guard,
// idempotency, tenancy) is the engine's and the store's.
package jetti

import (
	"log/slog"
	"net/http"

	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// NewHandler returns the Jetti routes. The seed's curl sample uses the base
// "http://api.example.com/v1" while its heading says
// "PUT /transactions/{id}/refund.json": the contract decides both paths.
func NewHandler(eng *engine.Engine, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, logger, err) }
	refund := edge.Authenticate(eng, edge.KeyForms{}, fail, handleRefund(eng, logger))
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPut)
		writeError(w, r, logger, &edge.WireError{Status: http.StatusMethodNotAllowed, Message: "This endpoint takes PUT only."})
	}
	for _, path := range []string{"/v1/transactions/{id}/refund.json", "/transactions/{id}/refund.json"} {
		mux.Handle("PUT "+path, refund)
		mux.HandleFunc(path, notAllowed)
	}
	return mux
}
