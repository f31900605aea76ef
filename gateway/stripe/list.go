package stripe

import (
	"context"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
)

var _ refundry.RefundLister = (*Gateway)(nil)

// ListRefunds returns every refund Stripe holds for the payment chargeID
// (a Charge ch_/py_ or a PaymentIntent pi_), all pages, each converted by
// RefundReport as an event's refund is, so that reconciliation and the
// inbox read Stripe alike. Returns EINVALID for an id that is neither,
// EUNAVAILABLE or EGATEWAY when Stripe did not answer.
func (g *Gateway) ListRefunds(ctx context.Context, chargeID string) ([]refundry.RefundReport, error) {
	pi, ok := paymentObject(chargeID)
	if !ok {
		return nil, refundry.Errorf(refundry.EINVALID, "%q is not a Stripe charge (ch_...) or PaymentIntent (pi_...) id.", chargeID)
	}
	params := &stripeapi.RefundListParams{}
	params.Limit = stripeapi.Int64(100)
	if pi {
		params.PaymentIntent = stripeapi.String(chargeID)
	} else {
		params.Charge = stripeapi.String(chargeID)
	}
	var out []refundry.RefundReport
	for re, err := range g.client.V1Refunds.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, unknownOutcome("list refunds of "+chargeID, err)
		}
		rep := RefundReport(re)
		// A listing names the payment asked about even when Stripe leaves
		// the refund's charge unexpanded, so the report always finds it.
		if len(rep.ChargeIDs) == 0 {
			rep.ChargeIDs = []string{chargeID}
		}
		out = append(out, rep)
	}
	return out, nil
}
