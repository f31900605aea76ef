// Package revcent is the RevCent dialect: RevCent's "Refund A Product Sale"
// operation (seed 002, an OpenAPI operation whose schemas are normative),
// answered by the Refundry engine so that a client written against
// RevCent's documentation works unchanged. It translates only; every rule
// of a refund (what remains, the over-refund guard, idempotency, tenancy)
// is the engine's and the store's.
package revcent

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// refundPattern is the seed's "path":
// "https://api.revcent.com/v2/product_sales/{product_sale_id}/refund".
const refundPattern = "/v2/product_sales/{product_sale_id}/refund"

// NewHandler returns the RevCent routes.
func NewHandler(eng *engine.Engine, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, logger, err) }
	// The seed names no security scheme: the contract decides Bearer or
	// RevCent's own X-API-Key header.
	mux.Handle("POST "+refundPattern, edge.Authenticate(eng, edge.KeyForms{Header: "X-API-Key"}, fail, handleRefund(eng, logger)))
	mux.HandleFunc(refundPattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, r, logger, &edge.WireError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "This operation takes POST only."})
	})
	return stampCall(eng, mux)
}

// apiCall is what every answer, success or error, repeats about the call:
// "api_call_id" ("A 20 character API call ID.") and "api_call_unix"
// ("Unix timestamp of when the API call was initiated.").
type apiCall struct {
	id   string
	unix int64
}

type callKey struct{}

// stampCall gives the call its id and start time before anything else
// runs, so that an answer written by the authentication middleware carries
// the same "initiated" time as one written by the handler.
func stampCall(eng *engine.Engine, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := apiCall{id: refundry.NewID(), unix: eng.Now().Unix()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	})
}

func callFrom(ctx context.Context) apiCall {
	if c, ok := ctx.Value(callKey{}).(apiCall); ok {
		return c
	}
	return apiCall{id: refundry.NewID()}
}
