// Package payop is the Payop dialect: Payop's "Create Refund" endpoint
// (seed 003, "POST https://api.payop.com/v1/refunds/create"), answered by
// the Refundry engine so that a client written against Payop's
// documentation works unchanged. It translates only; what remains
// refundable and the over-refund guard are the engine's.
package payop

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// maxBody must let through the largest metadata the seed allows ("Result
// JSON should be less than 800 KB") with the whitespace a client may put
// around it, and the rest of the request.
const maxBody = 1<<20 + 64<<10

// maxIdentifier is the longest transaction reference a store keeps; a
// longer one cannot name a transaction, so it is not looked up at all.
const maxIdentifier = 255

// Refund types, from the seed: "1 - all transaction amount, 2 - partial
// amount".
const (
	refundAll     = 1
	refundPartial = 2
)

// NewHandler returns the Payop routes.
func NewHandler(eng *engine.Engine, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, logger, err) }
	// "Authorization: Bearer YOUR_JWT_TOKEN": a Refundry API key is the token.
	mux.Handle("POST /v1/refunds/create", edge.Authenticate(eng, edge.KeyForms{}, fail, handleCreateRefund(eng, logger)))
	mux.HandleFunc("/v1/refunds/create", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeError(w, r, logger, &edge.WireError{Status: http.StatusMethodNotAllowed, Message: "Method not allowed"})
	})
	return mux
}

// createRefundRequest is the seed's parameter table. Scalars are read as
// any, with numbers kept as json.Number (invariant 1), so that a wrong type
// is named rather than reported as bad JSON.
type createRefundRequest struct {
	TransactionIdentifier any             `json:"transactionIdentifier"`
	RefundType            any             `json:"refundType"`
	Amount                any             `json:"amount"`
	Metadata              json.RawMessage `json:"metadata"`
}

// createRefund is a request whose form is valid; amount is still text,
// because its meaning depends on the transaction's currency.
type createRefund struct {
	identifier string
	refundType int
	amount     string // major units; "" when absent
	metadata   json.RawMessage
}

// successBody is the seed's answer, byte for byte: the refund's id is in
// the "identifier" header, not here.
const successBody = `{"data": "", "status": 1}`

func handleCreateRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m := edge.MerchantFrom(ctx)
		body, idem, err := edge.ReadRequest(w, r, maxBody)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decodeCreateRefund(body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		txn, err := findTransaction(ctx, eng, m.ID, req.identifier)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		amount, err := refundAmount(req, txn)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := eng.Refund(ctx, refundry.RefundRequest{
			MerchantID: m.ID, Target: refundry.RefundTarget{TransactionID: txn.ID}, Amount: amount,
			Metadata: req.metadata, Source: refundry.SourcePayop, Idempotency: idem,
			// Decided: with refundType 1 an amount may be sent, and then it
			// must be the whole remainder, so that a client that meant
			// "all" and one that meant a sum never disagree silently. It is
			// decided with the amount, under the store's lock.
			ExactRemainder: req.refundType == refundAll,
		})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		// One transaction is one refund.
		writeRefund(w, r, logger, res.Refunds[0])
	})
}

// writeRefund answers the refund a request made. The seed's answer shows
// no status: a refund whose gateway has not confirmed it, one the
// merchant's policy holds for approval and one in manual review are
// answered as a succeeded one, with its id in the "identifier" header
// (the client learns the rest from the merchant's webhooks); only a
// refund its gateway refused is an error.
func writeRefund(w http.ResponseWriter, r *http.Request, logger *slog.Logger, rf *refundry.Refund) {
	if err := rf.Refusal(); err != nil {
		writeError(w, r, logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("identifier", rf.ID)
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, successBody)
}

// decodeCreateRefund checks everything about the request that does not
// depend on the transaction.
func decodeCreateRefund(body []byte) (createRefund, error) {
	var out createRefund
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return out, refundry.Errorf(refundry.EINVALID, "Request body must be a JSON object.")
	}
	var req createRefundRequest
	if err := edge.DecodeFields(body, &req); err != nil {
		return out, err
	}

	// The seed types it string; an integer id sent as a number is the same id.
	switch v := req.TransactionIdentifier.(type) {
	case string:
		out.identifier = v
	case json.Number:
		out.identifier = v.String()
	case nil:
	default:
		return out, refundry.ParamErrorf(refundry.EINVALID, "transactionIdentifier", "transactionIdentifier must be a string.")
	}
	if out.identifier == "" {
		return out, refundry.ParamErrorf(refundry.EINVALID, "transactionIdentifier", "transactionIdentifier is required.")
	}

	if req.RefundType == nil {
		return out, refundry.ParamErrorf(refundry.EINVALID, "refundType", "refundType is required: 1 (all of the transaction's remaining amount) or 2 (a partial amount).")
	}
	typeText, ok := numberText(req.RefundType)
	n, err := refundry.ParseMinor(typeText)
	if !ok || err != nil || (n != refundAll && n != refundPartial) {
		return out, refundry.ParamErrorf(refundry.EINVALID, "refundType", "refundType must be 1 (all of the transaction's remaining amount) or 2 (a partial amount).")
	}
	out.refundType = int(n)

	if req.Amount != nil {
		if out.amount, ok = numberText(req.Amount); !ok {
			return out, refundry.ParamErrorf(refundry.EINVALID, "amount", "amount must be a number in the transaction's currency, such as 10.50.")
		}
	}
	if out.refundType == refundPartial && out.amount == "" {
		return out, refundry.ParamErrorf(refundry.EINVALID, "amount", "amount is required for refundType 2.")
	}

	// Decided: metadata is optional and may be any JSON value; its
	// serialized form must be "less than 800 KB".
	if md := bytes.TrimSpace(req.Metadata); len(md) > 0 && !bytes.Equal(md, []byte("null")) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, md); err != nil {
			return out, &refundry.Error{Code: refundry.EINVALID, Param: "metadata", Message: "metadata must be valid JSON.", Err: err}
		}
		if buf.Len() >= refundry.MaxMetadata {
			return out, refundry.ParamErrorf(refundry.EINVALID, "metadata", "metadata must be less than 800 KB (%d bytes) once serialized.", refundry.MaxMetadata)
		}
		out.metadata = buf.Bytes()
	}
	return out, nil
}

// numberText returns the text of a JSON number, or of a string that holds
// one, as clients in loosely typed languages send amounts.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		return x, x != ""
	}
	return "", false
}

// refundAmount converts the request's amount into minor units of the
// transaction's currency: exactly, so that 1.234 is 1234 fils of KWD and
// 500 is 500 yen (invariant 1). nil asks the engine for all that remains.
func refundAmount(req createRefund, txn *refundry.Transaction) (*int64, error) {
	if req.amount == "" {
		return nil, nil
	}
	cur, err := refundry.LookupCurrency(txn.Currency)
	if err != nil {
		return nil, &refundry.Error{Code: refundry.EINTERNAL, Message: "An internal error occurred.", Err: err}
	}
	n, err := refundry.ParseMajor(req.amount, cur)
	if err != nil {
		return nil, &refundry.Error{Code: refundry.EINVALID, Param: "amount", Message: refundry.ErrorMessage(err), Err: err}
	}
	if n <= 0 {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "amount", "amount must be greater than 0.")
	}
	return &n, nil
}

// findTransaction resolves transactionIdentifier, "your checkout
// transaction identifier": the transaction's reference, or else its id.
func findTransaction(ctx context.Context, eng *engine.Engine, merchantID, ident string) (*refundry.Transaction, error) {
	notFound := refundry.Errorf(refundry.ENOTFOUND, "No such transaction.")
	if len(ident) > maxIdentifier {
		return nil, notFound
	}
	sale, err := eng.FindSale(ctx, merchantID, refundry.SaleLookup{TransactionReference: ident})
	if refundry.ErrorCode(err) == refundry.ENOTFOUND && refundry.ValidID(ident) {
		sale, err = eng.FindSale(ctx, merchantID, refundry.SaleLookup{TransactionID: ident})
	}
	if err != nil {
		return nil, err
	}
	for _, t := range sale.Transactions {
		if t.Reference == ident {
			return t, nil
		}
	}
	for _, t := range sale.Transactions {
		if t.ID == ident {
			return t, nil
		}
	}
	return nil, notFound
}
