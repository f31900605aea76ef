package revcent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// maxBody bounds a request body: the schema allows two scalar properties,
// so anything near this size is not a RevCent request.
const maxBody = 64 << 10

// refundBody is the seed's request schema: "additionalProperties": false,
// "properties": {"amount": {"type": "number"}, "refunded_offsite":
// {"type": "boolean"}}. Amount stays decimal text (invariant 1).
type refundBody struct {
	amount          json.Number // "" when absent: the whole remainder
	refundedOffsite bool
}

// refundResponse is the seed's 200 schema, property for property.
type refundResponse struct {
	APICallID   string `json:"api_call_id"`
	APICallUnix int64  `json:"api_call_unix"`
	// "API call response code.", "enum": [1]
	Code int `json:"code"`
	// "The amount refunded.": what this call refunded, in major units.
	Amount json.Number `json:"amount"`
	// Decided: a sale without a campaign leaves both out rather than
	// sending empty strings, which "minLength": 20 would refuse.
	CampaignID    *string `json:"campaign_id,omitempty"`
	CampaignName  *string `json:"campaign_name,omitempty"`
	CustomerID    string  `json:"customer_id,omitempty"`
	SaleID        string  `json:"sale_id"`
	ProductSaleID string  `json:"product_sale_id"`
	// "An array containing the ID's of any pending refunds created as a
	// result of the refund." Never null: [] when none.
	PendingRefund []string `json:"pending_refund"`
	Result        string   `json:"result"`
}

func handleRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m := edge.MerchantFrom(ctx)
		id := r.PathValue("product_sale_id")
		if err := checkProductSaleID(id); err != nil {
			writeError(w, r, logger, err)
			return
		}
		body, idem, err := edge.ReadRequest(w, r, maxBody)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decodeRefund(body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		sale, err := findProductSale(ctx, eng, m.ID, id)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		cur, err := refundry.LookupCurrency(sale.Currency)
		if err != nil {
			writeError(w, r, logger, fmt.Errorf("stored sale %s: %w", sale.ID, err))
			return
		}
		amount, err := parseAmount(req.amount, cur)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := eng.Refund(ctx, refundry.RefundRequest{
			MerchantID: m.ID, Target: refundry.RefundTarget{LineItemID: id}, Amount: amount,
			Offsite: req.refundedOffsite, Source: refundry.SourceRevCent, Idempotency: idem,
		})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for _, rf := range res.Refunds {
			if err := rf.Refusal(); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		edge.WriteJSON(w, http.StatusOK, render(callFrom(ctx), sale, id, cur, res.Refunds))
	})
}

func render(call apiCall, sale *refundry.Sale, productSaleID string, cur refundry.Currency, refunds []*refundry.Refund) refundResponse {
	out := refundResponse{
		APICallID: call.id, APICallUnix: call.unix, Code: 1,
		CustomerID: sale.Customer.ID, SaleID: sale.ID, ProductSaleID: productSaleID,
		PendingRefund: []string{}, Result: "Product sale refunded",
	}
	if sale.CampaignID != "" {
		out.CampaignID, out.CampaignName = &sale.CampaignID, &sale.CampaignName
	}
	var total int64
	for _, rf := range refunds {
		total += rf.Amount
		if pendingRefund(rf.Status) {
			out.PendingRefund = append(out.PendingRefund, rf.ID)
		}
	}
	out.Amount = json.Number(refundry.FormatMajor(total, cur))
	return out
}

// pendingRefund reports whether a refund in status belongs in
// "pending_refund": it holds its amount (refundry.Holds) but the money
// has not gone back yet. That is a refund its gateway has not confirmed,
// one the merchant's policy holds for approval and one in manual review:
// RevCent has one list for all three. A succeeded refund is refunded; a
// failed one was answered with the gateway's reason.
func pendingRefund(status string) bool {
	return refundry.Holds(status) && status != refundry.RefundSucceeded
}

// checkProductSaleID applies the seed's path parameter schema,
// "minLength": 20, "maxLength": 20, before anything is looked up.
func checkProductSaleID(id string) error {
	if utf8.RuneCountInString(id) != refundry.IDLength {
		return &edge.WireError{Status: http.StatusBadRequest, Code: "invalid_product_sale_id",
			Message: fmt.Sprintf("product_sale_id must be exactly %d characters.", refundry.IDLength)}
	}
	return nil
}

// findProductSale returns the sale the line item belongs to. A string that
// cannot be an id names nothing, so it is not looked up.
func findProductSale(ctx context.Context, eng *engine.Engine, merchantID, id string) (*refundry.Sale, error) {
	if !refundry.ValidID(id) {
		return nil, refundry.Errorf(refundry.ENOTFOUND, "No product sale with that ID.")
	}
	return eng.FindSale(ctx, merchantID, refundry.SaleLookup{LineItemID: id})
}

// parseAmount converts the body's amount to minor units of the sale's
// currency, exactly (invariant 1): "12.5" is 1250 USD, "500" is 500 JPY,
// "1.234" is 1234 KWD; a decimal the currency does not have is an error,
// never a rounding.
func parseAmount(n json.Number, cur refundry.Currency) (*int64, error) {
	if n == "" {
		return nil, nil
	}
	v, err := refundry.ParseMajor(string(n), cur)
	if err != nil {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "amount", "%s", refundry.ErrorMessage(err))
	}
	if v <= 0 {
		return nil, refundry.ParamErrorf(refundry.EINVALID, "amount", "Amount must be greater than 0.")
	}
	return &v, nil
}

// decodeRefund reads the body against the seed's request schema. The body
// is "required": true and must be an object; property names are matched
// exactly, as JSON Schema does (encoding/json's case-insensitive matching
// would let "AMOUNT" through "additionalProperties": false).
func decodeRefund(body []byte) (refundBody, error) {
	var out refundBody
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return out, badBody("invalid_body", "A request body is required: a JSON object.")
	}
	var v any
	if err := edge.DecodeJSON(body, &v); err != nil {
		return out, badBody("invalid_body", refundry.ErrorMessage(err))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return out, badBody("invalid_body", "Request body must be a JSON object.")
	}
	var unknown []string
	for k := range obj {
		if k != "amount" && k != "refunded_offsite" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return out, badBody("unknown_property", fmt.Sprintf("Unknown property %q: the body takes only amount and refunded_offsite.", truncate(unknown[0], 64)))
	}
	if a, ok := obj["amount"]; ok {
		if out.amount, ok = a.(json.Number); !ok {
			return out, badBody("invalid_property", "amount must be a number.")
		}
	}
	if o, ok := obj["refunded_offsite"]; ok {
		if out.refundedOffsite, ok = o.(bool); !ok {
			return out, badBody("invalid_property", "refunded_offsite must be a boolean.")
		}
	}
	return out, nil
}

func badBody(code, message string) error {
	return &edge.WireError{Status: http.StatusBadRequest, Code: code, Message: message}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
