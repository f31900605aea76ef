package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/refundry/refundry"
	"github.com/refundry/refundry/edge"
	"github.com/refundry/refundry/engine"
)

type saleRequest struct {
	Reference string `json:"reference"`
	Currency  string `json:"currency"`
	Customer  *struct {
		Email     string `json:"email"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
	} `json:"customer"`
	Campaign *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"campaign"`
	LineItems []struct {
		Name       string      `json:"name"`
		Kind       string      `json:"kind"`
		Quantity   json.Number `json:"quantity"`
		UnitAmount json.Number `json:"unit_amount"`
		TaxAmount  json.Number `json:"tax_amount"`
		// GatewayLineID is the provider's own id of the line, for a
		// payment through a provider that refunds line by line
		// (RevCent's product_sale_id).
		GatewayLineID string `json:"gateway_line_id"`
	} `json:"line_items"`
	Payment  *paymentRequest  `json:"payment"`
	Payments []paymentRequest `json:"payments"`
}

// paymentRequest is one payment of a sale. A sale is paid by one payment
// (its amount is the sale's), or by several listed in payments, each with
// an amount, adding up to the sale's.
type paymentRequest struct {
	Gateway string `json:"gateway"`
	// GatewayAccount names the merchant's gateway account the payment
	// was taken through; absent, the engine picks the merchant's only
	// active account of the gateway's kind, else the server's own.
	GatewayAccount string      `json:"gateway_account"`
	Reference      string      `json:"reference"`
	Amount         json.Number `json:"amount"`
	ProcessingFee  json.Number `json:"processing_fee"`
	BaseAmount     json.Number `json:"base_amount"`
	BaseCurrency   string      `json:"base_currency"`
	// A Stripe payment is an existing charge or PaymentIntent; without
	// either, the Stripe gateway takes a test payment for the sale.
	StripeCharge        string `json:"stripe_charge"`
	StripePaymentIntent string `json:"stripe_payment_intent"`
}

func (req *saleRequest) sale(merchantID string) (*refundry.Sale, error) {
	s := &refundry.Sale{MerchantID: merchantID, Reference: req.Reference, Currency: req.Currency}
	if req.Customer != nil {
		s.Customer = refundry.Customer{Email: req.Customer.Email, FirstName: req.Customer.FirstName, LastName: req.Customer.LastName}
	}
	if req.Campaign != nil {
		s.CampaignID, s.CampaignName = req.Campaign.ID, req.Campaign.Name
	}
	for i, li := range req.LineItems {
		p := "line_items[" + strconv.Itoa(i) + "]."
		qty, err := wholeNumber(li.Quantity, p+"quantity", 1)
		if err != nil {
			return nil, err
		}
		unit, err := wholeNumber(li.UnitAmount, p+"unit_amount", 0)
		if err != nil {
			return nil, err
		}
		tax, err := wholeNumber(li.TaxAmount, p+"tax_amount", 0)
		if err != nil {
			return nil, err
		}
		s.LineItems = append(s.LineItems, &refundry.LineItem{Name: li.Name, Kind: li.Kind, Quantity: qty, UnitAmount: unit, TaxAmount: tax,
			GatewayLineID: li.GatewayLineID})
	}
	payments := req.Payments
	switch {
	case req.Payment != nil && len(req.Payments) > 0:
		return nil, paramInvalid("payments", "Give payment or payments, not both.")
	case req.Payment != nil:
		payments = []paymentRequest{*req.Payment}
	}
	for i, p := range payments {
		prefix := "payments[" + strconv.Itoa(i) + "]."
		if req.Payment != nil {
			prefix = "payment."
		}
		t := &refundry.Transaction{Gateway: p.Gateway, GatewayAccount: p.GatewayAccount, Reference: p.Reference, BaseCurrency: p.BaseCurrency}
		switch {
		case p.StripeCharge != "" && p.StripePaymentIntent != "":
			return nil, paramInvalid(prefix+"stripe_payment_intent", "Give stripe_charge or stripe_payment_intent, not both.")
		case p.StripeCharge != "":
			if !strings.HasPrefix(p.StripeCharge, "ch_") && !strings.HasPrefix(p.StripeCharge, "py_") {
				return nil, paramInvalid(prefix+"stripe_charge", "A Stripe charge id starts with ch_ or py_.")
			}
			t.GatewayChargeID = p.StripeCharge
		case p.StripePaymentIntent != "":
			if !strings.HasPrefix(p.StripePaymentIntent, "pi_") {
				return nil, paramInvalid(prefix+"stripe_payment_intent", "A Stripe PaymentIntent id starts with pi_.")
			}
			t.GatewayChargeID = p.StripePaymentIntent
		}
		var err error
		if len(payments) > 1 || p.Amount != "" {
			if t.Amount, err = wholeNumber(p.Amount, prefix+"amount", -1); err != nil {
				return nil, err
			}
		}
		if t.ProcessingFee, err = wholeNumber(p.ProcessingFee, prefix+"processing_fee", 0); err != nil {
			return nil, err
		}
		if t.BaseAmount, err = wholeNumber(p.BaseAmount, prefix+"base_amount", 0); err != nil {
			return nil, err
		}
		s.Transactions = append(s.Transactions, t)
	}
	return s, nil
}

// wholeNumber reads a JSON integer. def is used when it is absent; a
// negative def makes the number required.
func wholeNumber(n json.Number, param string, def int64) (int64, error) {
	if n == "" {
		if def < 0 {
			return 0, paramInvalid(param, "Parameter "+param+" is required.")
		}
		return def, nil
	}
	v, err := refundry.ParseMinor(string(n))
	if err != nil {
		return 0, paramInvalid(param, "Parameter "+param+" must be a whole, non-negative number.")
	}
	return v, nil
}

func handleCreateSale(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := edge.MerchantFrom(r.Context())
		var req saleRequest
		idem, err := readJSON(w, r, &req)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if req.Currency == "" {
			req.Currency = m.Currency
		}
		sale, err := req.sale(m.ID)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		replayed, err := eng.CreateSale(r.Context(), sale, idem)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		edge.WriteJSON(w, http.StatusCreated, renderSale(sale))
	})
}

func handleGetSale(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := idParam(r, "sale")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		s, err := eng.FindSale(r.Context(), edge.MerchantFrom(r.Context()).ID, refundry.SaleLookup{ID: id})
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		edge.WriteJSON(w, http.StatusOK, renderSale(s))
	})
}

func handleListSales(eng *engine.Engine, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, page, err := listQuery(r, "reference", "customer_email", "status")
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		f := refundry.SaleFilter{Page: page, Reference: q.Get("reference"), CustomerEmail: q.Get("customer_email"), Status: q.Get("status")}
		switch f.Status {
		case "", refundry.PaymentPaid, refundry.PaymentPartiallyRefunded, refundry.PaymentRefunded:
		default:
			Error(w, r, logger, paramInvalid("status", "Status must be paid, partially_refunded or refunded."))
			return
		}
		sales, more, err := eng.ListSales(r.Context(), edge.MerchantFrom(r.Context()).ID, f)
		if err != nil {
			Error(w, r, logger, err)
			return
		}
		writeList(w, sales, renderSale, more, "/v1/sales")
	})
}
