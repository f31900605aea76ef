// Package storetest is the one conformance suite that every refundry.Store
// implementation must pass (store/sqlite, store/postgres). A backend's test
// calls Run with a function that opens a store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) refundry.Store {
//			s := mustOpen(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// open is called once per leaf test, may return the same database every
// time, and owns the store's lifetime (close it with t.Cleanup). The suite
// never assumes an empty database: every test makes its own merchants with
// unique slugs, so one PostgreSQL database can serve a whole run with tests
// in parallel. Recovery's tests are the exception: recovery reads every
// merchant's pending refunds, so they run apart, through RunRecovery, each
// on a database of its own.
//
// Conventions the suite fixes for every backend, where the Store's doc
// comments leave a choice:
//   - Lists are newest first, ordered by id. StartingAfter=X gives the
//     objects older than X, EndingBefore=X the ones just newer than X (still
//     newest first); hasMore says whether more follow in the direction of
//     travel.
//   - A sale's line items and transactions come back in the order given.
//   - Events name their object as "sale", "refund", "referral" or "dispute"; a
//     referral's ObjectID is its decimal id.
//   - A refund that spans transactions takes req.Fee from its refunds in
//     order, never more than each one's amount (refundry.DecideRefund).
package storetest

import (
	"testing"

	"github.com/refundry/refundry"
)

// Opener opens the store under test for one test; see the package comment.
type Opener = func(t *testing.T) refundry.Store

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) refundry.Store) {
	t.Run("Merchant", func(t *testing.T) { testMerchants(t, open) })
	t.Run("APIKey", func(t *testing.T) { testAPIKeys(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Sale", func(t *testing.T) { testSales(t, open) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open) })
	t.Run("Refund", func(t *testing.T) { testRefunds(t, open) })
	t.Run("Settle", func(t *testing.T) { testSettle(t, open) })
	t.Run("ListRefunds", func(t *testing.T) { testListRefunds(t, open) })
	t.Run("PendingRefunds", func(t *testing.T) { testPendingRefunds(t, open) })
	t.Run("Referral", func(t *testing.T) { testReferrals(t, open) })
	t.Run("Event", func(t *testing.T) { testEvents(t, open) })
	t.Run("Page", func(t *testing.T) { testPages(t, open) })
	t.Run("Invariant2", func(t *testing.T) { testInvariant2(t, open) })
	t.Run("Lines", func(t *testing.T) { testLines(t, open) })
	t.Run("Report", func(t *testing.T) { testReports(t, open) })
	t.Run("Reconciliation", func(t *testing.T) { testReconciliation(t, open) })
	t.Run("OpenDisputes", func(t *testing.T) { testOpenDisputes(t, open) })
	t.Run("Reasons", func(t *testing.T) { testReasons(t, open) })
	t.Run("Return", func(t *testing.T) { testReturns(t, open) })
	t.Run("Controls", func(t *testing.T) { testControls(t, open) })
	t.Run("GatewayAccount", func(t *testing.T) { testAccounts(t, open) })
}
