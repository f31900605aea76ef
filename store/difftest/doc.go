// Package difftest holds the differential test of the two stores: one
// long random sequence of requests (sales paid once or several times,
// sale, line item and transaction refunds, refunds of units and of
// shipping on sales with tax, fees, over-refunds, cancels,
// settlements of every outcome, idempotent replays, referrals voided by
// a refund, gateway reports of refunds and disputes) sent to SQLite and
// to PostgreSQL alike, whose every answer,
// error code, event, audit entry and notification must be the same.
//
// storetest says what each store must do where a test thought to ask;
// the differential test asks what nobody thought of, and holds the stores
// to one answer there too. Decisions about money belong to the root
// package, so two stores that answer differently have a rule written
// twice: the failure names the seed and the step that shows it.
//
// The package has no code of its own: only its test, which needs both
// stores and a live PostgreSQL (REFUNDRY_TEST_POSTGRES, see
// internal/pgtest).
package difftest
