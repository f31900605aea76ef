package jetti

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

// maxBody bounds a request body: a Transaction is two dozen scalars, so
// anything near this size is not a Jetti request.
const maxBody = 64 << 10

// timeLayout writes date-times as the seed does: "2024-05-04T09:42:00+00:00".
const timeLayout = "2006-01-02T15:04:05-07:00"

// Enumerations of the seed's Transaction model. A value outside its enum is
// a 400 even for a read-only field: the client has misread the model.
var (
	// "Values are manual or catchup. Default value is manual."
	createdSources = []string{"manual", "catchup"}
	// "Values are pending, complete, error, or cancelled."
	statuses = []string{"pending", "complete", "error", "cancelled"}
	// "Values are farfetch:postmen, jetti, postmen, shippingIntegration,
	// shippo, shippyPro, or shipStation. Default value is jetti."
	sources = []string{"farfetch:postmen", "jetti", "postmen", "shippingIntegration", "shippo", "shippyPro", "shipStation"}
	// "Values are farfetch:postmen, postmen, shippo, shippyPro,
	// shipStation, or stripe."
	types = []string{"farfetch:postmen", "postmen", "shippo", "shippyPro", "shipStation", "stripe"}
)

// readOnly are the Transaction fields a client may send back as it got
// them; the contract decides they are accepted and never applied, even
// when they differ from what is stored (the seed's own sample sends
// "id": 42).
var readOnly = []string{
	"amount", "baseAmount", "createdAt", "dropshipmentId", "fulfillmentId", "id",
	"purchaseId", "purchaseInvoiceId", "purchasedAt", "returnShipmentId", "saleReturnId",
	"shippingIntegrationId", "shippingRateCacheId", "stripeId", "stripeRefundId",
	"transferId", "updatedAt",
}

// refundBody is what the request applies. Amounts stay decimal text until
// the transaction's currency is known (invariant 1).
type refundBody struct {
	refundAmount  json.Number // "" or 0: everything that remains
	processingFee json.Number
	name          string
	externalID    string
	createdSource string
}

// transaction is the seed's Transaction model, every field, in the seed's
// order. Fields the seed marks "| null" are pointers so that "none" is
// written as null, never left out.
type transaction struct {
	Amount                json.Number  `json:"amount"`
	BaseAmount            *json.Number `json:"baseAmount"`
	CreatedAt             string       `json:"createdAt"`
	CreatedSource         string       `json:"createdSource"`
	DropshipmentID        *int64       `json:"dropshipmentId"`
	ExternalID            string       `json:"externalId"`
	FulfillmentID         *int64       `json:"fulfillmentId"`
	ID                    int64        `json:"id"`
	Name                  string       `json:"name"`
	ProcessingFee         json.Number  `json:"processingFee"`
	PurchaseID            *int64       `json:"purchaseId"`
	PurchaseInvoiceID     *int64       `json:"purchaseInvoiceId"`
	PurchasedAt           *string      `json:"purchasedAt"`
	RefundAmount          json.Number  `json:"refundAmount"`
	ReturnShipmentID      *int64       `json:"returnShipmentId"`
	SaleReturnID          *int64       `json:"saleReturnId"`
	ShippingIntegrationID *int64       `json:"shippingIntegrationId"`
	ShippingRateCacheID   *int64       `json:"shippingRateCacheId"`
	Source                string       `json:"source"`
	Status                string       `json:"status"`
	StripeID              *string      `json:"stripeId"`
	StripeRefundID        *string      `json:"stripeRefundId"`
	TransferID            *int64       `json:"transferId"`
	Type                  *string      `json:"type"`
	UpdatedAt             string       `json:"updatedAt"`
}

func handleRefund(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		m := edge.MerchantFrom(ctx)
		number, err := parseNumber(r.PathValue("id"))
		if err != nil {
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
		sale, err := eng.FindSale(ctx, m.ID, refundry.SaleLookup{TransactionNumber: number})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		txn := findNumber(sale, number)
		if txn == nil {
			writeError(w, r, logger, fmt.Errorf("sale %s found by transaction %d lacks it", sale.ID, number))
			return
		}
		cur, err := refundry.LookupCurrency(sale.Currency)
		if err != nil {
			writeError(w, r, logger, fmt.Errorf("stored sale %s: %w", sale.ID, err))
			return
		}
		amount, fee, err := req.minorUnits(cur)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := eng.Refund(ctx, refundry.RefundRequest{
			MerchantID: m.ID, Target: refundry.RefundTarget{TransactionID: txn.ID}, Amount: amount, Fee: fee,
			Name: req.name, ExternalID: req.externalID, CreatedSource: req.createdSource,
			Source: refundry.SourceJetti, Idempotency: idem,
		})
		switch refundry.ErrorCode(err) {
		case "":
			for _, rf := range res.Refunds {
				if err := rf.Refusal(); err != nil {
					writeError(w, r, logger, err)
					return
				}
			}
		case refundry.EREFUNDED:
			// Decided: PUT is idempotent, so the full refund of a
			// transaction refunded in full before answers 200 with the
			// transaction unchanged and moves nothing.
			if amount != nil {
				writeError(w, r, logger, err)
				return
			}
		default:
			writeError(w, r, logger, err)
			return
		}
		out, err := load(ctx, eng, m.ID, number)
		if err != nil && res != nil {
			// This call made a refund: a read failing now (the same lost
			// connection that kept its settlement pending, say) must not
			// answer "try again", which a client without an
			// Idempotency-Key would obey by refunding twice (invariant 4).
			// The transaction is shown as the refund left it; its
			// processingFee then counts this call's refunds only.
			if t := findNumber(res.Sale, number); t != nil {
				logger.WarnContext(ctx, "reading the refunded transaction failed; answered from the refund made", "err", err)
				out, err = render(res.Sale, t, res.Refunds)
			}
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, out)
	})
}

// parseNumber reads the path's id: "Numeric ID of the instance", "Minimum
// value is 1". Digits only, so "+7", " 7" and "7.0" are refused too.
func parseNumber(s string) (int64, error) {
	bad := &edge.WireError{Status: http.StatusBadRequest, Message: "Transaction id must be an integer of at least 1."}
	if s == "" || len(s) > 18 {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, bad
	}
	return n, nil
}

// decodeRefund reads the body, a Transaction object, and reports every
// problem in it at once. Field names are matched exactly (encoding/json
// would match "RefundAmount" too), and a field the model does not have is
// refused: a misspelt "refund_amount" silently ignored would turn a
// partial refund into a full one.
func decodeRefund(body []byte) (refundBody, error) {
	out := refundBody{createdSource: "manual"}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return out, &edge.WireError{Status: http.StatusBadRequest, Message: "A request body is required: a Transaction object."}
	}
	var v any
	if err := edge.DecodeJSON(body, &v); err != nil {
		return out, &edge.WireError{Status: http.StatusBadRequest, Message: refundry.ErrorMessage(err)}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return out, &edge.WireError{Status: http.StatusBadRequest, Message: "Request body must be a JSON object."}
	}
	var ve validationError
	for k, val := range obj {
		switch k {
		case "refundAmount":
			out.refundAmount = number(&ve, k, val)
		case "processingFee":
			out.processingFee = number(&ve, k, val)
		case "name":
			out.name = text(&ve, k, val)
		case "externalId":
			out.externalID = text(&ve, k, val)
		case "createdSource":
			if s := enum(&ve, k, val, createdSources); s != "" {
				out.createdSource = s
			}
		case "status":
			enum(&ve, k, val, statuses)
		case "source":
			enum(&ve, k, val, sources)
		case "type":
			enum(&ve, k, val, types)
		default:
			if !slices.Contains(readOnly, k) {
				ve.add(fieldName(k), "is not a field of Transaction")
			}
		}
	}
	if ve.fields != nil {
		return out, &ve
	}
	return out, nil
}

// fieldName keeps a hostile field name from filling the error answer.
func fieldName(k string) string {
	if len(k) <= 64 {
		return k
	}
	for n := 64; n > 0; n-- {
		if utf8.RuneStart(k[n]) {
			return k[:n] + "..."
		}
	}
	return "..."
}

// number takes a JSON number or null (the seed's "Default value is 0").
func number(ve *validationError, field string, v any) json.Number {
	switch n := v.(type) {
	case nil:
		return ""
	case json.Number:
		return n
	}
	ve.add(field, "must be a number")
	return ""
}

func text(ve *validationError, field string, v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s // its length and encoding are the domain's to judge
	}
	ve.add(field, "must be a string")
	return ""
}

// enum takes one of values, or null: a client that sends back a
// transaction it got sends "type": null for a payment not on Stripe.
func enum(ve *validationError, field string, v any, values []string) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok && slices.Contains(values, s) {
		return s
	}
	ve.add(field, "must be one of: "+strings.Join(values, ", "))
	return ""
}

// minorUnits converts refundAmount and processingFee to minor units of the
// transaction's currency, exactly (invariant 1): "12.5" is 1250 USD, "500"
// is 500 JPY, "1.234" is 1234 KWD, and a decimal the currency lacks is an
// error, never a rounding. A refundAmount of 0 asks for everything that
// remains (nil).
func (b refundBody) minorUnits(cur refundry.Currency) (amount *int64, fee int64, err error) {
	var ve validationError
	if b.refundAmount != "" {
		v, err := refundry.ParseMajor(string(b.refundAmount), cur)
		switch {
		case err != nil:
			ve.add("refundAmount", refundry.ErrorMessage(err))
		case v > 0:
			amount = &v
		}
	}
	if b.processingFee != "" {
		v, err := refundry.ParseMajor(string(b.processingFee), cur)
		if err != nil {
			ve.add("processingFee", refundry.ErrorMessage(err))
		}
		fee = v
	}
	if ve.fields != nil {
		return nil, 0, &ve
	}
	return amount, fee, nil
}

// load renders the transaction as it is now, with what its refunds say.
func load(ctx context.Context, eng *engine.Engine, merchantID string, number int64) (*transaction, error) {
	sale, err := eng.FindSale(ctx, merchantID, refundry.SaleLookup{TransactionNumber: number})
	if err != nil {
		return nil, err
	}
	txn := findNumber(sale, number)
	if txn == nil {
		return nil, fmt.Errorf("sale %s found by transaction %d lacks it", sale.ID, number)
	}
	refunds, err := listRefunds(ctx, eng, merchantID, txn.ID)
	if err != nil {
		return nil, err
	}
	return render(sale, txn, refunds)
}

// listRefunds returns every refund of the transaction, newest first.
func listRefunds(ctx context.Context, eng *engine.Engine, merchantID, txnID string) ([]*refundry.Refund, error) {
	var all []*refundry.Refund
	f := refundry.RefundFilter{Page: refundry.Page{Limit: refundry.MaxPageLimit}, TransactionID: txnID}
	for {
		page, more, err := eng.ListRefunds(ctx, merchantID, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more || len(page) == 0 {
			return all, nil
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

// render maps a stored transaction and its refunds (newest first) to the
// seed's model. Refundry keeps no shipping, purchase or transfer records,
// so every foreign id is null.
func render(sale *refundry.Sale, txn *refundry.Transaction, refunds []*refundry.Refund) (*transaction, error) {
	cur, err := refundry.LookupCurrency(txn.Currency)
	if err != nil {
		return nil, fmt.Errorf("stored transaction %s: %w", txn.ID, err)
	}
	purchased := formatTime(sale.Created)
	out := &transaction{
		ID:            txn.Number,
		Amount:        json.Number(refundry.FormatMajor(txn.Amount, cur)),
		RefundAmount:  json.Number(refundry.FormatMajor(txn.RefundedAmount, cur)),
		CreatedAt:     formatTime(txn.Created),
		UpdatedAt:     formatTime(txn.Created),
		PurchasedAt:   &purchased,
		CreatedSource: "manual",
		Source:        refundry.SourceJetti, // "Default value is jetti."
		Status:        "pending",            // "Default value is pending."
	}
	if txn.BaseCurrency != "" || txn.BaseAmount != 0 {
		bc := cur
		if txn.BaseCurrency != "" {
			if bc, err = refundry.LookupCurrency(txn.BaseCurrency); err != nil {
				return nil, fmt.Errorf("stored transaction %s: %w", txn.ID, err)
			}
		}
		n := json.Number(refundry.FormatMajor(txn.BaseAmount, bc))
		out.BaseAmount = &n
	}
	// processingFee parallels refundAmount: the fees kept on the refunds
	// that count against the transaction (invariant 2: those whose status
	// holds their amount, awaiting approval or review included).
	var fees int64
	for _, rf := range refunds {
		if refundry.Holds(rf.Status) {
			fees += rf.Fee
		}
	}
	out.ProcessingFee = json.Number(refundry.FormatMajor(fees, cur))
	onStripe := txn.Gateway == refundry.GatewayStripe
	if onStripe {
		t := "stripe"
		out.Type = &t
		if txn.GatewayChargeID != "" {
			out.StripeID = &txn.GatewayChargeID
		}
	}
	if len(refunds) > 0 {
		latest := refunds[0]
		out.Status = status(latest.Status)
		out.Name, out.ExternalID = latest.Name, latest.ExternalID
		if latest.CreatedSource != "" {
			out.CreatedSource = latest.CreatedSource
		}
		out.UpdatedAt = formatTime(latest.Updated)
		if onStripe && latest.GatewayRefundID != "" {
			out.StripeRefundID = &latest.GatewayRefundID
		}
	}
	return out, nil
}

// status maps a refund's lifecycle to the seed's words. Every status is
// named (TestStatusWords walks refundry.Transitions): "pending" is the
// seed's word for a refund whose outcome is not yet known, which is also
// one a merchant's policy holds for approval and one in manual review.
func status(s string) string {
	switch s {
	case refundry.RefundPending, refundry.RefundRequiresApproval, refundry.RefundRequiresAction:
		return "pending"
	case refundry.RefundSucceeded:
		return "complete"
	case refundry.RefundFailed:
		return "error"
	case refundry.RefundCanceled:
		return "cancelled"
	}
	// A status this edge does not know yet: not settled as far as a
	// client can tell.
	return "pending"
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func findNumber(s *refundry.Sale, number int64) *refundry.Transaction {
	for _, t := range s.Transactions {
		if t.Number == number {
			return t
		}
	}
	return nil
}
