package stripe

import (
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
)

// RefundReport turns a Stripe refund, as an event carries it or a list
// returns it, into the gateway's report on it. Status is in Refundry's
// words; a status Stripe may add later is reported pending, which no
// refund recorded final can move to, so it is refused rather than guessed.
func RefundReport(re *stripeapi.Refund) refundry.RefundReport {
	rep := refundry.RefundReport{
		Gateway:         refundry.GatewayStripe,
		GatewayRefundID: re.ID,
		Amount:          re.Amount,
		Currency:        strings.ToUpper(string(re.Currency)),
		RefundID:        re.Metadata[MetadataRefundID],
		Created:         time.Unix(re.Created, 0).UTC(),
	}
	if re.Charge != nil && re.Charge.ID != "" {
		rep.ChargeIDs = append(rep.ChargeIDs, re.Charge.ID)
	}
	if re.PaymentIntent != nil && re.PaymentIntent.ID != "" {
		rep.ChargeIDs = append(rep.ChargeIDs, re.PaymentIntent.ID)
	}
	res, err := result(re)
	if err != nil {
		rep.Status = refundry.RefundPending
		return rep
	}
	rep.Status = res.Status
	rep.FailureReason = res.FailureReason
	if res.Status == refundry.RefundCanceled {
		rep.FailureReason = "Stripe canceled the refund."
	}
	return rep
}
