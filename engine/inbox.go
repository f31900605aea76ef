package engine

import (
	"context"
	"errors"
	"time"

	"github.com/refundry/refundry"
)

// EventParser reads the payload of one event of a gateway into the reports
// it makes (none for a type Refundry does not act on). It returns EINVALID
// for a payload it cannot read.
type EventParser func(payload []byte) ([]refundry.GatewayReport, error)

// inboxLease is how long a worker holds the events it claimed: long
// enough to apply a batch, short enough that events a crashed worker
// held are applied by another soon after.
const inboxLease = 30 * time.Second

// inboxBatch is the most events one pass claims.
const inboxBatch = 100

// ReceiveGatewayEvent stores an event a gateway sent, durably, before it
// is acknowledged; a worker applies it. duplicate reports an event id
// stored before: nothing changes. Returns EINVALID for an event without
// its gateway, id or type.
func (e *Engine) ReceiveGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) (duplicate bool, err error) {
	if err := ev.Validate(); err != nil {
		return false, err
	}
	duplicate, err = e.Stores.Inbox.ReceiveGatewayEvent(ctx, ev)
	if err != nil {
		return false, err
	}
	if !duplicate {
		e.wakeInbox()
	}
	return duplicate, nil
}

// wakeInbox tells RunInbox an event waits, without blocking: one wake-up
// pending is enough, whatever arrives meanwhile.
func (e *Engine) wakeInbox() {
	select {
	case e.inboxWake <- struct{}{}:
	default:
	}
}

// CountGatewayEvents counts the stored events by outcome, "" for those
// not applied yet (for /metrics).
func (e *Engine) CountGatewayEvents(ctx context.Context) (map[string]int64, error) {
	return e.Stores.Inbox.CountGatewayEvents(ctx)
}

// ApplyGatewayEvents claims up to limit stored events and applies each:
// its gateway's parser reads it into reports, ApplyReport applies every
// one, and the event is finished with their outcome (an event of a type
// Refundry does not act on is ignored; one its parser cannot read is
// malformed). It returns how many it finished. An error applying (the
// database down) stops the pass and leaves the event to the next claim
// after its lease: applying a report twice changes nothing the second
// time, so it is retried, never dropped.
func (e *Engine) ApplyGatewayEvents(ctx context.Context, limit int) (int, error) {
	ctx = refundry.WithActor(ctx, refundry.Actor{KeyID: refundry.ActorSystem, Method: "gateway_event"})
	evs, err := e.Stores.Inbox.ClaimGatewayEvents(ctx, e.Now(), inboxLease, limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ev := range evs {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if err := e.applyGatewayEvent(ctx, ev); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *Engine) applyGatewayEvent(ctx context.Context, ev *refundry.GatewayEvent) error {
	outcome, merchantID, detail, reports, err := e.gatewayEventOutcome(ctx, ev)
	if err != nil {
		return err
	}
	ev.Outcome, ev.MerchantID, ev.Detail, ev.Applied = outcome, merchantID, detail, time.Time{}
	if err := e.Stores.Inbox.FinishGatewayEvent(ctx, ev); err != nil {
		return err
	}
	if reports == 0 {
		// ApplyReport tells the Observer of each report it applied; an
		// event that made none (ignored, malformed) is told here, so
		// every event applied is counted once.
		e.observe().GatewayReport(ev.Gateway, ev.Outcome)
	}
	switch ev.Outcome {
	case refundry.OutcomeUnknownCharge, refundry.OutcomeMalformed:
		e.Logger.WarnContext(ctx, "gateway event not applied", "gateway", ev.Gateway, "event", ev.EventID, "type", ev.Type,
			"outcome", ev.Outcome, "detail", ev.Detail)
	}
	return nil
}

// gatewayEventOutcome parses ev and applies its reports. An error is one
// worth retrying (the database, a deadline); everything that would fail
// the same way again is an outcome instead, so that no event is retried
// for ever.
func (e *Engine) gatewayEventOutcome(ctx context.Context, ev *refundry.GatewayEvent) (outcome, merchantID, detail string, reports int, err error) {
	parse := e.EventParsers[ev.Gateway]
	if parse == nil {
		return refundry.OutcomeIgnored, "", "No parser reads events of gateway " + ev.Gateway + " on this server.", 0, nil
	}
	reps, err := parse(ev.Payload)
	if err != nil {
		return refundry.OutcomeMalformed, "", refundry.ErrorMessage(err), 0, nil
	}
	results := make([]*refundry.ReportResult, 0, len(reps))
	for _, rep := range reps {
		res, err := e.ApplyReport(ctx, rep)
		if err != nil {
			if transient(err) {
				return "", "", "", 0, err
			}
			// The report itself is at fault (a field the ledger cannot
			// take): the same report fails the same way on every retry.
			res = &refundry.ReportResult{Outcome: refundry.OutcomeRefused, Detail: refundry.ErrorMessage(err)}
			e.observe().GatewayReport(ev.Gateway, res.Outcome)
		}
		results = append(results, res)
	}
	outcome, merchantID, detail = refundry.EventOutcome(results)
	return outcome, merchantID, detail, len(results), nil
}

// transient tells an error that may not happen again (the database down
// or busy, a deadline, a fault of ours) from one that is the input's.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch refundry.ErrorCode(err) {
	case refundry.EUNAVAILABLE, refundry.EINTERNAL, refundry.ETIMEOUT:
		return true
	}
	return false
}

// RunInbox applies stored gateway events until ctx ends: at start, when
// ReceiveGatewayEvent wakes it, and every interval (events another
// process stored, or left by a pass that failed once their lease ends).
// With InboxDelay set, every pass, the first included, waits that long
// after its wake-up, so that a refund's own request records the
// gateway's answer before the gateway's event about it is applied. A pass that finished a full batch
// is followed at once by the next. Failures back off, doubling up to a
// minute; the events stay stored and are applied after.
func (e *Engine) RunInbox(ctx context.Context, interval time.Duration) {
	backoff := interval
	// The first pass waits the delay too: an event acknowledged while the
	// server starts gets the same head start for its refund's own request
	// as any later one, whichever of the listener and this loop is first.
	if !e.sleep(ctx, e.InboxDelay) {
		return
	}
	for {
		n, err := e.ApplyGatewayEvents(ctx, inboxBatch)
		wait := interval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.Logger.Warn("inbox pass failed; its events stay stored and are applied later", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, time.Minute)
		default:
			backoff = interval
			if n >= inboxBatch {
				continue
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.inboxWake:
			t.Stop()
		}
		if !e.sleep(ctx, e.InboxDelay) {
			return
		}
	}
}

// sleep waits d (nothing for d <= 0) and reports whether ctx is still
// live after it.
func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
