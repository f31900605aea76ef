package refundry

import (
	"cmp"
	"slices"
	"time"
)

// Recovery asks gateways again about refunds left pending (invariant 6).
// A gateway may hold a refund pending for days (a bank transfer), so
// asking about the oldest pending refunds first would let a few hundred
// such refunds hide every newer one, a refund left pending by a crash
// included. Instead each pending refund carries its next attempt: a
// refund never asked is due from its creation; each time it is asked and
// stays pending, its next attempt moves back by RecoveryBackoff. A pass
// claims only due refunds, shared fairly between merchants, and moves
// their next attempts before it asks, so the next pass walks past them.

// Bounds of the wait between two attempts at one refund.
const (
	RecoveryBackoffBase = 2 * time.Second
	RecoveryBackoffCap  = 10 * time.Minute
)

// RecoveryBackoff is how long recovery waits before asking again about a
// refund already asked attempts times: RecoveryBackoffBase doubled per
// attempt, capped at RecoveryBackoffCap, so a refund a gateway holds for
// days costs a call every ten minutes, not every pass.
func RecoveryBackoff(attempts int) time.Duration {
	if attempts <= 0 {
		return RecoveryBackoffBase
	}
	if attempts >= 20 { // the cap is long reached; no shift overflows
		return RecoveryBackoffCap
	}
	return min(RecoveryBackoffBase<<attempts, RecoveryBackoffCap)
}

// DueRefund is a pending refund as recovery schedules it: how often it has
// been asked about and when it is next due.
type DueRefund struct {
	MerchantID string
	ID         string
	Attempts   int
	Due        time.Time
}

// RecoveryAttempt is what a store writes for a refund about to be asked
// (or just asked): its attempt count and when it is due next.
type RecoveryAttempt struct {
	MerchantID string
	ID         string
	Attempts   int
	Next       time.Time
}

// Attempt is the schedule of d once it is asked about at now.
func (d DueRefund) Attempt(now time.Time) RecoveryAttempt {
	return RecoveryAttempt{MerchantID: d.MerchantID, ID: d.ID, Attempts: d.Attempts + 1, Next: now.Add(RecoveryBackoff(d.Attempts))}
}

// RecoveryClaim is one recovery pass's request to a store: up to Limit
// pending refunds due at or before Due, to be asked about at Now.
type RecoveryClaim struct {
	Due   time.Time
	Now   time.Time
	Limit int
}

// Share is how many refunds each of n merchants with due refunds may have
// in one pass: an equal part of the limit, at least one. A merchant with
// thousands of due refunds thus takes no more of a pass than one with a
// single refund is offered.
func (c RecoveryClaim) Share(n int) int {
	if n <= 0 || c.Limit <= 0 {
		return 0
	}
	return (c.Limit + n - 1) / n
}

// Merchants trims the merchants with due refunds, given with the time their
// first refund fell due, to those a pass serves: longest waiting first,
// at most Limit of them. A merchant left out this pass is served in a
// later one, since the refunds claimed now move out of the way.
func (c RecoveryClaim) Merchants(firstDue map[string]time.Time) []string {
	ids := make([]string, 0, len(firstDue))
	for id, due := range firstDue {
		if !due.After(c.Due) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(firstDue[a].Compare(firstDue[b]), cmp.Compare(a, b))
	})
	return ids[:min(len(ids), max(c.Limit, 0))]
}

// Plan takes each merchant's due refunds (each list oldest due first, at
// most Share long) and returns the attempts to record, round robin
// between merchants so that the order a pass asks in is fair too, at most
// Limit of them.
func (c RecoveryClaim) Plan(byMerchant [][]DueRefund) []RecoveryAttempt {
	var out []RecoveryAttempt
	for rank := 0; len(out) < c.Limit; rank++ {
		more := false
		for _, list := range byMerchant {
			if rank < len(list) && len(out) < c.Limit {
				out = append(out, list[rank].Attempt(c.Now))
				more = true
			}
		}
		if !more {
			break
		}
	}
	return out
}
