package stripe

import (
	"encoding/json"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v85"

	"github.com/refundry/refundry"
)

// Stripe's event types the inbox acts on
// (https://docs.stripe.com/api/events/types).
const (
	EventRefundCreated          = "refund.created"
	EventRefundUpdated          = "refund.updated"
	EventRefundFailed           = "refund.failed"
	EventChargeRefundUpdated    = "charge.refund.updated"
	EventChargeRefunded         = "charge.refunded"
	EventDisputeCreated         = "charge.dispute.created"
	EventDisputeUpdated         = "charge.dispute.updated"
	EventDisputeClosed          = "charge.dispute.closed"
	EventDisputeFundsWithdrawn  = "charge.dispute.funds_withdrawn"
	EventDisputeFundsReinstated = "charge.dispute.funds_reinstated"
)

// ParseEvent reads one Stripe event, as its webhook delivers it, into
// the reports it makes (an engine.EventParser). A type Refundry does not
// act on makes none, and no error. Returns EINVALID for a payload that is
// not an event, or whose object is not what its type promises.
//
// Events of any API version are read: the fields used (ids, amount,
// currency, status, failure_reason, the charge and payment intent, a
// dispute's reason) are the same in all of them since 2017.
func ParseEvent(payload []byte) ([]refundry.GatewayReport, error) {
	// The type is read first: an event of a type Refundry does not act on
	// is ignored whatever its data holds.
	var head struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "The Stripe event is not valid JSON: %v", err)
	}
	typ := head.Type
	if !handled(typ) {
		return nil, nil
	}
	var ev stripeapi.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, refundry.Errorf(refundry.EINVALID, "The Stripe event %s (%s) cannot be read: %v", head.ID, typ, err)
	}
	switch typ {
	case EventRefundCreated, EventRefundUpdated, EventRefundFailed, EventChargeRefundUpdated:
		var re stripeapi.Refund
		if err := eventObject(&ev, "refund", &re); err != nil {
			return nil, err
		}
		rep := RefundReport(&re)
		return []refundry.GatewayReport{{Refund: &rep}}, nil
	case EventChargeRefunded:
		// API versions before 2022-11-15 carry the charge's refunds in
		// it; later ones leave them out and send refund.* events instead.
		var ch stripeapi.Charge
		if err := eventObject(&ev, "charge", &ch); err != nil {
			return nil, err
		}
		if ch.Refunds == nil {
			return nil, nil
		}
		var out []refundry.GatewayReport
		for _, re := range ch.Refunds.Data {
			if re == nil || re.ID == "" {
				continue
			}
			// A refund listed in its charge may name the charge by id
			// alone, or not at all: the charge it sits in is the one.
			if re.Charge == nil || re.Charge.ID == "" {
				re.Charge = &stripeapi.Charge{ID: ch.ID}
			}
			if (re.PaymentIntent == nil || re.PaymentIntent.ID == "") && ch.PaymentIntent != nil {
				re.PaymentIntent = ch.PaymentIntent
			}
			rep := RefundReport(re)
			out = append(out, refundry.GatewayReport{Refund: &rep})
		}
		return out, nil
	case EventDisputeCreated, EventDisputeUpdated, EventDisputeClosed, EventDisputeFundsWithdrawn, EventDisputeFundsReinstated:
		var dp stripeapi.Dispute
		if err := eventObject(&ev, "dispute", &dp); err != nil {
			return nil, err
		}
		rep := DisputeReport(&dp)
		switch typ {
		case EventDisputeFundsWithdrawn:
			rep.FundsWithdrawn = ptr(true)
		case EventDisputeFundsReinstated:
			rep.FundsWithdrawn = ptr(false)
		}
		return []refundry.GatewayReport{{Dispute: &rep}}, nil
	}
	return nil, nil
}

// handled tells whether Refundry acts on events of the type.
func handled(typ string) bool {
	switch typ {
	case EventRefundCreated, EventRefundUpdated, EventRefundFailed, EventChargeRefundUpdated, EventChargeRefunded,
		EventDisputeCreated, EventDisputeUpdated, EventDisputeClosed, EventDisputeFundsWithdrawn, EventDisputeFundsReinstated:
		return true
	}
	return false
}

// DisputeReport turns a Stripe dispute into the gateway's report on it.
// FundsWithdrawn is left nil: only the funds events say which way it is.
func DisputeReport(dp *stripeapi.Dispute) refundry.DisputeReport {
	rep := refundry.DisputeReport{
		Gateway:          refundry.GatewayStripe,
		GatewayDisputeID: dp.ID,
		Amount:           dp.Amount,
		Currency:         strings.ToUpper(string(dp.Currency)),
		Status:           string(dp.Status),
		Reason:           string(dp.Reason),
		Created:          time.Unix(dp.Created, 0).UTC(),
	}
	if dp.Charge != nil && dp.Charge.ID != "" {
		rep.ChargeIDs = append(rep.ChargeIDs, dp.Charge.ID)
	}
	if dp.PaymentIntent != nil && dp.PaymentIntent.ID != "" {
		rep.ChargeIDs = append(rep.ChargeIDs, dp.PaymentIntent.ID)
	}
	return rep
}

// eventObject decodes the event's data.object into v, which must be of
// the kind ("refund", "charge", "dispute") its type promises, with an id.
func eventObject(ev *stripeapi.Event, kind string, v any) error {
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return refundry.Errorf(refundry.EINVALID, "The Stripe event %s (%s) carries no data.object.", ev.ID, ev.Type)
	}
	var head struct {
		Object string `json:"object"`
		ID     string `json:"id"`
	}
	if err := json.Unmarshal(ev.Data.Raw, &head); err != nil || head.Object != kind || head.ID == "" {
		return refundry.Errorf(refundry.EINVALID, "The Stripe event %s (%s) does not carry a %s with an id.", ev.ID, ev.Type, kind)
	}
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		return refundry.Errorf(refundry.EINVALID, "The %s in Stripe event %s cannot be read: %v", kind, ev.ID, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
