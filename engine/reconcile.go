package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/refundry/refundry"
)

// Reconciliation triggers: what started a run.
const (
	TriggerSweep   = "sweep"
	TriggerCommand = "command"
)

// reconcilePage is how many payments one RecentCharges read returns.
const reconcilePage = refundry.MaxPageLimit

// Reconcile compares the ledger with the gateways for the payments with
// activity since the given time, of one merchant (by id) or of all (""),
// applies what it can, stores one run per merchant and returns the runs.
//
// For each payment it lists the refunds the gateway holds and applies each
// as a report, exactly as an inbound event would be applied: a refund the
// ledger already has matches, one made at the gateway is adopted, a late
// failure is corrected. What cannot be applied, and every refund the
// ledger holds against the payment with a gateway id the gateway does not
// list, is a mismatch for a person to look at. A gateway that cannot be
// asked about one payment is a mismatch of that payment; the run goes on.
// A store that fails ends the run with the error, nothing saved: its
// counts would be wrong.
//
// A merchant gets a run if it has a payment to compare; the merchant asked
// for by id gets one even with none, so that "nothing to compare" is an
// answer too.
func (e *Engine) Reconcile(ctx context.Context, merchantID string, since time.Time, trigger string) ([]*refundry.ReconciliationRun, error) {
	started := e.Now().UTC()
	var runs []*refundry.ReconciliationRun
	byMerchant := map[string]*refundry.ReconciliationRun{}
	runOf := func(id string) *refundry.ReconciliationRun {
		if r := byMerchant[id]; r != nil {
			return r
		}
		r := &refundry.ReconciliationRun{MerchantID: id, Trigger: trigger, Since: since.UTC(), Started: started, Mismatches: []refundry.Mismatch{}}
		byMerchant[id] = r
		runs = append(runs, r)
		return r
	}
	if merchantID != "" {
		runOf(merchantID)
	}

	// Gateways in name order, so that two runs read the ledger alike.
	names := make([]string, 0, len(e.Gateways))
	for name := range e.Gateways {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lister, ok := e.Gateways[name].(refundry.RefundLister)
		if !ok {
			continue
		}
		for after := ""; ; {
			page, err := e.Stores.Reconcile.RecentCharges(ctx, merchantID, name, since, after, reconcilePage)
			if err != nil {
				return nil, err
			}
			for _, c := range page {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				run := runOf(c.MerchantID)
				run.Charges++
				if err := e.reconcileCharge(ctx, lister, c, run); err != nil {
					return nil, err
				}
			}
			if len(page) < reconcilePage {
				break
			}
			after = page[len(page)-1].TransactionID
		}
	}

	for _, run := range runs {
		run.ID = refundry.NewID()
		run.Finished = e.Now().UTC()
		run.Mismatched = len(run.Mismatches)
		if err := e.Stores.Reconcile.SaveReconciliationRun(ctx, run); err != nil {
			return nil, err
		}
		e.observe().ReconciliationRun(run)
	}
	return runs, nil
}

// reconcileCharge compares one payment and counts what it found in run.
// It returns an error only when the store fails.
func (e *Engine) reconcileCharge(ctx context.Context, lister refundry.RefundLister, c refundry.ChargeActivity, run *refundry.ReconciliationRun) error {
	mismatch := func(kind, refundID, gatewayRefundID, detail string) {
		run.Mismatches = append(run.Mismatches, refundry.Mismatch{
			Kind: kind, SaleID: c.SaleID, TransactionID: c.TransactionID,
			RefundID: refundID, GatewayRefundID: gatewayRefundID, Detail: detail,
		})
	}
	// The simulator keeps no charge id; it knows a payment by its
	// reference.
	chargeID := c.GatewayChargeID
	if chargeID == "" {
		chargeID = c.Reference
	}
	ledger, err := e.transactionRefunds(ctx, c)
	if err != nil {
		return err
	}

	callCtx, cancel := context.WithTimeout(ctx, e.GatewayTimeout)
	reps, err := lister.ListRefunds(callCtx, chargeID)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		mismatch(refundry.MismatchUnreachable, "", "", fmt.Sprintf("%s could not be asked about payment %s: %s", c.Gateway, chargeID, refundry.ErrorMessage(err)))
		return nil
	}

	listed := map[string]bool{}
	for _, rep := range reps {
		listed[rep.GatewayRefundID] = true
		if !slices.Contains(rep.ChargeIDs, chargeID) {
			// The payment asked about is the one refunded, whatever
			// other ids the gateway names it by.
			rep.ChargeIDs = append(rep.ChargeIDs, chargeID)
		}
		mine := ledgerRefund(ledger, rep)
		res, err := e.ApplyReport(ctx, refundry.GatewayReport{Refund: &rep})
		if err != nil {
			if code := refundry.ErrorCode(err); code == refundry.EINTERNAL || code == refundry.EUNAVAILABLE {
				return err
			}
			mismatch(differs(mine, rep), refundID(mine, rep), rep.GatewayRefundID, refundry.ErrorMessage(err))
			continue
		}
		switch res.Outcome {
		case refundry.OutcomeMatched:
			run.Matched++
		case refundry.OutcomeAdopted:
			run.Adopted++
		case refundry.OutcomeCorrected, refundry.OutcomeSettled:
			run.Corrected++
		case refundry.OutcomeRefused:
			mismatch(differs(mine, rep), refundID(mine, rep), rep.GatewayRefundID, res.Detail)
		case refundry.OutcomeUnknownCharge:
			mismatch(refundry.MismatchStatus, refundID(mine, rep), rep.GatewayRefundID,
				fmt.Sprintf("The ledger could not place %s's refund %s on payment %s: %s", c.Gateway, rep.GatewayRefundID, chargeID, res.Detail))
		}
	}

	// The other way round: money the ledger holds as returned (or about
	// to be) through the gateway, that the gateway does not know of.
	for _, r := range ledger {
		if r.GatewayRefundID == "" || r.Gateway != c.Gateway || !refundry.Holds(r.Status) || listed[r.GatewayRefundID] {
			continue
		}
		amount := fmt.Sprintf("%d %s minor units", r.Amount, r.Currency)
		if cur, err := refundry.LookupCurrency(r.Currency); err == nil {
			amount = refundry.FormatMajor(r.Amount, cur) + " " + cur.Code
		}
		mismatch(refundry.MismatchMissingAtGateway, r.ID, r.GatewayRefundID,
			fmt.Sprintf("The ledger holds refund %s (%s) as %s, but %s lists no refund %s for payment %s.",
				r.ID, amount, r.Status, c.Gateway, r.GatewayRefundID, chargeID))
	}
	return nil
}

// transactionRefunds reads every refund the ledger holds for the payment.
func (e *Engine) transactionRefunds(ctx context.Context, c refundry.ChargeActivity) ([]*refundry.Refund, error) {
	var out []*refundry.Refund
	f := refundry.RefundFilter{TransactionID: c.TransactionID, Page: refundry.Page{Limit: refundry.MaxPageLimit}}
	for {
		page, more, err := e.Stores.Refunds.ListRefunds(ctx, c.MerchantID, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if !more || len(page) == 0 {
			return out, nil
		}
		f.StartingAfter = page[len(page)-1].ID
	}
}

// ledgerRefund finds the ledger's refund a report is about, as the store
// does: by the gateway's id, else by Refundry's id the gateway carries.
func ledgerRefund(ledger []*refundry.Refund, rep refundry.RefundReport) *refundry.Refund {
	for _, r := range ledger {
		if rep.GatewayRefundID != "" && r.GatewayRefundID == rep.GatewayRefundID {
			return r
		}
	}
	for _, r := range ledger {
		if rep.RefundID != "" && r.ID == rep.RefundID {
			return r
		}
	}
	return nil
}

// differs names what a report the ledger cannot take differs in: the
// amount when both hold the refund with different sums, else its status.
func differs(mine *refundry.Refund, rep refundry.RefundReport) string {
	if mine != nil && mine.Amount != rep.Amount {
		return refundry.MismatchAmount
	}
	return refundry.MismatchStatus
}

func refundID(mine *refundry.Refund, rep refundry.RefundReport) string {
	if mine != nil {
		return mine.ID
	}
	return rep.RefundID
}

// reconcileLease is the lease of the reconciliation sweep.
const reconcileLease = "reconcile"

// RunReconcile compares the ledger with the gateways every interval,
// looking at the payments with activity in the last window, until ctx
// ends. The first sweep waits one interval: at start, recovery settles
// what a stop left pending, and a sweep then would report refunds still
// in flight. A failed sweep is logged and tried again at the next tick;
// what it would have applied is still there to find.
//
// Several nodes on one database sweep in turn, one per interval, under a
// lease (see the loop).
func (e *Engine) RunReconcile(ctx context.Context, interval, window time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Every node runs this loop; the lease lets one of them sweep
		// each interval, so the gateways are asked once, not once per
		// node. The holder takes it again at its next tick; another node
		// takes it once a holder has missed a tick (stopped, or cut off).
		now := e.Now()
		mine, err := e.Stores.Leases.TakeLease(ctx, reconcileLease, e.Node, now, now.Add(interval))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.Logger.Warn("reconciliation sweep skipped: its lease could not be taken", "err", err, "retry_in", interval)
			continue
		}
		if !mine {
			continue
		}
		runs, err := e.Reconcile(ctx, "", e.Now().Add(-window), TriggerSweep)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.Logger.Warn("reconciliation sweep failed", "err", err, "retry_in", interval)
			continue
		}
		for _, r := range runs {
			if r.Adopted+r.Corrected+r.Mismatched > 0 {
				e.Logger.Info("reconciliation run", "merchant", r.MerchantID, "run", r.ID, "charges", r.Charges,
					"matched", r.Matched, "adopted", r.Adopted, "corrected", r.Corrected, "mismatched", r.Mismatched)
			}
		}
	}
}

// ListReconciliationRuns returns one page of the merchant's runs, newest first.
func (e *Engine) ListReconciliationRuns(ctx context.Context, merchantID string, p refundry.Page) ([]*refundry.ReconciliationRun, bool, error) {
	return e.Stores.Reconcile.ListReconciliationRuns(ctx, merchantID, p)
}

// FindReconciliationRun returns ENOTFOUND if the merchant has no such run.
func (e *Engine) FindReconciliationRun(ctx context.Context, merchantID, id string) (*refundry.ReconciliationRun, error) {
	return e.Stores.Reconcile.FindReconciliationRun(ctx, merchantID, id)
}
